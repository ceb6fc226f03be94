// Unit: the operations service on a real database file with fake work functions: states, events,
// following, cancel after rollback, the log cap, interruption at a restart, shutdown, pruning.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { NotFound } from '../errors/index.js';
import { Store } from '../state/index.js';
import { Operations, type LogLine } from './index.js';

const dir = mkdtempSync('/tmp/strata-test-ops-');
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = (): { store: Store; file: string } => { const file = join(dir, `state-${++n}.db`); return { store: new Store(file), file }; };

/** Work that waits until its signal aborts, then takes `rollbackMs` to undo and throws the reason. */
function untilAborted(undone: string[], rollbackMs = 30) {
  return async (progress: (l: string) => void, signal: AbortSignal): Promise<never> => {
    progress('working');
    if (!signal.aborted) await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
    await sleep(rollbackMs);
    undone.push('rolled back');
    throw signal.reason;
  };
}

test('an operation that succeeds: running at once, its lines and result followed, recorded, with events', async () => {
  const { store } = fresh();
  const ops = new Operations(store);
  const op = ops.start('template-import', 'deb12', async (progress) => {
    progress('reading the file');
    for (let i = 1; i <= 3; i++) progress(`objects: ${i} of 3`);
    return { name: 'deb12' };
  });
  assert.equal(op.state, 'running');
  assert.match(op.id, /^op-[0-9a-f]{16}$/);
  const seen: LogLine[] = [];
  ops.follow(op.id, (l) => seen.push(l));
  const done = await ops.settled(op.id);
  assert.equal(done.state, 'succeeded');
  assert.deepEqual(done.result, { name: 'deb12' });
  assert.deepEqual(done.progress, { line: 'objects: 3 of 3', step: 'objects', done: 3, total: 3 });
  assert.ok(done.finishedAt);
  assert.deepEqual(seen, [{ progress: 'reading the file' }, { progress: 'objects: 1 of 3' }, { progress: 'objects: 2 of 3' }, { progress: 'objects: 3 of 3' }, { result: { name: 'deb12' } }]);
  assert.deepEqual(ops.log(op.id).map((l) => l.line), ['reading the file', 'objects: 3 of 3'], 'the counter lines of one step are one log line');
  // Following an ended one replays its log and its end.
  const again: LogLine[] = [];
  ops.follow(op.id.slice(0, 8), (l) => again.push(l));
  assert.deepEqual(again.at(-1), { result: { name: 'deb12' } });
  assert.deepEqual(store.listEvents().map((e) => [e.kind, e.subject]), [['operation-started', op.id], ['operation-finished', op.id]]);
  assert.equal(ops.list({ state: 'succeeded' }).length, 1);
  assert.equal(ops.list({ state: 'running' }).length, 0);
  store.close();
});

test('an operation that fails keeps its typed error; an unknown id is not_found', async () => {
  const { store } = fresh();
  const ops = new Operations(store);
  const op = ops.start('template-build', 'x', async () => { throw new NotFound('template base does not exist'); });
  const done = await ops.settled(op.id);
  assert.equal(done.state, 'failed');
  assert.deepEqual(done.error, { code: 'not_found', message: 'template base does not exist' });
  const seen: LogLine[] = [];
  ops.follow(op.id, (l) => seen.push(l));
  assert.deepEqual(seen, [{ error: { code: 'not_found', message: 'template base does not exist' } }]);
  assert.equal(store.listEvents().at(-1)?.kind, 'operation-failed');
  assert.throws(() => ops.get('op-nothing'), { code: 'not_found', message: /operation op-nothing does not exist/ });
  store.close();
});

test('cancel aborts the work; the operation ends cancelled only after its rollback; cancelling an ended one is refused naming its state', async () => {
  const { store } = fresh();
  const ops = new Operations(store);
  const undone: string[] = [];
  const op = ops.start('container-create', 'web', untilAborted(undone, 50));
  const seen: LogLine[] = [];
  ops.follow(op.id, (l) => seen.push(l));
  await sleep(10);
  assert.equal(ops.cancel(op.id).state, 'running', 'still rolling back');
  assert.deepEqual(undone, []);
  const done = await ops.settled(op.id);
  assert.deepEqual(undone, ['rolled back']);
  assert.equal(done.state, 'cancelled');
  assert.equal(done.error?.code, 'cancelled');
  assert.deepEqual(seen.at(-1), { error: done.error });
  assert.equal(store.listEvents().at(-1)?.kind, 'operation-cancelled');
  assert.throws(() => ops.cancel(op.id), { code: 'failed_precondition', message: new RegExp(`operation ${op.id} has already ended \\(cancelled\\): only a running operation can be cancelled`) });
  const ok = ops.start('x', null, async () => 1);
  await ops.settled(ok.id);
  assert.throws(() => ops.cancel(ok.id), { code: 'failed_precondition', message: /has already succeeded/ });
  store.close();
});

