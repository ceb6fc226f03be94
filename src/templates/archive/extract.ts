/**
 * Safe extraction of untrusted tar archives (plain, gzip, xz or zstd) into a root file system
 * directory, as root, keeping modes, owners, mtimes, symlinks and hardlinks.
 *
 * Every entry is checked before anything is written, and one bad entry refuses the whole
 * archive: paths stay inside the destination, nothing is ever written through a symlink or a
 * non-directory, hardlinks only point at regular files extracted earlier, device nodes, FIFOs
 * and trusted.* xattrs are refused, and the size and entry-count limits are enforced while
 * streaming. With `layered` and `whiteouts` an archive is applied as an OCI layer on top of
 * the layers already in the destination.
 *
 * It is not a general tar tool: it does not set xattrs (they are counted and skipped), does
 * not create device nodes, FIFOs or sparse files, and it does not clean up after a failure.
 */

import { startProgram } from '../../util/exec.js';
import { constants as fsc, createReadStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { extract as tarExtract, type Header } from 'tar-stream';
import {
  FailedPrecondition,
  Internal,
  InvalidArgument,
  NotFound,
  StrataError,
  ToolError,
} from '../../errors/index.js';

export interface ExtractOptions {
  /** Refuse the archive once its entries hold more bytes than this (default 64 GiB). */
  maxBytes?: number;
  /** Refuse the archive once it has more entries than this (default 2,000,000). */
  maxEntries?: number;
  /** dest already holds layers extracted by us; this archive goes on top of them. */
  layered?: boolean;
  /** Apply OCI whiteouts (`.wh.NAME`, `.wh..wh..opq`) to dest; needs a file path input. */
  whiteouts?: boolean;
}

export interface ExtractStats {
  /** Entries read, whiteouts included. */
  entries: number;
  /** Bytes of entry contents read. */
  bytes: number;
  files: number;
  dirs: number;
  symlinks: number;
  hardlinks: number;
  /** xattrs found in PAX headers and not set (Strata sets none). */
  skippedXattrs: number;
  /** Device nodes under /dev, not created: a container gets its own /dev from the runtime. */
  skippedDevices: number;
}

const DEFAULT_MAX_BYTES = 64 * 1024 ** 3;
const DEFAULT_MAX_ENTRIES = 2_000_000;
const MAX_PATH_BYTES = 4096;
const MAX_NAME_BYTES = 255;
/**
 * Header and padding bytes allowed on top of the entries' contents: far more than PAX
 * headers need, few enough to stop a bomb made of end-of-archive padding.
 */
const OVERHEAD_BYTES = 64 * 1024 * 1024;
const OVERHEAD_BYTES_PER_ENTRY = 8 * 1024;
const WHITEOUT_PREFIX = '.wh.';
const OPAQUE_MARKER = '.wh..wh..opq';

interface Limits {
  maxBytes: number;
  maxEntries: number;
}

/** What is at a path of the destination, as far as this extraction knows. */
type Kind = 'dir' | 'file' | 'symlink' | 'other';

interface Metadata {
  mode: number;
  uid: number;
  gid: number;
  mtime?: Date;
}

/** A validated archive entry. */
interface Entry extends Metadata {
  /** The name as written in the archive, for messages. */
  name: string;
  /** Normalised and relative to the root; '' is the root itself. */
  path: string;
  type: 'file' | 'dir' | 'symlink' | 'hardlink' | 'device';
  /** A symlink's content, or the normalised path a hardlink points to; '' otherwise. */
  target: string;
  xattrs: number;
}

/** An entry's content, read once. */
type Body = AsyncIterable<Buffer>;

interface Whiteout {
  /** true: `path` is a directory whose lower content goes; false: `path` itself goes. */
  opaque: boolean;
  path: string;
}

/**
 * Extracts the tar archive `input` into `dest` and returns what it extracted.
 *
 * `input` is a file path (gzip, xz and zstd are recognised by their magic bytes) or a stream
 * of plain tar. `dest` must be an empty directory, or, with `layered`, one holding earlier
 * layers extracted by this function. Refusals are InvalidArgument errors naming the entry.
 *
 * On any error this throws (after destroying the input stream and ending any decompressor)
 * and leaves `dest` half-written: the caller removes `dest`.
 */
export async function extractTar(
  input: string | NodeJS.ReadableStream,
  dest: string,
  opts: ExtractOptions = {},
): Promise<ExtractStats> {
  const limits: Limits = {
    maxBytes: opts.maxBytes ?? DEFAULT_MAX_BYTES,
    maxEntries: opts.maxEntries ?? DEFAULT_MAX_ENTRIES,
  };
  await checkDestination(dest, opts.layered ?? false);
  if (opts.whiteouts) {
    if (typeof input !== 'string') {
      throw new InvalidArgument('an archive with whiteouts must be given as a file path, not a stream: it is read twice');
    }
    await applyWhiteouts(dest, await collectWhiteouts(input, limits));
  }
  const extraction = new Extraction(dest, opts.layered ? await seedKinds(dest) : new Map());
  const counts = await readArchive(input, limits, async (entry, body) => {
    const whiteout = opts.whiteouts ? whiteoutOf(entry) : undefined;
    if (whiteout === undefined) await extraction.place(entry, body);
    else if (whiteout.opaque) await extraction.parents(entry);
  });
  await extraction.finish();
  return { ...extraction.stats, ...counts };
}

/** Writes entries into dest and remembers what it wrote, so that it never writes through a symlink. */
class Extraction {
  readonly stats = { files: 0, dirs: 0, symlinks: 0, hardlinks: 0, skippedXattrs: 0, skippedDevices: 0 };
  /** Directories whose metadata is applied at the end, deepest first. */
  private readonly dirs = new Map<string, Metadata>();

  constructor(
    private readonly dest: string,
    private readonly kinds: Map<string, Kind>,
  ) {}

  async place(entry: Entry, body: Body): Promise<void> {
    this.stats.skippedXattrs += entry.xattrs;
    if (entry.type === 'device') {
      this.stats.skippedDevices++;
      return;
    }
    if (entry.path === '') {
      if (entry.type !== 'dir') throw refuse(entry.name, 'names the root but is not a directory');
      this.dirs.set('', entry);
      this.stats.dirs++;
      return;
    }
    await this.parents(entry);
    const abs = join(this.dest, entry.path);
    const existing = this.kinds.get(entry.path);
    if (entry.type === 'dir') {
      if (existing !== 'dir') {
        if (existing !== undefined) await this.remove(entry.path, existing);
        await fs.mkdir(abs, 0o700);
        this.kinds.set(entry.path, 'dir');
      }
      this.dirs.set(entry.path, entry);
      this.stats.dirs++;
      return;
    }
    if (existing !== undefined) await this.remove(entry.path, existing);
    if (entry.type === 'hardlink' && this.kinds.get(entry.target) !== 'file') {
      throw refuse(entry.name, `is a hardlink to ${quote(entry.target)}, which is not a regular file extracted earlier`);
    }
    switch (entry.type) {
      case 'file':
        await writeFile(abs, entry, body);
        this.stats.files++;
        break;
      case 'symlink':
        await fs.symlink(entry.target, abs);
        await fs.lchown(abs, entry.uid, entry.gid);
        if (entry.mtime) await fs.lutimes(abs, entry.mtime, entry.mtime);
        this.stats.symlinks++;
        break;
      case 'hardlink':
        await fs.link(join(this.dest, entry.target), abs);
        this.stats.hardlinks++;
        break;
    }
    this.kinds.set(entry.path, entry.type === 'symlink' ? 'symlink' : 'file');
  }

  /** Checks that every parent of the entry is a real directory, creating missing ones. */
  async parents(entry: Entry): Promise<void> {
    const parts = entry.path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const path = parts.slice(0, i).join('/');
      const kind = this.kinds.get(path);
      if (kind === 'dir') continue;
      if (kind !== undefined) {
        throw refuse(entry.name, `passes through ${kind === 'symlink' ? 'the symlink' : 'the non-directory'} ${quote(path)}`);
      }
      await fs.mkdir(join(this.dest, path), 0o755);
      this.kinds.set(path, 'dir');
      this.dirs.set(path, { mode: 0o755, uid: 0, gid: 0 });
    }
  }

  /** Applies the directories' metadata, deepest first, through handles that never follow symlinks. */
  async finish(): Promise<void> {
    const deepestFirst = [...this.dirs].sort(([a], [b]) => depth(b) - depth(a));
    for (const [path, meta] of deepestFirst) {
      const handle = await fs.open(join(this.dest, path), fsc.O_RDONLY | fsc.O_DIRECTORY | fsc.O_NOFOLLOW);
      try {
        await setMetadata(handle, meta);
      } finally {
        await handle.close();
      }
    }
  }

  /** Removes an earlier entry that a later one with the same path replaces. */
  private async remove(path: string, kind: Kind): Promise<void> {
    const abs = join(this.dest, path);
    if (kind === 'dir') {
      await fs.rm(abs, { recursive: true });
      const inside = `${path}/`;
      for (const map of [this.kinds, this.dirs] as Map<string, unknown>[]) {
        for (const key of map.keys()) if (key.startsWith(inside)) map.delete(key);
      }
      this.dirs.delete(path);
    } else {
      await fs.unlink(abs);
    }
    this.kinds.delete(path);
  }
}

