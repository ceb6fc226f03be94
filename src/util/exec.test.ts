// Unit: the one way to run a program: output, lines, failure as ToolError, abort, stream filters.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { run, startProgram } from './exec.js';

test('run: output and lines; a failure is a ToolError with the program\'s own words; allowFailure resolves', async () => {
  const lines: string[] = [];
  const r = await run(['/bin/sh', '-c', 'echo one; echo two >&2'], { onLine: (l) => lines.push(l) });
  assert.equal(r.stdout, 'one\n');
  assert.deepEqual(lines.sort(), ['one', 'two']);
  await assert.rejects(run(['/bin/sh', '-c', 'echo broken >&2; exit 3'], { context: 'testing' }), /testing: \/bin\/sh exited with status 3: broken/);
  assert.equal((await run(['/bin/sh', '-c', 'exit 4'], { allowFailure: true })).status, 4);
  await assert.rejects(run(['/nonexistent-program']), /nonexistent-program exited with status signal/);
});

test('run: an abort ends the program and rejects with the abort\'s reason', async () => {
  const ac = new AbortController();
  const started = Date.now();
  const running = run(['/bin/sleep', '30'], { signal: ac.signal });
  setTimeout(() => ac.abort(new Error('gave up')), 50);
  await assert.rejects(running, /gave up/);
  assert.ok(Date.now() - started < 5000);
});

test('startProgram: a filter between streams, with its stderr tail; one that cannot start says so', async () => {
  const cat = startProgram(['/bin/sh', '-c', 'cat; echo done >&2'], { stdin: 'pipe' });
  let out = '';
  cat.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d; });
  cat.stdin!.end('through\n');
  const { code } = await cat.closed;
  assert.equal(code, 0);
  assert.equal(out, 'through\n');
  assert.equal(cat.stderrTail(), 'done\n');
  const missing = startProgram(['/nonexistent-program']);
  assert.ok((await missing.closed).spawnError);
});
