/**
 * File work of attach and detach on a container's disk, done as host root in directories the
 * container controls. Nothing here follows a symlink: every path inside a container is walked
 * component by component with lstat, and a path through a symlink is skipped or refused, so a
 * container cannot redirect a write to the host.
 *
 * - DbFiles of a stopped container (read its private area, else the OS template below; write
 *   into its private area with the owner the file had) and of a running one (its merged root).
 * - copyThrough: a running attach. The template's files are copied into the merged root where
 *   the container has no entry of its own, with the container's ids.
 * - restoreShared: at the next start, those copies (still identical to the template's files)
 *   leave the private area again, so the template's layer serves them, shared.
 * - writeWhiteouts: the overlay form of a template's deletions and opaque directories.
 */
import { randomBytes } from 'node:crypto';
import { constants as fsc, promises as fsp, type Stats } from 'node:fs';
import { dirname, join } from 'node:path';
import { FailedPrecondition, Internal } from '../../errors/index.js';
import { run } from '../../util/exec.js';
import { namespacedCapability, type XattrIO, type Xattrs } from '../../store/index.js';
import { mapIds } from '../merge/index.js';
import type { DbFiles } from './databases.js';

/** lstat of `root`/`rel` when no component below root is a symlink or a non-directory; null when absent; 'unsafe' otherwise. */
export async function lstatInside(root: string, rel: string): Promise<Stats | null | 'unsafe'> {
  const parts = rel.split('/').filter(Boolean);
  let path = root;
  for (let i = 0; i < parts.length; i++) {
    path = join(path, parts[i]);
    let st: Stats;
    try {
      st = await fsp.lstat(path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return null;
      if (code === 'ENOTDIR') return 'unsafe';
      throw err;
    }
    if (i === parts.length - 1) return st;
    if (!st.isDirectory()) return 'unsafe';
  }
  return fsp.lstat(root);
}

async function readRegular(root: string, rel: string): Promise<{ text: string; st: Stats } | null> {
  const st = await lstatInside(root, rel);
  if (st === null) return null;
  if (st === 'unsafe' || !st.isFile()) {
    throw new FailedPrecondition(`${rel} in the container is not a regular file (or lies below a symlink), so its entries cannot be merged: make it a plain file again, or leave the template's users and packages out`);
  }
  const fh = await fsp.open(join(root, rel), fsc.O_RDONLY | fsc.O_NOFOLLOW);
  try {
    return { text: await fh.readFile('utf8'), st };
  } finally {
    await fh.close();
  }
}

/** Writes `text` at root/rel by rename, with the given owner and mode. */
async function replaceFile(root: string, rel: string, text: string, uid: number, gid: number, mode: number): Promise<void> {
  const target = join(root, rel);
  const tmp = join(dirname(target), `.strata-${randomBytes(4).toString('hex')}`);
  const fh = await fsp.open(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o600);
  try {
    await fh.writeFile(text);
    await fh.chown(uid, gid);
    await fh.chmod(mode);
  } catch (err) {
    await fh.close();
    await fsp.unlink(tmp).catch(() => undefined);
    throw err;
  }
  await fh.close();
  await fsp.rename(tmp, target);
}

/**
 * The databases of a stopped, unmounted container: its private area (`upper`) over `lower` (the
 * OS template, real ids on disk). Application layers never hold these files: their records
 * are merged into the private area instead.
 */
export function upperDbFiles(upper: string, lower: string, hostBase: number): DbFiles {
  return {
    async read(path) {
      const own = await readRegular(upper, path);
      if (own) return own.text;
      if ((await lstatInside(upper, path)) !== null) return null; // a whiteout: the container deleted it
      return (await readRegular(lower, path))?.text ?? null;
    },
    async write(path, text) {
      const own = await lstatInside(upper, path);
      if (own === 'unsafe') throw new FailedPrecondition(`${path} in the container lies below a symlink: cannot merge into it`);
      // Parent directories copied up as overlayfs would: same mode and owner as below.
      const parts = path.split('/').filter(Boolean).slice(0, -1);
      for (let i = 1; i <= parts.length; i++) {
        const rel = parts.slice(0, i).join('/');
        const st = await lstatInside(upper, rel);
        if (st !== null) continue;
        const below = await lstatInside(lower, rel);
        const meta = below && below !== 'unsafe' && below.isDirectory() ? below : null;
        await fsp.mkdir(join(upper, rel), { mode: 0o755 });
        await fsp.chown(join(upper, rel), hostBase + (meta?.uid ?? 0), hostBase + (meta?.gid ?? 0));
        await fsp.chmod(join(upper, rel), meta ? meta.mode & 0o7777 : 0o755);
      }
      if (own && own.isFile()) return replaceFile(upper, path, text, own.uid, own.gid, own.mode & 0o7777);
      if (own) await fsp.rm(join(upper, path), { force: true }); // a whiteout
      const below = await lstatInside(lower, path);
      const meta = below && below !== 'unsafe' && below.isFile() ? below : null;
      await replaceFile(upper, path, text, hostBase + (meta?.uid ?? 0), hostBase + (meta?.gid ?? 0), meta ? meta.mode & 0o7777 : 0o644);
    },
  };
}

/** The databases of a running container, through its merged root. */
export function mergedDbFiles(rootfs: string, hostBase: number): DbFiles {
  return {
    async read(path) {
      return (await readRegular(rootfs, path))?.text ?? null;
    },
    async write(path, text) {
      // A database of a package the template brings (/var/lib/ucf/registry) may be the first
      // file of its directory: missing parents are made, root's, as a package would.
      const parts = dirname(path).split('/').filter(Boolean);
      for (let i = 1; i <= parts.length; i++) {
        const rel = parts.slice(0, i).join('/');
        const st = await lstatInside(rootfs, rel);
        if (st === null) {
          await fsp.mkdir(join(rootfs, rel), { mode: 0o755 });
          await fsp.chown(join(rootfs, rel), hostBase, hostBase);
        } else if (st === 'unsafe' || !st.isDirectory()) {
          throw new FailedPrecondition(`${rel} in the container is not a directory (or lies below a symlink): cannot write ${path}`);
        }
      }
      const own = await lstatInside(rootfs, path);
      const meta = own && own !== 'unsafe' && own.isFile() ? own : null;
      await replaceFile(rootfs, path, text, meta?.uid ?? hostBase, meta?.gid ?? hostBase, meta ? meta.mode & 0o7777 : 0o644);
    },
  };
}

export interface IdShift {
  hostBase: number;
  uidMap: ReadonlyMap<number, number>;
  gidMap: ReadonlyMap<number, number>;
}

/** The host owner of a template file of (uid, gid) in the container: its id remap (mapIds), then the shift. */
function hostOwner(s: IdShift, uid: number, gid: number): { uid: number; gid: number } {
  const ids = mapIds(uid, gid, s);
  return { uid: s.hostBase + ids.uid, gid: s.hostBase + ids.gid };
}

export interface CopyResult {
  files: number;
  bytes: number;
  /** Paths the container has its own entry at (its value wins) or that lie below a symlink. */
  kept: string[];
}

/** Every path of a tree, parents first, relative without a leading slash. */
async function walkTree(tree: string): Promise<Array<{ rel: string; st: Stats }>> {
  const out: Array<{ rel: string; st: Stats }> = [];
  const walk = async (rel: string): Promise<void> => {
    for (const name of (await fsp.readdir(rel ? join(tree, rel) : tree)).sort()) {
      const child = rel ? `${rel}/${name}` : name;
      const st = await fsp.lstat(join(tree, child));
      out.push({ rel: child, st });
      if (st.isDirectory()) await walk(child);
    }
  };
  await walk('');
  return out;
}

/**
 * The write-ahead record of a running attach's copy: each path is recorded before it is made, so
 * that a copy a killed daemon left half-done is undone at its next start (undoCopy). A file that
 * the layer below had at a path goes aside as PATH.strata-attach-ID until the copy is complete.
 */
export interface CopyJournal {
  id: string;
  /** `replaced`: the layer below has a file there, which goes aside first. */
  record(rel: string, how: 'made' | 'replaced'): Promise<void>;
}

/** A failure point for tests: copyThrough fails after this many files (0: never). */
const FAULT_AFTER = Number(process.env.STRATA_FAULT_COPY_AFTER ?? 0);
/** A failure point for tests: copyThrough stops for good after this many files, as if the daemon hung (0: never). */
const STALL_AFTER = Number(process.env.STRATA_FAULT_COPY_STALL_AFTER ?? 0);

/**
 * A running attach: the template's deletions, then its files, written into the running
 * container's merged root `rootfs` wherever its private area `upper` has no entry of its own.
 */
export async function copyThrough(
  tree: string, rootfs: string, upper: string, shift: IdShift, deletions: string[], opaqueDirs: string[], xattrs: XattrIO,
  progress?: (done: number, total: number) => void, journal?: CopyJournal,
): Promise<CopyResult> {
  const asideSuffix = `.strata-attach-${journal?.id ?? randomBytes(4).toString('hex')}`;
  const result: CopyResult = { files: 0, bytes: 0, kept: [] };
  for (const path of [...deletions, ...opaqueDirs]) {
    const rel = path.replace(/^\/+/, '');
    if ((await lstatInside(upper, rel)) !== null) { result.kept.push(`/${rel}`); continue; }
    const st = await lstatInside(rootfs, rel);
    if (st === null || st === 'unsafe') continue;
    if (deletions.includes(path)) await fsp.rm(join(rootfs, rel), { recursive: true, force: true });
    else if (st.isDirectory()) for (const name of await fsp.readdir(join(rootfs, rel))) await fsp.rm(join(rootfs, rel, name), { recursive: true, force: true });
  }
  const entries = await walkTree(tree);
  const skipBelow: string[] = [];
  let done = 0;
  // What this copy made, to take out again (newest first) when it cannot complete: no space,
  // no inodes, a client gone. The deletions above are the template's and stay.
  const made: string[] = [];
  const replaced: Array<[string, string]> = [];
  try {
    for (const { rel, st } of entries) {
      done++;
      if (done % 500 === 0) progress?.(done, entries.length);
      if (skipBelow.some((p) => rel.startsWith(`${p}/`))) continue;
      const mine = await lstatInside(upper, rel);
      const there = await lstatInside(rootfs, rel);
      if (mine === 'unsafe' || there === 'unsafe') { result.kept.push(`/${rel}`); skipBelow.push(rel); continue; }
      const target = join(rootfs, rel);
      if (st.isDirectory()) {
        if (there?.isDirectory()) continue;
        if (mine) { result.kept.push(`/${rel}`); skipBelow.push(rel); continue; }
        await journal?.record(rel, 'made');
        if (there) await fsp.rm(target, { recursive: true, force: true });
        await fsp.mkdir(target);
        made.push(target);
        const owner = hostOwner(shift, st.uid, st.gid);
        await fsp.chown(target, owner.uid, owner.gid);
        await fsp.chmod(target, st.mode & 0o7777);
        continue;
      }
      if (mine) { result.kept.push(`/${rel}`); continue; }
      await journal?.record(rel, there && !there.isDirectory() ? 'replaced' : 'made');
      if (there?.isDirectory()) await fsp.rm(target, { recursive: true, force: true });
      else if (there) {
        // The layer below has another file here: kept aside until the copy is complete.
        const aside = `${target}${asideSuffix}`;
        await fsp.rename(target, aside);
        replaced.push([target, aside]);
      }
      const owner = hostOwner(shift, st.uid, st.gid);
      if (st.isSymbolicLink()) {
        await fsp.symlink(await fsp.readlink(join(tree, rel)), target);
        made.push(target);
        await fsp.lchown(target, owner.uid, owner.gid);
      } else if (st.isFile()) {
        made.push(target);
        await fsp.copyFile(join(tree, rel), target, fsc.COPYFILE_EXCL);
        await fsp.chown(target, owner.uid, owner.gid);
        await fsp.chmod(target, st.mode & 0o7777);
        const x: Xattrs = await xattrs.read(join(tree, rel)).catch(() => ({}));
        const cap = x['security.capability'];
        // The copy's capability is its container root's, not the host's (docs/security.md).
        if (cap && shift.hostBase !== 0) {
          const own = namespacedCapability(cap, shift.hostBase);
          if (own) x['security.capability'] = own;
          else delete x['security.capability'];
        }
        if (Object.keys(x).length) await xattrs.write(target, x);
        await fsp.utimes(target, st.atime, st.mtime);
        result.files++;
        result.bytes += st.size;
        if (result.files === FAULT_AFTER) throw new Internal(`a fault injected after ${FAULT_AFTER} files (STRATA_FAULT_COPY_AFTER, for tests)`);
        if (result.files === STALL_AFTER) await new Promise(() => undefined);
      }
    }
  } catch (err) {
    for (const path of made.reverse()) await fsp.rm(path, { recursive: true, force: true }).catch(() => undefined);
    for (const [target, aside] of replaced.reverse()) await fsp.rename(aside, target).catch(() => undefined);
    throw err;
  }
  for (const [, aside] of replaced) await fsp.rm(aside, { force: true });
  return result;
}

/**
 * Undoes what a copy recorded in its journal (in the order recorded) left below `root` (the
 * merged root of a running container, or the private area of a stopped one), newest first: a
 * replaced file kept aside goes back; a made file, link or empty directory of the template's
 * type goes. Returns how many paths were undone.
 */
export async function undoCopy(tree: string, root: string, id: string, records: Array<{ rel: string; how: 'made' | 'replaced' }>): Promise<number> {
  let undone = 0;
  for (const { rel, how } of [...records].reverse()) {
    const template = await fsp.lstat(join(tree, rel)).catch(() => null);
    const there = await lstatInside(root, rel);
    if (there === 'unsafe' || !template) continue;
    if (how === 'replaced') {
      // Not aside yet: the layer's file is still in place, nothing to undo.
      const aside = await lstatInside(root, `${rel}.strata-attach-${id}`);
      if (!aside || aside === 'unsafe') continue;
      if (there) await fsp.rm(join(root, rel), { recursive: true, force: true });
      await fsp.rename(join(root, `${rel}.strata-attach-${id}`), join(root, rel));
      undone++;
    } else if (there?.isDirectory() && template.isDirectory()) {
      if (await fsp.rmdir(join(root, rel)).then(() => true, () => false)) undone++;
    } else if (there && ((there.isFile() && template.isFile()) || (there.isSymbolicLink() && template.isSymbolicLink()))) {
      await fsp.unlink(join(root, rel));
      undone++;
    }
  }
  return undone;
}

/**
 * At the start after a running attach: each copy in the private area `upper` that is still what
 * copyThrough wrote (type, size, mtime, mode, owner, symlink target) is removed, so that the
 * template's layer serves the path again, shared. What the container changed stays.
 * Returns how many copies were removed.
 */
export async function restoreShared(tree: string, upper: string, shift: IdShift): Promise<number> {
  let removed = 0;
  const entries = await walkTree(tree);
  for (const { rel, st } of entries) {
    if (st.isDirectory()) continue;
    const mine = await lstatInside(upper, rel);
    if (!mine || mine === 'unsafe') continue;
    const owner = hostOwner(shift, st.uid, st.gid);
    const sameOwner = mine.uid === owner.uid && mine.gid === owner.gid;
    if (st.isSymbolicLink()) {
      if (mine.isSymbolicLink() && sameOwner && (await fsp.readlink(join(upper, rel))) === (await fsp.readlink(join(tree, rel)))) {
        await fsp.unlink(join(upper, rel));
        removed++;
      }
    } else if (mine.isFile() && sameOwner && mine.size === st.size && Math.abs(mine.mtimeMs - st.mtimeMs) < 1 && (mine.mode & 0o7777) === (st.mode & 0o7777)) {
      await fsp.unlink(join(upper, rel));
      removed++;
    }
  }
  // Directories copyThrough made that are empty now: the layer has them.
  for (const { rel, st } of entries.reverse()) {
    if (!st.isDirectory()) continue;
    const mine = await lstatInside(upper, rel);
    if (!mine || mine === 'unsafe' || !mine.isDirectory()) continue;
    if (mine.uid !== hostOwner(shift, st.uid, st.gid).uid || (mine.mode & 0o7777) !== (st.mode & 0o7777)) continue;
    if ((await fsp.readdir(join(upper, rel))).length === 0) await fsp.rmdir(join(upper, rel)).catch(() => undefined);
  }
  return removed;
}

/**
 * The overlay form of deletions and opaque directories, as a layer directly below the
 * template's tree: a whiteout (character device 0:0) per deleted path and an opaque directory
 * per opaque path. Its directories are hidden by the tree's (which holds every parent).
 */
export async function writeWhiteouts(dir: string, deletions: string[], opaqueDirs: string[]): Promise<void> {
  await fsp.mkdir(dir, { recursive: true, mode: 0o755 });
  for (const path of deletions) {
    const target = join(dir, path);
    await fsp.mkdir(dirname(target), { recursive: true, mode: 0o755 });
    await run(['mknod', target, 'c', '0', '0'], { context: `recording the deletion of ${path}` });
  }
  for (const path of opaqueDirs) {
    const target = join(dir, path);
    await fsp.mkdir(target, { recursive: true, mode: 0o755 });
    await run(['setfattr', '-n', 'trusted.overlay.opaque', '-v', 'y', target], { context: `marking ${path} opaque` });
  }
}
