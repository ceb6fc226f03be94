/**
 * Template trees made of hardlinks into the content store. `ingestTree` turns an ordinary
 * directory tree (a debootstrap result, an extracted archive) into a tree whose every regular
 * file is a hardlink to a store object, so that all templates holding the same file share one
 * inode on disk and in the page cache. `treeDf` measures what that sharing saves.
 *
 * Directories and symlinks are recreated in the tree (they are small and cannot be
 * hardlinked). Device nodes, FIFOs and sockets are skipped and listed in the result: a template
 * never needs them (the runtime gives each container its own /dev, and programs recreate their
 * FIFOs and sockets at run time; debootstrap leaves device nodes in /dev only).
 *
 * A tree made here is read-only by convention: writing through one of its files would change
 * the shared object for every template and container (see objects.ts).
 */
import { constants as fsc } from 'node:fs';
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { FailedPrecondition, Internal, InvalidArgument, NotFound, StrataError } from '../errors/index.js';
import { utimeOf, type Xattrs } from './digest.js';
import { ContentStore, crossDevice, keptXattrs } from './objects.js';

export interface IngestTreeResult {
  files: number;
  dirs: number;
  symlinks: number;
  /** Distinct objects the tree's files are. */
  objects: number;
  /** Sum of the sizes of the tree's regular files, as each path sees them. */
  logicalBytes: number;
  /** Bytes of the objects this ingest added to the store (the rest was there already). */
  newBytes: number;
  /** Paths (relative) of the device nodes, FIFOs and sockets left out; at most 1000 are listed. */
  skipped: string[];
  skippedCount: number;
}

export type TreeProgress = (progress: { files: number; bytes: number; path: string }) => void;

export interface TreeUsage {
  /** Regular file paths in the trees. */
  files: number;
  /** Sum of their sizes, each path counted: what a copy of every tree would take. */
  logicalBytes: number;
  /** Distinct inodes among those paths. */
  inodes: number;
  /** Sum of the sizes of the distinct inodes: what the trees take, sharing counted once. */
  storedBytes: number;
  /** Blocks of the distinct inodes. */
  allocatedBytes: number;
}

interface DirMeta {
  path: string;
  mode: number;
  uid: number;
  gid: number;
  atime: Date;
  mtime: Date;
  xattrs: Xattrs;
}

const MAX_LISTED = 1000;

/**
 * Recreates the tree `srcDir` at `destDir` as a tree of hardlinks into `store`. `destDir` must
 * not exist (its parent must) or be an empty directory, on the store's file system. Never
 * follows a symlink in srcDir. On failure destDir is removed; objects already stored stay
 * until gc, which collects them (nothing links to them).
 */
export async function ingestTree(
  srcDir: string,
  destDir: string,
  store: ContentStore,
  onProgress?: TreeProgress,
): Promise<IngestTreeResult> {
  const root = await fs.lstat(srcDir).catch(() => undefined);
  if (!root) throw new NotFound(`cannot store the tree ${srcDir}: it does not exist`);
  if (!root.isDirectory()) throw new InvalidArgument(`cannot store the tree ${srcDir}: it is not a directory`);
  await prepareDestination(destDir, store);
  try {
    return await store.hold(() => copyTree(srcDir, destDir, store, onProgress));
  } catch (err) {
    await fs.rm(destDir, { recursive: true, force: true });
    if (err instanceof StrataError) throw err;
    throw new Internal(`cannot store the tree ${srcDir} at ${destDir}: ${(err as Error).message}`, { cause: err });
  }
}

async function copyTree(srcDir: string, destDir: string, store: ContentStore, onProgress?: TreeProgress): Promise<IngestTreeResult> {
  const result: IngestTreeResult = { files: 0, dirs: 0, symlinks: 0, objects: 0, logicalBytes: 0, newBytes: 0, skipped: [], skippedCount: 0 };
  const xattrs = await store.xattrs.readTree(srcDir);
  const xattrsOf = (rel: string): Xattrs => keptXattrs(xattrs.get(rel === '' ? srcDir : join(srcDir, rel)) ?? {}, join(srcDir, rel));
  /** Source inodes already stored (hardlinks in the source): dev:ino → object digest. */
  const seen = new Map<string, string>();
  const objects = new Set<string>();
  const rootStat = await fs.lstat(srcDir);
  const dirs: DirMeta[] = [{ path: '', ...metaOf(rootStat), xattrs: xattrsOf('') }];
  const pending = [''];
  for (let dir = pending.pop(); dir !== undefined; dir = pending.pop()) {
    for (const name of await readNames(join(srcDir, dir))) {
      const rel = dir === '' ? name : `${dir}/${name}`;
      const src = join(srcDir, rel);
      const dest = join(destDir, rel);
      const stat = await fs.lstat(src);
      if (stat.isDirectory()) {
        await fs.mkdir(dest, 0o700);
        dirs.push({ path: rel, ...metaOf(stat), xattrs: xattrsOf(rel) });
        pending.push(rel);
        result.dirs++;
      } else if (stat.isSymbolicLink()) {
        const target = await fs.readlink(src, { encoding: 'buffer' });
        if (target.toString('utf8') !== '' && !Buffer.from(target.toString('utf8')).equals(target)) {
          throw new InvalidArgument(`cannot store ${src}: its symlink target is not valid UTF-8`);
        }
        await fs.symlink(target, dest);
        await fs.lchown(dest, stat.uid, stat.gid);
        await fs.lutimes(dest, utimeOf(Math.floor(stat.atimeMs)), utimeOf(Math.floor(stat.mtimeMs)));
        result.symlinks++;
      } else if (stat.isFile()) {
        const key = `${stat.dev}:${stat.ino}`;
        let digest = seen.get(key);
        if (digest === undefined) {
          const stored = await store.ingestFile(src, { mode: stat.mode & 0o7777, uid: stat.uid, gid: stat.gid, xattrs: xattrsOf(rel), mtime: new Date(Math.floor(stat.mtimeMs)) });
          digest = stored.digest;
          seen.set(key, digest);
          if (stored.created) result.newBytes += stored.size;
        }
        objects.add(digest);
        await store.linkInto(digest, dest);
        result.files++;
        result.logicalBytes += stat.size;
        onProgress?.({ files: result.files, bytes: result.logicalBytes, path: rel });
      } else {
        result.skippedCount++;
        if (result.skipped.length < MAX_LISTED) result.skipped.push(rel);
      }
    }
  }
  result.objects = objects.size;
  // Deepest first, so that creating entries does not change a directory's mtime afterwards.
  dirs.sort((a, b) => depth(b.path) - depth(a.path));
  for (const meta of dirs) await applyDirMeta(join(destDir, meta.path), meta, store);
  return result;
}

