import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { lstat, mkdir, readdir, readFile, readlink, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { FailedPrecondition, InvalidArgument } from '../../errors/index.js';
import { ContentStore, ingestTree, sha256Digest, toolXattrs } from '../../store/index.js';
import { children } from '../archive/testing.js';
import { exportTemplate, type ManifestBase } from './export.js';
import { importTemplate, readTemplateFile } from './import.js';
import { canonicalJson, FORMAT, templateDigest, type Manifest } from './manifest.js';
import { craft, dirEntry, fileEntry, manifestOf, MTIME, objectOf, plainTree } from './testing.js';

interface Sandbox {
  root: string;
  /** Where trees are imported. */
  dest: string;
  /** A sentinel next to dest that attacks aim at; it must stay empty. */
  outside: string;
  store: ContentStore;
}

async function sandbox(t: TestContext): Promise<Sandbox> {
  const root = execFileSync('mktemp', ['-d', '/tmp/strata-pack-XXXXXX']).toString().trim();
  t.after(() => execFileSync('rm', ['-rf', root]));
  await mkdir(join(root, 'outside'));
  const store = new ContentStore(join(root, 'store'));
  await store.init();
  return { root, dest: join(root, 'dest'), outside: join(root, 'outside'), store };
}

const base: ManifestBase = {
  name: 'debian12', version: '12.5', kind: 'os', createdAt: '2024-01-02T03:04:05.000Z',
  made: { how: 'debootstrap', source: 'bookworm', tool: 'strata 0.1.0' }, bases: [], deletions: [], opaqueDirs: [], keys: {},
};

/** Type, metadata, content or target and xattrs of every path under dir. */
async function snapshot(dir: string): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  const visit = async (rel: string): Promise<void> => {
    const abs = rel === '' ? dir : join(dir, rel);
    const st = await lstat(abs);
    const common = { uid: st.uid, gid: st.gid, mtime: Math.floor(st.mtimeMs) };
    if (st.isSymbolicLink()) {
      out[rel] = { type: 'symlink', ...common, target: await readlink(abs) };
      return;
    }
    const xattrs = Object.fromEntries(Object.entries(await toolXattrs.read(abs)).map(([k, v]) => [k, v.toString('base64')]));
    if (st.isFile()) {
      out[rel] = { type: 'file', mode: st.mode & 0o7777, ...common, size: st.size, content: (await readFile(abs)).toString('base64'), xattrs };
      return;
    }
    out[rel] = { type: 'dir', mode: st.mode & 0o7777, ...common, xattrs };
    for (const name of (await readdir(abs)).sort()) await visit(rel === '' ? name : `${rel}/${name}`);
  };
  await visit('');
  return out;
}

async function objectCount(store: ContentStore): Promise<number> {
  return (await store.df()).objects;
}

test('a store-backed tree exported and imported into another store round-trips exactly', async (t) => {
  const { root, store } = await sandbox(t);
  const src = join(root, 'src');
  await mkdir(src);
  await plainTree(src);
  await toolXattrs.write(join(src, 'usr/bin/tool'), { 'security.capability': Buffer.from('0100000200200000000000000000000000000000', 'hex') });
  await toolXattrs.write(join(src, 'srv/www'), { 'user.note': Buffer.from('web root') });
  const tree = join(root, 'tree');
  await ingestTree(src, tree, store);
  const file = join(root, 'debian12.tpl');
  const exported = await exportTemplate(tree, base, store, file);
  assert.equal(exported.manifest.format, FORMAT);
  assert.deepEqual(exported.manifest.totals, { files: 5, dirs: 5, symlinks: 1, hardlinks: 0, objects: 3, logicalBytes: 6 + 10 + 3 * 12, objectBytes: 6 + 10 + 12 });
  assert.equal(exported.digest, templateDigest(exported.manifest));
  assert.equal(exported.digest, sha256Digest(canonicalJson(exported.manifest)));
  assert.deepEqual(await readdir(root).then((names) => names.filter((n) => n.includes('.tmp-'))), []);

  // One tar entry per distinct object, the manifest first.
  const names = execFileSync('sh', ['-c', `zstd -dcq '${file}' | tar -t`]).toString().trim().split('\n');
  assert.equal(names[0], 'manifest.json');
  assert.equal(names.length, 1 + 3);

  const manifest = await readTemplateFile(file);
  assert.deepEqual(manifest, exported.manifest);

  const other = new ContentStore(join(root, 'store2'));
  const dest = join(root, 'imported');
  const steps = new Set<string>();
  const imported = await importTemplate(file, other, dest, { onProgress: ({ step }) => steps.add(step) });
  assert.equal(imported.digest, exported.digest);
  assert.deepEqual([imported.objects, imported.newObjects, imported.newBytes], [3, 3, 28]);
  assert.deepEqual([...steps].sort(), ['objects', 'tree']);
  assert.deepEqual(await snapshot(dest), await snapshot(tree));
  assert.deepEqual(await snapshot(dest), await snapshot(src));
  const inodes = await Promise.all(['a', 'b', 'c'].map(async (n) => (await lstat(join(dest, `srv/www/${n}.html`))).ino));
  assert.equal(new Set(inodes).size, 1);
  assert.deepEqual(await other.verify(), { checked: 3, bad: [] });

  // Importing again adds nothing to the store.
  const again = await importTemplate(file, other, join(root, 'again'));
  assert.deepEqual([again.newObjects, again.newBytes], [0, 0]);
  assert.equal(await objectCount(other), 3);
  // Exporting the imported tree gives the same template.
  const second = await exportTemplate(dest, base, other, join(root, 'again.tpl'));
  assert.equal(second.digest, exported.digest);
});