async function writeFile(abs: string, entry: Entry, body: Body): Promise<void> {
  const handle = await fs.open(abs, fsc.O_CREAT | fsc.O_EXCL | fsc.O_WRONLY | fsc.O_NOFOLLOW, 0o600);
  try {
    for await (const chunk of body) {
      for (let written = 0; written < chunk.length; ) {
        written += (await handle.write(chunk, written)).bytesWritten;
      }
    }
    await setMetadata(handle, entry);
  } finally {
    await handle.close();
  }
}

/** Owner first: chown clears setuid and setgid, which chmod then sets. */
async function setMetadata(handle: fs.FileHandle, meta: Metadata): Promise<void> {
  await handle.chown(meta.uid, meta.gid);
  await handle.chmod(meta.mode);
  if (meta.mtime) await handle.utimes(meta.mtime, meta.mtime);
}

function depth(path: string): number {
  return path === '' ? 0 : path.split('/').length;
}

/**
 * Streams the archive once, validating every entry against the limits and the path rules and
 * handing it to `onEntry`, then drains what `onEntry` left of its body.
 */
async function readArchive(
  input: string | NodeJS.ReadableStream,
  limits: Limits,
  onEntry: (entry: Entry, body: Body) => Promise<void>,
): Promise<{ entries: number; bytes: number }> {
  const label = typeof input === 'string' ? `archive ${input}` : 'archive stream';
  const parser = tarExtract();
  const source = await openSource(input, (err) => parser.destroy(err));
  const counts = { entries: 0, bytes: 0 };
  let streamed = 0;
  let contents = 0;
  source.stream.on('data', (chunk: Buffer) => {
    streamed += chunk.length;
    const allowed = OVERHEAD_BYTES + counts.entries * OVERHEAD_BYTES_PER_ENTRY;
    if (streamed - contents > allowed) {
      parser.destroy(new InvalidArgument(
        `${label} holds more than ${allowed} bytes of tar headers and padding: refusing the archive (a decompression bomb?)`,
      ));
    }
  });
  let parserError: unknown;
  parser.on('error', (err) => {
    parserError ??= err;
  });
  const parserClosed = new Promise<void>((resolve) => parser.on('close', () => resolve()));
  source.stream.pipe(parser);

  let failure: unknown;
  let current = '';
  try {
    for await (const tarEntry of parser) {
      const { header } = tarEntry;
      const body = tarEntry as Body;
      current = header.name;
      if (++counts.entries > limits.maxEntries) {
        throw refuse(header.name, `goes over the limit of ${limits.maxEntries} entries`);
      }
      const size = header.type === 'directory' ? 0 : header.size ?? 0;
      contents += Math.ceil(size / 512) * 512;
      counts.bytes += size;
      if (counts.bytes > limits.maxBytes) {
        throw refuse(header.name, `brings the contents over the limit of ${limits.maxBytes} bytes`);
      }
      await onEntry(inspect(header), body);
      await drain(body);
    }
  } catch (err) {
    source.stream.destroy();
    parser.destroy();
    await parserClosed;
    // An entry's body fails with a vague "destroyed" error; the parser knows why.
    failure = err instanceof StrataError ? err : parserError ?? err;
  }
  const toolFailure = await source.close(failure !== undefined);
  if (failure instanceof StrataError) throw failure;
  if (toolFailure) throw toolFailure;
  if (failure === undefined) return counts;
  const message = failure instanceof Error ? failure.message : String(failure);
  if ((failure as NodeJS.ErrnoException).syscall !== undefined) {
    throw new Internal(`cannot extract archive entry ${quote(current)}: ${message}`, { cause: failure });
  }
  throw new InvalidArgument(`${label} is not a valid ${source.format}: ${message}`, { cause: failure });
}

