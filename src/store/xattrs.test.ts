// Unit: the one getfattr dump parser (store/xattrs.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseGetfattrDump, unquoteGetfattr } from './xattrs.js';

const b64 = (x: Record<string, Buffer> | undefined): Record<string, string> => Object.fromEntries(Object.entries(x ?? {}).map(([k, v]) => [k, v.toString('base64')]));

test('getfattr dumps are parsed into path → values (names and paths unquoted, quoted text values too)', () => {
  const out = `# file: /tmp/x/a\\012b
user.x=0sMQ==
trusted.overlay.opaque=0seQ==

# file: /tmp/x/e
user.a\\075b=0sMQ==
user.empty=0s

# file: /tmp/x/M\\134q
security.capability="text"
`;
  const m = parseGetfattrDump(out);
  assert.deepEqual([...m.keys()], ['/tmp/x/a\nb', '/tmp/x/e', '/tmp/x/M\\q']);
  assert.deepEqual(b64(m.get('/tmp/x/a\nb')), { 'user.x': 'MQ==', 'trusted.overlay.opaque': 'eQ==' });
  assert.deepEqual(b64(m.get('/tmp/x/e')), { 'user.a=b': 'MQ==', 'user.empty': '' });
  assert.deepEqual(b64(m.get('/tmp/x/M\\q')), { 'security.capability': Buffer.from('text').toString('base64') });
});

test('octal escapes decode to UTF-8 bytes; other backslashes stay', () => {
  assert.equal(unquoteGetfattr('/caf\\303\\251'), '/café');
  assert.equal(unquoteGetfattr('/a\\b'), '/a\\b');
  assert.equal(unquoteGetfattr('/plain'), '/plain');
});
