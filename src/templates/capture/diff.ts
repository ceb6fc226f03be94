/**
 * The change set of a capture: what an installer did, read from the overlay
 * upper directory of the throw-away container it ran in, compared with the
 * layers below. Run as root after the scratch container has stopped and its
 * overlay is unmounted.
 *
 *   const changes = await diffUpper(scratch.privateArea, [appTemplate, osTemplate], {
 *     excludes: ['/srv/cache/**'], idShift: idMap.hostBase,
 *   });
 *   // changes.added / modified / metadata / deleted / opaque: plain files
 *   // changes.databases: /etc/passwd, dpkg status… whole before/after texts, for keyChanges()
 *
 * What counts as a change (by content, not by mere copy-up):
 * - an upper file whose content and metadata (mode, owner, xattrs other than overlay's)
 *   equal the lower file's is no change, nor is a directory copied up only because
 *   something below it changed;
 * - equal content with other metadata is a `metadata` change; other content, or another
 *   type, is `modified`; no lower entry is `added`;
 * - an overlay whiteout (character device 0:0, or an xwhiteout) over a lower entry is a
 *   deletion; a directory marked opaque (trusted.overlay.opaque=y) over a lower
 *   directory hides everything the lower layers had there (`opaque`), and its contents are added;
 * - files of the merge table (merge/rules.ts) go to `databases`, never to the plain lists.
 *
 * Ids: upper files carry host ids (scratch container's id base + container id);
 * `idShift` is subtracted. Lower layers carry real (container) ids unless `lowerIdShift` says otherwise.
 * It only reads; lstat only, symlinks are never followed. Extended attributes come from
 * getfattr (Debian package `attr`). It does not pack, store or apply anything.
 */
import { promises as fsp, type Stats } from 'node:fs';
import { join } from 'node:path';
import { FailedPrecondition, InvalidArgument } from '../../errors/index.js';
import { MERGE_RULES, type MergeRule } from '../merge/rules.js';
import { compileExcludes } from './glob.js';
import { readXattrs, type Xattrs } from './xattrs.js';
import { neutralCapability } from '../../store/index.js';

type EntryType = 'file' | 'dir' | 'symlink';

export interface Entry {
  /** Absolute path inside the container: /usr/bin/app. */
  path: string;
  type: EntryType;
  /** Permission bits including setuid, setgid and sticky (mode & 0o7777). */
  mode: number;
  /** Container uid and gid (the upper directory's ids minus idShift). */
  uid: number;
  gid: number;
  /** Bytes: the content of a file, the target of a symlink, 0 for a directory. */
  size: number;
  /** Target of a symlink, verbatim. */
  target?: string;
  /** Extended attributes other than overlayfs' own, values base64-encoded; absent when none. */
  xattrs?: Xattrs;
}

export interface DatabaseChange {
  /** The merge rule's path, e.g. /etc/passwd. */
  file: string;
  /** The file in the lower layers, null when they had none. */
  before: string | null;
  after: string;
}

interface Skipped {
  path: string;
  reason: string;
}

export interface ChangeSet {
  added: Entry[];
  modified: Entry[];
  /** Same content (or symlink target), other mode, owner or xattrs. */
  metadata: Entry[];
  /** Paths that existed in the lower layers and were removed. */
  deleted: string[];
  /** Directories that replace, not merge with, the lower layers' directory at that path. */
  opaque: string[];
  databases: DatabaseChange[];
  /** Upper entries that are not captured (sockets, fifos, device nodes, odd database files), with why. */
  skipped: Skipped[];
}

export interface DiffOptions {
  /** Globs of paths inside the container to leave out (see glob.ts), in addition to `volatile`. */
  excludes: string[];
  /** Volatile paths left out; DEFAULT_VOLATILE when not given, [] to capture them too. */
  volatile?: string[];
  /** Host id of the scratch container's uid/gid 0: subtracted from the upper directory's ids. */
  idShift?: number;
  /** The same for the lower layers, when they carry shifted ids on disk. Default 0. */
  lowerIdShift?: number;
  /** The merge table. Default MERGE_RULES. */
  rules?: readonly MergeRule[];
}

/**
 * Left out of a capture unless `volatile` says otherwise: scratch space, caches, logs, lock
 * files, package lists and the backup copies that shadow-utils, dpkg and ucf leave. Derived
 * files (/etc/ld.so.cache …) are left out by the capture too, through merge/derived.ts. Of a
 * `DIR/**` pattern only the files go: the directories below DIR stay, empty.
 */
