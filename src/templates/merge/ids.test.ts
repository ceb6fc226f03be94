import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Conflict, FailedPrecondition, InvalidArgument } from '../../errors/index.js';
import { assertNoIdConflicts, incomingIds, mapIds, planIdRemap, remapKeyChanges, remapRecord } from './ids.js';
import { applyKeyChanges, keyChanges } from './keys.js';
import { groupRule, passwdRule, shadowRule } from './rules.js';

const PASSWD = `root:x:0:0:root:/root:/bin/bash
www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
`;
const GROUP = `root:x:0:
www-data:x:33:
users:x:100:
nogroup:x:65534:
`;

test('two templates that both took uid/gid 1001 for different users: the second is remapped, records and files follow', () => {
  // template A (attached first) made alice 1001:1001; template B made bob 1001:1001 over the same base
  const passwd = `${PASSWD}alice:x:1001:1001::/home/alice:/bin/sh\n`;
  const group = `${GROUP}alice:x:1001:\n`;
  const bPasswd = keyChanges(passwdRule, PASSWD, `${PASSWD}bob:x:1001:1001::/home/bob:/bin/sh\n`);
  const bGroup = keyChanges(groupRule, GROUP, `${GROUP}bob:x:1001:\n`);
  const plan = planIdRemap(passwd, group, incomingIds(bPasswd, bGroup));
  assert.deepEqual(plan.conflicts, []);
  assert.deepEqual([...plan.uidMap], [[1001, 1002]]);
  assert.deepEqual([...plan.gidMap], [[1001, 1002]]);
  assert.equal(plan.remaps.length, 2);
  assert.match(plan.remaps[0].reason, /user bob of the template has id 1001, which is alice in the container; bob gets the free id 1002/);
  assertNoIdConflicts(plan);

  const p = applyKeyChanges(passwdRule, passwd, remapKeyChanges(passwdRule, bPasswd, plan.uidMap, plan.gidMap), PASSWD);
  const g = applyKeyChanges(groupRule, group, remapKeyChanges(groupRule, bGroup, plan.uidMap, plan.gidMap), GROUP);
  assert.ok(p.text.endsWith('alice:x:1001:1001::/home/alice:/bin/sh\nbob:x:1002:1002::/home/bob:/bin/sh\n'));
  assert.ok(g.text.endsWith('alice:x:1001:\nbob:x:1002:\n'));
  // a file of template B owned by bob (1001:1001 in the template) belongs to bob here
  assert.deepEqual(mapIds(1001, 1001, plan), { uid: 1002, gid: 1002 });
  assert.deepEqual(mapIds(33, 33, plan), { uid: 33, gid: 33 });
});

test('system users collide in the system range and get a free system id', () => {
  const passwd = `${PASSWD}redis:x:100:101::/var/lib/redis:/usr/sbin/nologin\npg:x:101:102::/:/bin/sh\n`;
  const plan = planIdRemap(passwd, GROUP, { users: new Map([['mysql', { uid: 100, gid: 102 }]]), groups: new Map([['mysql', 102]]) });
  assert.deepEqual([...plan.uidMap], [[100, 102]]);
  // gid 102 is free in the container's group file: kept
  assert.deepEqual([...plan.gidMap], []);
});

test('a group follows its user private id when it is free', () => {
  const passwd = `${PASSWD}alice:x:1001:1001::/:/bin/sh\ncarol:x:1002:1002::/:/bin/sh\n`;
  const group = `${GROUP}alice:x:1001:\n`; // gid 1002 free, uid 1002 taken
  const plan = planIdRemap(passwd, group, { users: new Map([['bob', { uid: 1001, gid: 1001 }]]), groups: new Map([['bob', 1001]]) });
  assert.deepEqual([...plan.uidMap], [[1001, 1003]]);
  assert.deepEqual([...plan.gidMap], [[1001, 1003]]);
});

