/**
 * Files in and out of a root directory as a tar stream, as `strata cp` moves them (the daemon in a
 * container's root, the CLI on its own host, root `/`). Every path is resolved with inroot.ts and
 * every file is made or opened through its directory's descriptor, never through a joined path:
 * a symlink in the root, or one the archive itself carries, is never written or read through.
 *
 *   const { stream } = await packPath(root, '/etc', { where });       // a tar whose one top entry is `etc`
 *   await extractTo(root, '/srv/etc2', stream, { where, ids });      // a new /srv/etc2, or into an existing directory
 *
 * What it is not: a general tar tool. Only files, directories, symlinks and hardlinks to files of
 * the same archive are written; devices, FIFOs and sockets are skipped when packing and refused
 * when extracting. Contents stream: no file is held whole in memory.
 */
import { randomBytes } from 'node:crypto';
import { constants as fsc, promises as fsp, type Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { extract as tarExtract, pack as tarPack, type Header, type Pack } from 'tar-stream';
import { Conflict, InvalidArgument, NotFound } from '../errors/index.js';
import { at, isErrno, kindOf, openDirAt, removeAt, resolveInRoot } from './inroot.js';

const CHUNK = 256 * 1024;

/** Maps the owner of a file on one side to its owner on the other. */
export type IdMapper = (uid: number, gid: number) => [number, number];

export interface PackOptions {
  /** How messages name the root ("container web1", "this host"). */
  where: string;
  /** Owners as the archive shows them (default: as they are). */
  ids?: IdMapper;
}

/** What packing made: the tar stream, and when it has been written to the end (or failed). */
export interface Packed {
  stream: Readable;
  /** Names of what was left out (devices, FIFOs, sockets), known once `done` resolves. */
  skipped: string[];
  done: Promise<void>;
}

/**
 * Packs what `path` names inside `root` (its last component not followed: a symlink is packed as
 * a symlink) into a tar whose top entry is its last component. A missing source throws NotFound
 * before any byte is sent.
 */
export async function packPath(root: string, path: string, opts: PackOptions): Promise<Packed> {
  const r = await resolveInRoot(root, path, { where: opts.where });
  if (r.stat === null) {
    await r.close();
    throw new NotFound(`${path} does not exist in ${opts.where}: check the path`);
  }
  const pack = tarPack();
  const skipped: string[] = [];
  const ids = opts.ids ?? ((u: number, g: number): [number, number] => [u, g]);
  const done = (async () => {
    try {
      if (r.name === null) await packDir(pack, r.dir, '.', ids, skipped);
      else await packEntry(pack, r.dir, r.name, r.name, ids, skipped);
      pack.finalize();
    } catch (err) {
      pack.destroy(err as Error);
      throw err;
    } finally {
      await r.close();
    }
  })();
  done.catch(() => undefined);
  return { stream: Readable.from(pack, { objectMode: false }), skipped, done };
}

async function packEntry(pack: Pack, dir: FileHandle, name: string, entryName: string, ids: IdMapper, skipped: string[]): Promise<void> {
  const st = await fsp.lstat(at(dir, name));
  const [uid, gid] = ids(st.uid, st.gid);
  const header = { name: entryName, mode: st.mode & 0o7777, uid, gid, mtime: st.mtime };
  if (st.isSymbolicLink()) {
    await addEntry(pack, { ...header, type: 'symlink', linkname: await fsp.readlink(at(dir, name)) });
  } else if (st.isDirectory()) {
    await addEntry(pack, { ...header, type: 'directory' });
    const sub = await openDirAt(dir, name);
    try {
      await packDir(pack, sub, entryName, ids, skipped);
    } finally {
      await sub.close();
    }
  } else if (st.isFile()) {
    // O_NONBLOCK: a file swapped for a FIFO since the lstat does not hang the open; it is then skipped.
    const fh = await fsp.open(at(dir, name), fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK);
    try {
      const fst = await fh.stat();
      if (!fst.isFile()) { skipped.push(entryName); return; }
      await addEntry(pack, { ...header, type: 'file', size: fst.size }, (write) => copyExactly(fh, fst.size, write));
    } finally {
      await fh.close();
    }
  } else {
    skipped.push(entryName);
  }
}

async function packDir(pack: Pack, dir: FileHandle, prefix: string, ids: IdMapper, skipped: string[]): Promise<void> {
  for (const child of (await fsp.readdir(at(dir))).sort()) {
    await packEntry(pack, dir, child, prefix === '.' ? child : `${prefix}/${child}`, ids, skipped);
  }
}

/** Writes exactly `size` bytes of the file: cut when it grew since its stat, zeros when it shrank (the header said `size`). */
async function copyExactly(fh: FileHandle, size: number, write: (chunk: Buffer) => Promise<void>): Promise<void> {
  let left = size;
  while (left > 0) {
    const buffer = Buffer.allocUnsafe(Math.min(CHUNK, left));
    const { bytesRead } = await fh.read(buffer, 0, buffer.length, null);
    if (bytesRead === 0) { await write(Buffer.alloc(Math.min(CHUNK, left))); left -= Math.min(CHUNK, left); continue; }
    await write(buffer.subarray(0, bytesRead));
    left -= bytesRead;
  }
}

/** Adds one entry; `fill` writes its content (files). */
function addEntry(pack: Pack, header: Partial<Header> & { name: string }, fill?: (write: (chunk: Buffer) => Promise<void>) => Promise<void>): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const sink = pack.entry(header, (err) => (err ? reject(err) : resolve()));
    if (!fill) { (sink as unknown as { end(): void }).end(); return; }
    const write = async (chunk: Buffer): Promise<void> => {
      if (!sink.write(chunk)) await new Promise<void>((drained) => sink.once('drain', () => drained()));
    };
    fill(write).then(() => (sink as unknown as { end(): void }).end(), (err: unknown) => {
      sink.destroy(err as Error);
      reject(err);
    });
  });
}

