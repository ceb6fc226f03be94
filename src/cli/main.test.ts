// Unit: the command groups' verb table, which lets a command build only its own group.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Command } from 'commander';
import { GROUPS } from './main.js';

const verbsOf = (register: (p: Command) => void): string[] => {
  const program = new Command('strata');
  register(program);
  return program.commands.flatMap((c) => [c.name(), ...c.aliases()]).sort();
};

test('each command group adds exactly the verbs the table gives it, and no verb is in two groups', () => {
  const seen = new Set<string>();
  for (const g of GROUPS) {
    // Completion is never built alone (it needs every command): its verbs are not in the table.
    if (g.verbs.length === 0) { assert.deepEqual(verbsOf(g.register), ['__complete', 'completion']); continue; }
    assert.deepEqual(verbsOf(g.register), [...g.verbs].sort(), `the group of ${g.verbs[0]}`);
    for (const v of g.verbs) { assert.ok(!seen.has(v), `${v} is in one group only`); seen.add(v); }
  }
});