test('same name, same id: nothing; same name, other id: the container id wins', () => {
  const passwd = `${PASSWD}app:x:1005:1005::/:/bin/sh\n`;
  const group = `${GROUP}app:x:1005:\n`;
  const same = planIdRemap(passwd, group, { users: new Map([['app', { uid: 1005, gid: 1005 }]]), groups: new Map([['app', 1005]]) });
  assert.equal(same.uidMap.size + same.gidMap.size + same.remaps.length + same.conflicts.length, 0);
  const other = planIdRemap(passwd, group, { users: new Map([['app', { uid: 1001, gid: 1001 }]]), groups: new Map([['app', 1001]]) });
  assert.deepEqual([...other.uidMap], [[1001, 1005]]);
  assert.deepEqual([...other.gidMap], [[1001, 1005]]);
  assert.match(other.remaps[0].reason, /container's id is kept/);
  assert.equal(remapRecord(passwdRule, 'app:x:1001:1001::/:/bin/sh', other.uidMap, other.gidMap), 'app:x:1005:1005::/:/bin/sh');
});

test('maps apply at once, never chained', () => {
  // template: app 1001 (container has app as 1002) and a new user web 1002 (1002 is app here)
  const passwd = `${PASSWD}app:x:1002:1002::/:/bin/sh\n`;
  const plan = planIdRemap(passwd, GROUP, { users: new Map([['app', { uid: 1001, gid: 100 }], ['web', { uid: 1002, gid: 100 }]]), groups: new Map() });
  assert.deepEqual(Object.fromEntries(plan.uidMap), { 1001: 1002, 1002: 1003 });
  assert.deepEqual(mapIds(1001, 100, plan).uid, 1002);
  assert.deepEqual(mapIds(1002, 100, plan).uid, 1003);
});

test('a new id comes after the highest in use, not from a hole left by a deleted user; holes only when the top is full', () => {
  const passwd = `${PASSWD}a:x:1000:1000::/:/bin/sh\nc:x:1005:1005::/:/bin/sh\n`; // 1001-1004 freed by deleted users
  const plan = planIdRemap(passwd, GROUP, { users: new Map([['b', { uid: 1000, gid: 100 }]]), groups: new Map() });
  assert.deepEqual(Object.fromEntries(plan.uidMap), { 1000: 1006 });
  const full = `${PASSWD}s100:x:100:100::/:/bin/false\ns999:x:999:999::/:/bin/false\n`;
  const sys = planIdRemap(full, GROUP, { users: new Map([['new', { uid: 100, gid: 100 }]]), groups: new Map() });
  assert.deepEqual(Object.fromEntries(sys.uidMap), { 100: 101 });
});

test('a new id never collides with another incoming id nor with nobody', () => {
  const passwd = `${PASSWD}a:x:1000:1000::/:/bin/sh\n`;
  const plan = planIdRemap(passwd, GROUP, { users: new Map([['b', { uid: 1000, gid: 100 }], ['c', { uid: 1001, gid: 100 }]]), groups: new Map() });
  assert.deepEqual(Object.fromEntries(plan.uidMap), { 1000: 1002 });
});

test('one template id that would have to become two ids is a conflict, refused with Conflict', () => {
  // root and toor share uid 0 in the template; the container's toor is 1000
  const passwd = `${PASSWD}toor:x:1000:0::/:/bin/sh\n`;
  const plan = planIdRemap(passwd, GROUP, { users: new Map([['root', { uid: 0, gid: 0 }], ['toor', { uid: 0, gid: 0 }]]), groups: new Map() });
  assert.equal(plan.conflicts.length, 1);
  assert.match(plan.conflicts[0], /users sharing id 0 would need different ids/);
  assert.equal(plan.uidMap.has(0), false);
  assert.throws(() => assertNoIdConflicts(plan, 'template web'), (e: unknown) => e instanceof Conflict && /cannot attach template web/.test((e as Error).message));
});

test('no free id left: FailedPrecondition naming the range and the fix', () => {
  const lines: string[] = [];
  for (let id = 100; id <= 999; id++) lines.push(`s${id}:x:${id}:${id}::/:/bin/false`);
  const passwd = `${lines.join('\n')}\n`;
  assert.throws(
    () => planIdRemap(passwd, '', { users: new Map([['new', { uid: 150, gid: 150 }]]), groups: new Map() }),
    (e: unknown) => e instanceof FailedPrecondition && /no free user id left from 100 to 999 for user new/.test((e as Error).message) && /remove unused users/.test((e as Error).message),
  );
});

test('incomingIds reads the template key changes and refuses records without ids', () => {
  const inc = incomingIds({ app: 'app:x:1001:1002::/:/bin/sh', gone: null }, { app: 'app:x:1002:' });
  assert.deepEqual([...inc.users], [['app', { uid: 1001, gid: 1002 }]]);
  assert.deepEqual([...inc.groups], [['app', 1002]]);
  assert.throws(() => incomingIds({ bad: 'bad:x::1::/:/bin/sh' }, undefined), InvalidArgument);
  assert.throws(() => planIdRemap('', '', { users: new Map([['x', { uid: -1, gid: 0 }]]), groups: new Map() }), InvalidArgument);
});

test('remapRecord leaves files without ids alone', () => {
  const rec = 'app:$6$salt$hash:19000:0:99999:7:::';
  assert.equal(remapRecord(shadowRule, rec, new Map([[19000, 1]]), new Map([[0, 1]])), rec);
});
