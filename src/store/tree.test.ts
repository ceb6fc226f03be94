import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmod, chown, lchown, link, lstat, lutimes, mkdir, readFile, readlink, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { FailedPrecondition, InvalidArgument } from '../errors/index.js';
import { ContentStore } from './objects.js';
import { listTree, tempDir } from './testing.js';
import { ingestTree, treeDf } from './tree.js';
import { toolXattrs } from './xattrs.js';

const mtime = new Date('2021-05-06T07:08:09.123Z');
const CAP = Buffer.from('0100000200200000000000000000000000000000', 'hex');

/** A small root file system: modes, owners, setuid, xattrs, symlinks, a hardlink, a FIFO. */
async function sourceTree(dir: string): Promise<void> {
  const dirs: Array<[string, number, number, number]> = [
    ['etc', 0o755, 0, 0], ['home', 0o755, 0, 0], ['home/user', 0o700, 1000, 1000], ['tmp', 0o1777, 0, 0],
    ['usr', 0o755, 0, 0], ['usr/bin', 0o755, 0, 0], ['var', 0o755, 0, 0], ['var/mail', 0o2775, 0, 8], ['ro', 0o555, 0, 0], ['run', 0o755, 0, 0],
  ];
  for (const [path] of dirs) await mkdir(join(dir, path));
  const files: Array<[string, string, number, number, number]> = [
    ['etc/passwd', 'root:x:0:0::/root:/bin/sh\n', 0o644, 0, 0],
    ['etc/shadow', 'root:!::::::\n', 0o640, 0, 42],
    ['etc/empty', '', 0o644, 0, 0],
    ['usr/bin/su', '#!/bin/sh\necho su\n', 0o4755, 0, 0],
    ['usr/bin/ping', '#!/bin/sh\necho ping\n', 0o755, 0, 0],
    ['home/user/notes', 'mine\n', 0o600, 1000, 1000],
    ['ro/inside', 'read only\n', 0o444, 0, 0],
    ['var/mail/user', '', 0o660, 1000, 8],
  ];
  for (const [path, body, mode, uid, gid] of files) {
    await writeFile(join(dir, path), body);
    await chown(join(dir, path), uid, gid);
    await chmod(join(dir, path), mode);
  }
  await toolXattrs.write(join(dir, 'usr/bin/ping'), { 'security.capability': CAP });
  await toolXattrs.write(join(dir, 'etc/passwd'), { 'user.origin': Buffer.from('base-passwd') });
  await toolXattrs.write(join(dir, 'home/user'), { 'user.quota': Buffer.from('1G') });
  await link(join(dir, 'etc/passwd'), join(dir, 'etc/passwd-'));
  await symlink('/usr/share/zoneinfo/UTC', join(dir, 'etc/localtime'));
  await symlink('../etc/passwd', join(dir, 'home/user/link'));
  await lchown(join(dir, 'home/user/link'), 1000, 1000);
  await symlink('nowhere', join(dir, 'tmp/dangling'));
  execFileSync('mkfifo', [join(dir, 'run/initctl')]);
  for (const [path] of files) await utimes(join(dir, path), mtime, mtime);
  for (const path of ['etc/localtime', 'home/user/link', 'tmp/dangling']) await lutimes(join(dir, path), mtime, mtime);
  for (const [path, mode, uid, gid] of dirs.reverse()) {
    await chown(join(dir, path), uid, gid);
    await chmod(join(dir, path), mode);
    await utimes(join(dir, path), mtime, mtime);
  }
  await utimes(dir, mtime, mtime);
}

async function fixture(t: TestContext): Promise<{ root: string; src: string; store: ContentStore }> {
  const root = await tempDir(t);
  const src = join(root, 'src');
  await mkdir(src);
  await sourceTree(src);
  return { root, src, store: new ContentStore(join(root, 'store')) };
}

/** What a path looks like: type, metadata, content or target, kept xattrs. */
async function describe(path: string): Promise<unknown> {
  const st = await lstat(path);
  const type = st.isDirectory() ? 'dir' : st.isFile() ? 'file' : st.isSymbolicLink() ? 'symlink' : 'other';
  const base = { type, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: Math.floor(st.mtimeMs) };
  if (type === 'symlink') return { ...base, mode: 0, target: await readlink(path) };
  const xattrs = Object.fromEntries(Object.entries(await toolXattrs.read(path)).map(([k, v]) => [k, v.toString('hex')]));
  if (type === 'file') return { ...base, size: st.size, content: (await readFile(path)).toString('hex'), xattrs };
  return { ...base, xattrs };
}

