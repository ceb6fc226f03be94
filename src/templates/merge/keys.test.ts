import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyKeyChanges, isEmptyChanges, keyChanges, removeKeyChanges } from './keys.js';
import { dpkgStatusRule, groupRule, passwdRule, shadowRule } from './rules.js';

const BASE = `root:x:0:0:root:/root:/bin/bash
# base comment
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
games:x:5:60:games:/usr/games:/usr/sbin/nologin
`;
const APP1 = 'app1:x:1001:1001::/home/app1:/bin/sh';
const APP2 = 'app2:x:1002:1002::/home/app2:/bin/sh';

test('keyChanges lists only added, changed and deleted keys', () => {
  const after = BASE.replace('games:x:5:60:games:/usr/games:/usr/sbin/nologin\n', '').replace('/root:/bin/bash', '/root:/bin/zsh') + `${APP1}\n`;
  const c = keyChanges(passwdRule, BASE, after);
  assert.deepEqual({ ...c }, { root: 'root:x:0:0:root:/root:/bin/zsh', app1: APP1, games: null });
  assert.ok(isEmptyChanges(keyChanges(passwdRule, BASE, BASE)));
  assert.deepEqual({ ...keyChanges(shadowRule, null, 'a:!:1::::::\n') }, { a: 'a:!:1::::::' });
});

test('key changes survive JSON and keys like __proto__ are plain keys', () => {
  const c = keyChanges(passwdRule, '', '__proto__:x:7:7::/:/bin/sh\n');
  assert.equal(Object.keys(c).length, 1);
  const back = JSON.parse(JSON.stringify(c));
  const { text } = applyKeyChanges(passwdRule, BASE, back, BASE);
  assert.ok(text.endsWith('__proto__:x:7:7::/:/bin/sh\n'));
});

test('two templates that each add a user: both appear', () => {
  const t1 = keyChanges(passwdRule, BASE, `${BASE}${APP1}\n`);
  const t2 = keyChanges(passwdRule, BASE, `${BASE}${APP2}\n`);
  const one = applyKeyChanges(passwdRule, BASE, t1, BASE);
  const two = applyKeyChanges(passwdRule, one.text, t2, BASE);
  assert.deepEqual(one.conflicts, []);
  assert.deepEqual(two.conflicts, []);
  assert.equal(two.text, `${BASE}${APP1}\n${APP2}\n`);
});

