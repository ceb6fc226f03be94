// The benchmark harness at a tiny scale (N=3; two Debian containers with sshd for the logins):
// every benchmark produces its results and the host is clean afterwards. No timing is asserted
// (these machines are noisy; figures live in docs/benchmarks.md). podman and LXC are measured
// only when installed (`npm run bench` installs them); without them the results say so.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { mountPoints, TOP, untilLinks } from './harness.js';

interface Result { id: string; measures: Array<{ label: string; summary: { median: number; n: number } }>; goals: Array<{ text: string; met: boolean | null }>; skipped: string[] }

const links = (): string[] => spawnSync('ip', ['-o', 'link']).stdout.toString().split('\n').map((l) => l.split(':')[1]?.trim().split('@')[0]).filter(Boolean).sort();
const mounts = (): string[] => mountPoints().filter((m) => /strata-(test|bench)/.test(m));
const tables = (): string => spawnSync('nft', ['list', 'tables']).stdout.toString().split('\n').sort().join('\n');

test('the quick suite\'s harness at N=3 produces every result and leaves the host as it was', { timeout: 10 * 60_000 }, async () => {
  const out = mkdtempSync('/tmp/strata-bench-out-');
  const before = { links: links(), tables: tables(), tmp: readdirSync('/tmp').filter((f) => f.startsWith('strata-bench-ref-')) };
  try {
    const r = spawnSync(process.execPath, [join(TOP, 'dist', 'bench', 'suite.js'), '--tiny', '--out', out], { encoding: 'utf8', timeout: 9 * 60_000 });
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    const ids = readdirSync(out).filter((f) => f !== 'machine.json').map((f) => f.replace(/\.json$/, '')).sort();
    assert.deepEqual(ids, ['attach', 'backups', 'capture', 'cli', 'density', 'floor', 'logins', 'memory', 'metering', 'panel', 'scale', 'start', 'stop']);
    for (const id of ids) {
      const result = JSON.parse(readFileSync(join(out, `${id}.json`), 'utf8')) as Result;
      assert.ok(result.measures.length > 0, id);
      for (const m of result.measures) assert.ok(m.summary.n > 0 && Number.isFinite(m.summary.median), `${id}: ${m.label}`);
      // The floor measures the kernel itself: there is nothing there to aim at.
      if (id !== 'floor') assert.ok(result.goals.length > 0, `${id} states its goals`);
    }
    const machine = JSON.parse(readFileSync(join(out, 'machine.json'), 'utf8')) as { cores: number; tools: Record<string, string> };
    assert.ok(machine.cores > 0);
    const start = JSON.parse(readFileSync(join(out, 'start.json'), 'utf8')) as Result;
    for (const tool of ['podman', 'lxc']) {
      const measured = start.measures.some((m) => m.label.startsWith(tool === 'lxc' ? 'lxc-start' : 'podman'));
      assert.ok(measured || start.skipped.some((s) => s.startsWith(tool)), `${tool}: measured, or said why not`);
    }
    assert.match(r.stdout, /Start latency[\s\S]*goal:/);
    // The host is clean: no link, table, mount or work directory of the benchmarks is left.
    assert.deepEqual(await untilLinks(links, before.links), before.links);
    assert.equal(tables(), before.tables);
    assert.deepEqual(mounts(), []);
    assert.deepEqual(readdirSync('/tmp').filter((f) => f.startsWith('strata-bench-ref-')), before.tmp);
    assert.equal(existsSync(join(TOP, 'bench', 'results', 'tiny')), false, 'the tiny run writes only where it is told');
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