async function drain(body: Body): Promise<void> {
  for await (const _chunk of body);
}

interface Source {
  /** The archive as plain tar. */
  stream: Readable;
  /** What the archive claims to be, for messages: "tar archive", ".tar.gz"… */
  format: string;
  /** Waits for the decompressor to end (killing it if `aborted`) and returns its failure, if any. */
  close(aborted: boolean): Promise<StrataError | undefined>;
}

/** Opens the input as a plain tar stream; errors while reading are handed to `fail`. */
async function openSource(
  input: string | NodeJS.ReadableStream,
  fail: (err: StrataError) => void,
): Promise<Source> {
  const done = async (): Promise<undefined> => undefined;
  if (typeof input !== 'string') {
    const stream = input instanceof Readable ? input : new Readable().wrap(input);
    stream.on('error', (err) => fail(new Internal(`cannot read archive stream: ${err.message}`, { cause: err })));
    return { stream, format: 'tar archive', close: done };
  }
  const magic = await readMagic(input);
  const starts = (bytes: number[]): boolean => bytes.every((byte, i) => magic[i] === byte);
  if (starts([0x1f, 0x8b])) {
    const file = createReadStream(input);
    const gunzip = createGunzip();
    for (const stream of [file, gunzip]) stream.on('error', (err: Error) => fail(readError(err, input, '.tar.gz')));
    file.pipe(gunzip);
    return {
      stream: gunzip,
      format: '.tar.gz',
      async close() {
        file.destroy();
        return undefined;
      },
    };
  }
  if (starts([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])) return decompress(['xz', '-dcq', '--', input], '.tar.xz', fail);
  if (starts([0x28, 0xb5, 0x2f, 0xfd])) return decompress(['zstd', '-dcq', '--', input], '.tar.zst', fail);
  const stream = createReadStream(input);
  stream.on('error', (err) => fail(readError(err, input, 'tar archive')));
  return { stream, format: 'tar archive', close: done };
}