test('ingestTree recreates a tree of hardlinks into the store, metadata round-tripping', async (t) => {
  const { root, src, store } = await fixture(t);
  const dest = join(root, 'dest');
  const seen: string[] = [];
  const result = await ingestTree(src, dest, store, ({ path }) => seen.push(path));

  assert.deepEqual(result, {
    files: 9, dirs: 10, symlinks: 3, objects: 8, newBytes: 26 + 13 + 18 + 20 + 5 + 10,
    logicalBytes: 2 * 26 + 13 + 18 + 20 + 5 + 10, skipped: ['run/initctl'], skippedCount: 1,
  });
  assert.equal(seen.length, 9);
  const paths = (await listTree(src)).filter((p) => p !== 'run/initctl');
  assert.deepEqual(await listTree(dest), paths);
  for (const path of ['', ...paths.map((p) => p.replace(/\/$/, ''))]) {
    assert.deepEqual(await describe(join(dest, path)), await describe(join(src, path)), path);
  }
  for (const path of paths.filter((p) => !p.endsWith('/'))) {
    const st = await lstat(join(dest, path));
    if (!st.isFile()) continue;
    assert.ok(st.nlink >= 2, `${path} is a hardlink into the store`);
  }
  assert.equal((await lstat(join(dest, 'etc/passwd'))).ino, (await lstat(join(dest, 'etc/passwd-'))).ino);
  // The two empty files differ in owner and mode: two objects, two inodes.
  assert.notEqual((await lstat(join(dest, 'etc/empty'))).ino, (await lstat(join(dest, 'var/mail/user'))).ino);
  assert.deepEqual(await store.verify(), { checked: 8, bad: [] });
});

test('identical files of two trees are one object, one inode; df shows the sharing', async (t) => {
  const { root, src, store } = await fixture(t);
  const first = await ingestTree(src, join(root, 'one'), store);
  await writeFile(join(src, 'etc/hostname'), 'two\n');
  const second = await ingestTree(src, join(root, 'two'), store);
  assert.equal(second.newBytes, 4);
  assert.equal(second.logicalBytes, first.logicalBytes + 4);
  for (const path of ['etc/passwd', 'usr/bin/su', 'usr/bin/ping', 'etc/empty']) {
    assert.equal((await lstat(join(root, 'one', path))).ino, (await lstat(join(root, 'two', path))).ino, path);
  }
  const usage = await treeDf([join(root, 'one'), join(root, 'two')]);
  assert.equal(usage.files, 19);
  assert.equal(usage.logicalBytes, first.logicalBytes * 2 + 4);
  assert.equal(usage.inodes, 9);
  assert.equal(usage.storedBytes, first.newBytes + 4);
  const stored = await store.df();
  assert.deepEqual([stored.objects, stored.storedBytes, stored.unlinked], [9, first.newBytes + 4, 0]);
  assert.deepEqual(await store.gc(new Set()), { removed: 0, bytes: 0 });
});

test('a tree on another file system, or a destination that is not empty, is refused', async (t) => {
  const { root, src, store } = await fixture(t);
  await mkdir(join(root, 'full'));
  await writeFile(join(root, 'full', 'x'), '');
  await assert.rejects(ingestTree(src, join(root, 'full'), store), FailedPrecondition);
  const shm = '/dev/shm';
  const other = await stat(shm).catch(() => undefined);
  if (other && other.dev !== (await stat(root)).dev) {
    const dest = join(shm, `strata-store-test-${process.pid}`);
    t.after(() => import('node:fs/promises').then((fs) => fs.rm(dest, { recursive: true, force: true })));
    await assert.rejects(ingestTree(src, dest, store), (e: unknown) => e instanceof FailedPrecondition && /different file systems/.test((e as Error).message));
    assert.equal(await lstat(dest).catch(() => undefined), undefined);
  }
});

test('a failed ingestTree removes the destination', async (t) => {
  const { root, src, store } = await fixture(t);
  await toolXattrs.write(join(src, 'usr/bin/su'), { 'user.overlay.redirect': Buffer.from('/x') });
  const dest = join(root, 'dest');
  await assert.rejects(ingestTree(src, dest, store), (e: unknown) => e instanceof InvalidArgument && /user\.overlay\.redirect/.test((e as Error).message));
  assert.equal(await lstat(dest).catch(() => undefined), undefined);
  assert.deepEqual(await listTree(join(store.dir, 'ingest')), []);
});