export interface ExtractOptions {
  /** How messages name the root ("container web1", "this host"). */
  where: string;
  /** Owners on disk of the archive's owners; absent: files are the caller's and set-id bits are dropped. */
  ids?: IdMapper;
  /** Follow a symlink at the destination's last component (the CLI on its own host). Default: no. */
  followLast?: boolean;
}

/** What an extraction wrote. */
export interface Extracted { entries: number; bytes: number; path: string }

/**
 * Extracts `archive` at `path` inside `root`: into it when it is a directory; otherwise the
 * archive's one top entry becomes `path` (its directory must exist), replacing a file or symlink
 * there (a symlink is replaced, never written through). Everything is written into a hidden
 * staging directory beside the destination first and moved into place only when the whole archive
 * was read: a failure leaves nothing behind.
 */
export async function extractTo(root: string, path: string, archive: NodeJS.ReadableStream, opts: ExtractOptions): Promise<Extracted> {
  const where = opts.where;
  const r = await resolveInRoot(root, path, { where, followLast: opts.followLast });
  let target: FileHandle | null = null;
  let staging: FileHandle | null = null;
  const stagingName = `.strata-cp-${randomBytes(6).toString('hex')}`;
  try {
    const into = r.stat?.isDirectory() ?? false;
    target = into ? (r.name === null ? r.dir : await openDirAt(r.dir, r.name)) : r.dir;
    const rename = into ? undefined : r.name!;
    await fsp.mkdir(at(target, stagingName), { mode: 0o700 });
    staging = await openDirAt(target, stagingName);
    const written = await unpack(archive, staging, rename, opts, path);
    if (rename !== undefined && written.entries === 0) throw new InvalidArgument(`the archive for ${path} in ${where} is empty: nothing to copy`);
    await checkMerge(staging, target, path, where);
    await moveAll(staging, target);
    return { ...written, path };
  } catch (err) {
    drain(archive);
    throw err;
  } finally {
    if (staging) await staging.close();
    if (target) await removeAt(target, stagingName).catch(() => undefined);
    if (target && target !== r.dir) await target.close();
    await r.close();
  }
}

/** Reads the rest of a refused archive, so that its sender sees the answer rather than a broken pipe. */
function drain(archive: NodeJS.ReadableStream): void {
  archive.on('error', () => undefined);
  archive.resume();
}

