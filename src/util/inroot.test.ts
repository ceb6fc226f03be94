// Unit: paths resolved inside a root as chroot would, and tar streams in and out of one, on real temporary directories.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pack } from 'tar-stream';
import { at, resolveInRoot } from './inroot.js';
import { extractTo, packPath } from './tar-tree.js';

/** Where a path led, as the path of the directory inside the root plus the name. */
async function where(root: string, path: string, followLast = false): Promise<{ inside: string; name: string | null; exists: boolean }> {
  const r = await resolveInRoot(root, path, { followLast });
  try {
    const dir = readlinkSync(at(r.dir));
    assert.ok(dir === root || dir.startsWith(`${root}/`), `${path} led to ${dir}, outside ${root}`);
    return { inside: dir.slice(root.length) || '/', name: r.name, exists: r.stat !== null };
  } finally {
    await r.close();
  }
}

/** A tar of the given entries, as a stream. */
function tarOf(entries: Array<{ name: string; type?: 'file' | 'directory' | 'symlink' | 'link'; body?: string; linkname?: string }>): Readable {
  const p = pack();
  for (const e of entries) p.entry({ name: e.name, type: e.type ?? 'file', linkname: e.linkname, mode: e.type === 'directory' ? 0o755 : 0o644 }, e.body ?? '');
  p.finalize();
  return Readable.from(p, { objectMode: false });
}

describe('resolveInRoot', () => {
  let base = '';
  let root = '';
  let outside = '';
  before(() => {
    base = mkdtempSync(join(tmpdir(), 'strata-inroot-'));
    root = join(base, 'root');
    outside = join(base, 'outside');
    mkdirSync(join(root, 'etc'), { recursive: true });
    mkdirSync(join(root, 'srv', 'a'), { recursive: true });
    mkdirSync(outside);
    writeFileSync(join(outside, 'secret'), 'host secret');
    writeFileSync(join(root, 'etc', 'passwd'), 'inside');
    symlinkSync('/etc', join(root, 'abs'));
    symlinkSync('../../../../../../..', join(root, 'srv', 'a', 'up'));
    symlinkSync(outside, join(root, 'host'));
    symlinkSync('loop2', join(root, 'loop1'));
    symlinkSync('loop1', join(root, 'loop2'));
  });
  after(() => rmSync(base, { recursive: true, force: true }));

  test('an absolute symlink target is taken from the root, not the host', async () => {
    assert.deepEqual(await where(root, '/abs/passwd'), { inside: '/etc', name: 'passwd', exists: true });
  });

  test('.. stops at the root, through symlinks and in the path itself', async () => {
    assert.deepEqual(await where(root, '/srv/a/up/etc/passwd'), { inside: '/etc', name: 'passwd', exists: true });
    assert.deepEqual(await where(root, '/../../../etc/passwd'), { inside: '/etc', name: 'passwd', exists: true });
  });

  test('a symlink to a host directory stays a path inside the root', async () => {
    // The host's directory name does not exist inside: the host file is not found.
    await assert.rejects(where(root, '/host/secret'), { code: 'not_found' });
  });

  test('the last component is not followed unless asked (or the path ends in /)', async () => {
    assert.deepEqual(await where(root, '/abs'), { inside: '/', name: 'abs', exists: true });
    assert.deepEqual(await where(root, '/abs', true), { inside: '/', name: 'etc', exists: true });
    assert.deepEqual(await where(root, '/abs/'), { inside: '/', name: 'etc', exists: true });
    assert.deepEqual(await where(root, '/srv/a/up', true), { inside: '/', name: null, exists: true });
  });

  test('a missing last component is answered; a missing or non-directory intermediate one is refused', async () => {
    assert.deepEqual(await where(root, '/etc/new'), { inside: '/etc', name: 'new', exists: false });
    await assert.rejects(where(root, '/nope/new'), { code: 'not_found' });
    await assert.rejects(where(root, '/etc/passwd/x'), { code: 'failed_precondition' });
    await assert.rejects(where(root, '/nope/'), { code: 'not_found' });
  });

  test('symlink loops and relative paths are refused', async () => {
    await assert.rejects(where(root, '/loop1/x'), { code: 'invalid_argument', message: /more than 40 symlinks/ });
    await assert.rejects(where(root, 'etc/passwd'), { code: 'invalid_argument', message: /not an absolute path/ });
  });
});

