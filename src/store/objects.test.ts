import assert from 'node:assert/strict';
import { lstat, mkdir, open, readFile, writeFile, chown, chmod, link } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { InvalidArgument, NotFound } from '../errors/index.js';
import { objectDigest, objectHeader, sha256Digest } from './digest.js';
import { ContentStore } from './objects.js';
import { listTree, tempDir } from './testing.js';
import { toolXattrs } from './xattrs.js';

async function fixture(t: import('node:test').TestContext): Promise<{ root: string; store: ContentStore }> {
  const root = await tempDir(t);
  const store = new ContentStore(join(root, 'store'));
  await store.init();
  return { root, store };
}

async function file(path: string, body: string, mode = 0o644, uid = 0, gid = 0): Promise<string> {
  await writeFile(path, body);
  await chown(path, uid, gid);
  await chmod(path, mode);
  return path;
}

test('the object digest is sha256 of the documented header', () => {
  const content = sha256Digest('hello\n');
  const cap = Buffer.from('0100000200200000000000000000000000000000', 'hex'); // cap_net_raw=ep, revision 2
  const header = objectHeader({ mode: 0o4755, uid: 0, gid: 42, xattrs: { 'user.b': Buffer.from('2'), 'security.capability': cap } }, content);
  assert.equal(header, `strata-object-v1\nmode 4755\nuid 0\ngid 42\nxattr security.capability ${cap.toString('base64')}\nxattr user.b Mg==\ncontent ${content}\n`);
  assert.equal(objectDigest({ mode: 0o4755, uid: 0, gid: 42, xattrs: { 'user.b': Buffer.from('2'), 'security.capability': cap } }, content), sha256Digest(header));
  // A capability of one user namespace (revision 3), or a malformed one, is not an object's.
  assert.throws(() => objectDigest({ mode: 0o755, uid: 0, gid: 0, xattrs: { 'security.capability': Buffer.concat([Buffer.from('01000003', 'hex'), cap.subarray(4), Buffer.from('00000171', 'hex')]) } }, content), /user namespace of root id/);
  assert.throws(() => objectDigest({ mode: 0o755, uid: 0, gid: 0, xattrs: { 'security.capability': Buffer.from([1, 2]) } }, content), /not a valid file capability/);
  assert.throws(() => objectDigest({ mode: 0o644, uid: 0, gid: 0, xattrs: { 'trusted.overlay.opaque': Buffer.from('y') } }, content), InvalidArgument);
  assert.throws(() => objectDigest({ mode: 0o644, uid: -1, gid: 0 }, content), InvalidArgument);
});

test('ingesting the same file twice stores one object; the object has the metadata', async (t) => {
  const { root, store } = await fixture(t);
  const src = await file(join(root, 'su'), '#!/bin/sh\n', 0o4755, 0, 0);
  const first = await store.ingestFile(src);
  const second = await store.ingestFile(src);
  assert.equal(first.created, true);
  assert.equal(second.created, false);
  assert.equal(first.digest, second.digest);
  assert.equal(first.contentDigest, sha256Digest('#!/bin/sh\n'));
  assert.equal(first.digest, objectDigest({ mode: 0o4755, uid: 0, gid: 0, xattrs: {} }, first.contentDigest));
  const stat = await lstat(store.path(first.digest));
  assert.deepEqual([stat.isFile(), stat.mode & 0o7777, stat.uid, stat.nlink], [true, 0o4755, 0, 1]);
  assert.equal(await readFile(store.path(first.digest), 'utf8'), '#!/bin/sh\n');
  assert.ok(await store.has(first.digest));
  assert.deepEqual(await listTree(join(store.dir, 'ingest')), []);
  assert.deepEqual((await store.df()).objects, 1);
});

test('the same content with another owner, mode or xattr is another object', async (t) => {
  const { root, store } = await fixture(t);
  const a = await store.ingestFile(await file(join(root, 'a'), 'same', 0o644, 0, 0));
  const b = await store.ingestFile(await file(join(root, 'b'), 'same', 0o644, 1000, 0));
  const c = await store.ingestFile(await file(join(root, 'c'), 'same', 0o600, 0, 0));
  const dPath = await file(join(root, 'd'), 'same', 0o644, 0, 0);
  await toolXattrs.write(dPath, { 'security.capability': Buffer.from('0100000200200000000000000000000000000000', 'hex'), 'user.note': Buffer.from('x') });
  const d = await store.ingestFile(dPath);
  assert.equal(new Set([a.digest, b.digest, c.digest, d.digest]).size, 4);
  assert.equal(new Set([a.contentDigest, b.contentDigest, c.contentDigest, d.contentDigest]).size, 1);
  assert.equal((await lstat(store.path(b.digest))).uid, 1000);
  const kept = await toolXattrs.read(store.path(d.digest));
  assert.deepEqual(Object.keys(kept).sort(), ['security.capability', 'user.note']);
  assert.equal(kept['security.capability'].toString('hex'), '0100000200200000000000000000000000000000');
  assert.equal((await store.df()).objects, 4);
});

test('a file carrying overlayfs private xattrs is refused', async (t) => {
  const { root, store } = await fixture(t);
  const src = await file(join(root, 'x'), 'x');
  await toolXattrs.write(src, { 'user.overlay.opaque': Buffer.from('y') });
  await assert.rejects(store.ingestFile(src), (e: unknown) => e instanceof InvalidArgument && /user\.overlay\.opaque/.test((e as Error).message));
  await assert.rejects(store.ingestFile(join(root, 'missing')), NotFound);
  assert.deepEqual(await listTree(join(store.dir, 'objects')), ['sha256/']);
});

