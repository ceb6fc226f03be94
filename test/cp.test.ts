// Integration: strata cp between the host and a running container, through the daemon's API: files,
// trees, tar on stdin/stdout, owners in the container's id range, symlink attacks from inside the
// container (nothing of the host is read or written), bad input, and another tenant's token.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { STRATA, useDaemon, useScratchDir, type TestDaemon } from './harness.js';

interface View { rootfs: string; idMap: { hostBase: number; size: number } | null }

/** The CLI with binary stdin and stdout (tar streams). */
function cliBinary(d: TestDaemon, args: string[], input?: Buffer): { status: number; stdout: Buffer; stderr: string } {
  const r = spawnSync(process.execPath, [STRATA, ...args], { input, env: { ...process.env, STRATA_SOCKET: d.socket }, maxBuffer: 64 << 20 });
  return { status: r.status ?? 128, stdout: r.stdout, stderr: r.stderr.toString() };
}

/** The host's tar (the test's own tool; the CLI packs with tar-stream). */
function tar(args: string[], input?: Buffer): Buffer {
  const r = spawnSync('tar', args, { input, maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, r.stderr.toString());
  return r.stdout;
}

/** One request to the API as the holder of `token`. */
function api(d: TestDaemon, method: string, path: string, token: string, body?: Buffer): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: d.socket, method, path, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/x-tar' } : {}) } }, (res) => {
      let text = '';
      res.setEncoding('latin1');
      res.on('data', (c: string) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('strata cp', () => {
  const d = useDaemon({ template: 'bb' });
  const work = useScratchDir('strata-test-cp-');
  let view: View;
  const inside = async (script: string): Promise<string> => (await d.ok('exec', 'cp1', '--', 'sh', '-c', script)).trim();
  const marker = `strata-cp-marker-${process.pid}-${randomBytes(3).toString('hex')}`;
  const hostEtc = readdirSync('/etc').sort();

  before(async () => {
    await d.ok('tenant', 'create', 'ta');
    await d.ok('tenant', 'create', 'tb');
    await d.ok('create', 'cp1', '--template', 'bb', '--tenant', 'ta', '--no-net');
    await d.ok('start', 'cp1');
    await d.ok('create', 'cp2', '--template', 'bb', '--no-net');
    view = await d.json<View>('inspect', 'cp1');
    assert.ok(view.idMap, 'an unprivileged container has its own id range');
  });

  test('a file into a directory: contents, mode, and its owner mapped into the container\'s range', async () => {
    const file = join(work, 'hello.txt');
    writeFileSync(file, 'hello from the host\n', { mode: 0o640 });
    chownSync(file, 1234, 2345);
    await d.ok('cp', file, 'cp1:/tmp');
    assert.equal(await inside('cat /tmp/hello.txt'), 'hello from the host');
    assert.equal(await inside('stat -c "%a %u %g" /tmp/hello.txt'), '640 1234 2345');
    const onHost = statSync(join(view.rootfs, 'tmp', 'hello.txt'));
    assert.deepEqual([onHost.uid, onHost.gid], [view.idMap!.hostBase + 1234, view.idMap!.hostBase + 2345]);
    // As another name in an existing directory, replacing what is there.
    await d.ok('cp', file, 'cp1:/tmp/renamed.txt');
    writeFileSync(file, 'second\n');
    await d.ok('cp', file, 'cp1:/tmp/renamed.txt');
    assert.equal(await inside('cat /tmp/renamed.txt'), 'second');
    assert.equal(await inside('ls -a /tmp | grep -c strata-cp || true'), '0', 'no staging directory is left');
  });

  test('a directory tree both ways: contents, modes, symlinks kept as symlinks, a big file streamed', async () => {
    const tree = join(work, 'tree');
    mkdirSync(join(tree, 'sub', 'deep'), { recursive: true });
    writeFileSync(join(tree, 'sub', 'deep', 'run.sh'), '#!/bin/sh\necho ran\n', { mode: 0o750 });
    writeFileSync(join(tree, 'big.bin'), randomBytes(5 << 20));
    symlinkSync('sub/deep/run.sh', join(tree, 'rel-link'));
    symlinkSync('/etc/passwd', join(tree, 'abs-link'));
    await d.ok('cp', tree, 'cp1:/tmp/');
    assert.equal(await inside('/tmp/tree/sub/deep/run.sh'), 'ran');
    assert.equal(await inside('stat -c %a /tmp/tree/sub/deep/run.sh'), '750');
    assert.equal(await inside('readlink /tmp/tree/rel-link; readlink /tmp/tree/abs-link'), 'sub/deep/run.sh\n/etc/passwd');
    const md5 = spawnSync('md5sum', [join(tree, 'big.bin')]).stdout.toString().split(' ')[0];
    assert.equal((await inside('md5sum /tmp/tree/big.bin')).split(' ')[0], md5);

    await d.ok('cp', 'cp1:/tmp/tree', join(work, 'back'));
    assert.ok(readFileSync(join(work, 'back', 'big.bin')).equals(readFileSync(join(tree, 'big.bin'))));
    assert.equal(statSync(join(work, 'back', 'sub', 'deep', 'run.sh')).mode & 0o777, 0o750);
    assert.equal(readlinkSync(join(work, 'back', 'abs-link')), '/etc/passwd');
    assert.ok(lstatSync(join(work, 'back', 'rel-link')).isSymbolicLink());
    // Into an existing host directory, under its own name.
    await d.ok('cp', 'cp1:/etc/hostname', join(work, 'back'));
    assert.equal(readFileSync(join(work, 'back', 'hostname'), 'utf8').trim(), (await inside('cat /etc/hostname')));
  });

  test('- streams a tar on stdin and stdout; owners outside the range become the container\'s nobody', async () => {
    const src = join(work, 'stdin');
    mkdirSync(src);
    writeFileSync(join(src, 'piped.txt'), 'piped\n');
    const archive = tar(['-C', src, '--owner=100000', '--group=100000', '-cf', '-', 'piped.txt']);
    const put = cliBinary(d, ['cp', '-', 'cp1:/tmp'], archive);
    assert.equal(put.status, 0, put.stderr);
    assert.equal(await inside('cat /tmp/piped.txt; stat -c "%u %g" /tmp/piped.txt'), 'piped\n65534 65534');

    const got = cliBinary(d, ['cp', 'cp1:/tmp/piped.txt', '-']);
    assert.equal(got.status, 0, got.stderr);
    assert.match(tar(['-tvf', '-'], got.stdout).toString(), /65534\/65534 .* piped\.txt/);
    assert.equal(tar(['-xOf', '-', 'piped.txt'], got.stdout).toString(), 'piped\n');
  });

  test('symlinks in the container never lead out of it, as destinations or as sources', async () => {
    await inside('ln -s / /tmp/toroot; ln -s /etc /tmp/toetc; ln -s ../../../../../../.. /tmp/up; ln -s /etc/shadow /tmp/shadow');
    const file = join(work, marker);
    writeFileSync(file, 'marker\n');
    await d.ok('cp', file, 'cp1:/tmp/toetc/');
    await d.ok('cp', file, `cp1:/tmp/up/etc/${marker}-2`);
    await d.ok('cp', file, `cp1:/tmp/toroot/etc/${marker}-3`);
    assert.equal(await inside(`cat /etc/${marker} /etc/${marker}-2 /etc/${marker}-3`), 'marker\nmarker\nmarker', 'written in the container\'s /etc');
    // A symlink as the destination itself is replaced, not written through.
    await d.ok('cp', file, 'cp1:/tmp/shadow');
    assert.equal(await inside('test -L /tmp/shadow && echo link || cat /tmp/shadow'), 'marker');
    assert.notEqual(await inside('cat /etc/shadow'), 'marker');
    assert.deepEqual(readdirSync('/etc').sort(), hostEtc, 'the host\'s /etc is untouched');
    assert.ok(!existsSync(`/etc/${marker}`));

    const theirs = await inside('cat /etc/shadow');
    for (const source of ['cp1:/tmp/up/etc/shadow', 'cp1:/tmp/toroot/etc/shadow', 'cp1:/tmp/toetc/shadow']) {
      const out = join(work, `shadow-${randomBytes(3).toString('hex')}`);
      await d.ok('cp', source, out);
      const read = readFileSync(out, 'utf8');
      assert.equal(read.trim(), theirs, `${source} is the container's /etc/shadow`);
      assert.notEqual(read, readFileSync('/etc/shadow', 'utf8'), 'not the host\'s');
    }
    // A symlink as the source is copied as the symlink.
    await d.ok('cp', 'cp1:/tmp/toetc', join(work, 'toetc'));
    assert.equal(readlinkSync(join(work, 'toetc')), '/etc');
  });

  test('bad input: one line, a non-zero status, nothing half-written', async () => {
    const file = join(work, 'hello.txt');
    const cases: Array<[string[], RegExp]> = [
      [['cp', 'cp1:/no/such/file', join(work, 'x')], /^strata: \/no\/such\/file does not exist in container cp1/],
      [['cp', join(work, 'no-such-file'), 'cp1:/tmp'], /does not exist in this host/],
      [['cp', file, 'cp1:/no-such-dir/x'], /^strata: \/no-such-dir\/x does not exist in container cp1/],
      [['cp', file, 'nosuch:/tmp'], /^strata: container nosuch does not exist/],
      [['cp', file, 'cp2:/tmp'], /^strata: container cp2 is created: .*strata start cp2/],
      [['cp', 'cp1:/etc/hostname', join(work, 'no-dir', 'x')], /does not exist in this host/],
      [['cp', file, join(work, 'y')], /give one side as CONTAINER:PATH/],
    ];
    for (const [args, message] of cases) {
      const r = await d.cli(...args);
      assert.notEqual(r.status, 0, args.join(' '));
      assert.match(r.stderr, message, args.join(' '));
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
    assert.ok(!existsSync(join(work, 'x')) && !existsSync(join(work, 'no-dir')));
    // An archive that climbs out with .. is refused whole.
    mkdirSync(join(work, 'evil', 'in'), { recursive: true });
    writeFileSync(join(work, 'evil', 'ok.txt'), 'ok');
    writeFileSync(join(work, 'evil', 'escape.txt'), 'escape');
    const archive = tar(['-C', join(work, 'evil', 'in'), '-P', '-cf', '-', '../ok.txt', '../escape.txt']);
    const r = cliBinary(d, ['cp', '-', 'cp1:/tmp'], archive);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /contains '\.\.'/);
    assert.equal(await inside('ls -a /tmp | grep -c -e strata-cp -e ok.txt -e escape.txt || true'), '0');
    assert.ok(!existsSync(join(view.rootfs, 'escape.txt')) && !existsSync('/tmp/escape.txt'));
  });

  test('a tenant\'s token reads and writes its own containers only (403 for another tenant\'s)', async () => {
    await d.ok('user', 'create', 'alice', '--role', 'owner', '--tenant', 'ta');
    await d.ok('user', 'create', 'bob', '--role', 'owner', '--tenant', 'tb');
    const alice = (await d.ok('token', 'create', '--user', 'alice')).trim();
    const bob = (await d.ok('token', 'create', '--user', 'bob')).trim();
    const archive = tar(['-C', work, '-cf', '-', 'hello.txt']);
    assert.equal((await api(d, 'PUT', '/v1/containers/cp1/files?path=/tmp/bob', bob, archive)).status, 403);
    assert.equal((await api(d, 'GET', '/v1/containers/cp1/files?path=/etc/hostname', bob)).status, 403);
    assert.equal(await inside('test -e /tmp/bob && echo there || echo absent'), 'absent');
    const own = await api(d, 'PUT', '/v1/containers/cp1/files?path=/tmp/alice', alice, archive);
    assert.equal(own.status, 200, own.text);
    assert.equal(await inside('cat /tmp/alice'), 'second');
    const read = await api(d, 'GET', '/v1/containers/cp1/files?path=/tmp/alice', alice);
    assert.equal(read.status, 200);
    assert.ok(read.text.includes('second'));
  });
});