const DEFAULT_VOLATILE: readonly string[] = [
  '/tmp',
  '/var/tmp',
  '/run',
  '/var/run',
  '/proc',
  '/sys',
  '/dev',
  '/var/cache/**',
  '/var/log/**',
  '/var/lib/apt/lists/**',
  '/root/.cache/**',
  '/root/.*_history',
  '/root/.lesshst',
  '/root/.viminfo',
  '/var/lib/dpkg/*-old',
  '/var/lib/ucf/*.[0-9]',
  '/var/lib/dpkg/lock',
  '/var/lib/dpkg/lock-frontend',
  '/var/lib/dpkg/triggers/Lock',
  '/etc/.pwd.lock',
  '/etc/*-',
];

const OVERLAY_PREFIX = 'trusted.overlay.';
const B64_Y = Buffer.from('y').toString('base64');

interface Node {
  path: string;
  host: string;
  st: Stats;
  xattrs: Xattrs;
}

interface Lower {
  host: string;
  st: Stats;
  xattrs: Xattrs;
}

const isWhiteout = (st: Stats, xattrs: Xattrs): boolean =>
  (st.isCharacterDevice() && st.rdev === 0) || (st.isFile() && st.size === 0 && xattrs[`${OVERLAY_PREFIX}whiteout`] !== undefined);

const isOpaque = (xattrs: Xattrs): boolean => xattrs[`${OVERLAY_PREFIX}opaque`] === B64_Y;

function typeOf(st: Stats): EntryType | null {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  return null;
}

function kindName(st: Stats): string {
  if (st.isSocket()) return 'a socket';
  if (st.isFIFO()) return 'a fifo';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isCharacterDevice()) return 'a character device';
  return 'an unknown file type';
}

/** The attributes that belong to the file, not to overlayfs' bookkeeping (origin, impure, nlink, opaque…). */
function ownXattrs(xattrs: Xattrs): Xattrs | undefined {
  const names = Object.keys(xattrs).filter((n) => !n.startsWith(OVERLAY_PREFIX)).sort();
  if (!names.length) return undefined;
  const out = Object.create(null) as Xattrs;
  for (const n of names) out[n] = xattrs[n];
  return out;
}

function sameXattrs(a: Xattrs | undefined, b: Xattrs | undefined): boolean {
  const ka = Object.keys(a ?? {});
  const kb = Object.keys(b ?? {});
  return ka.length === kb.length && ka.every((k) => b![k] === a![k]);
}

function shifted(what: string, host: string, id: number, shift: number): number {
  const v = id - shift;
  if (v < 0) {
    throw new FailedPrecondition(`${host} is owned by host id ${id}, below the capture's id shift ${shift} (${what}): give the scratch container's host id base as idShift, or remove the file`);
  }
  return v;
}

async function sameContent(a: string, b: string, size: number): Promise<boolean> {
  if (size === 0) return true;
  const [fa, fb] = await Promise.all([fsp.open(a, 'r'), fsp.open(b, 'r')]);
  try {
    const chunk = Math.min(size, 1 << 20);
    const ba = Buffer.alloc(chunk);
    const bb = Buffer.alloc(chunk);
    for (let pos = 0; pos < size; ) {
      const [ra, rb] = await Promise.all([fa.read(ba, 0, chunk, pos), fb.read(bb, 0, chunk, pos)]);
      if (ra.bytesRead !== rb.bytesRead) return false;
      if (ra.bytesRead === 0) return true;
      if (!ba.subarray(0, ra.bytesRead).equals(bb.subarray(0, rb.bytesRead))) return false;
      pos += ra.bytesRead;
    }
    return true;
  } finally {
    await Promise.all([fa.close(), fb.close()]);
  }
}

async function lstatOrNull(path: string): Promise<Stats | null> {
  try {
    return await fsp.lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return null;
    throw err;
  }
}

function checkDir(what: string, dir: unknown): string {
  if (typeof dir !== 'string' || !dir.startsWith('/')) throw new InvalidArgument(`${what} ${String(dir)} is not an absolute path: give the directory's absolute path`);
  return dir.replace(/\/+$/, '') || '/';
}