/** An archive entry's name as components: no absolute path, no `..`; `./` and empty parts dropped. */
function componentsOf(name: string, where: string): string[] {
  if (name.startsWith('/')) throw new InvalidArgument(`the archive's entry ${JSON.stringify(name)} is an absolute path: entries must be relative, nothing was copied to ${where}`);
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw new InvalidArgument(`the archive's entry ${JSON.stringify(name)} contains '..': entries must stay below the destination, nothing was copied to ${where}`);
  return parts;
}

async function unpack(archive: NodeJS.ReadableStream, staging: FileHandle, rename: string | undefined, opts: ExtractOptions, path: string): Promise<{ entries: number; bytes: number }> {
  const parser = tarExtract();
  archive.on('error', (err: Error) => parser.destroy(err));
  archive.pipe(parser as unknown as NodeJS.WritableStream);
  let top: string | undefined;
  let entries = 0;
  let bytes = 0;
  const ids = opts.ids;
  const named = (name: string): string[] => {
    const parts = componentsOf(name, opts.where);
    if (rename !== undefined && parts.length) {
      top ??= parts[0];
      if (parts[0] !== top) {
        throw new InvalidArgument(`the archive holds several top entries (${top}, ${parts[0]}) but ${path} in ${opts.where} is not a directory: give an existing directory as the destination`);
      }
      parts[0] = rename;
    }
    return parts;
  };
  for await (const entry of parser) {
    entry.on('error', () => undefined); // failures come through the parser
    const header = entry.header;
    const parts = named(header.name);
    if (!parts.length) { for await (const _ of entry); continue; }
    const parent = await openParent(staging, parts.slice(0, -1), header.name, ids, opts.where);
    const name = parts[parts.length - 1];
    const mode = header.mode & (ids ? 0o7777 : 0o1777);
    const owner = ids?.(header.uid, header.gid);
    try {
      switch (header.type) {
        case 'directory': {
          await makeDir(parent, name, mode, owner);
          break;
        }
        case 'file':
        case 'contiguous-file': {
          const fh = await createFile(parent, name);
          try {
            for await (const chunk of entry as AsyncIterable<Buffer>) { await fh.write(chunk); bytes += chunk.length; }
            if (owner) await fh.chown(owner[0], owner[1]);
            await fh.chmod(mode);
            await fh.utimes(header.mtime, header.mtime);
          } finally {
            await fh.close();
          }
          break;
        }
        case 'symlink': {
          await removeAt(parent, name);
          await fsp.symlink(header.linkname, at(parent, name));
          if (owner) await fsp.lchown(at(parent, name), owner[0], owner[1]);
          break;
        }
        case 'link': {
          await linkWithin(staging, named(header.linkname), parent, name, header, opts.where);
          break;
        }
        default:
          throw new InvalidArgument(`the archive's entry ${JSON.stringify(header.name)} is a ${header.type}: strata cp copies files, directories and symlinks only; nothing was copied to ${opts.where}`);
      }
    } finally {
      if (parent !== staging) await parent.close();
    }
    for await (const _ of entry);
    entries++;
  }
  return { entries, bytes };
}

/** The directory of an entry below the staging directory, made (owned as the archive's root) when missing; never through a symlink. */
async function openParent(staging: FileHandle, dirs: string[], entry: string, ids: IdMapper | undefined, where: string): Promise<FileHandle> {
  let dir = staging;
  try {
    for (const d of dirs) {
      let next: FileHandle;
      try {
        next = await openDirAt(dir, d);
      } catch (err) {
        if (!isErrno(err, 'ENOENT')) throw err;
        await makeDir(dir, d, 0o755, ids?.(0, 0));
        next = await openDirAt(dir, d);
      }
      if (dir !== staging) await dir.close();
      dir = next;
    }
    return dir;
  } catch (err) {
    if (dir !== staging) await dir.close();
    if (isErrno(err, 'ELOOP') || isErrno(err, 'ENOTDIR')) {
      throw new InvalidArgument(`the archive's entry ${JSON.stringify(entry)} would be written through a symlink or a file of the same archive: refused, nothing was copied to ${where}`);
    }
    throw err;
  }
}

