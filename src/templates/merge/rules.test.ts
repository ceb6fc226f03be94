import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyKeyChanges, keyChanges, removeKeyChanges } from './keys.js';
import { MERGE_RULES, dependRules, dpkgStatusRule, groupRule, gshadowRule, packageKey, passwdRule, ruleFor, shadowRule } from './rules.js';

const PASSWD = `root:x:0:0:root:/root:/bin/bash
# a comment the admin wrote

daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
+::::::
not a record
www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin
`;

const STATUS = `Package: libc6
Status: install ok installed
Architecture: amd64
X-Unknown-Field: kept
Description: GNU C Library
 continuation line
 .
 more

Package: libc6
Status: install ok installed
Architecture: i386
Version: 2.36

Package: base-files
Status: install ok installed
Architecture: amd64
Version: 12.4
`;

test('the table has one rule per file, with the expected paths', () => {
  assert.deepEqual(MERGE_RULES.map((r) => r.path).sort(), [
    '/etc/ca-certificates.conf', '/etc/group', '/etc/gshadow', '/etc/init.d/.depend.boot', '/etc/init.d/.depend.start', '/etc/init.d/.depend.stop', '/etc/passwd', '/etc/shadow', '/etc/shells',
    '/var/lib/apt/extended_states', '/var/lib/dpkg/statoverride', '/var/lib/dpkg/status', '/var/lib/dpkg/triggers/File', '/var/lib/ucf/hashfile', '/var/lib/ucf/registry',
  ]);
  assert.equal(new Set(MERGE_RULES.map((r) => r.path)).size, MERGE_RULES.length);
  assert.equal(ruleFor('/etc/passwd'), passwdRule);
  assert.equal(ruleFor('/etc/passwd-'), undefined);
});

test('colon files are keyed by name; comments, blank and foreign lines are not keys', () => {
  const r = passwdRule.parse(PASSWD);
  assert.deepEqual([...r.keys()], ['root', 'daemon', '+', 'www-data']);
  assert.equal(r.get('www-data'), 'www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin');
  for (const rule of [groupRule, shadowRule, gshadowRule]) assert.deepEqual([...rule.parse('a:x:1:\n#c\nb:!::\n').keys()], ['a', 'b']);
});

test('colon files round-trip byte for byte', () => {
  assert.equal(passwdRule.serialize(passwdRule.parse(PASSWD), PASSWD), PASSWD);
  assert.equal(groupRule.serialize(groupRule.parse(''), ''), '');
});

test('colon serialize replaces in place, drops removed keys, appends new ones', () => {
  const r = passwdRule.parse(PASSWD);
  r.set('daemon', 'daemon:x:1:1:changed:/usr/sbin:/bin/sh');
  r.delete('www-data');
  r.set('app', 'app:x:1001:1001::/home/app:/bin/sh');
  assert.equal(
    passwdRule.serialize(r, PASSWD),
    `root:x:0:0:root:/root:/bin/bash
# a comment the admin wrote

daemon:x:1:1:changed:/usr/sbin:/bin/sh
+::::::
not a record
app:x:1001:1001::/home/app:/bin/sh
`,
  );
});

test('a duplicated key: the first record is the key, later copies are left alone unless the key goes', () => {
  const text = 'a:x:1:1::/:/bin/sh\nb:x:2:2::/:/bin/sh\na:x:9:9::/:/bin/sh\n';
  const r = passwdRule.parse(text);
  assert.equal(r.get('a'), 'a:x:1:1::/:/bin/sh');
  r.set('a', 'a:x:1:1::/new:/bin/sh');
  assert.equal(passwdRule.serialize(r, text), 'a:x:1:1::/new:/bin/sh\nb:x:2:2::/:/bin/sh\na:x:9:9::/:/bin/sh\n');
  r.delete('a');
  assert.equal(passwdRule.serialize(r, text), 'b:x:2:2::/:/bin/sh\n');
});

test('a file without a final newline gets one', () => {
  assert.equal(groupRule.serialize(groupRule.parse('a:x:1:'), 'a:x:1:'), 'a:x:1:\n');
});

test('dpkg status stanzas are keyed by Package and Architecture', () => {
  const r = dpkgStatusRule.parse(STATUS);
  assert.deepEqual([...r.keys()], ['libc6:amd64', 'libc6:i386', 'base-files:amd64']);
  assert.match(r.get('libc6:amd64')!, /X-Unknown-Field: kept\nDescription: GNU C Library\n continuation line\n \.\n more$/);
  assert.equal(packageKey('Package: foo\nStatus: x'), 'foo');
  assert.equal(packageKey('package:  bar \narchitecture: all'), 'bar:all');
  assert.equal(packageKey('Status: orphan'), null);
});

test('dpkg status round-trips byte for byte, extra blank lines included', () => {
  assert.equal(dpkgStatusRule.serialize(dpkgStatusRule.parse(STATUS), STATUS), STATUS);
  const odd = '\nPackage: a\nArchitecture: all\n\n\n\nPackage: b\nArchitecture: all\n\n';
  assert.equal(dpkgStatusRule.serialize(dpkgStatusRule.parse(odd), odd), odd);
  assert.equal(dpkgStatusRule.serialize(new Map(), ''), '');
});

