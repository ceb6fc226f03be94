import { test } from 'node:test';
import assert from 'node:assert/strict';
import { idMapFor, RANGE_SIZE, SLOTS_PER_REGION } from './ids.js';
import { FailedPrecondition } from '../errors/index.js';

test('ranges of one root are disjoint, 65536 wide, above 2^24 and below 2^31', () => {
  const a = idMapFor('/var/lib/strata', 0);
  const b = idMapFor('/var/lib/strata', 1);
  assert.equal(a.hostBase, 1 << 24);
  assert.equal(b.hostBase - a.hostBase, RANGE_SIZE);
  for (let i = 0; i < 200; i++) {
    const last = idMapFor(`/tmp/other-root-${i}`, SLOTS_PER_REGION - 1);
    assert.ok(last.hostBase + last.size <= 2 ** 31, `root ${i}: ${last.hostBase}`);
  }
});

test('different roots draw from different regions', () => {
  const a = idMapFor('/var/lib/strata', 0);
  const b = idMapFor('/tmp/strata-test-root', 0);
  assert.ok(Math.abs(a.hostBase - b.hostBase) >= SLOTS_PER_REGION * RANGE_SIZE);
});

test('running out of ranges is a clear error', () => {
  assert.throws(() => idMapFor('/var/lib/strata', SLOTS_PER_REGION), FailedPrecondition);
});