test('an aborted or oversized ingest leaves nothing in objects/ and cleans ingest/', async (t) => {
  const { store } = await fixture(t);
  async function* failing(): AsyncGenerator<Buffer> {
    yield Buffer.alloc(4096, 1);
    throw new Error('connection lost');
  }
  await assert.rejects(store.ingestStream(failing(), { mode: 0o644, uid: 0, gid: 0 }), /connection lost/);
  await assert.rejects(store.ingestStream(Readable.from([Buffer.alloc(100), Buffer.alloc(100)]), { mode: 0o644, uid: 0, gid: 0 }, { maxBytes: 150 }), InvalidArgument);
  await assert.rejects(store.ingestStream(Readable.from([Buffer.alloc(100)]), { mode: 0o644, uid: 0, gid: 0 }, { expectedSize: 101 }), /truncated/);
  assert.deepEqual(await listTree(join(store.dir, 'objects')), ['sha256/']);
  assert.deepEqual(await listTree(join(store.dir, 'ingest')), []);
});

test('an expected digest that does not match is refused and nothing is visible', async (t) => {
  const { store } = await fixture(t);
  const meta = { mode: 0o644, uid: 0, gid: 0 };
  const content = sha256Digest('payload');
  const right = objectDigest(meta, content);
  const wrong = objectDigest({ ...meta, uid: 1 }, content);
  await assert.rejects(store.ingestStream(Readable.from([Buffer.from('payload')]), meta, { expectedDigest: wrong }), (e: unknown) => e instanceof InvalidArgument && /not the expected/.test((e as Error).message));
  await assert.rejects(store.ingestStream(Readable.from([Buffer.from('payload!')]), meta, { expectedContentDigest: content }), InvalidArgument);
  assert.equal(await store.has(right), false);
  assert.deepEqual(await listTree(join(store.dir, 'objects')), ['sha256/']);
  assert.deepEqual(await listTree(join(store.dir, 'ingest')), []);
  const ok = await store.ingestStream(Readable.from([Buffer.from('pay'), Buffer.from('load')]), meta, { expectedDigest: right, expectedContentDigest: content, expectedSize: 7 });
  assert.deepEqual(ok, { digest: right, contentDigest: content, size: 7, created: true });
});

test('verify finds an object whose byte was flipped or whose mode changed', async (t) => {
  const { root, store } = await fixture(t);
  const good = await store.ingestFile(await file(join(root, 'good'), 'good content'));
  const flipped = await store.ingestFile(await file(join(root, 'flip'), 'flip me'));
  const moded = await store.ingestFile(await file(join(root, 'mode'), 'mode me'));
  assert.deepEqual(await store.verify(), { checked: 3, bad: [] });
  const handle = await open(store.path(flipped.digest), 'r+');
  await handle.write(Buffer.from('F'), 0, 1, 0);
  await handle.close();
  await chmod(store.path(moded.digest), 0o600);
  const seen: number[] = [];
  const result = await store.verify(({ done }) => seen.push(done));
  assert.equal(result.checked, 3);
  assert.deepEqual(result.bad.sort(), [flipped.digest, moded.digest].sort());
  assert.ok(!result.bad.includes(good.digest));
  assert.deepEqual(seen, [1, 2, 3]);
});

test('gc removes only objects that no tree links and nobody references', async (t) => {
  const { root, store } = await fixture(t);
  const tree = join(root, 'tree');
  await mkdir(tree);
  const linked = await store.ingestFile(await file(join(root, 'a'), 'linked'));
  const referenced = await store.ingestFile(await file(join(root, 'b'), 'referenced'));
  const garbage = await store.ingestFile(await file(join(root, 'c'), 'garbage!'));
  await store.linkInto(linked.digest, join(tree, 'a'));
  assert.equal((await lstat(join(tree, 'a'))).ino, (await lstat(store.path(linked.digest))).ino);
  assert.deepEqual(await store.df(), { objects: 3, storedBytes: 6 + 10 + 8, allocatedBytes: (await store.df()).allocatedBytes, unlinked: 2 });
  await writeFile(join(store.dir, 'ingest', 'left-by-a-crash'), 'x');
  assert.deepEqual(await store.gc(new Set([referenced.digest])), { removed: 1, bytes: 8 });
  assert.equal(await store.has(garbage.digest), false);
  assert.ok(await store.has(linked.digest));
  assert.ok(await store.has(referenced.digest));
  assert.deepEqual(await listTree(join(store.dir, 'ingest')), []);
  assert.deepEqual(await store.df(), { objects: 2, storedBytes: 16, allocatedBytes: (await store.df()).allocatedBytes, unlinked: 1 });
});

test('gc waits for a hold, so an object ingested but not yet linked survives', async (t) => {
  const { root, store } = await fixture(t);
  await mkdir(join(root, 'tree'));
  let gcDone = false;
  let collected: Promise<unknown> | undefined;
  await store.hold(async () => {
    const { digest } = await store.ingestFile(await file(join(root, 'a'), 'young'));
    collected = store.gc(new Set()).then((r) => { gcDone = true; return r; });
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(gcDone, false);
    await store.linkInto(digest, join(root, 'tree', 'a'));
  });
  assert.deepEqual(await collected, { removed: 0, bytes: 0 });
});

test('linkInto refuses an existing target and a missing object', async (t) => {
  const { root, store } = await fixture(t);
  const { digest } = await store.ingestFile(await file(join(root, 'a'), 'a'));
  await writeFile(join(root, 'taken'), '');
  await assert.rejects(store.linkInto(digest, join(root, 'taken')), /already there/);
  await assert.rejects(store.linkInto(objectDigest({ mode: 0o644, uid: 0, gid: 0 }, sha256Digest('nope')), join(root, 'x')), NotFound);
  await link(store.path(digest), join(root, 'manual'));
  assert.equal((await lstat(store.path(digest))).nlink, 2);
});
