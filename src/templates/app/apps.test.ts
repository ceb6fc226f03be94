// Unit: the key merges of attach/detach on in-memory database files, and idmapped-mount ranges.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { idmapRanges } from '../../storage/index.js';
import { applyKeys, countKeys, planRemap, removeKeys, type DbFiles } from './index.js';
import { keysFromCapture } from './databases.js';

function memory(files: Record<string, string>): DbFiles & { files: Record<string, string> } {
  return {
    files,
    async read(path) { return files[path] ?? null; },
    async write(path, text) { files[path] = text; },
  };
}

const BASE_PASSWD = 'root:x:0:0:root:/root:/bin/sh\nbin:x:1:1:bin:/bin:/bin/false\n';
const BASE_GROUP = 'root:x:0:\nbin:x:1:\n';

test('a capture\'s database diff becomes per-key before/after records', () => {
  const keys = keysFromCapture([
    { file: '/etc/passwd', before: BASE_PASSWD, after: `${BASE_PASSWD}app:x:1500:1500::/opt/app:/bin/sh\n` },
    { file: '/etc/group', before: BASE_GROUP, after: 'root:x:0:\napp:x:1500:\n' },
  ]);
  assert.deepEqual(keys.passwd, { app: { before: null, after: 'app:x:1500:1500::/opt/app:/bin/sh' } });
  assert.deepEqual(keys.group, { bin: { before: 'bin:x:1:', after: null }, app: { before: null, after: 'app:x:1500:' } });
  assert.equal(countKeys(keys), 3);
});

test('attach merges keys into the current files; detach restores them; the container\'s own change wins', async () => {
  const keys = keysFromCapture([{ file: '/etc/passwd', before: BASE_PASSWD, after: `${BASE_PASSWD}app:x:1500:1500::/opt/app:/bin/sh\n` }]);
  const files = memory({ '/etc/passwd': `${BASE_PASSWD}mine:x:1000:1000::/home/mine:/bin/sh\n`, '/etc/group': BASE_GROUP });
  const applied = await applyKeys(files, keys, await planRemap(files, keys, 'app'));
  assert.deepEqual(applied.conflicts, []);
  assert.match(files.files['/etc/passwd'], /^mine:x:1000.*\napp:x:1500:/m, 'both the container\'s and the template\'s users');
  await removeKeys(files, applied.keys);
  assert.equal(files.files['/etc/passwd'], `${BASE_PASSWD}mine:x:1000:1000::/home/mine:/bin/sh\n`);
  // The container edits the template's user after attach: detach keeps it and says so.
  const again = await applyKeys(files, keys, await planRemap(files, keys, 'app'));
  files.files['/etc/passwd'] = files.files['/etc/passwd'].replace('::/opt/app', ':Edited:/opt/app');
  const conflicts = await removeKeys(files, again.keys);
  assert.equal(conflicts.length, 1);
  assert.match(conflicts[0].reason, /changed user app after the template was attached/);
  assert.match(files.files['/etc/passwd'], /Edited/);
});

/** Keys of a template that adds user and group app (1500) with shadow lines. */
function userTemplate(): ReturnType<typeof keysFromCapture> {
  return keysFromCapture([
    { file: '/etc/passwd', before: BASE_PASSWD, after: `${BASE_PASSWD}app:x:1500:1500::/opt/app:/bin/sh\n` },
    { file: '/etc/shadow', before: 'root:*:1::::::\n', after: 'root:*:1::::::\napp:!:1::::::\n' },
    { file: '/etc/group', before: BASE_GROUP, after: `${BASE_GROUP}app:x:1500:\n` },
    { file: '/etc/gshadow', before: 'root:*::\n', after: 'root:*::\napp:!::\n' },
  ]);
}

function userFiles(): ReturnType<typeof memory> {
  return memory({ '/etc/passwd': BASE_PASSWD, '/etc/shadow': 'root:*:1::::::\n', '/etc/group': BASE_GROUP, '/etc/gshadow': 'root:*::\n' });
}

