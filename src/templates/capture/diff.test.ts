import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { FailedPrecondition, InvalidArgument } from '../../errors/index.js';
import { diffUpper, type ChangeSet, type Entry } from './diff.js';

// Real trees on disk, as root: whiteouts are character devices 0:0, opaque directories carry
// trusted.overlay.opaque=y (needs setfattr/getfattr, Debian package attr).
const root = process.getuid?.() === 0;
const haveAttr = (() => {
  try {
    execFileSync('getfattr', ['--version'], { stdio: 'ignore' });
    execFileSync('setfattr', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
const skip = !root ? 'needs root' : !haveAttr ? 'needs getfattr/setfattr (apt-get install attr)' : false;

const SHIFT = 100000;
let tmp = '';

interface Meta {
  mode?: number;
  uid?: number;
  gid?: number;
  xattrs?: Record<string, string>;
}

async function owner(p: string, m: Meta, shift: number): Promise<void> {
  await fsp.lchown(p, (m.uid ?? 0) + shift, (m.gid ?? 0) + shift);
  for (const [k, v] of Object.entries(m.xattrs ?? {})) execFileSync('setfattr', ['-h', '-n', k, '-v', v, '--', p]);
}

/** Builds a tree: path → file content, {dir}, {link}, {whiteout}, {fifo}. Parents are created 0755 with the layer's shift. */
type Spec = string | ({ dir: true } & Meta) | ({ link: string } & Meta) | { whiteout: true } | ({ file: string } & Meta) | { fifo: true };
async function tree(dir: string, shift: number, spec: Record<string, Spec>): Promise<string> {
  await fsp.mkdir(dir, { recursive: true });
  await fsp.chown(dir, shift, shift);
  const parents = async (p: string): Promise<void> => {
    const parent = dirname(p);
    try {
      await fsp.lstat(parent);
    } catch {
      await parents(parent);
      await fsp.mkdir(parent, { mode: 0o755 });
      await fsp.chmod(parent, 0o755);
      await fsp.chown(parent, shift, shift);
    }
  };
  for (const [path, s] of Object.entries(spec)) {
    const p = join(dir, path);
    await parents(p);
    const spec: Exclude<Spec, string> = typeof s === 'string' ? { file: s } : s;
    if ('whiteout' in spec) {
      execFileSync('mknod', [p, 'c', '0', '0']);
    } else if ('fifo' in spec) {
      execFileSync('mkfifo', [p]);
      await fsp.chown(p, shift, shift);
    } else if ('dir' in spec) {
      await fsp.mkdir(p, { recursive: true });
      await fsp.chmod(p, spec.mode ?? 0o755);
      await owner(p, spec, shift);
    } else if ('link' in spec) {
      await fsp.symlink(spec.link, p);
      await owner(p, spec, shift);
    } else {
      await fsp.writeFile(p, spec.file);
      await fsp.chmod(p, spec.mode ?? 0o644);
      await owner(p, spec, shift);
    }
  }
  return dir;
}

const PASSWD = 'root:x:0:0:root:/root:/bin/bash\n';
const paths = (entries: Entry[]): string[] => entries.map((e) => e.path);

let changes: ChangeSet;

before(async () => {
  if (skip) return;
  tmp = await fsp.mkdtemp(join(tmpdir(), 'strata-diff-'));
  const bottom = await tree(join(tmp, 'os'), 0, {
    '/etc': { dir: true },
    '/etc/hostname': 'base\n',
    '/etc/passwd': PASSWD,
    '/etc/group': 'root:x:0:\n',
    '/etc/ld.so.cache': 'old',
    '/usr/bin/tool': { file: 'v1', mode: 0o755 },
    '/usr/bin/same': 'x',
    '/usr/share/doc/a/readme': 'r',
    '/usr/share/doc/a/copyright': 'c',
    '/opt/old/file': 'f',
    '/opt/old/gone': 'g',
    '/meta': 'm',
    '/owned': 'o',
    '/tagged': 't',
    '/xw': 'x',
    '/link': { link: '/etc/hostname' },
    '/link2': { link: 'same' },
    '/link3': { link: 'same' },
    '/thing2': 'was a file',
    '/srv/hidden': 'h',
    '/var/cache': { dir: true },
    '/var/lib/dpkg': { dir: true },
  });
  const app = await tree(join(tmp, 'app'), 0, {
    '/usr/bin/tool': { file: 'v2', mode: 0o755 },
    '/usr/share/doc/a/copyright': { whiteout: true },
    '/srv': { dir: true, xattrs: { 'trusted.overlay.opaque': 'y' } },
    '/srv/shown': 's',
  });
  const upper = await tree(join(tmp, 'upper'), SHIFT, {
    '/etc': { dir: true, xattrs: { 'trusted.overlay.impure': 'y' } }, // copied up only
    '/etc/hostname': 'base\n', // copied up, unchanged
    '/etc/new.conf': { file: 'new', mode: 0o600, uid: 5, gid: 6 },
    '/etc/ld.so.cache': 'new',
    '/etc/passwd': `${PASSWD}app:x:1001:1001::/home/app:/bin/sh\n`,
    '/etc/group': 'root:x:0:\n', // copied up, same
    '/etc/passwd-': PASSWD,
    '/usr/bin/tool': { file: 'v2', mode: 0o755 }, // equal to the app layer's, not the OS's
    '/usr/bin/same': 'y',
    '/usr/share/doc/a/readme': { whiteout: true },
    '/usr/share/doc/a/copyright': { whiteout: true }, // already gone below
    '/nonexistent': { whiteout: true },
    '/opt/old': { dir: true, xattrs: { 'trusted.overlay.opaque': 'y' } },
    '/opt/old/file': 'f', // same as below, but the lower directory is hidden
    '/opt/old/newfile': 'n',
    '/meta': { file: 'm', mode: 0o600 },
    '/owned': { file: 'o', uid: 33, gid: 33 },
    '/tagged': { file: 't', xattrs: { 'user.mime': 'text/plain' } },
    '/xw': { file: '', xattrs: { 'trusted.overlay.whiteout': '' } },
    '/link': { link: '/etc/new.conf' },
    '/link2': { link: 'same', uid: 7 },
    '/link3': { link: 'same' },
    '/thing2': { dir: true },
    '/srv/hidden': { whiteout: true }, // hidden by the app layer's opaque /srv
    '/srv/shown': { whiteout: true },
    '/srv/data/big': 'excluded',
    '/usr/lib/py/m.pyc': 'excluded',
    '/tmp/x': 'volatile',
    '/run/lock': 'volatile',
    '/var/cache': { dir: true },
    '/var/cache/apt/pkgcache.bin': 'volatile',
    '/var/log/apt/history.log': 'volatile',
    '/var/lib/dpkg/status-old': 'volatile',
    '/var/lib/dpkg/status': 'Package: app\nArchitecture: all\n',
    '/fifo': { fifo: true },
    '/newdir': { dir: true, mode: 0o750 },
    '/newdir/sub/file': 'deep',
  });
  changes = await diffUpper(upper, [app, bottom], { excludes: ['/srv/data/**', '*.pyc'], idShift: SHIFT });
});

after(async () => {
  if (tmp) await fsp.rm(tmp, { recursive: true, force: true });
});

test('added: new files and directories, with ids minus the shift', { skip }, () => {
  // a new directory whose contents are all excluded is still added, empty: the installer made it
  assert.deepEqual(paths(changes.added), ['/etc/new.conf', '/newdir', '/newdir/sub', '/newdir/sub/file', '/opt/old/file', '/opt/old/newfile', '/srv/data', '/usr/lib', '/usr/lib/py', '/var/cache/apt', '/var/log', '/var/log/apt']);
  const conf = changes.added[0];
  assert.deepEqual(conf, { path: '/etc/new.conf', type: 'file', mode: 0o600, uid: 5, gid: 6, size: 3 });
  assert.equal(changes.added[1].type, 'dir');
  assert.equal(changes.added[1].mode, 0o750);
});

test('modified: other content, other symlink target, other type; compared with the topmost lower layer', { skip }, () => {
  assert.deepEqual(paths(changes.modified), ['/etc/ld.so.cache', '/link', '/thing2', '/usr/bin/same']);
  const link = changes.modified.find((e) => e.path === '/link')!;
  assert.equal(link.type, 'symlink');
  assert.equal(link.target, '/etc/new.conf');
  assert.equal(link.size, '/etc/new.conf'.length);
  assert.equal(changes.modified.find((e) => e.path === '/thing2')!.type, 'dir');
});

test('metadata only: mode, owner, xattrs (symlink owner too); overlay attributes are not metadata', { skip }, () => {
  assert.deepEqual(paths(changes.metadata), ['/link2', '/meta', '/owned', '/tagged']);
  const m = Object.fromEntries(changes.metadata.map((e) => [e.path, e]));
  assert.equal(m['/meta'].mode, 0o600);
  assert.deepEqual([m['/owned'].uid, m['/owned'].gid], [33, 33]);
  assert.deepEqual({ ...m['/tagged'].xattrs }, { 'user.mime': Buffer.from('text/plain').toString('base64') });
  assert.equal(m['/link2'].uid, 7);
});

test('copy-up without change is no change: /etc, /etc/hostname, /usr/bin/tool, /link3, /var/cache', { skip }, () => {
  const all = [...changes.added, ...changes.modified, ...changes.metadata].map((e) => e.path);
  for (const p of ['/etc', '/etc/hostname', '/etc/group', '/usr/bin/tool', '/link3', '/var/cache', '/usr', '/usr/bin']) assert.ok(!all.includes(p), p);
});

test('deleted: whiteouts over lower entries only, xwhiteouts too, honouring lower whiteouts and opaque dirs', { skip }, () => {
  assert.deepEqual(changes.deleted, ['/srv/shown', '/usr/share/doc/a/readme', '/xw']);
});

test('opaque directories over a lower directory', { skip }, () => {
  assert.deepEqual(changes.opaque, ['/opt/old']);
});

test('databases: merge-table files as before/after texts, unchanged ones left out, never as plain files', { skip }, () => {
  assert.deepEqual(changes.databases, [
    { file: '/etc/passwd', before: PASSWD, after: `${PASSWD}app:x:1001:1001::/home/app:/bin/sh\n` },
    { file: '/var/lib/dpkg/status', before: null, after: 'Package: app\nArchitecture: all\n' },
  ]);
  const all = [...changes.added, ...changes.modified, ...changes.metadata].map((e) => e.path);
  assert.ok(!all.includes('/etc/passwd') && !all.includes('/var/lib/dpkg/status'));
});

test('volatile paths and excludes are left out; fifos are skipped with a reason', { skip }, () => {
  const all = [...changes.added, ...changes.modified, ...changes.metadata].map((e) => e.path).concat(changes.deleted);
  // Below /var/cache and /var/log the directories stay (a package's log directory must exist), not the files.
  assert.ok(all.includes('/var/cache/apt') && all.includes('/var/log/apt'));
  for (const p of ['/tmp', '/tmp/x', '/run/lock', '/var/cache/apt/pkgcache.bin', '/var/log/apt/history.log', '/var/lib/dpkg/status-old', '/etc/passwd-', '/srv/data/big', '/usr/lib/py/m.pyc']) {
    assert.ok(!all.includes(p), p);
  }
  assert.ok(all.includes('/etc/ld.so.cache'));
  assert.deepEqual(changes.skipped.map((s) => s.path), ['/fifo']);
  assert.match(changes.skipped[0].reason, /fifo is not captured/);
});

test('volatile: [] captures volatile paths too', { skip }, async () => {
  const upper = await tree(join(tmp, 'upper-v'), SHIFT, { '/tmp/x': 'v', '/var/log/l': 'v' });
  const c = await diffUpper(upper, [], { excludes: [], volatile: [], idShift: SHIFT });
  assert.deepEqual(paths(c.added), ['/tmp', '/tmp/x', '/var', '/var/log', '/var/log/l']);
});

test('lowerIdShift: lower layers with shifted ids compare by container id', { skip }, async () => {
  const lower = await tree(join(tmp, 'lower-s'), 5000, { '/f': { file: 'a', uid: 3 } });
  const upper = await tree(join(tmp, 'upper-s'), SHIFT, { '/f': { file: 'a', uid: 3 } });
  const c = await diffUpper(upper, [lower], { excludes: [], idShift: SHIFT, lowerIdShift: 5000 });
  assert.deepEqual([c.added, c.modified, c.metadata], [[], [], []]);
  const unshifted = await diffUpper(upper, [lower], { excludes: [], idShift: SHIFT });
  assert.deepEqual(paths(unshifted.metadata), ['/f']);
});

test('a file owned below the id shift is refused, not given a negative id', { skip }, async () => {
  const upper = await tree(join(tmp, 'upper-low'), SHIFT, { '/f': 'a' });
  await fsp.chown(join(upper, 'f'), 0, 0);
  await assert.rejects(diffUpper(upper, [], { excludes: [], idShift: SHIFT }), (e: unknown) => e instanceof FailedPrecondition && /below the capture's id shift/.test((e as Error).message));
});

test('redirect and metacopy attributes are refused: the scratch overlay must not use them', { skip }, async () => {
  for (const attr of ['redirect', 'metacopy']) {
    const upper = await tree(join(tmp, `upper-${attr}`), SHIFT, { '/d': { dir: true, xattrs: { [`trusted.overlay.${attr}`]: '/x' } } });
    await assert.rejects(diffUpper(upper, [], { excludes: [], idShift: SHIFT }), (e: unknown) => e instanceof FailedPrecondition && /redirect_dir=off,metacopy=off/.test((e as Error).message));
  }
});

test('bad arguments are InvalidArgument', { skip }, async () => {
  await assert.rejects(diffUpper('relative', [], { excludes: [] }), InvalidArgument);
  await assert.rejects(diffUpper(join(tmp, 'missing'), [], { excludes: [] }), InvalidArgument);
  await assert.rejects(diffUpper(tmp, [], { excludes: [], idShift: -1 }), InvalidArgument);
});

test('merge-table files: metadata changes and deletions are skipped with a reason, never captured as plain files', { skip }, async () => {
  const lower = await tree(join(tmp, 'lower-db'), 0, { '/etc/shadow': { file: 'root:*:1::::::\n', mode: 0o640, gid: 42 }, '/etc/gshadow': 'root:*::\n' });
  const upper = await tree(join(tmp, 'upper-db'), SHIFT, { '/etc/shadow': { file: 'root:*:1::::::\n', mode: 0o600, gid: 42 }, '/etc/gshadow': { whiteout: true } });
  const c = await diffUpper(upper, [lower], { excludes: [], idShift: SHIFT });
  assert.deepEqual([c.databases, c.metadata, c.deleted], [[], [], []]);
  assert.deepEqual(c.skipped.map((s) => s.path), ['/etc/gshadow', '/etc/shadow']);
  assert.match(c.skipped[0].reason, /deleted \/etc\/gshadow, a merged database/);
  assert.match(c.skipped[1].reason, /metadata is not captured/);
});

test('the merge table is pluggable: a rule for another file routes it to databases', { skip }, async () => {
  const rule = { path: '/etc/custom.db', noun: 'entry', parse: () => new Map<string, string>(), serialize: (_r: Map<string, string>, o: string) => o };
  const lower = await tree(join(tmp, 'lower-rule'), 0, { '/etc/custom.db': 'a\n', '/etc/passwd': PASSWD });
  const upper = await tree(join(tmp, 'upper-rule'), SHIFT, { '/etc/custom.db': 'a\nb\n', '/etc/passwd': `${PASSWD}x:x:1:1::/:/bin/sh\n` });
  const c = await diffUpper(upper, [lower], { excludes: [], idShift: SHIFT, rules: [rule] });
  assert.deepEqual(c.databases, [{ file: '/etc/custom.db', before: 'a\n', after: 'a\nb\n' }]);
  assert.deepEqual(paths(c.modified), ['/etc/passwd']); // not in this table: a plain file
});