test('the log keeps its last lines up to the cap, in memory and in the database', async () => {
  const { store, file } = fresh();
  const ops = new Operations(store, { logCap: 5, flushMs: 5 });
  let release!: () => void;
  const gate = new Promise<void>((r) => { release = r; });
  const op = ops.start('template-build', 'big', async (progress) => {
    for (let i = 1; i <= 12; i++) progress(`line ${i}`);
    await gate;
    return null;
  });
  await sleep(30);
  assert.equal(ops.get(op.id).logLines, 5);
  assert.equal(ops.get(op.id).logDropped, 7);
  // The flushed database copy is already capped while it runs.
  const reader = new Store(file);
  assert.deepEqual(reader.db.prepare('SELECT line FROM operation_log WHERE operation = ? ORDER BY seq').all(op.id).map((r) => (r as { line: string }).line), ['line 8', 'line 9', 'line 10', 'line 11', 'line 12']);
  reader.close();
  release();
  await ops.settled(op.id);
  assert.deepEqual(ops.log(op.id).map((l) => l.line), ['line 8', 'line 9', 'line 10', 'line 11', 'line 12']);
  assert.equal(ops.get(op.id).logDropped, 7);
  store.close();
});

test('an operation still running when its daemon died is interrupted at the next start, with an event', async () => {
  const { store, file } = fresh();
  const ops = new Operations(store, { flushMs: 5 });
  const op = ops.start('template-import', 'deb12', untilAborted([]));
  await sleep(20);
  store.close(); // the daemon is gone: nothing ended the operation
  const next = new Store(file);
  const cut = new Operations(next).recover();
  assert.deepEqual(cut.map((o) => [o.id, o.state]), [[op.id, 'interrupted']]);
  assert.equal(cut[0].error?.code, 'unavailable');
  assert.match(cut[0].error?.message ?? '', /interrupted: the daemon stopped before it ended; run it again/);
  assert.deepEqual(new Operations(next).log(op.id).map((l) => l.line), ['working'], 'the log written before the end is kept');
  assert.equal(next.listEvents().at(-1)?.kind, 'operation-interrupted');
  next.close();
});

test('shutdown cancels the running work, waits for its rollback and records it interrupted; nothing starts after', async () => {
  const { store } = fresh();
  const ops = new Operations(store);
  const undone: string[] = [];
  const op = ops.start('template-export', 'deb12', untilAborted(undone));
  await sleep(5);
  await ops.shutdown();
  assert.deepEqual(undone, ['rolled back']);
  assert.equal(ops.get(op.id).state, 'interrupted');
  assert.throws(() => ops.start('x', null, async () => 1), { code: 'unavailable' });
  store.close();
});

test('ended operations older than the retention time are pruned with their logs; running ones never', async () => {
  const { store } = fresh();
  const ops = new Operations(store, { retentionMs: 60_000 });
  const old = ops.start('a', null, async (p) => { p('x'); return 1; });
  await ops.settled(old.id);
  const live = ops.start('b', null, untilAborted([]));
  store.db.prepare('UPDATE operations SET finished_at = ?, created_at = ? WHERE id = ?').run('2020-01-01T00:00:00.000Z', '2020-01-01T00:00:00.000Z', old.id);
  store.db.prepare('UPDATE operations SET created_at = ? WHERE id = ?').run('2020-01-01T00:00:00.000Z', live.id);
  assert.equal(ops.prune(), 1);
  assert.throws(() => ops.get(old.id), { code: 'not_found' });
  assert.equal((store.db.prepare('SELECT COUNT(*) AS n FROM operation_log WHERE operation = ?').get(old.id) as { n: number }).n, 0);
  assert.equal(ops.get(live.id).state, 'running');
  ops.cancel(live.id);
  await ops.settled(live.id);
  store.close();
});
