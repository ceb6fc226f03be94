/**
 * Paths resolved inside a root directory as chroot (or openat2 with RESOLVE_IN_ROOT) would: component
 * by component, each directory opened with O_NOFOLLOW relative to the one before it (through
 * `/proc/self/fd/N/NAME`, which jumps to the open directory instead of walking its path again), an
 * absolute symlink target restarting at the root and `..` stopping there. Nothing a process inside
 * the root renames or links meanwhile can lead a step outside it: a directory swapped for a symlink
 * between two steps fails O_NOFOLLOW instead of being followed.
 *
 * What it is not: a sandbox for what the caller does with the result. Callers create, open, rename
 * and remove only through `at(dir, name)` of a resolved directory, never through a joined path.
 */
import { constants as fsc, promises as fsp, type Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { FailedPrecondition, InvalidArgument, NotFound } from '../errors/index.js';

/** The same limit as the kernel's (MAXSYMLINKS). */
const MAX_SYMLINKS = 40;

const DIR_FLAGS = fsc.O_RDONLY | fsc.O_DIRECTORY | fsc.O_NOFOLLOW;

/** The path that names `name` in the open directory `dir` without walking the directory's path again. */
export function at(dir: FileHandle, name?: string): string {
  return name === undefined ? `/proc/self/fd/${dir.fd}` : `/proc/self/fd/${dir.fd}/${name}`;
}

/** Opens directory `name` of `dir`, refusing a symlink there (ELOOP) or anything else that is not a directory. */
export function openDirAt(dir: FileHandle, name: string): Promise<FileHandle> {
  return fsp.open(at(dir, name), DIR_FLAGS);
}

/** Whether `err` is the errno `code`. */
export const isErrno = (err: unknown, code: string): boolean => (err as NodeJS.ErrnoException | null)?.code === code;

/** Where a path led: the directory holding its last component, that component (null: the root itself) and what is there (null: nothing). */
export interface Resolved {
  dir: FileHandle;
  name: string | null;
  stat: Stats | null;
  /** Closes every directory the walk opened. */
  close(): Promise<void>;
}

export interface ResolveOptions {
  /** Follow a symlink at the last component too (a trailing `/` always does). Default: no. */
  followLast?: boolean;
  /** How messages name the root ("container web1", "this host"). */
  where?: string;
}

/**
 * Resolves `path` inside `root` (a trusted host directory). Intermediate symlinks are followed
 * inside the root; the last component is not, unless asked (or the path ends in `/`, which also
 * requires a directory). A missing last component is answered with `stat: null`; a missing or
 * non-directory intermediate one is NotFound / FailedPrecondition.
 */
export async function resolveInRoot(root: string, path: string, opts: ResolveOptions = {}): Promise<Resolved> {
  const where = opts.where ?? root;
  if (!path.startsWith('/')) throw new InvalidArgument(`${JSON.stringify(path)} is not an absolute path: give the path in ${where} from its root, as /dir/file`);
  if (path.includes('\0')) throw new InvalidArgument(`the path ${JSON.stringify(path)} holds a NUL byte`);
  const trailingSlash = /\/\.?$/.test(path) && path !== '/';
  const followLast = !!opts.followLast || trailingSlash;
  const stack: FileHandle[] = [await fsp.open(root, DIR_FLAGS)];
  const close = async (): Promise<void> => { for (const h of stack.splice(0)) await h.close().catch(() => undefined); };
  const top = (): FileHandle => stack[stack.length - 1];
  const todo = path.split('/');
  let links = 0;
  try {
    for (;;) {
      while (todo.length && (todo[0] === '' || todo[0] === '.')) todo.shift();
      if (!todo.length) return { dir: top(), name: null, stat: await top().stat(), close };
      const name = todo.shift()!;
      if (name === '..') {
        if (stack.length > 1) await stack.pop()!.close();
        continue;
      }
      const last = todo.every((c) => c === '' || c === '.');
      let stat: Stats | null = null;
      try {
        stat = await fsp.lstat(at(top(), name));
      } catch (err) {
        if (!isErrno(err, 'ENOENT')) throw err;
      }
      if (stat === null) {
        if (last && !trailingSlash) return { dir: top(), name, stat: null, close };
        throw new NotFound(`${path} does not exist in ${where}: ${last ? 'no such directory' : `its directory ${name} is not there`}`);
      }
      if (stat.isSymbolicLink() && (!last || followLast)) {
        if (++links > MAX_SYMLINKS) throw new InvalidArgument(`${path} in ${where} goes through more than ${MAX_SYMLINKS} symlinks (a loop?)`);
        const target = await fsp.readlink(at(top(), name));
        if (target.startsWith('/')) while (stack.length > 1) await stack.pop()!.close();
        todo.unshift(...target.split('/'));
        continue;
      }
      if (last && !trailingSlash) return { dir: top(), name, stat, close };
      if (!stat.isDirectory()) throw new FailedPrecondition(`${path} in ${where} is not a directory: ${name} is a ${kindOf(stat)}`);
      if (last) return { dir: top(), name, stat, close };
      stack.push(await openDirStep(top(), name, path, where));
    }
  } catch (err) {
    await close();
    throw err;
  }
}

async function openDirStep(dir: FileHandle, name: string, path: string, where: string): Promise<FileHandle> {
  try {
    return await openDirAt(dir, name);
  } catch (err) {
    if (isErrno(err, 'ELOOP') || isErrno(err, 'ENOTDIR') || isErrno(err, 'ENOENT')) {
      throw new FailedPrecondition(`${path} in ${where} changed while it was being resolved (${name} was replaced): try again`);
    }
    throw err;
  }
}

/** A file's type in words, for messages. */
export function kindOf(stat: Stats): string {
  if (stat.isFile()) return 'file';
  if (stat.isDirectory()) return 'directory';
  if (stat.isSymbolicLink()) return 'symlink';
  if (stat.isFIFO()) return 'FIFO';
  if (stat.isSocket()) return 'socket';
  return 'device';
}

/**
 * Removes `name` of `dir` and, when it is a directory, everything below it, never following a
 * symlink: each directory is opened with O_NOFOLLOW before its entries are removed through it.
 */
export async function removeAt(dir: FileHandle, name: string): Promise<void> {
  let stat: Stats;
  try {
    stat = await fsp.lstat(at(dir, name));
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return;
    throw err;
  }
  if (!stat.isDirectory()) {
    await fsp.unlink(at(dir, name)).catch((err: unknown) => { if (!isErrno(err, 'ENOENT')) throw err; });
    return;
  }
  const sub = await openDirAt(dir, name);
  try {
    for (const child of await fsp.readdir(at(sub))) await removeAt(sub, child);
  } finally {
    await sub.close();
  }
  await fsp.rmdir(at(dir, name));
}
