import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgument } from '../errors/index.js';
import { parseChange, stripUnset } from './limits.js';

const HOST = { cpus: 4, memoryBytes: 8 * 2 ** 30, cpusetAvailable: [0, 1, 2, 3] };

test('set: network rates are split from the cgroup limits; none, max and unlimited remove a rate', () => {
  const { change, rates } = parseChange({ memory: '512M', netIn: '10mbit', netOut: 'Unlimited' }, HOST);
  assert.equal(change.memory, 512 * 2 ** 20);
  assert.deepEqual(rates, { netIn: '10mbit', netOut: null });
  assert.equal((change as Record<string, unknown>).netIn, undefined, 'a rate is not a cgroup limit');
  for (const word of ['none', 'max', 'UNLIMITED']) assert.deepEqual(parseChange({ netIn: word }, HOST).rates, { netIn: null });
});

test('set: a rate alone is a change; nothing at all is refused', () => {
  assert.deepEqual(parseChange({ netOut: '1mbit' }, HOST).rates, { netOut: '1mbit' });
  assert.throws(() => parseChange({}, HOST), (err) => err instanceof InvalidArgument && /nothing to change/.test(err.message));
});

test('set: the caller\'s object is left as given', () => {
  const given = { cpus: '1', netIn: '5mbit' };
  parseChange(given, HOST);
  assert.deepEqual(given, { cpus: '1', netIn: '5mbit' });
});

test('stored limits keep only the set entries', () => {
  assert.deepEqual(stripUnset({ memory: 1024, cpus: undefined, pids: null }), { memory: 1024 });
});
