import { test } from 'node:test';
import assert from 'node:assert/strict';
import { capabilityRefusal, namespacedCapability, neutralCapability } from './capability.js';

// cap_net_raw=ep as the kernel stores it: v2 (20 bytes), and v3 owned by root id 0x71010000.
const V2 = Buffer.from('0100000200200000000000000000000000000000', 'hex');
const V3 = Buffer.from('010000030020000000000000000000000000000000000171', 'hex');
const ROOT = 0x71010000;

test('a v3 capability of the capture\'s root becomes the v2 one; of another root, nothing', () => {
  assert.deepEqual(neutralCapability(V3, ROOT), V2);
  assert.equal(neutralCapability(V3, ROOT + 65536), null);
  assert.equal(neutralCapability(V2, ROOT), V2);
  assert.equal(neutralCapability(Buffer.from('0100000200'), ROOT), null, 'malformed');
});

test('a v2 capability becomes the container root\'s own (v3) and back', () => {
  assert.deepEqual(namespacedCapability(V2, ROOT), V3);
  assert.deepEqual(neutralCapability(namespacedCapability(V2, 123456)!, 123456), V2);
  assert.equal(namespacedCapability(V3, 5), null, 'another namespace\'s capability is not re-owned');
});

test('the store keeps only namespace-neutral, well-formed capabilities', () => {
  assert.equal(capabilityRefusal(V2), undefined);
  assert.match(capabilityRefusal(V3)!, /user namespace of root id 1895890944/);
  assert.match(capabilityRefusal(Buffer.alloc(7))!, /not a valid file capability/);
  assert.match(capabilityRefusal(Buffer.concat([V2, Buffer.alloc(4)]))!, /not a valid/, 'a v2 header with v3 size');
});
