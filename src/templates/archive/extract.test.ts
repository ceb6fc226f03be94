import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, readdir, readlink, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { FailedPrecondition, InvalidArgument } from '../../errors/index.js';
import { extractTar, type ExtractOptions } from './extract.js';
import { children, gzip, list, sandbox, tarOf, text, xz, zstd, type TarEntry } from './testing.js';

const mtime = new Date('2020-01-02T03:04:05Z');

test('extracts directories, files, symlinks, hardlinks, modes, owners and mtimes', async (t) => {
  const { root, dest } = await sandbox(t);
  const archive = join(root, 'good.tar');
  await writeFile(archive, await tarOf([
    { name: './', type: 'directory', mode: 0o755, mtime },
    { name: './etc/', type: 'directory', mode: 0o750, uid: 1000, gid: 1000, mtime },
    { name: './etc/passwd', body: 'root:x:0:0::/root:/bin/sh\n', mode: 0o644, uid: 1000, gid: 1000, mtime },
    { name: 'usr/bin/su', body: '#!/bin/sh\n', mode: 0o4755, mtime, pax: { 'SCHILY.xattr.user.note': 'skipped' } },
    { name: 'etc/localtime', type: 'symlink', linkname: '/usr/share/zoneinfo/UTC', uid: 1000, gid: 1000, mtime },
    { name: 'etc/passwd-', type: 'link', linkname: './etc/passwd' },
    { name: 'ro/', type: 'directory', mode: 0o555, mtime },
    { name: 'ro/inside', body: 'x', mode: 0o600, mtime },
    { name: 'tmp/', type: 'directory', mode: 0o1777, mtime },
  ]));

  const stats = await extractTar(archive, dest);

  assert.deepEqual(stats, { entries: 9, bytes: 37, files: 3, dirs: 4, symlinks: 1, hardlinks: 1, skippedXattrs: 1, skippedDevices: 0 });
  assert.deepEqual(await list(dest), ['etc', 'ro', 'tmp', 'usr']);
  const etc = await lstat(join(dest, 'etc'));
  assert.ok(etc.isDirectory());
  assert.equal(etc.mode & 0o7777, 0o750);
  assert.equal(etc.uid, 1000);
  assert.equal(etc.mtimeMs, mtime.getTime());
  const passwd = await lstat(join(dest, 'etc/passwd'));
  assert.ok(passwd.isFile());
  assert.deepEqual([passwd.mode & 0o7777, passwd.uid, passwd.gid, passwd.mtimeMs], [0o644, 1000, 1000, mtime.getTime()]);
  assert.equal(await text(join(dest, 'etc/passwd')), 'root:x:0:0::/root:/bin/sh\n');
  const su = await lstat(join(dest, 'usr/bin/su'));
  assert.deepEqual([su.mode & 0o7777, su.uid, su.gid], [0o4755, 0, 0]);
  for (const implicit of ['usr', 'usr/bin']) {
    const dir = await lstat(join(dest, implicit));
    assert.deepEqual([dir.isDirectory(), dir.mode & 0o7777, dir.uid], [true, 0o755, 0]);
  }
  const localtime = await lstat(join(dest, 'etc/localtime'));
  assert.ok(localtime.isSymbolicLink());
  assert.deepEqual([localtime.uid, localtime.mtimeMs], [1000, mtime.getTime()]);
  assert.equal(await readlink(join(dest, 'etc/localtime')), '/usr/share/zoneinfo/UTC');
  const link = await lstat(join(dest, 'etc/passwd-'));
  assert.deepEqual([link.ino, link.nlink], [passwd.ino, 2]);
  const ro = await lstat(join(dest, 'ro'));
  assert.deepEqual([ro.mode & 0o7777, ro.mtimeMs], [0o555, mtime.getTime()]);
  assert.equal(await text(join(dest, 'ro/inside')), 'x');
  assert.equal((await lstat(join(dest, 'tmp'))).mode & 0o7777, 0o1777);
});

for (const [format, compress] of [['.tar.gz', gzip], ['.tar.xz', xz], ['.tar.zst', zstd]] as const) {
  test(`detects and extracts ${format}`, async (t) => {
    const { root, dest } = await sandbox(t);
    const archive = join(root, `layer${format}`);
    await writeFile(archive, compress(await tarOf([{ name: 'etc/hostname', body: 'strata\n' }])));
    const stats = await extractTar(archive, dest);
    assert.equal(stats.files, 1);
    assert.equal(await text(join(dest, 'etc/hostname')), 'strata\n');
    assert.deepEqual(await children(), []);
  });
}