test('a key the container changed wins, and the conflict is reported', () => {
  const t = keyChanges(passwdRule, BASE, BASE.replace('daemon:/usr/sbin:/usr/sbin/nologin', 'daemon:/srv:/bin/sh'));
  const current = BASE.replace('daemon:x:1:1:daemon', 'daemon:x:1:1:Daemon by admin');
  const r = applyKeyChanges(passwdRule, current, t, BASE);
  assert.equal(r.text, current);
  assert.equal(r.conflicts.length, 1);
  assert.equal(r.conflicts[0].key, 'daemon');
  assert.equal(r.conflicts[0].kept, 'daemon:x:1:1:Daemon by admin:/usr/sbin:/usr/sbin/nologin');
  assert.equal(r.conflicts[0].wanted, 'daemon:x:1:1:daemon:/srv:/bin/sh');
  assert.match(r.conflicts[0].reason, /container changed user daemon/);
  assert.match(r.conflicts[0].reason, /kept the container's value/);
});

test('a key two templates both add differently: the first one attached stays, the second is reported', () => {
  const t1 = keyChanges(passwdRule, BASE, `${BASE}app:x:1001:1001::/a:/bin/sh\n`);
  const t2 = keyChanges(passwdRule, BASE, `${BASE}app:x:1001:1001::/b:/bin/sh\n`);
  const one = applyKeyChanges(passwdRule, BASE, t1, BASE);
  const two = applyKeyChanges(passwdRule, one.text, t2, BASE);
  assert.equal(two.text, one.text);
  assert.match(two.conflicts[0].reason, /container added user app/);
});

test('the container already has the template value: no change, no conflict', () => {
  const t = keyChanges(passwdRule, BASE, `${BASE}${APP1}\n`);
  const r = applyKeyChanges(passwdRule, `${BASE}${APP1}\n`, t, BASE);
  assert.deepEqual(r.conflicts, []);
  assert.equal(r.text, `${BASE}${APP1}\n`);
});

test('deletion of a key is applied, or reported when the container changed the key', () => {
  const t = keyChanges(passwdRule, BASE, BASE.replace(/^games:.*\n/m, ''));
  assert.deepEqual({ ...t }, { games: null });
  const r = applyKeyChanges(passwdRule, BASE, t, BASE);
  assert.equal(r.text, BASE.replace(/^games:.*\n/m, ''));
  const changed = BASE.replace('/usr/games:', '/home/games:');
  const r2 = applyKeyChanges(passwdRule, changed, t, BASE);
  assert.equal(r2.text, changed);
  assert.equal(r2.conflicts[0].key, 'games');
  assert.equal(r2.conflicts[0].wanted, null);
});

test('a key the container deleted stays deleted against a template change', () => {
  const t = keyChanges(passwdRule, BASE, BASE.replace('/usr/games:', '/opt/games:'));
  const current = BASE.replace(/^games:.*\n/m, '');
  const r = applyKeyChanges(passwdRule, current, t, BASE);
  assert.equal(r.text, current);
  assert.match(r.conflicts[0].reason, /container deleted user games/);
});

test('detach removes added keys and restores changed and deleted ones', () => {
  const after = BASE.replace(/^games:.*\n/m, '').replace('/root:/bin/bash', '/root:/bin/zsh') + `${APP1}\n`;
  const t = keyChanges(passwdRule, BASE, after);
  const attached = applyKeyChanges(passwdRule, BASE, t, BASE).text;
  assert.equal(attached, after);
  const detached = removeKeyChanges(passwdRule, attached, t, BASE);
  assert.deepEqual(detached.conflicts, []);
  assert.deepEqual(passwdRule.parse(detached.text), passwdRule.parse(BASE));
  assert.match(detached.text, /# base comment/);
});

test('detach keeps keys the container changed since attach, and reports them', () => {
  const t1 = keyChanges(passwdRule, BASE, `${BASE}${APP1}\n`);
  const t2 = keyChanges(passwdRule, BASE, `${BASE}${APP2}\n`);
  let text = applyKeyChanges(passwdRule, BASE, t1, BASE).text;
  text = applyKeyChanges(passwdRule, text, t2, BASE).text;
  text = text.replace('/home/app1:/bin/sh', '/home/app1:/bin/bash'); // the admin changed app1's shell
  const d1 = removeKeyChanges(passwdRule, text, t1, BASE);
  assert.equal(d1.text, text);
  assert.equal(d1.conflicts[0].key, 'app1');
  assert.match(d1.conflicts[0].reason, /changed user app1 after the template was attached/);
  const d2 = removeKeyChanges(passwdRule, d1.text, t2, BASE);
  assert.deepEqual(d2.conflicts, []);
  assert.equal(d2.text, `${BASE}app1:x:1001:1001::/home/app1:/bin/bash\n`);
});

test('detach of a key the container already removed: nothing to do, nothing reported', () => {
  const t = keyChanges(groupRule, 'root:x:0:\n', 'root:x:0:\napp:x:1001:\n');
  const r = removeKeyChanges(groupRule, 'root:x:0:\n', t, 'root:x:0:\n');
  assert.deepEqual(r.conflicts, []);
  assert.equal(r.text, 'root:x:0:\n');
});

test('bad key changes are refused with InvalidArgument', () => {
  assert.throws(() => applyKeyChanges(passwdRule, BASE, { a: 5 } as never, BASE), /neither a record nor null/);
});

const STATUS = `Package: base-files
Status: install ok installed
Priority: required
Architecture: amd64
Version: 12.4
X-Local: yes

Package: tzdata
Status: install ok installed
Architecture: all
Version: 2024a
`;

const nginx = 'Package: nginx\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.22\nDepends: libc6';

test('dpkg status: a template adding, upgrading and purging packages merges per package', () => {
  const after = `${STATUS.replace('Version: 2024a', 'Version: 2024b')}\n${nginx}\n`.replace(/Package: base-files[\s\S]*?\n\n/, '');
  const t = keyChanges(dpkgStatusRule, STATUS, after);
  assert.deepEqual(Object.keys(t).sort(), ['base-files:amd64', 'nginx:amd64', 'tzdata:all']);
  assert.equal(t['base-files:amd64'], null);
  // the container installed its own package meanwhile: it stays, in place
  const own = 'Package: vim\nStatus: install ok installed\nArchitecture: amd64\nVersion: 9';
  const current = `${own}\n\n${STATUS}`;
  const r = applyKeyChanges(dpkgStatusRule, current, t, STATUS);
  assert.deepEqual(r.conflicts, []);
  assert.equal(r.text, `${own}\n\nPackage: tzdata\nStatus: install ok installed\nArchitecture: all\nVersion: 2024b\n\n${nginx}\n`);
  const back = removeKeyChanges(dpkgStatusRule, r.text, t, STATUS);
  assert.deepEqual(back.conflicts, []);
  assert.deepEqual(dpkgStatusRule.parse(back.text), dpkgStatusRule.parse(current));
  assert.match(back.text, /X-Local: yes/);
});

test('dpkg status: a package the container upgraded itself wins over the template', () => {
  const t = keyChanges(dpkgStatusRule, STATUS, STATUS.replace('Version: 2024a', 'Version: 2024b'));
  const current = STATUS.replace('Version: 2024a', 'Version: 2024c');
  const r = applyKeyChanges(dpkgStatusRule, current, t, STATUS);
  assert.equal(r.text, current);
  assert.match(r.conflicts[0].reason, /package tzdata:all/);
});