/** Decompresses with an external tool (its last argument is the archive). */
function decompress(command: string[], format: string, fail: (err: StrataError) => void): Source {
  const path = command[command.length - 1];
  const program = startProgram(command);
  const stdout = program.stdout!;
  stdout.on('error', (err: Error) => fail(new Internal(`cannot read the output of ${command[0]}: ${err.message}`, { cause: err })));
  return {
    stream: stdout,
    format,
    async close(aborted) {
      if (aborted) program.kill();
      const { code, signal, spawnError } = await program.closed;
      const stderr = program.stderrTail();
      if (spawnError) return new ToolError(command, null, spawnError.message, `decompressing ${path}`);
      if (code !== 0 && code !== null) {
        const said = stderr.split(/[\r\n]/).map((line: string) => line.trim()).filter(Boolean).pop() ?? `${command[0]} exited with status ${code}`;
        return new InvalidArgument(`archive ${path} is not a valid ${format}: ${said}`);
      }
      if (signal !== null && !aborted) return new ToolError(command, null, stderr, `decompressing ${path}`);
      return undefined;
    },
  };
}

async function readMagic(path: string): Promise<Buffer> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(path, 'r');
  } catch (err) {
    throw (err as NodeJS.ErrnoException).code === 'ENOENT'
      ? new NotFound(`archive ${path} does not exist`, { cause: err })
      : readError(err as Error, path, 'tar archive');
  }
  try {
    const magic = Buffer.alloc(6);
    const { bytesRead } = await handle.read(magic, 0, magic.length, 0);
    return magic.subarray(0, bytesRead);
  } catch (err) {
    throw readError(err as Error, path, 'tar archive');
  } finally {
    await handle.close();
  }
}