function checkShift(what: string, v: number | undefined): number {
  if (v === undefined) return 0;
  if (!Number.isSafeInteger(v) || v < 0) throw new InvalidArgument(`${what} ${v} is not a host id: give the scratch container's host id base, a whole number from 0`);
  return v;
}

/** Compares the overlay upper directory `upperDir` with `lowerDirs` (top first). See the module comment. */
export async function diffUpper(upperDir: string, lowerDirs: string[], opts: DiffOptions): Promise<ChangeSet> {
  const upper = checkDir('upper directory', upperDir);
  const lowers = lowerDirs.map((d) => checkDir('lower directory', d));
  const idShift = checkShift('idShift', opts.idShift);
  const lowerIdShift = checkShift('lowerIdShift', opts.lowerIdShift);
  const rules = new Map((opts.rules ?? MERGE_RULES).map((r) => [r.path, r]));
  // A volatile `DIR/**` leaves out the files below DIR but keeps the directories, with their owner
  // and mode: a package's /var/log/nginx or /var/cache/man must exist where it is attached.
  const volatile = opts.volatile ?? DEFAULT_VOLATILE;
  const excluded = compileExcludes([...volatile.filter((p) => !p.endsWith('/**')), ...(opts.excludes ?? [])]);
  const volatileContent = compileExcludes(volatile.filter((p) => p.endsWith('/**')));
  const rootSt = await lstatOrNull(upper);
  if (!rootSt?.isDirectory()) throw new InvalidArgument(`upper directory ${upper} does not exist or is not a directory: give the scratch container's private area`);

  // 1. The upper tree, parents before children, without what is excluded.
  const nodes: Node[] = [];
  const walk = async (rel: string): Promise<void> => {
    const names = (await fsp.readdir(rel === '/' ? upper : join(upper, rel))).sort();
    for (const name of names) {
      const path = rel === '/' ? `/${name}` : `${rel}/${name}`;
      if (excluded(path)) continue;
      const host = join(upper, path);
      const st = await fsp.lstat(host);
      if (!st.isDirectory() && volatileContent(path)) continue;
      nodes.push({ path, host, st, xattrs: {} });
      if (st.isDirectory()) await walk(path);
    }
  };
  await walk('/');
  const upperX = await readXattrs(nodes.map((n) => n.host));
  for (const n of nodes) n.xattrs = upperX.get(n.host) ?? {};

  // 2. The same paths in every lower layer, where the parent is a directory there.
  const lowerSt: Array<Map<string, Stats>> = lowers.map(() => new Map());
  for (let i = 0; i < lowers.length; i++) {
    const seen = lowerSt[i];
    for (const n of nodes) {
      const parent = n.path.slice(0, n.path.lastIndexOf('/')) || '/';
      if (parent !== '/' && !seen.get(parent)?.isDirectory()) continue;
      const st = await lstatOrNull(join(lowers[i], n.path));
      if (st) seen.set(n.path, st);
    }
  }
  const lowerHosts = lowers.flatMap((dir, i) => [...lowerSt[i].keys()].map((p) => join(dir, p)));
  const lowerX = await readXattrs(lowerHosts);
  const lowerAt = (i: number, path: string): Lower | null => {
    const st = lowerSt[i].get(path);
    if (!st) return null;
    const host = join(lowers[i], path);
    return { host, st, xattrs: lowerX.get(host) ?? {} };
  };

  /** What the lower layers show at `path`, as overlayfs would merge them. */
  const resolve = (path: string): Lower | null => {
    const parts = path.split('/').filter(Boolean);
    let active = lowers.map((_, i) => i);
    let prefix = '';
    for (let c = 0; c < parts.length; c++) {
      prefix += `/${parts[c]}`;
      let found: Lower | null = null;
      const next: number[] = [];
      for (const i of active) {
        const l = lowerAt(i, prefix);
        if (!l) continue;
        if (isWhiteout(l.st, l.xattrs)) break;
        if (!l.st.isDirectory()) {
          found ??= l;
          break;
        }
        found ??= l;
        next.push(i);
        if (isOpaque(l.xattrs)) break;
      }
      if (!found) return null;
      if (c === parts.length - 1) return found;
      if (!found.st.isDirectory()) return null;
      active = next;
    }
    return null;
  };

  // 3. Classify.
  const out: ChangeSet = { added: [], modified: [], metadata: [], deleted: [], opaque: [], databases: [], skipped: [] };
  const hidden: string[] = []; // opaque upper directories: nothing below them comes from a lower layer
  const isHidden = (path: string): boolean => hidden.some((h) => path.startsWith(`${h}/`));
  for (const n of nodes) {
    for (const bad of ['redirect', 'metacopy']) {
      if (n.xattrs[`${OVERLAY_PREFIX}${bad}`] !== undefined) {
        throw new FailedPrecondition(`${n.host} carries the overlay ${bad} attribute: mount the scratch overlay with redirect_dir=off,metacopy=off (Strata's default) and capture again`);
      }
    }
    const lower = isHidden(n.path) ? null : resolve(n.path);
    if (isWhiteout(n.st, n.xattrs)) {
      if (!lower) continue;
      if (rules.has(n.path)) out.skipped.push({ path: n.path, reason: `the installer deleted ${n.path}, a merged database; deleting it is not captured` });
      else out.deleted.push(n.path);
      continue;
    }
    const type = typeOf(n.st);
    const rule = rules.get(n.path);
    if (rule) {
      if (type !== 'file') {
        out.skipped.push({ path: n.path, reason: `${n.path} is a merged database but ${type === null ? kindName(n.st) : `a ${type}`} in the upper layer: only regular files are merged` });
        continue;
      }
      const before = lower?.st.isFile() ? await fsp.readFile(lower.host, 'utf8') : null;
      const after = await fsp.readFile(n.host, 'utf8');
      if (before !== after) out.databases.push({ file: n.path, before, after });
      if (lower?.st.isFile()) {
        const entry = await toEntry(n, idShift);
        if (!sameMetadata(entry, lower, lowerIdShift)) out.skipped.push({ path: n.path, reason: `the mode, owner or xattrs of ${n.path} changed; a merged database's metadata is not captured` });
      }
      continue;
    }
    if (type === null) {
      out.skipped.push({ path: n.path, reason: `${kindName(n.st)} is not captured` });
      continue;
    }
    const entry = await toEntry(n, idShift);
    if (type === 'dir' && isOpaque(n.xattrs)) hidden.push(n.path);
    if (!lower) {
      out.added.push(entry);
      continue;
    }
    if (type === 'dir' && isOpaque(n.xattrs) && lower.st.isDirectory()) out.opaque.push(n.path);
    if (typeOf(lower.st) !== type) {
      out.modified.push(entry);
      continue;
    }
    if (type === 'file' && !(n.st.size === lower.st.size && (await sameContent(n.host, lower.host, n.st.size)))) {
      out.modified.push(entry);
      continue;
    }
    if (type === 'symlink' && entry.target !== (await fsp.readlink(lower.host))) {
      out.modified.push(entry);
      continue;
    }
    if (!sameMetadata(entry, lower, lowerIdShift)) out.metadata.push(entry);
  }
  return out;
}