test('extracts a plain tar stream', async (t) => {
  const { dest } = await sandbox(t);
  await extractTar(Readable.from([await tarOf([{ name: 'a/b', body: 'c' }])]), dest);
  assert.equal(await text(join(dest, 'a/b')), 'c');
});

test('device nodes under /dev (as every debootstrap or LXC tarball has) are skipped and counted', async (t) => {
  const { dest } = await sandbox(t);
  const stats = await extractTar(Readable.from([await tarOf([
    { name: 'dev/', type: 'directory' },
    { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3 },
    { name: 'dev/loop0', type: 'block-device', devmajor: 7, devminor: 0 },
    { name: 'etc/hostname', body: 'x\n' },
  ])]), dest);
  assert.equal(stats.skippedDevices, 2);
  assert.deepEqual(await readdir(join(dest, 'dev')), []);
  assert.equal(await text(join(dest, 'etc/hostname')), 'x\n');
});

test('a later entry replaces an earlier one of the same path without writing through it', async (t) => {
  const { root, dest, outside } = await sandbox(t);
  const archive = join(root, 'dup.tar');
  await writeFile(archive, await tarOf([
    { name: 'x', type: 'symlink', linkname: outside },
    { name: 'x', body: 'file now' },
    { name: 'd/', type: 'directory' },
    { name: 'd/child', body: 'gone' },
    { name: 'd', type: 'symlink', linkname: outside },
  ]));
  await extractTar(archive, dest);
  assert.ok((await lstat(join(dest, 'x'))).isFile());
  assert.equal(await text(join(dest, 'x')), 'file now');
  assert.ok((await lstat(join(dest, 'd'))).isSymbolicLink());
  assert.deepEqual(await list(outside), []);
});

interface Hostile {
  name: string;
  entries: (outside: string) => TarEntry[];
  message: RegExp;
  opts?: ExtractOptions;
}

const hostile: Hostile[] = [
  { name: 'a ../ path', entries: () => [{ name: '../x', body: 'pwned' }], message: /^archive entry "\.\.\/x" escapes the root: refusing the archive$/ },
  { name: 'an absolute path', entries: (outside) => [{ name: `${outside}/abs`, body: 'pwned' }], message: /is an absolute path/ },
  { name: 'a/../../x', entries: () => [{ name: 'a/../../x', body: 'pwned' }], message: /escapes the root/ },
  {
    name: 'a write through an absolute symlink',
    entries: (outside) => [{ name: 'evil', type: 'symlink', linkname: outside }, { name: 'evil/pwned', body: 'pwned' }],
    message: /"evil\/pwned" passes through the symlink "evil"/,
  },
  {
    name: 'a write through a relative symlink',
    entries: () => [{ name: 'a/b/up', type: 'symlink', linkname: '../../..' }, { name: 'a/b/up/outside/pwned', body: 'pwned' }],
    message: /passes through the symlink "a\/b\/up"/,
  },
  {
    name: 'a write through a regular file',
    entries: () => [{ name: 'f', body: 'x' }, { name: 'f/pwned', body: 'pwned' }],
    message: /passes through the non-directory "f"/,
  },
  { name: 'a hardlink to /etc/passwd', entries: () => [{ name: 'h', type: 'link', linkname: '/etc/passwd' }], message: /hardlink whose target "\/etc\/passwd" is an absolute path/ },
  { name: 'a hardlink out of the root', entries: () => [{ name: 'h', type: 'link', linkname: '../outside/x' }], message: /hardlink whose target .* escapes the root/ },
  { name: 'a hardlink to a name not in the archive', entries: () => [{ name: 'h', type: 'link', linkname: 'missing' }], message: /not a regular file extracted earlier/ },
  {
    name: 'a hardlink to itself',
    entries: () => [{ name: 'f', body: 'x' }, { name: 'f', type: 'link', linkname: './f' }],
    message: /not a regular file extracted earlier/,
  },
  {
    name: 'a hardlink to a symlink',
    entries: () => [{ name: 's', type: 'symlink', linkname: '/etc/passwd' }, { name: 'h', type: 'link', linkname: 's' }],
    message: /not a regular file extracted earlier/,
  },
  { name: 'a character device', entries: () => [{ name: 'null', type: 'character-device', devmajor: 1, devminor: 3 }], message: /is a device node outside \/dev/ },
  { name: 'a block device', entries: () => [{ name: 'sda', type: 'block-device', devmajor: 8, devminor: 0 }], message: /is a device node outside \/dev/ },
  { name: 'a FIFO', entries: () => [{ name: 'pipe', type: 'fifo' }], message: /is a FIFO/ },
  {
    name: 'a trusted.overlay xattr',
    entries: () => [{ name: 'dir/', type: 'directory', pax: { 'SCHILY.xattr.trusted.overlay.opaque': 'y' } }],
    message: /"trusted\.overlay\.opaque" of the trusted\.\* namespace/,
  },
  {
    name: 'a trusted xattr in bsdtar form',
    entries: () => [{ name: 'f', body: 'x', pax: { 'LIBARCHIVE.xattr.trusted%2Eoverlay%2Eorigin': 'eA==' } }],
    message: /"trusted\.overlay\.origin" of the trusted\.\* namespace/,
  },
  { name: 'a NUL byte', entries: () => [{ name: 'a\0b', body: 'x', pax: {} }], message: /contains a NUL byte/ },
  { name: 'a component over 255 bytes', entries: () => [{ name: 'n'.repeat(256), body: 'x' }], message: /component longer than 255 bytes/ },
  { name: 'a path over 4096 bytes', entries: () => [{ name: `${'abcdefgh/'.repeat(460)}x`, body: 'x' }], message: /longer than 4096 bytes/ },
  { name: 'a non-directory root', entries: () => [{ name: '.', type: 'symlink', linkname: '/' }], message: /names the root but is not a directory/ },
  {
    name: 'too many entries',
    entries: () => Array.from({ length: 10 }, (_, i) => ({ name: `f${i}`, body: 'x' })),
    opts: { maxEntries: 3 },
    message: /"f3" goes over the limit of 3 entries/,
  },
  { name: 'too many bytes', entries: () => [{ name: 'big', body: Buffer.alloc(5000) }], opts: { maxBytes: 1000 }, message: /over the limit of 1000 bytes/ },
];

