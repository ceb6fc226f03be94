// Integration: application templates — capture, export and import into a second data root,
// attach to stopped and running containers, key merges, uid collisions, detach, upgrade, 100
// containers' disk growth, and hostile template files. Real runc, overlayfs and idmapped mounts.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { Client } from '../src/api/client.js';
import { craft, dirEntry, fileEntry, manifestOf, objectOf } from '../src/templates/pack/testing.js';
import { TestDaemon, useDaemon } from './harness.js';

interface Attach { version: number; position: number; live: boolean; filesCopied: number; conflicts: string[]; remaps: string[]; kept: string[]; milliseconds: number }
interface View { name: string; rootfs: string; privateArea: string; apps: Array<{ template: string; version: number; position: number; live: boolean }> }
interface Tpl { name: string; kind: string; meta: { digest?: string }; versions?: Array<{ version: number; digest: string; bases: string[]; usedBy: string[] }> }

/** The installer of `app`: files added, one changed, one deleted, modes and owners, a user and a group. */
const APP_V1 = `set -e
mkdir -p /opt/app/bin /opt/app/data
echo 'hello from app v1' > /opt/app/bin/hello.txt
printf '#!/bin/sh\\necho app-running\\n' > /opt/app/bin/app
chmod 755 /opt/app/bin/app
echo 'export APP_HOME=/opt/app' >> /etc/profile
rm /etc/issue
ln -s /opt/app/bin/app /usr/bin/app
echo 'appgrp:x:1500:' >> /etc/group
echo 'appuser:x:1500:1500:App:/opt/app:/bin/sh' >> /etc/passwd
echo 'appuser:!:19000:0:99999:7:::' >> /etc/shadow
chown 1500:1500 /opt/app/data /opt/app/bin/hello.txt
chmod 640 /opt/app/bin/hello.txt
chmod 2770 /opt/app/data
echo scratch > /tmp/not-captured
`;

const APP_V2 = `${APP_V1}echo 'hello from app v2' > /opt/app/bin/hello.txt
echo v2 > /opt/app/VERSION
`;

/** Another template over the same base: a different user, and a file of it. */
const WEB = `set -e
echo 'web:x:1600:1600::/srv/web:/bin/sh' >> /etc/passwd
echo 'web:x:1600:' >> /etc/group
mkdir -p /srv/web && echo index > /srv/web/index.html && chown -R 1600:1600 /srv/web
`;

/** Captured with uid/gid 1500 too, for another user: collides with APP_V1's appuser. */
const DB = `set -e
echo 'dbuser:x:1500:1500::/srv/db:/bin/sh' >> /etc/passwd
echo 'dbgrp:x:1500:' >> /etc/group
mkdir -p /srv/db && echo rows > /srv/db/data && chown -R 1500:1500 /srv/db && chmod 600 /srv/db/data
`;