test('detach removes a user whole or keeps it whole: a password set inside keeps its passwd, shadow and group lines', async () => {
  const keys = userTemplate();
  const files = userFiles();
  const applied = await applyKeys(files, keys, await planRemap(files, keys, 'app'));
  files.files['/etc/shadow'] = files.files['/etc/shadow'].replace('app:!:', 'app:$y$hash:');
  const conflicts = await removeKeys(files, applied.keys);
  assert.match(files.files['/etc/passwd'], /^app:x:1500:1500:/m, 'the passwd line stays with its changed shadow line');
  assert.match(files.files['/etc/shadow'], /^app:\$y\$hash:/m);
  assert.match(files.files['/etc/group'], /^app:x:1500:/m, 'and its primary group');
  assert.match(files.files['/etc/gshadow'], /^app:!::/m);
  assert.ok(conflicts.some((c) => /\/etc\/passwd: kept user app: user app stays whole, as the container changed it in \/etc\/shadow/.test(c.reason)), conflicts.map((c) => c.reason).join('\n'));
  assert.ok(conflicts.some((c) => /\/etc\/group: kept group app: user app, which stays, has it as primary group/.test(c.reason)));
  // Unchanged, the same unit goes whole.
  const again = userFiles();
  const twice = await applyKeys(again, keys, await planRemap(again, keys, 'app'));
  assert.deepEqual(await removeKeys(again, twice.keys), []);
  assert.deepEqual(again.files, userFiles().files);
});

test('detach keeps a template\'s group that a user of the container has as primary group', async () => {
  const keys = userTemplate();
  const files = userFiles();
  const applied = await applyKeys(files, keys, await planRemap(files, keys, 'app'));
  files.files['/etc/passwd'] += 'mine:x:1000:1500::/home/mine:/bin/sh\n';
  await removeKeys(files, applied.keys);
  assert.doesNotMatch(files.files['/etc/passwd'], /^app:/m, 'the template\'s user goes');
  assert.doesNotMatch(files.files['/etc/shadow'], /^app:/m);
  assert.match(files.files['/etc/group'], /^app:x:1500:/m, 'its group stays for mine');
  assert.match(files.files['/etc/gshadow'], /^app:/m);
});

test('a uid taken by another user is remapped, in the records too', async () => {
  const keys = keysFromCapture([
    { file: '/etc/passwd', before: BASE_PASSWD, after: `${BASE_PASSWD}db:x:1500:1500::/srv/db:/bin/sh\n` },
    { file: '/etc/group', before: BASE_GROUP, after: `${BASE_GROUP}db:x:1500:\n` },
  ]);
  const files = memory({ '/etc/passwd': `${BASE_PASSWD}app:x:1500:1500::/opt/app:/bin/sh\n`, '/etc/group': `${BASE_GROUP}app:x:1500:\n` });
  const plan = await planRemap(files, keys, 'db');
  assert.deepEqual([...plan.uidMap], [[1500, 1501]]);
  const applied = await applyKeys(files, keys, plan);
  assert.match(files.files['/etc/passwd'], /^db:x:1501:1501:/m);
  assert.match(files.files['/etc/group'], /^db:x:1501:/m);
  assert.deepEqual(applied.remaps, { uid: [[1500, 1501]], gid: [[1500, 1501]] });
});

test('idmapped-mount ranges: one shift, with remapped ids cut out and mapped on their own', () => {
  assert.equal(idmapRanges(1000, 65536, new Map()), '0 1000 65536');
  const ranges = idmapRanges(1000, 65536, new Map([[1500, 1501]]));
  assert.equal(ranges, '0 1000 1500,1502 2502 64034,1500 2501 1');
  // No host id is used twice.
  const hosts = new Set<number>();
  for (const r of ranges.split(',')) {
    const [, host, count] = r.split(' ').map(Number);
    for (let i = 0; i < count; i++) {
      assert.equal(hosts.has(host + i), false);
      hosts.add(host + i);
    }
  }
});