test('a plain tree (not in the store) exports too; identical files are one object', async (t) => {
  const { root, store, dest } = await sandbox(t);
  const src = join(root, 'src');
  await mkdir(src);
  await plainTree(src);
  const file = join(root, 'plain.tpl');
  const { manifest } = await exportTemplate(src, base, store, file);
  assert.equal(manifest.totals.objects, 3);
  assert.equal(await objectCount(store), 0);
  await importTemplate(file, store, dest);
  assert.equal(await objectCount(store), 3);
  assert.deepEqual(await snapshot(dest), await snapshot(src));
});

test('an application manifest keeps bases, deletions, opaque dirs and keys', async (t) => {
  const { root, store, dest } = await sandbox(t);
  const conf = fileEntry('etc/nginx/nginx.conf', 'worker_processes 1;\n');
  const manifest = manifestOf([dirEntry('.'), dirEntry('etc'), dirEntry('etc/nginx'), conf], {
    deletions: ['etc/nginx-old'], opaqueDirs: ['etc/nginx'],
    keys: { passwd: { 'www-data': { uid: 33, gid: 33, home: '/var/www' }, games: null } },
  });
  const file = await craft(join(root, 'app.tpl'), manifest, [objectOf(conf, 'worker_processes 1;\n')]);
  const result = await importTemplate(file, store, dest);
  assert.deepEqual(result.manifest, manifest);
  assert.equal(result.digest, templateDigest(manifest));
  assert.equal(await readFile(join(dest, 'etc/nginx/nginx.conf'), 'utf8'), 'worker_processes 1;\n');
  assert.equal((await lstat(join(dest, 'etc/nginx/nginx.conf'))).mtimeMs, MTIME);
});