for (const { name, entries, message, opts } of hostile) {
  test(`refuses ${name} and writes nothing outside dest`, async (t) => {
    const { root, dest, outside } = await sandbox(t);
    const archive = join(root, 'hostile.tar');
    await writeFile(archive, await tarOf(entries(outside)));
    await assert.rejects(extractTar(archive, dest, opts), (err: Error) => err instanceof InvalidArgument && message.test(err.message));
    assert.deepEqual(await list(outside), []);
    assert.deepEqual(await list(root), ['dest', 'hostile.tar', 'outside']);
  });
}

test('refuses corrupt compressed archives and leaves no process behind', async (t) => {
  const { root, dest } = await sandbox(t);
  const payload = await tarOf([{ name: 'noise', body: randomBytes(200_000) }]);
  for (const [format, compress] of [['.tar.gz', gzip], ['.tar.xz', xz], ['.tar.zst', zstd]] as const) {
    const corrupt = compress(payload);
    corrupt.fill(0x55, 40, 400);
    const archive = join(root, `corrupt${format}`);
    await writeFile(archive, corrupt);
    await assert.rejects(
      extractTar(archive, await freshDir(root, format)),
      (err: Error) => err instanceof InvalidArgument && err.message.includes(`${archive} is not a valid ${format}: `),
    );
    assert.deepEqual(await children(), []);
  }
  const truncated = join(root, 'truncated.tar');
  await writeFile(truncated, payload.subarray(0, 10_000));
  await assert.rejects(extractTar(truncated, dest), /is not a valid tar archive: Unexpected end of data/);
});

test('refuses a compressed archive of endless padding (a decompression bomb)', async (t) => {
  const { root, dest } = await sandbox(t);
  const archive = join(root, 'bomb.tar.zst');
  await writeFile(archive, zstd(Buffer.concat([await tarOf([{ name: 'f', body: 'x' }]), Buffer.alloc(80 * 1024 * 1024)])));
  await assert.rejects(extractTar(archive, dest), (err: Error) => err instanceof InvalidArgument && /bytes of tar headers and padding/.test(err.message));
  assert.deepEqual(await children(), []);
});