async function toEntry(n: Node, idShift: number): Promise<Entry> {
  const type = typeOf(n.st)!;
  const entry: Entry = {
    path: n.path,
    type,
    mode: n.st.mode & 0o7777,
    uid: shifted('uid', n.host, n.st.uid, idShift),
    gid: shifted('gid', n.host, n.st.gid, idShift),
    size: type === 'file' ? n.st.size : 0,
  };
  if (type === 'symlink') {
    entry.target = await fsp.readlink(n.host);
    entry.size = Buffer.byteLength(entry.target);
  }
  const x = ownXattrs(n.xattrs);
  const cap = x?.['security.capability'];
  if (x && cap) {
    // The installer set it as the scratch container's root: the kernel stored it for that namespace.
    const neutral = neutralCapability(Buffer.from(cap, 'base64'), idShift);
    if (!neutral) throw new FailedPrecondition(`${n.path} carries a file capability that is not the scratch container's own (set in a nested user namespace, or malformed): set it as the container's root and capture again`);
    x['security.capability'] = neutral.toString('base64');
  }
  if (x) entry.xattrs = x;
  return entry;
}

function sameMetadata(entry: Entry, lower: Lower, lowerIdShift: number): boolean {
  const modeMatters = entry.type !== 'symlink';
  return (
    (!modeMatters || entry.mode === (lower.st.mode & 0o7777)) &&
    entry.uid === lower.st.uid - lowerIdShift &&
    entry.gid === lower.st.gid - lowerIdShift &&
    sameXattrs(entry.xattrs, ownXattrs(lower.xattrs))
  );
}