/** Directory metadata through a handle that never follows a symlink; owner before mode. */
async function applyDirMeta(path: string, meta: Omit<DirMeta, 'path'>, store: ContentStore): Promise<void> {
  const handle = await fs.open(path, fsc.O_RDONLY | fsc.O_DIRECTORY | fsc.O_NOFOLLOW);
  try {
    await handle.chown(meta.uid, meta.gid);
    await handle.chmod(meta.mode);
    if (Object.keys(meta.xattrs).length > 0) await store.xattrs.write(path, meta.xattrs);
    await handle.utimes(utimeOf(meta.atime.getTime()), utimeOf(meta.mtime.getTime()));
  } finally {
    await handle.close();
  }
}

function metaOf(stat: import('node:fs').Stats): Omit<DirMeta, 'path' | 'xattrs'> {
  return { mode: stat.mode & 0o7777, uid: stat.uid, gid: stat.gid, atime: new Date(Math.floor(stat.atimeMs)), mtime: new Date(Math.floor(stat.mtimeMs)) };
}

/** The names in a directory; a name that is not valid UTF-8 is refused (paths are strings everywhere). */
async function readNames(dir: string): Promise<string[]> {
  const names: string[] = [];
  for (const raw of await fs.readdir(dir, { encoding: 'buffer' })) {
    const name = raw.toString('utf8');
    if (!Buffer.from(name).equals(raw)) throw new InvalidArgument(`cannot store ${dir}/${name}: its name is not valid UTF-8; rename it`);
    names.push(name);
  }
  return names.sort();
}

function depth(path: string): number {
  return path === '' ? 0 : path.split('/').length;
}

/**
 * Checks that `destDir` can become a tree of links into `store`: absent (then created, mode
 * 0700 until the source root's metadata is applied) or empty, and on the store's file system.
 */
export async function prepareDestination(destDir: string, store: ContentStore): Promise<void> {
  const stat = await fs.lstat(destDir).catch(() => undefined);
  if (stat === undefined) {
    try {
      await fs.mkdir(destDir, 0o700);
    } catch (err) {
      throw new FailedPrecondition(`cannot create the tree ${destDir}: ${(err as Error).message}; its parent must exist`, { cause: err });
    }
  } else if (!stat.isDirectory()) {
    throw new FailedPrecondition(`${destDir} is not a directory: give a fresh path for the tree`);
  } else if ((await fs.readdir(destDir)).length > 0) {
    throw new FailedPrecondition(`${destDir} is not empty: give a fresh path for the tree`);
  }
  if ((await fs.stat(destDir)).dev !== (await store.device())) {
    await fs.rm(destDir, { recursive: true, force: true }).catch(() => undefined);
    throw crossDevice(store.dir, destDir);
  }
}

/** Logical size of the trees (every path counted) versus stored size (every inode counted once). */
export async function treeDf(dirs: string[]): Promise<TreeUsage> {
  const usage: TreeUsage = { files: 0, logicalBytes: 0, inodes: 0, storedBytes: 0, allocatedBytes: 0 };
  const inodes = new Set<string>();
  for (const top of dirs) {
    const pending = [top];
    for (let dir = pending.pop(); dir !== undefined; dir = pending.pop()) {
      for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) {
          pending.push(path);
          continue;
        }
        if (!entry.isFile()) continue;
        const stat = await fs.lstat(path);
        usage.files++;
        usage.logicalBytes += stat.size;
        const key = `${stat.dev}:${stat.ino}`;
        if (inodes.has(key)) continue;
        inodes.add(key);
        usage.inodes++;
        usage.storedBytes += stat.size;
        usage.allocatedBytes += stat.blocks * 512;
      }
    }
  }
  return usage;
}