async function makeDir(parent: FileHandle, name: string, mode: number, owner: [number, number] | undefined): Promise<void> {
  try {
    await fsp.mkdir(at(parent, name), { mode: 0o700 });
  } catch (err) {
    if (!isErrno(err, 'EEXIST')) throw err;
    if (!(await fsp.lstat(at(parent, name))).isDirectory()) {
      await removeAt(parent, name);
      await fsp.mkdir(at(parent, name), { mode: 0o700 });
    }
  }
  const dir = await openDirAt(parent, name);
  try {
    if (owner) await dir.chown(owner[0], owner[1]);
    await dir.chmod(mode);
  } finally {
    await dir.close();
  }
}

/** A new empty file `name` of `parent` (what the archive had there before is replaced), opened for writing. */
async function createFile(parent: FileHandle, name: string): Promise<FileHandle> {
  const flags = fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW;
  try {
    return await fsp.open(at(parent, name), flags, 0o600);
  } catch (err) {
    if (!isErrno(err, 'EEXIST')) throw err;
    await removeAt(parent, name);
    return fsp.open(at(parent, name), flags, 0o600);
  }
}

/** A hardlink to a file extracted earlier from the same archive; found without following any symlink. */
async function linkWithin(staging: FileHandle, target: string[], parent: FileHandle, name: string, header: Header, where: string): Promise<void> {
  const refuse = (why: string): InvalidArgument =>
    new InvalidArgument(`the archive's hardlink ${JSON.stringify(header.name)} points to ${JSON.stringify(header.linkname)}, ${why}: nothing was copied to ${where}`);
  if (!target.length) throw refuse('which is not a file of the archive');
  let dir = staging;
  try {
    for (const d of target.slice(0, -1)) {
      const next = await openDirAt(dir, d).catch(() => { throw refuse('which is not a file of the archive (or lies behind a symlink)'); });
      if (dir !== staging) await dir.close();
      dir = next;
    }
    const last = target[target.length - 1];
    const st = await fsp.lstat(at(dir, last)).catch(() => null);
    if (!st?.isFile()) throw refuse('which is not a file the archive holds before it');
    await removeAt(parent, name);
    await fsp.link(at(dir, last), at(parent, name));
  } finally {
    if (dir !== staging) await dir.close();
  }
}

/** Refuses before anything moves when a directory would replace a non-directory or the other way round. */
async function checkMerge(src: FileHandle, dst: FileHandle, path: string, where: string, prefix = ''): Promise<void> {
  for (const name of await fsp.readdir(at(src))) {
    const s = await fsp.lstat(at(src, name));
    const d = await lstatOrNull(dst, name);
    if (d === null) continue;
    if (s.isDirectory() && d.isDirectory()) {
      const [a, b] = [await openDirAt(src, name), await openDirAt(dst, name)];
      try {
        await checkMerge(a, b, path, where, `${prefix}${name}/`);
      } finally {
        await a.close();
        await b.close();
      }
    } else if (s.isDirectory() || d.isDirectory()) {
      throw new Conflict(`cannot copy a ${kindOf(s)} over the ${kindOf(d)} ${prefix}${name} at ${path} in ${where}: remove it first or copy elsewhere; nothing was copied`);
    }
  }
}

/** Moves every entry of `src` into `dst`: new names and files by rename (atomic), directories merged. */
async function moveAll(src: FileHandle, dst: FileHandle): Promise<void> {
  for (const name of await fsp.readdir(at(src))) {
    const d = await lstatOrNull(dst, name);
    if (d?.isDirectory()) {
      const [a, b] = [await openDirAt(src, name), await openDirAt(dst, name)];
      try {
        await moveAll(a, b);
      } finally {
        await a.close();
        await b.close();
      }
    } else {
      await fsp.rename(at(src, name), at(dst, name));
    }
  }
}

async function lstatOrNull(dir: FileHandle, name: string): Promise<Stats | null> {
  try {
    return await fsp.lstat(at(dir, name));
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return null;
    throw err;
  }
}
