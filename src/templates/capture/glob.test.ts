import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgument } from '../../errors/index.js';
import { compileExcludes, globToRegExp } from './glob.js';

test('a plain absolute pattern excludes the path and everything below it', () => {
  const ex = compileExcludes(['/tmp']);
  for (const p of ['/tmp', '/tmp/a', '/tmp/a/b/c']) assert.ok(ex(p), p);
  for (const p of ['/tmpfoo', '/var/tmp', '/', '/etc']) assert.ok(!ex(p), p);
});

test('a trailing /** excludes the contents but not the directory', () => {
  const ex = compileExcludes(['/var/cache/**']);
  assert.ok(!ex('/var/cache'));
  assert.ok(ex('/var/cache/apt'));
  assert.ok(ex('/var/cache/apt/archives/x.deb'));
});

test('* and ? stay within one segment; ** in the middle spans segments', () => {
  const ex = compileExcludes(['/etc/*-', '/var/lib/dpkg/*-old', '/opt/**/cache', '/x/?.log']);
  assert.ok(ex('/etc/passwd-'));
  assert.ok(ex('/etc/.pwd-'));
  assert.ok(!ex('/etc/passwd'));
  assert.ok(!ex('/etc/sub/passwd-'));
  assert.ok(ex('/var/lib/dpkg/status-old'));
  assert.ok(ex('/opt/cache/x') && ex('/opt/a/b/cache') && !ex('/opt/a/cached'));
  assert.ok(ex('/x/a.log') && !ex('/x/ab.log'));
});

test('a relative pattern matches at any depth', () => {
  const ex = compileExcludes(['*.pyc', '__pycache__']);
  assert.ok(ex('/usr/lib/python3/x.pyc'));
  assert.ok(ex('/a.pyc'));
  assert.ok(ex('/usr/lib/python3/__pycache__/m.cpython-311.pyc'));
  assert.ok(!ex('/usr/lib/python3/x.py'));
});

test('classes, negated classes and escapes; regex characters are literal', () => {
  const ex = compileExcludes(['/a/[bc]x', '/n/[!0-9]', '/e/\\*', '/r/a+b(c)']);
  assert.ok(ex('/a/bx') && ex('/a/cx') && !ex('/a/dx'));
  assert.ok(ex('/n/z') && !ex('/n/5'));
  assert.ok(ex('/e/*') && !ex('/e/x'));
  assert.ok(ex('/r/a+b(c)') && !ex('/r/aab(c)'));
  assert.equal(globToRegExp('/a/b').test('/a/b'), true);
});

test('no patterns exclude nothing; malformed ones are refused', () => {
  assert.equal(compileExcludes([])('/tmp'), false);
  assert.throws(() => compileExcludes(['']), InvalidArgument);
  assert.throws(() => compileExcludes(['/a/[bc']), (e: unknown) => e instanceof InvalidArgument && /unclosed \[/.test((e as Error).message));
  assert.throws(() => compileExcludes(['/a\\']), InvalidArgument);
});