function readError(err: Error, path: string, format: string): StrataError {
  return (err as NodeJS.ErrnoException).syscall !== undefined
    ? new Internal(`cannot read archive ${path}: ${err.message}`, { cause: err })
    : new InvalidArgument(`archive ${path} is not a valid ${format}: ${err.message}`, { cause: err });
}

/** Validates a header and turns it into an Entry, or refuses the archive. */
function inspect(header: Header): Entry {
  const name = header.name;
  const path = normalise(name, (why) => refuse(name, why));
  const pax = (header.pax ?? {}) as Record<string, string>;
  let xattrs = 0;
  for (const key of Object.keys(pax)) {
    const xattr = xattrName(key);
    if (xattr === undefined) continue;
    if (xattr.startsWith('trusted.')) throw refuse(name, `carries the xattr ${quote(xattr)} of the trusted.* namespace`);
    xattrs++;
  }
  const mtime = pax.mtime !== undefined ? new Date(parseFloat(pax.mtime) * 1000) : header.mtime;
  if (mtime !== undefined && Number.isNaN(mtime.getTime())) throw refuse(name, 'has an invalid modification time');
  const entry: Entry = {
    name,
    path,
    type: entryType(header, path),
    mode: (header.mode ?? 0o644) & 0o7777,
    uid: owner(pax.uid ?? header.uid, name),
    gid: owner(pax.gid ?? header.gid, name),
    mtime,
    target: '',
    xattrs,
  };
  const link = header.linkname ?? '';
  if (entry.type === 'symlink') {
    if (link === '') throw refuse(name, 'is a symlink with an empty target');
    if (link.includes('\0')) throw refuse(name, 'is a symlink whose target contains a NUL byte');
    if (Buffer.byteLength(link) > MAX_PATH_BYTES) throw refuse(name, `is a symlink whose target is longer than ${MAX_PATH_BYTES} bytes`);
    entry.target = link;
  } else if (entry.type === 'hardlink') {
    entry.target = normalise(link, (why) => refuse(name, `is a hardlink whose target ${quote(link)} ${why}`));
  }
  return entry;
}

function entryType(header: Header, path: string): Entry['type'] {
  switch (header.type) {
    case 'file':
    case 'contiguous-file':
      return 'file';
    case 'directory':
      return 'dir';
    case 'symlink':
      return 'symlink';
    case 'link':
      return 'hardlink';
    case 'character-device':
    case 'block-device':
      // Every debootstrap or LXC tarball has /dev/null and friends: the runtime makes a container's /dev.
      if (path.startsWith('dev/')) return 'device';
      throw refuse(header.name, 'is a device node outside /dev, which Strata never creates from an archive');
    case 'fifo':
      throw refuse(header.name, 'is a FIFO, which Strata does not extract, for simplicity');
    default:
      throw refuse(header.name, `has an unsupported type (${header.type ?? 'unknown'})`);
  }
}

/**
 * Turns an archive path into a path relative to the root ('' for the root itself), or throws
 * what `fail` makes of the reason.
 */
function normalise(name: string, fail: (why: string) => InvalidArgument): string {
  if (name === '') throw fail('has an empty path');
  if (name.includes('\0')) throw fail('contains a NUL byte');
  if (name.startsWith('/')) throw fail('is an absolute path');
  const parts = name.split('/').filter((part) => part !== '' && part !== '.');
  if (parts.includes('..')) throw fail('escapes the root');
  if (parts.some((part) => Buffer.byteLength(part) > MAX_NAME_BYTES)) {
    throw fail(`has a path component longer than ${MAX_NAME_BYTES} bytes`);
  }
  const path = parts.join('/');
  if (Buffer.byteLength(path) > MAX_PATH_BYTES) throw fail(`is longer than ${MAX_PATH_BYTES} bytes`);
  return path;
}