/** Hostile template files: each must be refused with InvalidArgument, writing nothing outside the store. */
const good = fileEntry('etc/motd', 'hello\n');
const evil = fileEntry('etc/evil', 'evil\n');
const hostile: Array<[string, (dir: string, outside: string) => Promise<string>, RegExp]> = [
  ['a ../ path', (d) => craft(join(d, 't'), manifestOf([dirEntry('etc'), fileEntry('../outside/x', 'x')]), [objectOf(fileEntry('../outside/x', 'x'), 'x')]), /escapes/],
  ['an absolute path', (d) => craft(join(d, 't'), manifestOf([fileEntry('/tmp/x', 'x')]), [objectOf(fileEntry('/tmp/x', 'x'), 'x')]), /absolute/],
  ['a path that is not normal', (d) => craft(join(d, 't'), manifestOf([dirEntry('etc'), fileEntry('etc//./motd', 'x')])), /normal form/],
  ['a write through a symlink', (d, outside) => craft(join(d, 't'), manifestOf([
    { path: 'a', type: 'symlink', uid: 0, gid: 0, mtime: MTIME, target: outside }, fileEntry('a/b', 'x'),
  ]), [objectOf(fileEntry('a/b', 'x'), 'x')]), /not a directory entry/],
  ['a hardlink to a path not in the manifest', (d) => craft(join(d, 't'), manifestOf([dirEntry('etc'), { path: 'etc/shadow', type: 'hardlink', target: 'etc/passwd' }])), /not a regular file entry/],
  ['a hardlink to a directory', (d) => craft(join(d, 't'), manifestOf([dirEntry('etc'), { path: 'x', type: 'hardlink', target: 'etc' }])), /not a regular file entry/],
  ['a device node entry', (d) => craft(join(d, 't'), manifestOf([dirEntry('dev'), { path: 'dev/sda', type: 'char', mode: 0o666, uid: 0, gid: 0, mtime: MTIME } as never])), /device node/],
  ['a device node in the archive', (d) => craft(join(d, 't'), manifestOf([]), [{ name: 'dev/sda', type: 'block-device', devmajor: 8, devminor: 0 }]), /block-device/],
  ['a trusted.overlay.opaque xattr', (d) => craft(join(d, 't'), manifestOf([dirEntry('etc', { xattrs: { 'trusted.overlay.opaque': 'eQ==' } } as never)])), /overlayfs/],
  ['a user.overlay.redirect xattr', (d) => craft(join(d, 't'), manifestOf([dirEntry('etc', { xattrs: { 'user.overlay.redirect': 'eQ==' } } as never)])), /overlayfs/],
  ['content that does not match its digest', (d) => craft(join(d, 't'), manifestOf([dirEntry('etc'), good]), [objectOf(good, 'hellO\n')]), /not the expected/],
  ['metadata that does not match the digest', (d) => craft(join(d, 't'), manifestOf([dirEntry('etc'), { ...good, mode: 0o4755 }]), [objectOf(good, 'hello\n')]), /not the expected/],
  ['an object not in the manifest', (d) => craft(join(d, 't'), manifestOf([dirEntry('etc'), good]), [objectOf(good, 'hello\n'), objectOf(evil, 'evil\n')]), /more entries|does not list/],
  ['an object in place of another', (d) => craft(join(d, 't'), manifestOf([dirEntry('etc'), good]), [objectOf(evil, 'evil\n')]), /does not list/],
  ['a missing object', (d) => craft(join(d, 't'), manifestOf([dirEntry('etc'), good])), /lacks the object/],
  ['a duplicate object', (d) => craft(join(d, 't'), manifestOf([dirEntry('etc'), good, evil]), [objectOf(good, 'hello\n'), objectOf(good, 'hello\n')]), /twice/],
  ['an object of the wrong size', (d) => craft(join(d, 't'), manifestOf([dirEntry('etc'), good]), [objectOf(good, 'hello!\n')]), /bytes, but the manifest says/],
  ['a manifest claiming 10^9 files', (d) => craft(join(d, 't'), { ...manifestOf([]), totals: { ...manifestOf([]).totals, files: 1e9 } }), /over the limit/],
  ['a manifest claiming 1 PiB', (d) => craft(join(d, 't'), { ...manifestOf([]), totals: { ...manifestOf([]).totals, objectBytes: 2 ** 50 } }), /over the limit/],
  ['totals that do not add up', (d) => craft(join(d, 't'), { ...manifestOf([dirEntry('etc'), good]), totals: manifestOf([]).totals }), /add up/],
  ['a decompression bomb (many zeros)', (d) => craft(join(d, 't'), manifestOf([]), [], { trailingZeros: 96 << 20 }), /decompression bomb/],
  ['a manifest that is not JSON', (d) => craft(join(d, 't'), '{"format": "strata-template/1", '), /not valid JSON/],
  ['a manifest with a mode as a string', (d) => craft(join(d, 't'), manifestOf([{ ...dirEntry('etc'), mode: '0755' } as never])), /mode/],
  ['a manifest with an unknown field', (d) => craft(join(d, 't'), { ...manifestOf([]), exec: 'rm -rf /' }), /unknown field/],
  ['a run section that is not an object', (d) => craft(join(d, 't'), { ...manifestOf([], { kind: 'os', bases: [] }), run: 'rm -rf /' }), /run/],
  ['a run section with a relative init', (d) => craft(join(d, 't'), { ...manifestOf([], { kind: 'os', bases: [] }), run: { init: ['sh'], stopSignal: 'SIGTERM' } }), /run\.init/],
  ['a manifest of another format', (d) => craft(join(d, 't'), { ...manifestOf([]), format: 'docker' }), /not a Strata template/],
  ['a manifest that is an array', (d) => craft(join(d, 't'), '[]'), /not an object/],
  ['an OS template with deletions', (d) => craft(join(d, 't'), manifestOf([], { kind: 'os', bases: [], deletions: ['etc'] })), /only an application template/],
  ['a symlink entry in the archive', (d) => craft(join(d, 't'), manifestOf([]), [{ name: 'objects/sha256/x', type: 'symlink', linkname: '/etc/shadow' }]), /type symlink/],
  ['a first entry that is not the manifest', async (d) => {
    const path = join(d, 't');
    execFileSync('sh', ['-c', `cd '${d}' && echo x > other && tar -c other | zstd -q -o '${path}'`]);
    return path;
  }, /not manifest.json/],
  ['a file that is not zstd', async (d) => {
    await writeFile(join(d, 't'), canonicalJson(manifestOf([])));
    return join(d, 't');
  }, /not zstd-compressed/],
  ['garbage after the zstd magic', async (d) => {
    await writeFile(join(d, 't'), Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), Buffer.alloc(1000, 0x41)]));
    return join(d, 't');
  }, /damaged or truncated|not a valid/],
];

