// Integration: strata backup and restore between two real daemons (two data roots on this host).
// A running container with an application template, owners, setuid bits, a deletion of a template
// file (a whiteout) and a directory made over (opaque) is backed up with and without its
// templates and restored on the other data root: its files, limits, application templates and
// a published port come back, in the restoring host's own id range. An incremental backup carries
// only what changed and needs the one it is made on. Hostile and damaged files are refused with
// one sentence and leave no container, template or scratch file.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pack as tarPack } from 'tar-stream';
import { freePort, useDaemon, useScratchDir } from './harness.js';
import { Client } from '../src/api/client.js';

interface View {
  name: string; state: string; hostname: string; tenant: string | null; idMap: { hostBase: number } | null;
  limits: { memory?: number | null }; apps: Array<{ template: string; version: number }>; ports: Array<{ hostPort: number }>;
}
interface Backup { file: string; bytes: number; digest: string; parent: string | null; files: number; templates: string[]; frozenMs: number | null }
interface Template { name: string }

async function tarOf(file: string, entries: Array<[string, Buffer]>): Promise<void> {
  const p = tarPack();
  for (const [name, body] of entries) p.entry({ name, size: body.length }, body);
  p.finalize();
  const chunks: Buffer[] = [];
  for await (const c of p) chunks.push(c as Buffer);
  writeFileSync(file, Buffer.concat(chunks));
}

