import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { SharedLock } from './shared-lock.js';

test('shared work runs together, exclusive work alone, in the order of arrival', async () => {
  const lock = new SharedLock();
  const events: string[] = [];
  let running = 0;
  let most = 0;
  const job = (name: string, ms: number) => async (): Promise<string> => {
    running++;
    most = Math.max(most, running);
    events.push(`+${name}`);
    await sleep(ms);
    events.push(`-${name}`);
    running--;
    return name;
  };
  const results = await Promise.all([
    lock.shared(job('a', 30)), lock.shared(job('b', 10)),
    lock.exclusive(job('X', 10)),
    lock.shared(job('c', 10)), lock.shared(job('d', 10)),
  ]);
  assert.deepEqual(results, ['a', 'b', 'X', 'c', 'd']);
  // a and b together; X only once both ended; c and d only once X ended, together.
  assert.deepEqual(events.slice(0, 2).sort(), ['+a', '+b']);
  const xStart = events.indexOf('+X');
  assert.ok(xStart > events.indexOf('-a') && xStart > events.indexOf('-b'));
  assert.equal(events[xStart + 1], '-X');
  assert.ok(events.indexOf('+c') > events.indexOf('-X') && events.indexOf('+d') > events.indexOf('-X'));
  assert.equal(most, 2);
});

test('a failure releases the lock and reaches its caller only', async () => {
  const lock = new SharedLock();
  await assert.rejects(lock.exclusive(async () => { throw new Error('boom'); }), /boom/);
  await assert.rejects(lock.shared(async () => { throw new Error('bang'); }), /bang/);
  assert.equal(await lock.exclusive(async () => 'free'), 'free');
});