for (const [name, make, message] of hostile) {
  test(`refuses ${name}`, async (t) => {
    const { root, store, dest, outside } = await sandbox(t);
    const made = join(root, 'made');
    await mkdir(made);
    const file = await make(made, outside);
    const before = await children();
    await assert.rejects(importTemplate(file, store, dest, { maxBytes: 1 << 30 }), (err: unknown) => {
      assert.ok(err instanceof InvalidArgument, `expected InvalidArgument, got ${(err as Error).name}: ${(err as Error).message}`);
      assert.match((err as Error).message, message);
      return true;
    });
    assert.equal(await lstat(dest).catch(() => undefined), undefined, 'dest is removed');
    assert.deepEqual(await readdir(outside), [], 'nothing is written outside');
    assert.deepEqual(await readdir(join(store.dir, 'ingest')), [], 'no ingest file is left');
    assert.deepEqual(await readdir(root).then((n) => n.sort()), ['made', 'outside', 'store']);
    // Only verified objects are ever visible.
    assert.deepEqual((await store.verify()).bad, []);
    if (/digest|metadata|wrong size|place of another/.test(name)) assert.equal(await objectCount(store), 0);
    assert.deepEqual((await children()).filter((pid) => !before.includes(pid)), [], 'no zstd is left running');
  });
}

test('a truncated template file is refused, and readTemplateFile validates without extracting', async (t) => {
  const { root, store, dest } = await sandbox(t);
  const src = join(root, 'src');
  await mkdir(src);
  await plainTree(src);
  await writeFile(join(src, 'big'), Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7919) % 251)));
  const file = join(root, 'whole.tpl');
  await exportTemplate(src, base, store, file);
  const manifest = await readTemplateFile(file);
  assert.equal(manifest.totals.objects, 4);
  assert.equal(await objectCount(store), 0);
  await truncate(file, Math.floor((await stat(file)).size / 2));
  await assert.rejects(importTemplate(file, store, dest), (e: unknown) => e instanceof InvalidArgument && /truncated|not a valid/.test((e as Error).message));
  assert.equal(await lstat(dest).catch(() => undefined), undefined);
  assert.deepEqual(await readdir(join(store.dir, 'ingest')), []);
  assert.deepEqual((await store.verify()).bad, []);
});

test('limits given by the caller are enforced', async (t) => {
  const { root, store, dest } = await sandbox(t);
  const src = join(root, 'src');
  await mkdir(src);
  await plainTree(src);
  const file = join(root, 'x.tpl');
  await exportTemplate(src, base, store, file);
  await assert.rejects(importTemplate(file, store, dest, { maxFiles: 3 }), /over the limit of 3/);
  await assert.rejects(importTemplate(file, store, dest, { maxBytes: 10 }), /over the limit of 10/);
  await assert.rejects(importTemplate(file, store, dest, { maxEntries: 2 }), /over the limit of 1/);
  await assert.rejects(readTemplateFile(file, { maxManifestBytes: 100 }), /over the limit of 100/);
  await assert.rejects(importTemplate(join(root, 'missing.tpl'), store, dest), /does not exist/);
  await mkdir(dest);
  await writeFile(join(dest, 'x'), '');
  await assert.rejects(importTemplate(file, store, dest), FailedPrecondition);
});

test('export refuses a manifest base that the importer would refuse, and writes nothing', async (t) => {
  const { root, store } = await sandbox(t);
  const src = join(root, 'src');
  await mkdir(src);
  await plainTree(src);
  await assert.rejects(exportTemplate(src, { ...base, name: 'Not A Name' } as Manifest, store, join(root, 'x.tpl')), InvalidArgument);
  assert.deepEqual((await readdir(root)).sort(), ['outside', 'src', 'store']);
});