test('refuses to extract into a non-empty directory unless layered', async (t) => {
  const { root, dest } = await sandbox(t);
  const archive = join(root, 'a.tar');
  await writeFile(archive, await tarOf([{ name: 'a', body: 'x' }]));
  await writeFile(join(dest, 'already'), '');
  await assert.rejects(extractTar(archive, dest), FailedPrecondition);
  await extractTar(archive, dest, { layered: true });
  assert.deepEqual(await list(dest), ['a', 'already']);
});

test('applies a layer with whiteouts and an opaque directory on top of a lower one', async (t) => {
  const { root, dest } = await sandbox(t);
  const lower = join(root, 'lower.tar');
  const upper = join(root, 'upper.tar.gz');
  await writeFile(lower, await tarOf([
    { name: 'keep', body: 'lower' },
    { name: 'gone', body: 'lower' },
    { name: 'tree/', type: 'directory' },
    { name: 'tree/sub/deep', body: 'lower' },
    { name: 'opaque/', type: 'directory', mode: 0o700 },
    { name: 'opaque/old', body: 'lower' },
    { name: 'opaque/dir/old', body: 'lower' },
    { name: 'data', body: 'lower' },
  ]));
  await writeFile(upper, gzip(await tarOf([
    { name: 'opaque/new', body: 'upper' },
    { name: '.wh.gone', body: '' },
    { name: 'tree/.wh.sub', body: '' },
    { name: 'opaque/.wh..wh..opq', body: '' },
    { name: 'opaque/', type: 'directory', mode: 0o755 },
    { name: 'data', body: 'upper' },
    { name: 'fresh/.wh..wh..opq', body: '' },
    { name: 'link', type: 'link', linkname: 'keep' },
  ])));
  await extractTar(lower, dest, { layered: true, whiteouts: true });
  const stats = await extractTar(upper, dest, { layered: true, whiteouts: true });

  assert.deepEqual([stats.entries, stats.files, stats.hardlinks], [8, 2, 1]);
  assert.deepEqual(await list(dest), ['data', 'fresh', 'keep', 'link', 'opaque', 'tree']);
  assert.deepEqual(await list(join(dest, 'tree')), []);
  assert.deepEqual(await list(join(dest, 'opaque')), ['new']);
  assert.deepEqual(await list(join(dest, 'fresh')), []);
  assert.equal((await stat(join(dest, 'opaque'))).mode & 0o7777, 0o755);
  assert.equal(await text(join(dest, 'data')), 'upper');
  assert.equal((await lstat(join(dest, 'link'))).ino, (await lstat(join(dest, 'keep'))).ino);
});

test('a layer cannot write or delete through a symlink of a lower layer', async (t) => {
  const { root, dest, outside } = await sandbox(t);
  await writeFile(join(outside, 'victim'), 'safe');
  const lower = join(root, 'lower.tar');
  await writeFile(lower, await tarOf([{ name: 'lib', type: 'symlink', linkname: outside }]));
  await extractTar(lower, dest, { layered: true, whiteouts: true });

  const deleting = join(root, 'delete.tar');
  await writeFile(deleting, await tarOf([{ name: 'lib/.wh.victim', body: '' }]));
  await extractTar(deleting, dest, { layered: true, whiteouts: true });
  assert.equal(await text(join(outside, 'victim')), 'safe');

  const writing = join(root, 'write.tar');
  await writeFile(writing, await tarOf([{ name: 'lib/pwned', body: 'pwned' }]));
  await assert.rejects(extractTar(writing, dest, { layered: true, whiteouts: true }), /passes through the symlink "lib"/);
  assert.deepEqual(await list(outside), ['victim']);
});

test('refuses whiteouts naming no entry, and whiteouts from a stream', async (t) => {
  const { root, dest } = await sandbox(t);
  const archive = join(root, 'up.tar');
  await writeFile(archive, await tarOf([{ name: 'a/.wh...', body: '' }]));
  await assert.rejects(extractTar(archive, dest, { layered: true, whiteouts: true }), /whiteout that names no entry/);
  await assert.rejects(
    extractTar(Readable.from([await tarOf([])]), dest, { layered: true, whiteouts: true }),
    (err: Error) => err instanceof InvalidArgument && /file path, not a stream/.test(err.message),
  );
});

async function freshDir(root: string, name: string): Promise<string> {
  const dir = join(root, `dest${name}`);
  await mkdir(dir);
  return dir;
}