describe('application templates', () => {
  const a = useDaemon({ template: 'bb' });
  const b = useDaemon();
  const scripts = join(a.root, 'scripts');

  const capture = async (d: TestDaemon, name: string, script: string, ...more: string[]): Promise<string> => {
    const file = join(scripts, `${name}-${Date.now()}.sh`);
    writeFileSync(file, script);
    const r = await d.cli('template', 'capture', name, '--base', 'bb', ...more, '--script', file);
    assert.equal(r.status, 0, r.stderr);
    return `${r.stdout}${r.stderr}`;
  };
  const sh = (d: TestDaemon, ct: string, script: string): Promise<string> => d.ok('exec', ct, '--', 'sh', '-c', script);

  before(() => { spawnSync('mkdir', ['-p', scripts]); });

  test('capture records added, changed and deleted files, modes, owners and keys; nothing volatile', async () => {
    const out = await capture(a, 'app', APP_V1);
    assert.match(out, /starting throw-away container/, 'progress was shown');
    assert.match(out, /version 1: 4 files, .* 1 deletions, 3 database keys/);
    const t = await a.json<Tpl>('template', 'inspect', 'app');
    assert.equal(t.kind, 'app');
    assert.equal(t.versions?.length, 1);
    assert.deepEqual(t.versions?.[0].bases, ['bb@1']);
    const tree = join(a.root, 'templates', 'app', 'v1', 'tree');
    assert.equal(statSync(join(tree, 'opt/app/bin/hello.txt')).uid, 1500, 'real ids on disk');
    assert.equal(statSync(join(tree, 'opt/app/data')).mode & 0o7777, 0o2770);
    assert.ok(existsSync(join(tree, 'etc/profile')), 'the changed file');
    for (const db of ['etc/passwd', 'etc/group', 'etc/shadow']) assert.equal(existsSync(join(tree, db)), false, `${db} is merged per key, not stored whole`);
    assert.equal(existsSync(join(tree, 'tmp')), false, '/tmp is volatile');
    assert.equal(existsSync(join(tree, 'etc/hostname')), false, 'the scratch container\'s identity is not captured');
    assert.ok(statSync(join(a.root, 'templates', 'app', 'v1', 'wh', 'etc', 'issue')).isCharacterDevice(), 'the deletion as a whiteout');
    // The throw-away container is gone.
    assert.deepEqual((await a.json<View[]>('list')).map((c) => c.name), []);
    assert.deepEqual(a.leftovers(), []);
  });

  test('a failing installer captures nothing and leaves nothing', async () => {
    const file = join(scripts, 'fail.sh');
    writeFileSync(file, 'echo about to fail; exit 3\n');
    const r = await a.cli('template', 'capture', 'broken', '--base', 'bb', '--script', file);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /exited with status 3, so nothing was captured/);
    assert.equal((await a.json<Tpl[]>('template', 'list')).some((t) => t.name === 'broken'), false);
    assert.deepEqual((await a.json<View[]>('list')).map((c) => c.name), []);
    assert.equal(existsSync(join(a.root, 'templates', 'broken')), false);
    // Bad requests fail before anything starts.
    assert.match((await a.cli('template', 'capture', 'x', '--base', 'bb')).stderr, /exactly one of/);
    assert.match((await a.cli('template', 'capture', 'x', '--base', 'nope', '--', 'true')).stderr, /nope does not exist/);
    assert.match((await a.cli('template', 'capture', 'bb', '--base', 'bb', '--', 'true')).stderr, /OS template/);
    assert.deepEqual(a.leftovers(), []);
  });

  test('interactive capture: a shell in the throw-away container, captured when it exits; --exclude leaves paths out', async () => {
    // script(1) gives the CLI a terminal; the "operator" types once the shell is there, then exits.
    const strata = join(process.cwd(), 'bin', 'strata');
    const child = spawn('script', ['-qec', `${strata} --socket ${a.socket} template capture inter --base bb --exclude '/opt/i/cache/**' --interactive`, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let typed = false;
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    const onData = (d: Buffer): void => {
      out += d.toString();
      if (!typed && /\$ /.test(out)) {
        typed = true;
        child.stdin.write('mkdir -p /opt/i/cache && echo by-hand > /opt/i/f && echo junk > /opt/i/cache/x\n');
        setTimeout(() => child.stdin.write('exit\n'), 500);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    const status = await exited;
    clearTimeout(timer);
    assert.equal(status, 0, out);
    assert.match(out, /version 1: 1 files/);
    const tree = join(a.root, 'templates', 'inter', 'v1', 'tree');
    assert.ok(existsSync(join(tree, 'opt/i/f')));
    assert.equal(existsSync(join(tree, 'opt/i/cache/x')), false, 'excluded (the directory itself stays, empty)');
    assert.deepEqual((await a.json<View[]>('list')).map((c) => c.name), [], 'the throw-away container is gone');
    await a.ok('template', 'rm', 'inter');
  });

  test('export, then import into a second data root: the base must come first', async () => {
    const appFile = join(a.root, 'app.strata');
    const bbFile = join(a.root, 'bb.strata');
    await a.ok('template', 'export', 'app', '-o', appFile);
    const exported = await a.ok('template', 'export', 'bb', '-o', bbFile);
    const missing = await b.cli('template', 'import', appFile);
    assert.notEqual(missing.status, 0);
    assert.match(missing.stderr, /made on template bb .*import bb first/);
    await b.ok('template', 'import', bbFile);
    await b.ok('template', 'import', appFile);
    // Re-exported, an imported template is the same file by digest: a backup or a move carries it to a third host, where its application templates find it.
    const digest = (out: string): string => /sha256:[0-9a-f]{64}/.exec(out)![0];
    assert.equal(digest(await b.ok('template', 'export', 'bb', '-o', join(b.root, 'bb-again.strata'))), digest(exported));
    const ta = await a.json<Tpl>('template', 'inspect', 'app');
    const tb = await b.json<Tpl>('template', 'inspect', 'app');
    assert.equal(tb.versions?.[0].digest, ta.versions?.[0].digest, 'the same template, by digest');
    const again = await b.cli('template', 'import', appFile);
    assert.match(again.stderr, /already has this version/);
  });

  const checkApp = async (d: TestDaemon, ct: string, hello = 'hello from app v1'): Promise<void> => {
    const out = await sh(d, ct, 'cat /opt/app/bin/hello.txt; app; stat -c "%U:%G %a" /opt/app/bin/hello.txt /opt/app/data; grep APP_HOME /etc/profile; test -e /etc/issue && echo issue-present || echo issue-gone; id appuser; grep appuser /etc/shadow | cut -d: -f1,2; readlink /usr/bin/app');
    assert.match(out, new RegExp(hello));
    assert.match(out, /app-running/);
    assert.match(out, /appuser:appgrp 640/);
    assert.match(out, /appuser:appgrp 2770/);
    assert.match(out, /export APP_HOME=\/opt\/app/);
    assert.match(out, /issue-gone/);
    assert.match(out, /uid=1500\(appuser\) gid=1500\(appgrp\)/);
    assert.match(out, /appuser:!/);
    assert.match(out, /\/opt\/app\/bin\/app/);
  };

  test('attach to a stopped container: a layer, no copy; every change and key inside', async () => {
    await b.ok('create', 's1', '--template', 'bb', '--no-net');
    const r = await b.json<Attach>('attach', 's1', 'app');
    assert.equal(r.live, false);
    assert.equal(r.filesCopied, 0);
    const v = await b.json<View>('inspect', 's1');
    assert.deepEqual(v.apps.map((x) => `${x.template}@${x.version}`), ['app@1']);
    assert.equal(existsSync(join(v.privateArea, 'opt')), false, 'no file of the template in the private area');
    await b.ok('start', 's1');
    await checkApp(b, 's1');
    // The container's root keeps its own entries: base users are still there.
    assert.match(await sh(b, 's1', 'grep ^root: /etc/passwd'), /^root:/);
  });

  test('attach to a running container: the files appear at once; the next start shares them again', async () => {
    await b.ok('create', 'r1', '--template', 'bb', '--no-net');
    await b.ok('start', 'r1');
    await sh(b, 'r1', 'echo mine > /etc/motd');
    const r = await b.json<Attach>('attach', 'r1', 'app');
    assert.equal(r.live, true);
    assert.ok(r.filesCopied >= 3);
    await checkApp(b, 'r1');
    const v = await b.json<View>('inspect', 'r1');
    assert.ok(existsSync(join(v.privateArea, 'opt/app/bin/hello.txt')), 'copied until the next start');
    await b.ok('restart', 'r1');
    assert.equal(existsSync(join(v.privateArea, 'opt/app/bin/hello.txt')), false, 'served by the shared layer after the restart');
    assert.equal((await b.json<View>('inspect', 'r1')).apps[0].live, false);
    await checkApp(b, 'r1');
    assert.equal((await sh(b, 'r1', 'cat /etc/motd')).trim(), 'mine');
  });

  test('two templates adding different users both appear; order is shown by inspect', async () => {
    await capture(a, 'web', WEB);
    const file = join(a.root, 'web.strata');
    await a.ok('template', 'export', 'web', '-o', file);
    await b.ok('template', 'import', file);
    await b.ok('create', 'two', '--template', 'bb', '--no-net', '--app', 'app', '--app', 'web');
    const v = await b.json<View>('inspect', 'two');
    assert.deepEqual(v.apps.map((x) => [x.template, x.position]), [['app', 0], ['web', 1]]);
    assert.match(await b.ok('inspect', 'two'), /apps:\s+app@1 < web@1/);
    await b.ok('start', 'two');
    const out = await sh(b, 'two', 'id appuser; id web; stat -c %U /srv/web/index.html; cat /opt/app/bin/hello.txt');
    assert.match(out, /uid=1500\(appuser\)/);
    assert.match(out, /uid=1600\(web\)/);
    assert.match(out, /^web$/m);
  });

  test('a template captured over an application base records only its own keys; detaching it leaves the base\'s users', async () => {
    const out = await capture(a, 'addon', "echo 'addon:x:1700:1500::/opt/app:/bin/false' >> /etc/passwd\necho 'addon:!:19000:0:99999:7:::' >> /etc/shadow\n", '--base', 'app');
    assert.match(out, /version 1: .* 2 database keys/, 'addon\'s passwd and shadow lines, not app\'s user and group');
    await a.ok('create', 'ad', '--template', 'bb', '--no-net', '--app', 'app', '--app', 'addon');
    await a.ok('detach', 'ad', 'addon');
    await a.ok('start', 'ad');
    const users = await sh(a, 'ad', 'id appuser; grep -c "^addon:" /etc/passwd /etc/shadow || true');
    assert.match(users, /uid=1500\(appuser\) gid=1500\(appgrp\)/);
    assert.match(users, /passwd:0\n.*shadow:0/);
    await a.ok('destroy', 'ad', '--force');
  });

  test('uid collision: the second template\'s user gets a free id and its files follow it', async () => {
    await capture(a, 'db', DB);
    await a.ok('create', 'col', '--template', 'bb', '--no-net', '--app', 'app');
    const r = await a.json<Attach>('attach', 'col', 'db');
    assert.equal(r.remaps.length, 2, r.remaps.join('; '));
    assert.match(r.remaps.join(' '), /dbuser/);
    await a.ok('start', 'col');
    const out = await sh(a, 'col', 'stat -c "%U:%G %a" /srv/db/data /opt/app/bin/hello.txt; id -u dbuser; id -u appuser; cat /srv/db/data');
    assert.match(out, /^dbuser:dbgrp 600$/m, 'the template\'s file belongs to its own user, not to appuser');
    assert.match(out, /^appuser:appgrp 640$/m);
    const [, , dbUid, appUid] = out.trim().split('\n');
    assert.notEqual(dbUid, appUid);
    assert.equal(appUid, '1500');
    // The shared tree itself is untouched.
    assert.equal(statSync(join(a.root, 'templates', 'db', 'v1', 'tree', 'srv/db/data')).uid, 1500);
    // Live attach of a colliding template remaps the copies as well.
    await a.ok('create', 'col2', '--template', 'bb', '--no-net', '--app', 'app');
    await a.ok('start', 'col2');
    await a.ok('attach', 'col2', 'db');
    assert.match(await sh(a, 'col2', 'stat -c "%U" /srv/db/data'), /^dbuser$/m);
    await a.ok('restart', 'col2');
    assert.match(await sh(a, 'col2', 'stat -c "%U" /srv/db/data; stat -c "%U" /opt/app/bin/hello.txt'), /^dbuser\nappuser$/m);
  });

  test('detach removes the template\'s files and keys, but not what the container changed', async () => {
    await b.ok('stop', 's1');
    await b.ok('start', 's1');
    await sh(b, 's1', "echo 'my edit' > /opt/app/bin/hello.txt; sed -i 's/^appuser:x:1500:1500:App:/appuser:x:1500:1500:Edited:/' /etc/passwd");
    assert.match((await b.cli('detach', 's1', 'app')).stderr, /running: stop it first/);
    await b.ok('stop', 's1');
    const out = await b.ok('detach', 's1', 'app');
    assert.match(out, /changed user appuser after the template was attached/);
    assert.deepEqual((await b.json<View>('inspect', 's1')).apps, []);
    await b.ok('start', 's1');
    const inside = await sh(b, 's1', 'cat /opt/app/bin/hello.txt; test -e /opt/app/bin/app && echo app-left || echo app-gone; test -e /etc/issue && echo issue-back; grep -c APP_HOME /etc/profile || true; grep -c appgrp /etc/group || true; grep appuser /etc/passwd');
    assert.match(inside, /my edit/, 'the container\'s own edit stays');
    assert.match(inside, /app-gone/);
    assert.match(inside, /issue-back/, 'the deleted file is back');
    assert.match(inside, /^0\n1\n/m, 'the changed file is back to the base; the user\'s group stays with it (no half-removed user)');
    assert.match(out, /\/etc\/group: kept group appgrp: user appuser, which stays, has it as primary group/);
    assert.match(inside, /Edited/, 'a key the container changed stays');
  });

  test('a new capture is a new version; upgrade keeps the container\'s own edit; versions in use stay', async () => {
    await a.ok('create', 'up', '--template', 'bb', '--no-net', '--app', 'app');
    await a.ok('start', 'up');
    await sh(a, 'up', 'echo tuned > /opt/app/data/config');
    await a.ok('stop', 'up');
    assert.match(await capture(a, 'app', APP_V2), /version 2/);
    const rm = await a.cli('template', 'rm', 'app', '--version', '1');
    assert.notEqual(rm.status, 0);
    assert.match(rm.stderr, /version 1 of template app is attached to/);
    assert.match((await a.cli('template', 'upgrade', 'up', 'web')).stderr, /not attached/);
    assert.match(await a.ok('template', 'upgrade', 'up', 'app'), /version 1 → 2/);
    await a.ok('start', 'up');
    const out = await sh(a, 'up', 'cat /opt/app/bin/hello.txt /opt/app/VERSION /opt/app/data/config; id -u appuser');
    assert.match(out, /hello from app v2\nv2\ntuned\n1500/);
    assert.deepEqual((await a.json<View>('inspect', 'up')).apps.map((x) => x.version), [2]);
  });

  test('attaching to a container of another OS template is refused unless --force', async () => {
    await b.ok('template', 'build', 'bb2', '--from', 'busybox');
    await b.ok('create', 'other', '--template', 'bb2', '--no-net');
    const r = await b.cli('attach', 'other', 'app');
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /captured on bb, but container other runs on template bb2.*--force/);
    assert.deepEqual((await b.json<View>('inspect', 'other')).apps, []);
    const forced = await b.ok('attach', 'other', 'app', '--force');
    assert.match(forced, /captured on bb/);
    assert.match((await b.cli('attach', 'other', 'app')).stderr, /already attached/);
  });

  test('100 containers with a 24 MiB template: each adds well under 1 MiB; running ones share its inodes', async () => {
    const big = `set -e\nmkdir -p /opt/big\nhead -c 25165824 /dev/urandom > /opt/big/blob\necho '#!/bin/sh' > /opt/big/run && chmod 755 /opt/big/run\n`;
    await capture(a, 'big', big);
    const client = new Client(a.socket);
    const du = (): number => Number(spawnSync('du', ['-sxb', join(a.root, 'containers')]).stdout.toString().split('\t')[0]);
    const before = du();
    for (let i = 0; i < 100; i += 10) {
      await Promise.all(Array.from({ length: 10 }, (_, k) => client.call('POST', '/v1/containers', { name: `many${i + k}`, template: 'bb', noNet: true, apps: ['big'] })));
    }
    const per = (du() - before) / 100;
    assert.ok(per < 1 << 20, `${per} bytes per container`);
    await client.call('POST', '/v1/containers/many0/start');
    await client.call('POST', '/v1/containers/many1/start');
    const tree = statSync(join(a.root, 'templates', 'big', 'v1', 'tree', 'opt/big/blob'));
    for (const ct of ['many0', 'many1']) {
      const [ino, size] = (await sh(a, ct, 'stat -c "%i %s" /opt/big/blob')).trim().split(' ').map(Number);
      assert.equal(size, 25165824);
      assert.equal(ino, tree.ino, `${ct} reads the template's own inode: one copy in the page cache`);
    }
    for (let i = 0; i < 100; i += 10) {
      await Promise.all(Array.from({ length: 10 }, (_, k) => client.call('DELETE', `/v1/containers/many${i + k}?force=true`)));
    }
  });

  test('hostile application template files are refused; nothing is written; the daemon stays up', async () => {
    const bbDigest = (await a.json<Tpl>('template', 'inspect', 'bb')).meta.digest!;
    const base = { bases: [{ name: 'bb', version: '1', digest: bbDigest }] };
    const f = fileEntry('opt/x', 'x\n');
    let n = 0;
    const hostile = (): string => join(a.root, `hostile-${n++}.strata`);
    const cases: Array<[string, () => Promise<string>, RegExp]> = [
      ['a base this host lacks', async () => craft(hostile(), manifestOf([dirEntry('.'), dirEntry('opt'), f]), [objectOf(f, 'x\n')]), /import bb first|which this host does not have/],
      ['a merged database as a whole file', async () => {
        const p = fileEntry('etc/passwd', 'root:x:0:0::/root:/bin/sh\n');
        return craft(hostile(), manifestOf([dirEntry('.'), dirEntry('etc'), p], base), [objectOf(p, 'root:x:0:0::/root:/bin/sh\n')]);
      }, /merged per key/],
      ['a deletion without its parent', async () => craft(hostile(), manifestOf([dirEntry('.')], { ...base, deletions: ['etc/issue'] })), /parent directory/],
      ['path traversal', async () => craft(hostile(), manifestOf([dirEntry('.'), { ...f, path: '../x' }], base), [objectOf(f, 'x\n')]), /\.\.|path/],
      ['a hardlink out', async () => craft(hostile(), manifestOf([dirEntry('.'), { path: 'l', type: 'hardlink', target: '/etc/shadow' }], base)), /hardlink|target/],
      ['an overlay xattr', async () => craft(hostile(), manifestOf([dirEntry('.'), dirEntry('d', { xattrs: { 'trusted.overlay.opaque': 'eQ==' } } as never)], base)), /xattr|overlay/],
      ['a device node', async () => craft(hostile(), manifestOf([dirEntry('.'), { path: 'sda', type: 'block' } as never], base)), /type|device/],
      ['unknown database keys', async () => craft(hostile(), manifestOf([dirEntry('.')], { ...base, keys: { sudoers: { x: { before: null, after: 'x' } } } })), /does not know how to merge/],
    ];
    for (const [what, make, message] of cases) {
      const file = await make();
      const before = readdirSync(join(a.root, 'templates')).sort();
      const r = await a.cli('template', 'import', file, '--name', 'evil');
      assert.notEqual(r.status, 0, what);
      assert.match(r.stderr, message, `${what}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').filter((l) => l.startsWith('strata:')).length, 1, `${what}: ${r.stderr}`);
      assert.deepEqual(readdirSync(join(a.root, 'templates')).sort(), before, `${what}: nothing left`);
      assert.match(await a.ok('info'), /version/, `${what}: the daemon is alive`);
    }
    assert.equal(existsSync('/x'), false);
  });

  test('destroying everything leaves nothing; removing the templates collects their objects', async () => {
    for (const d of [a, b]) {
      for (const c of await d.json<View[]>('list')) await d.ok('destroy', c.name, '--force');
      assert.deepEqual(d.leftovers(), []);
    }
    await a.ok('template', 'rm', 'app', '--version', '1');
    assert.deepEqual((await a.json<Tpl>('template', 'inspect', 'app')).versions?.map((v) => v.version), [2]);
    for (const t of ['app', 'web', 'db', 'big']) await a.ok('template', 'rm', t);
    assert.equal(existsSync(join(a.root, 'templates', 'big')), false);
    const df = await a.json<{ objects: number }>('template', 'df');
    const bbFiles = Number(spawnSync('sh', ['-c', `find ${join(a.root, 'templates/bb/rootfs')} -type f | wc -l`]).stdout.toString());
    assert.ok(df.objects <= bbFiles, `${df.objects} objects left for bb's ${bbFiles} files`);
  });
});
