// Unit: the reverter runs every undo in reverse order, and a failing one is reported, not dropped.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { Reverter, reportUndoFailuresTo, type UndoFailure } from './reverter.js';

const reported: UndoFailure[] = [];
reportUndoFailuresTo((f) => reported.push(f));
after(() => reportUndoFailuresTo(() => undefined));

test('undos run newest first; one that throws is reported with what it undoes, and the rest still run', async () => {
  const ran: string[] = [];
  const r = new Reverter();
  r.add(() => { ran.push('first'); });
  r.add(() => { throw new Error('umount: target is busy'); }, 'unmount the root');
  r.add(async () => { ran.push('last'); });
  await r.fail();
  assert.deepEqual(ran, ['last', 'first']);
  assert.equal(reported.length, 1);
  assert.equal(reported[0].what, 'unmount the root');
  assert.match(String(reported[0].error), /target is busy/);
  assert.equal(r.failures.length, 1);
});

test('after success nothing is undone', async () => {
  const r = new Reverter();
  r.add(() => { throw new Error('must not run'); });
  r.success();
  await r.fail();
  assert.equal(r.failures.length, 0);
});