/** The xattr a PAX key carries (GNU tar's SCHILY.xattr.*, bsdtar's LIBARCHIVE.xattr.*), if any. */
function xattrName(key: string): string | undefined {
  if (key.startsWith('SCHILY.xattr.')) return key.slice('SCHILY.xattr.'.length);
  if (key.startsWith('LIBARCHIVE.xattr.')) {
    return key.slice('LIBARCHIVE.xattr.'.length).replace(/%([0-9a-fA-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
  }
  return undefined;
}

function owner(value: number | string | undefined, name: string): number {
  const id = typeof value === 'string' ? Number(value) : value ?? 0;
  // 4294967295 is (uid_t)-1, which chown reads as "leave unchanged".
  if (!Number.isSafeInteger(id) || id < 0 || id >= 0xffffffff) throw refuse(name, `has an invalid owner (${value})`);
  return id;
}

function whiteoutOf(entry: Entry): Whiteout | undefined {
  const slash = entry.path.lastIndexOf('/');
  const dir = entry.path.slice(0, Math.max(slash, 0));
  const base = entry.path.slice(slash + 1);
  if (!base.startsWith(WHITEOUT_PREFIX)) return undefined;
  if (base === OPAQUE_MARKER) return { opaque: true, path: dir };
  const removed = base.slice(WHITEOUT_PREFIX.length);
  if (removed === '' || removed === '.' || removed === '..') throw refuse(entry.name, 'is a whiteout that names no entry');
  return { opaque: false, path: dir === '' ? removed : `${dir}/${removed}` };
}

/** First pass over a layer: validates every entry and collects its whiteouts, writing nothing. */
async function collectWhiteouts(input: string, limits: Limits): Promise<Whiteout[]> {
  const whiteouts: Whiteout[] = [];
  await readArchive(input, limits, async (entry) => {
    const whiteout = whiteoutOf(entry);
    if (whiteout) whiteouts.push(whiteout);
  });
  return whiteouts;
}

/** Removes what the whiteouts hide from the lower layers in dest, never following a symlink. */
async function applyWhiteouts(dest: string, whiteouts: Whiteout[]): Promise<void> {
  for (const { opaque, path } of whiteouts) {
    if (opaque) {
      if (!(await isRealDirectory(dest, path))) continue;
      for (const name of await fs.readdir(join(dest, path))) {
        await fs.rm(join(dest, path, name), { recursive: true, force: true });
      }
    } else if (await isRealDirectory(dest, path.slice(0, Math.max(path.lastIndexOf('/'), 0)))) {
      await fs.rm(join(dest, path), { recursive: true, force: true });
    }
  }
}

/** Whether `path` and each of its parents in dest is a directory (not a symlink to one). */
async function isRealDirectory(dest: string, path: string): Promise<boolean> {
  if (path === '') return true;
  const parts = path.split('/');
  for (let i = 1; i <= parts.length; i++) {
    const stat = await fs.lstat(join(dest, ...parts.slice(0, i))).catch(() => undefined);
    if (!stat?.isDirectory()) return false;
  }
  return true;
}

async function checkDestination(dest: string, layered: boolean): Promise<void> {
  const stat = await fs.lstat(dest).catch(() => undefined);
  if (stat === undefined) throw new NotFound(`extraction destination ${dest} does not exist: create it first`);
  if (!stat.isDirectory()) throw new FailedPrecondition(`extraction destination ${dest} is not a directory`);
  if (layered) return;
  const dir = await fs.opendir(dest);
  const first = await dir.read();
  await dir.close();
  if (first !== null) {
    throw new FailedPrecondition(`extraction destination ${dest} is not empty: extract into an empty directory, or pass layered to add a layer`);
  }
}

/** What dest holds, from lstat (never following symlinks), keyed by path relative to dest. */
async function seedKinds(dest: string): Promise<Map<string, Kind>> {
  const kinds = new Map<string, Kind>();
  const pending = [''];
  for (let dir = pending.pop(); dir !== undefined; dir = pending.pop()) {
    for (const dirent of await fs.readdir(join(dest, dir), { withFileTypes: true })) {
      const path = dir === '' ? dirent.name : `${dir}/${dirent.name}`;
      const kind: Kind = dirent.isDirectory() ? 'dir' : dirent.isFile() ? 'file' : dirent.isSymbolicLink() ? 'symlink' : 'other';
      kinds.set(path, kind);
      if (kind === 'dir') pending.push(path);
    }
  }
  return kinds;
}

function refuse(name: string, why: string): InvalidArgument {
  return new InvalidArgument(`archive entry ${quote(name)} ${why}: refusing the archive`);
}

/** A name for a message: quoted, escaped, and cut if very long. */
function quote(name: string): string {
  const quoted = JSON.stringify(name);
  return quoted.length > 200 ? `${quoted.slice(0, 196)}…"` : quoted;
}