/** The entries of a backup file (tar), in order. */
function entriesOf(file: string): Array<[string, Buffer]> {
  const buf = readFileSync(file);
  const out: Array<[string, Buffer]> = [];
  for (let off = 0; off + 512 <= buf.length;) {
    const header = buf.subarray(off, off + 512);
    if (header.every((b) => b === 0)) break;
    const name = header.subarray(0, 100).toString().replace(/\0.*$/s, '');
    const size = parseInt(header.subarray(124, 136).toString().replace(/\0.*$/s, '').trim(), 8);
    out.push([name, buf.subarray(off + 512, off + 512 + size)]);
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

describe('backup and restore between two data roots', () => {
  const a = useDaemon({ template: 'bb' });
  const b = useDaemon();
  const dir = useScratchDir('strata-test-backups-');
  const port = freePort();

  /** What a restored container must hold, checked inside it. */
  async function checkFiles(d: typeof a, ct: string): Promise<void> {
    assert.equal((await d.ok('exec', ct, '--', 'cat', '/data/f')).trim(), 'payload');
    assert.equal((await d.ok('exec', ct, '--', 'stat', '-c', '%u:%g %a', '/data/f')).trim(), '1000:1000 4755', 'owner and setuid as the container saw them');
    assert.notEqual((await d.cli('exec', ct, '--', 'ls', '/bin/vi')).status, 0, 'a deleted template file stays deleted (whiteout)');
    assert.equal((await d.ok('exec', ct, '--', 'ls', '/usr/sbin')).trim(), 'only', 'a directory made over hides the template\'s (opaque)');
    assert.equal((await d.ok('exec', ct, '--', 'cat', '/opt-app')).trim(), 'app', 'the application template is attached');
  }

  test('a running container backed up with its templates and restored on a host without them', async () => {
    await a.ok('template', 'capture', 'bkapp', '--base', 'bb', '--', 'sh', '-c', 'echo app > /opt-app');
    await a.ok('create', 'bk1', '--template', 'bb', '--memory', '96M', '--app', 'bkapp', '--port', `${port}:80`);
    await a.ok('start', 'bk1');
    await a.ok('exec', 'bk1', '--', 'sh', '-c',
      'mkdir -p /data && echo payload > /data/f && chown 1000:1000 /data/f && chmod 4755 /data/f && rm /bin/vi && rm -rf /usr/sbin && mkdir /usr/sbin && touch /usr/sbin/only && mkfifo /data/pipe');
    const bare = await a.json<Backup>('backup', 'bk1', '-o', join(dir, 'bare.backup'));
    const full = await a.json<Backup>('backup', 'bk1', '-o', join(dir, 'full.backup'), '--with-templates');
    assert.ok(full.frozenMs !== null, 'a running container is frozen while its files are copied');
    assert.equal((await a.json<View>('inspect', 'bk1')).state, 'running', 'and runs on');
    assert.deepEqual(full.templates, ['bb', 'bkapp@1']);
    assert.deepEqual(bare.templates, []);
    assert.ok(full.bytes > bare.bytes * 5, `templates make it larger (${full.bytes} vs ${bare.bytes})`);
    assert.equal(statSync(join(dir, 'full.backup')).size, full.bytes);

    // Without the templates, a host that lacks them is told which and how.
    const lacking = await b.cli('restore', join(dir, 'bare.backup'));
    assert.notEqual(lacking.status, 0);
    assert.match(lacking.stderr, /needs template bb \(sha256:[0-9a-f]{64}\), template bkapp version 1 \(sha256:[0-9a-f]{64}\), which this host does not have and the backup does not carry: import them first \('strata template import'\), or make the backup with --with-templates/);
    assert.deepEqual(await b.json<Template[]>('template', 'list'), []);

    const out = await b.ok('restore', join(dir, 'full.backup'));
    assert.match(out, /container bk1 restored \(address [\d.]+\/\d+\): start it with 'strata start bk1'/);
    assert.deepEqual((await b.json<Template[]>('template', 'list')).map((t) => t.name).sort(), ['bb', 'bkapp'], 'its templates imported');
    const v = await b.json<View>('inspect', 'bk1');
    assert.equal(v.limits.memory, 96 * 1024 * 1024);
    assert.deepEqual(v.apps.map((x) => `${x.template}@${x.version}`), ['bkapp@1']);
    assert.deepEqual(v.ports.map((p) => p.hostPort), [port], 'its published port');
    await b.ok('start', 'bk1');
    await checkFiles(b, 'bk1');
    const onHost = statSync(join(b.paths.containers, 'bk1', 'private', 'root', 'data', 'f'));
    assert.equal(onHost.uid, v.idMap!.hostBase + 1000, 'owned in the restoring host\'s range');
    assert.match(await b.ok('events', '--container', 'bk1'), /restored from full\.backup/);

    // The same backup again: the name is taken; under another name it is a second container.
    const taken = await b.cli('restore', join(dir, 'full.backup'));
    assert.match(taken.stderr, /container bk1 already exists: restore under another name with --name NEW, or destroy it first/);
    await b.ok('stop', 'bk1');
    // Now that the host has the templates (by digest), the bare backup restores too.
    const clash = await b.cli('restore', join(dir, 'bare.backup'), '--name', 'bk1b');
    assert.match(clash.stderr, new RegExp(`host port ${port}/tcp is already published for container bk1: choose another host port, or restore with --no-ports`));
    assert.equal((await b.cli('inspect', 'bk1b')).status, 3, 'nothing left of it');
    await b.ok('restore', join(dir, 'bare.backup'), '--name', 'bk1b', '--no-ports');
    const v2 = await b.json<View>('inspect', 'bk1b');
    assert.equal(v2.hostname, 'bk1b', 'a hostname that was the name follows the new name');
    await b.ok('start', 'bk1b');
    await checkFiles(b, 'bk1b');
    assert.equal(readdirSync(join(b.root, 'scratch')).length, 0, 'no scratch left');
    await b.ok('destroy', 'bk1b', '--force');
    await b.ok('destroy', 'bk1', '--force');
  });

  test('an incremental backup carries what changed and restores with the one it is made on', async () => {
    await a.ok('exec', 'bk1', '--', 'sh', '-c', 'head -c 3000000 /dev/urandom > /data/big');
    const f1 = await a.json<Backup>('backup', 'bk1', '-o', join(dir, 'day1.backup'));
    await a.ok('exec', 'bk1', '--', 'sh', '-c', 'head -c 500000 /dev/urandom > /data/new && rm /data/f');
    const f2 = await a.json<Backup>('backup', 'bk1', '-o', join(dir, 'day2.backup'), '--since', join(dir, 'day1.backup'));
    assert.equal(f2.parent, f1.digest);
    assert.ok(f2.bytes < 1_500_000 && f1.bytes > 3_000_000, `only the changes (${f2.bytes} bytes on ${f1.bytes})`);
    const sum = (await a.ok('exec', 'bk1', '--', 'md5sum', '/data/big', '/data/new')).replace(/\s+/g, ' ');

    const other = join(dir, 'elsewhere');
    mkdirSync(other);
    copyFileSync(join(dir, 'day2.backup'), join(other, 'day2.backup'));
    const alone = await b.cli('restore', join(other, 'day2.backup'), '--name', 'inc1');
    assert.match(alone.stderr, /day2\.backup is incremental on the backup day1\.backup \(sha256:[0-9a-f]{64}\), which is not beside it: give it with --parent FILE/);
    await b.ok('restore', join(other, 'day2.backup'), '--name', 'inc1', '--parent', join(dir, 'day1.backup'), '--no-ports');
    await b.ok('restore', join(dir, 'day2.backup'), '--name', 'inc2', '--no-ports');
    for (const ct of ['inc1', 'inc2']) {
      await b.ok('start', ct);
      assert.equal((await b.ok('exec', ct, '--', 'md5sum', '/data/big', '/data/new')).replace(/\s+/g, ' '), sum, 'files of both backups');
      assert.notEqual((await b.cli('exec', ct, '--', 'ls', '/data/f')).status, 0, 'a file removed since is gone');
      await b.ok('destroy', ct, '--force');
    }
    const wrong = await a.cli('backup', 'bk1', '-o', join(dir, 'x.backup'), '--since', join(dir, 'nope.backup'));
    assert.match(wrong.stderr, /backup file .*nope\.backup does not exist/);
    assert.ok(!existsSync(join(dir, 'x.backup')));
  });

  test('hostile or damaged backup files are refused with one sentence and leave nothing', async () => {
    const good = entriesOf(join(dir, 'bare.backup'));
    const manifest = JSON.parse(good[0][1].toString()) as Record<string, unknown> & { entries: Array<{ name: string; bytes: number; sha256: string }> };
    const cases: Array<[string, () => Promise<void>, RegExp]> = [
      ['not-a-tar', async () => writeFileSync(join(dir, 'not-a-tar'), 'hello, this is not a backup'), /is not a valid backup archive|holds no manifest/],
      ['template-file', async () => { await a.ok('template', 'export', 'bkapp', '-o', join(dir, 'template-file')); }, /is not a valid backup archive|starts with/],
      ['unknown-field', () => tarOf(join(dir, 'unknown-field'), [['backup.json', Buffer.from(JSON.stringify({ ...manifest, extra: 1 }))], ...good.slice(1)]), /has an invalid manifest/],
      ['other-first', () => tarOf(join(dir, 'other-first'), [['area.strata', good[1][1]], good[0]]), /starts with "area\.strata", not backup\.json/],
      ['flipped', async () => {
        const area = Buffer.from(good[1][1]);
        area[area.length - 10] ^= 0xff;
        await tarOf(join(dir, 'flipped'), [good[0], ['area.strata', area]]);
      }, /holds area\.strata damaged \(its sha256 differs from the manifest's\)/],
      ['truncated', async () => tarOf(join(dir, 'truncated'), [good[0]]), /lacks area\.strata that its manifest lists \(truncated\?\)/],
      ['extra-entry', async () => tarOf(join(dir, 'extra-entry'), [...good, ['../../etc/evil', Buffer.from('x')]]), /has more entries than the 1 its manifest lists/],
      ['path-entry', async () => {
        const m = { ...manifest, entries: [manifest.entries[0], { name: '../evil.strata', bytes: 1, sha256: '0'.repeat(64) }] };
        await tarOf(join(dir, 'path-entry'), [['backup.json', Buffer.from(JSON.stringify(m))], good[1], ['../evil.strata', Buffer.from('x')]]);
      }, /has an invalid manifest \(\/entries\/1\/name/],
      ['other-area', async () => {
        // A valid area of another backup under this manifest: its digest is not the recorded one.
        const other = entriesOf(join(dir, 'day1.backup'))[1][1];
        const m = { ...manifest, entries: [{ name: 'area.strata', bytes: other.length, sha256: createHash('sha256').update(other).digest('hex') }] };
        await tarOf(join(dir, 'other-area'), [['backup.json', Buffer.from(JSON.stringify(m))], ['area.strata', other]]);
      }, /holds files whose digest sha256:[0-9a-f]{64} is not the sha256:[0-9a-f]{64} its manifest records: refusing it/],
    ];
    const before = (await b.json<Template[]>('template', 'list')).map((t) => t.name).sort();
    for (const [name, make, expected] of cases) {
      await make();
      const r = await b.cli('restore', join(dir, name), '--name', 'hostile');
      assert.notEqual(r.status, 0, name);
      assert.match(r.stderr, expected, `${name}: ${r.stderr}`);
      // Progress lines ([ 0.0s] …) may come first; the error is one line.
      assert.deepEqual(r.stderr.trim().split('\n').filter((l) => !/^\[\s*[\d.]+s\]/.test(l)).length, 1, `${name}: one sentence: ${r.stderr}`);
      assert.match((await b.cli('inspect', 'hostile')).stderr, /container hostile does not exist/, `${name}: no container`);
    }
    assert.deepEqual((await b.json<Template[]>('template', 'list')).map((t) => t.name).sort(), before, 'no template imported');
    assert.deepEqual(existsSync(join(b.root, 'scratch')) ? readdirSync(join(b.root, 'scratch')) : [], [], 'no scratch left');
    assert.deepEqual(b.leftovers(), []);
  });

  test('a tenant keeps backups with its container, lists, downloads and restores them; counted in its disk; a file path is refused to it', async () => {
    await a.ok('tenant', 'create', 'tk', '--disk', '200M');
    await a.ok('tenant', 'create', 'tko');
    await a.ok('user', 'create', 'tku', '--role', 'owner', '--tenant', 'tk');
    await a.ok('user', 'create', 'tkother', '--role', 'owner', '--tenant', 'tko');
    const tenant = new Client({ socket: a.socket, token: (await a.ok('token', 'create', '--user', 'tku')).trim() });
    const other = new Client({ socket: a.socket, token: (await a.ok('token', 'create', '--user', 'tkother')).trim() });
    await a.ok('create', 'tk1', '--template', 'bb', '--no-net', '--disk', '64M', '--tenant', 'tk');
    await a.ok('start', 'tk1');
    await a.ok('exec', 'tk1', '--', 'sh', '-c', 'mkdir -p /data && echo one > /data/x');
    const keep = async (c: Client, req: Record<string, unknown>): Promise<{ name: string; bytes: number; parent: string | null }> =>
      c.operations.follow((await c.containers.startBackup('tk1', req)).id, () => undefined);
    const b1 = await keep(tenant, { name: 'b1' });
    await a.ok('exec', 'tk1', '--', 'sh', '-c', 'echo two > /data/y');
    const b2 = await keep(tenant, { name: 'b2', since: 'b1' });
    assert.equal(b2.parent, 'b1');
    assert.deepEqual((await tenant.containers.backups('tk1')).map((x) => x.name), ['b1', 'b2']);
    assert.match(await a.ok('backups', 'list', 'tk1'), /^NAME\s+TAKEN\s+SIZE\s+INCREMENTAL ON[\s\S]*b2 .*b1/m);
    const held = (await a.json<{ holdings: { snapshots: number } }>('tenant', 'show', 'tk')).holdings;
    assert.equal(held.snapshots, b1.bytes + b2.bytes, 'kept backups count in the tenant\'s disk');

    await assert.rejects(tenant.containers.startBackup('tk1', { file: join(dir, 'tenant.backup') }), /needs a host administrator: leave out file/);
    await assert.rejects(other.containers.backups('tk1'), /PermissionDenied|not yours|may not|403|tenant tko/i);
    await assert.rejects(tenant.containers.removeBackup('tk1', 'b1'), /backup b1 of tk1 is the base of the incremental b2: remove it first/);

    const res = await tenant.containers.downloadBackup('tk1', 'b2');
    let got = 0;
    for await (const chunk of res) got += (chunk as Buffer).length;
    assert.equal(got, b2.bytes, 'the download is the whole file');
    await a.ok('backups', 'get', 'tk1', 'b1', '-o', join(dir, 'b1-copy.backup'));
    assert.equal(statSync(join(dir, 'b1-copy.backup')).size, b1.bytes);

    const restored = await tenant.operations.follow<{ name: string; tenant: string | null }>((await tenant.containers.startKeptRestore('tk1', 'b2', { name: 'tk2' })).id, () => undefined);
    assert.equal(restored.tenant, 'tk', 'the same owner');
    await a.ok('start', 'tk2');
    assert.equal((await a.ok('exec', 'tk2', '--', 'cat', '/data/x', '/data/y')).trim(), 'one\ntwo', 'both backups\' files');

    // Over the plan: the tenant holds 64M + 64M of disks and its backups; a backup of 20 MB more is refused.
    await a.ok('exec', 'tk1', '--', 'sh', '-c', 'head -c 20000000 /dev/urandom > /data/big');
    await a.ok('tenant', 'set', 'tk', '--disk', '140M');
    await assert.rejects(keep(tenant, { name: 'b3' }), /tenant tk would have .* of disk, over its plan's 140 MiB .*: remove older backups \(strata backups rm\)/);
    assert.deepEqual((await tenant.containers.backups('tk1')).map((x) => x.name), ['b1', 'b2'], 'nothing half-made');
    await tenant.containers.removeBackup('tk1', 'b2');
    await tenant.containers.removeBackup('tk1', 'b1');
    assert.equal((await a.json<{ holdings: { snapshots: number } }>('tenant', 'show', 'tk')).holdings.snapshots, 0);
    assert.ok(!existsSync(join(a.paths.containers, 'tk1', 'backups', 'b1.backup')));
    await a.ok('destroy', 'tk2', '--force');
    await a.ok('destroy', 'tk1', '--force');
  });

  test('bad requests: a relative path against the API, an existing directory, an unknown container', async () => {
    const noCt = await a.cli('backup', 'ghost', '-o', join(dir, 'g.backup'));
    assert.match(noCt.stderr, /container ghost does not exist/);
    const intoDir = await a.cli('backup', 'bk1', '-o', dir);
    assert.match(intoDir.stderr, /cannot write .*: something other than a file is there/);
    const missingDir = await a.cli('backup', 'bk1', '-o', join(dir, 'no', 'such', 'f.backup'));
    assert.match(missingDir.stderr, /is not a directory/);
    renameSync(join(dir, 'bare.backup'), join(dir, 'bare2.backup'));
    const gone = await b.cli('restore', join(dir, 'bare.backup'));
    assert.match(gone.stderr, /backup file .*bare\.backup does not exist/);
    await a.ok('destroy', 'bk1', '--force');
    assert.deepEqual(a.leftovers(), []);
  });
});