describe('tar streams in and out of a root', () => {
  let base = '';
  let root = '';
  let outside = '';
  before(() => {
    base = mkdtempSync(join(tmpdir(), 'strata-tartree-'));
    root = join(base, 'root');
    outside = join(base, 'outside');
    mkdirSync(join(root, 'dst'), { recursive: true });
    mkdirSync(outside);
    symlinkSync(outside, join(root, 'dst', 'out'));
    symlinkSync('/dst', join(root, 'dstlink'));
  });
  after(() => rmSync(base, { recursive: true, force: true }));

  const staged = (): string[] => readdirSync(join(root, 'dst')).filter((n) => n.startsWith('.strata-cp-'));

  test('an archive with .., an absolute name, or a write through its own symlink is refused, leaving nothing', async () => {
    for (const entries of [
      [{ name: 'a/../../x', body: 'x' }],
      [{ name: '/etc/x', body: 'x' }],
      [{ name: 'l', type: 'symlink' as const, linkname: outside }, { name: 'l/x', body: 'x' }],
      [{ name: 'f', body: 'ok' }, { name: 'h', type: 'link' as const, linkname: '../../etc/passwd' }],
    ]) {
      await assert.rejects(extractTo(root, '/dst', tarOf(entries), { where: 'test' }), { code: 'invalid_argument' }, JSON.stringify(entries));
      assert.deepEqual(readdirSync(join(root, 'dst')).sort(), ['out'], 'nothing half-written stays');
    }
    assert.deepEqual(readdirSync(outside), [], 'nothing was written outside the root');
  });

  test('a symlink at the destination is replaced, not written through', async () => {
    await extractTo(root, '/dst/out', tarOf([{ name: 'file', body: 'new' }]), { where: 'test' });
    assert.ok(lstatSync(join(root, 'dst', 'out')).isFile());
    assert.equal(readFileSync(join(root, 'dst', 'out'), 'utf8'), 'new');
    assert.deepEqual(readdirSync(outside), []);
    rmSync(join(root, 'dst', 'out'));
    symlinkSync(outside, join(root, 'dst', 'out'));
  });

  test('into a directory, under its own name; elsewhere, as the destination; hardlinks within the archive', async () => {
    await extractTo(root, '/dstlink/', tarOf([{ name: 'd', type: 'directory' }, { name: 'd/f', body: 'one' }, { name: 'd/g', type: 'link', linkname: 'd/f' }]), { where: 'test' });
    assert.equal(readFileSync(join(root, 'dst', 'd', 'f'), 'utf8'), 'one');
    assert.equal(lstatSync(join(root, 'dst', 'd', 'g')).ino, lstatSync(join(root, 'dst', 'd', 'f')).ino);
    await extractTo(root, '/dst/renamed', tarOf([{ name: 'x', type: 'directory' }, { name: 'x/f', body: 'two' }]), { where: 'test' });
    assert.equal(readFileSync(join(root, 'dst', 'renamed', 'f'), 'utf8'), 'two');
    await assert.rejects(extractTo(root, '/dst/two', tarOf([{ name: 'a', body: '1' }, { name: 'b', body: '2' }]), { where: 'test' }), { message: /several top entries/ });
    await assert.rejects(extractTo(root, '/dst/d', tarOf([{ name: 'f', type: 'directory' }]), { where: 'test' }).then(() => extractTo(root, '/dst/d/f', tarOf([{ name: 'y', type: 'directory' }]), { where: 'test' })), { code: 'conflict' });
    assert.deepEqual(staged(), []);
  });

  test('a packed tree extracts to the same files, symlinks kept as symlinks', async () => {
    mkdirSync(join(root, 'src', 'sub'), { recursive: true });
    writeFileSync(join(root, 'src', 'sub', 'file'), 'content', { mode: 0o640 });
    symlinkSync('/etc/shadow', join(root, 'src', 'link'));
    const packed = await packPath(root, '/src', { where: 'test' });
    await extractTo(root, '/dst/copy', packed.stream, { where: 'test' });
    await packed.done;
    assert.equal(readFileSync(join(root, 'dst', 'copy', 'sub', 'file'), 'utf8'), 'content');
    assert.equal(lstatSync(join(root, 'dst', 'copy', 'sub', 'file')).mode & 0o777, 0o640);
    assert.equal(readlinkSync(join(root, 'dst', 'copy', 'link')), '/etc/shadow');
    await assert.rejects(packPath(root, '/nothing', { where: 'test' }), { code: 'not_found' });
  });
});
