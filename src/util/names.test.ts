import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isValidName, validateName } from './names.js';
import { InvalidArgument } from '../errors/index.js';

test('DNS labels are valid names', () => {
  for (const name of ['a', 'web1', 'my-container', 'x'.repeat(63), '0abc']) assert.ok(isValidName(name), name);
});

test('everything else is refused with the rule in the message', () => {
  for (const name of ['', 'A', 'web_1', '-a', 'a-', 'x'.repeat(64), 'a.b', 'a b', '../x', 'é']) {
    assert.equal(isValidName(name), false, name);
    assert.throws(() => validateName('container', name), (e: unknown) => e instanceof InvalidArgument && /a-z, 0-9/.test((e as Error).message));
  }
  assert.throws(() => validateName('container', 42), InvalidArgument);
});