test('dpkg status: change in place, remove with its separator, append new stanzas', () => {
  const r = dpkgStatusRule.parse(STATUS);
  r.set('libc6:amd64', r.get('libc6:amd64')!.replace('X-Unknown-Field: kept', 'X-Unknown-Field: new'));
  r.delete('libc6:i386');
  r.set('nginx:amd64', 'Package: nginx\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.22');
  const out = dpkgStatusRule.serialize(r, STATUS);
  assert.equal(
    out,
    `Package: libc6
Status: install ok installed
Architecture: amd64
X-Unknown-Field: new
Description: GNU C Library
 continuation line
 .
 more

Package: base-files
Status: install ok installed
Architecture: amd64
Version: 12.4

Package: nginx
Status: install ok installed
Architecture: amd64
Version: 1.22
`,
  );
  // removing the last stanza leaves no trailing blank line
  const r2 = dpkgStatusRule.parse(out);
  r2.delete('nginx:amd64');
  assert.ok(dpkgStatusRule.serialize(r2, out).endsWith('Version: 12.4\n'));
});

test('dpkg status: stanzas without a Package field are kept verbatim', () => {
  const text = 'Status: weird\n\nPackage: a\nArchitecture: all\n';
  const r = dpkgStatusRule.parse(text);
  r.delete('a:all');
  assert.equal(dpkgStatusRule.serialize(r, text), 'Status: weird\n');
});

test('passwd and group records remap their ids; shadow ones have none', () => {
  const uid = new Map([[1001, 1002]]);
  const gid = new Map([[1001, 1003]]);
  assert.equal(passwdRule.remapIds!('app:x:1001:1001:App,,,:/home/app:/bin/sh', uid, gid), 'app:x:1002:1003:App,,,:/home/app:/bin/sh');
  assert.equal(passwdRule.remapIds!('other:x:5:1001::/:/bin/sh', uid, gid), 'other:x:5:1003::/:/bin/sh');
  assert.equal(groupRule.remapIds!('app:x:1001:alice,bob', uid, gid), 'app:x:1003:alice,bob');
  assert.equal(groupRule.remapIds!('odd:x:notanumber:', uid, gid), 'odd:x:notanumber:');
  assert.equal(shadowRule.remapIds, undefined);
  assert.equal(gshadowRule.remapIds, undefined);
});

test('insserv boot order files compose: two templates\' services both start, and detach takes one out', () => {
  const rule = dependRules[1];
  assert.equal(rule.path, '/etc/init.d/.depend.start');
  const base = 'TARGETS = killprocs bootlogs single rc.local\nINTERACTIVE =\nsingle: killprocs\nrc.local: bootlogs\n';
  const nginx = keyChanges(rule, base, 'TARGETS = killprocs bootlogs nginx single rc.local\nINTERACTIVE =\nsingle: killprocs\nrc.local: bootlogs nginx\n');
  const redis = keyChanges(rule, base, 'TARGETS = killprocs redis-server bootlogs single rc.local\nINTERACTIVE =\nsingle: killprocs\nrc.local: redis-server bootlogs\n');
  assert.deepEqual(Object.keys(nginx).sort(), ['edge rc.local nginx', 'target nginx']);
  const one = applyKeyChanges(rule, base, nginx, base);
  const both = applyKeyChanges(rule, one.text, redis, base);
  assert.deepEqual([...one.conflicts, ...both.conflicts], []);
  assert.equal(both.text, 'TARGETS = killprocs bootlogs single rc.local nginx redis-server\nINTERACTIVE =\nsingle: killprocs\nrc.local: bootlogs nginx redis-server\n');
  const back = removeKeyChanges(rule, both.text, nginx, base);
  assert.equal(back.text, 'TARGETS = killprocs bootlogs single rc.local redis-server\nINTERACTIVE =\nsingle: killprocs\nrc.local: bootlogs redis-server\n');
});

test('package bookkeeping composes per key: two templates\' ucf registrations, triggers and auto marks both stay', () => {
  const base = { '/var/lib/ucf/registry': 'base-files  /etc/a.conf\n', '/var/lib/dpkg/triggers/File': '/usr/lib/x86_64-linux-gnu/gio/modules libglib2.0-0:amd64\n', '/var/lib/apt/extended_states': '' };
  const nginx = { '/var/lib/ucf/registry': `${base['/var/lib/ucf/registry']}nginx-common  /etc/nginx/nginx.conf\n`, '/var/lib/dpkg/triggers/File': `${base['/var/lib/dpkg/triggers/File']}/usr/share/man man-db\n`, '/var/lib/apt/extended_states': 'Package: nginx-common\nArchitecture: all\nAuto-Installed: 1\n' };
  const php = { '/var/lib/ucf/registry': `${base['/var/lib/ucf/registry']}php8.2-common  /etc/php/8.2/mods-available/pdo.ini\n`, '/var/lib/dpkg/triggers/File': `${base['/var/lib/dpkg/triggers/File']}/usr/lib/php php8.2-common\n`, '/var/lib/apt/extended_states': 'Package: php8.2-common\nArchitecture: amd64\nAuto-Installed: 1\n' };
  for (const [path, before] of Object.entries(base)) {
    const rule = ruleFor(path)!;
    let text = before;
    for (const t of [nginx, php]) text = applyKeyChanges(rule, text, keyChanges(rule, before, t[path as keyof typeof t]), before).text;
    for (const t of [nginx, php]) {
      for (const line of t[path as keyof typeof t].split('\n').filter(Boolean)) assert.ok(text.includes(line), `${path} keeps ${line}`);
    }
  }
  assert.deepEqual([...ruleFor('/var/lib/ucf/registry')!.parse(nginx['/var/lib/ucf/registry']).keys()], ['/etc/a.conf', '/etc/nginx/nginx.conf'], 'ucf keys are paths');
  assert.deepEqual([...ruleFor('/etc/ca-certificates.conf')!.parse('# c\nmozilla/A.crt\n!mozilla/B.crt\n').keys()], ['mozilla/A.crt', 'mozilla/B.crt'], 'a deselected certificate is the same key');
});
