/**
 * Reading template files, which are untrusted input. `readTemplateFile` validates the manifest
 * without extracting anything; `importTemplate` verifies every object into the content store and
 * builds the template tree as hardlinks into it.
 *
 * Guarantees, whatever the file holds: the manifest is validated strictly (manifest.ts) before
 * any object is read; an object is stored only through ContentStore.ingestStream with its
 * expected digest and size, so a mismatch leaves nothing visible; an entry that the manifest
 * does not list, a duplicate, a missing object, an entry that is not a regular file, a file that
 * is not zstd, a truncated one, and more decompressed bytes than the manifest announces (a
 * decompression bomb) are refused with InvalidArgument; the tree is built only from directories
 * this import created, so nothing is written through a symlink or outside destDir; errors are
 * thrown, never left unhandled, so the daemon stays up.
 *
 * On failure destDir is removed and no ingest file is left. Objects already committed by a
 * failed import stay in the store, verified and harmless: nothing links to them, so gc collects
 * them.
 *
 * Not done here: checking that the bases are present (the caller compares manifest.bases with
 * the templates it has and says "import base X (digest …) first"), materialising deletions and
 * opaque directories as overlay whiteouts, and merging key changes: the caller does those from
 * the returned manifest.
 */
import { startProgram } from '../../util/exec.js';
import { constants as fsc } from 'node:fs';
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { extract as tarExtract, type Header } from 'tar-stream';
import { FailedPrecondition, Internal, InvalidArgument, NotFound, StrataError, ToolError } from '../../errors/index.js';
import { prepareDestination, utimeOf, type ContentStore } from '../../store/index.js';
import type { PackProgress } from './export.js';
import {
  DEFAULT_LIMITS,
  decodeXattrs,
  metaOf,
  objectsOf,
  parseManifest,
  ROOT,
  templateDigest,
  type DirEntry,
  type FileEntry,
  type Manifest,
  type ManifestLimits,
} from './manifest.js';

export interface ImportLimits extends ManifestLimits {
  /** Most bytes of the manifest (default 256 MiB). */
  maxManifestBytes: number;
}

export interface ImportOptions extends Partial<ImportLimits> {
  onProgress?: PackProgress;
  /**
   * Objects the file lacks may be in the store already (an incremental backup's area, whose
   * earlier backups were imported first); without it such a file is refused as truncated.
   */
  objectsInStore?: boolean;
}

export interface ImportResult {
  manifest: Manifest;
  /** The template digest (sha256 of the canonical manifest). */
  digest: string;
  objects: number;
  /** Objects the store did not have. */
  newObjects: number;
  newBytes: number;
}

const DEFAULT_IMPORT_LIMITS: ImportLimits = { ...DEFAULT_LIMITS, maxManifestBytes: 256 * 1024 * 1024 };

/**
 * Decompressed bytes allowed on top of the manifest and the announced contents: tar headers
 * (with PAX records for long names) and padding, generously; few enough to stop a bomb.
 */
const OVERHEAD_BYTES = 64 * 1024 * 1024;
const OVERHEAD_PER_ENTRY = 8 * 1024;
const ZSTD_MAGIC = [0x28, 0xb5, 0x2f, 0xfd];
const OBJECT_NAME = /^objects\/sha256\/([0-9a-f]{64})$/;

/** Reads and validates the manifest of a template file without extracting anything. */
export async function readTemplateFile(file: string, limits: Partial<ImportLimits> = {}): Promise<Manifest> {
  let manifest: Manifest | undefined;
  await readTemplate(file, { ...DEFAULT_IMPORT_LIMITS, ...limits }, { onManifest: (m) => { manifest = m; } });
  return manifest!;
}

/**
 * Imports the template file `file`: every object into `store` (verified), and the tree into
 * `destDir`, which must not exist (its parent must) or be empty, on the store's file system.
 * Returns the manifest for the caller to check bases and apply deletions and keys.
 */
export async function importTemplate(file: string, store: ContentStore, destDir: string, opts: ImportOptions = {}): Promise<ImportResult> {
  const limits: ImportLimits = {
    maxBytes: opts.maxBytes ?? DEFAULT_IMPORT_LIMITS.maxBytes,
    maxEntries: opts.maxEntries ?? DEFAULT_IMPORT_LIMITS.maxEntries,
    maxFiles: opts.maxFiles ?? DEFAULT_IMPORT_LIMITS.maxFiles,
    maxManifestBytes: opts.maxManifestBytes ?? DEFAULT_IMPORT_LIMITS.maxManifestBytes,
  };
  await checkFile(file);
  await prepareDestination(destDir, store);
  try {
    return await store.hold(async () => {
      let manifest: Manifest | undefined;
      let wanted = new Map<string, FileEntry>();
      const received = new Set<string>();
      const result = { objects: 0, newObjects: 0, newBytes: 0 };
      await readTemplate(file, limits, {
        onManifest: (m) => {
          manifest = m;
          wanted = objectsOf(m);
          result.objects = wanted.size;
        },
        onObject: async (digest, header, body) => {
          const entry = wanted.get(digest);
          if (entry === undefined) throw refuse(file, `holds the object ${digest}, which its manifest does not list`);
          if (received.has(digest)) throw refuse(file, `holds the object ${digest} twice`);
          if (header.size !== entry.size) throw refuse(file, `holds the object ${digest} with ${header.size} bytes, but the manifest says ${entry.size}`);
          let stored;
          try {
            stored = await store.ingestStream(body, { ...metaOf(entry), mtime: new Date(entry.mtime) }, { expectedDigest: digest, expectedSize: entry.size });
          } catch (err) {
            if (!(err instanceof InvalidArgument)) throw err;
            throw refuse(file, `holds, for ${show(entry.path)}, an object that does not match the manifest (${err.message.replace(/: refusing it$/, '')})`);
          }
          received.add(digest);
          if (stored.created) {
            result.newObjects++;
            result.newBytes += stored.size;
          }
          opts.onProgress?.({ step: 'objects', done: received.size, total: wanted.size });
        },
      });
      for (const digest of wanted.keys()) {
        if (received.has(digest) || (opts.objectsInStore && (await store.has(digest)))) continue;
        throw refuse(file, `lacks the object ${digest} that its manifest lists (truncated?)`);
      }
      await buildTree(manifest!, destDir, store, opts.onProgress);
      return { manifest: manifest!, digest: templateDigest(manifest!), ...result };
    });
  } catch (err) {
    await fs.rm(destDir, { recursive: true, force: true });
    if (err instanceof StrataError) throw err;
    throw new Internal(`cannot import the template file ${file}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Creates the tree of a validated manifest in the empty directory destDir. Every parent is a
 * directory entry created here before its children (validation guarantees the order), so no
 * path is ever resolved through a symlink.
 */
async function buildTree(manifest: Manifest, destDir: string, store: ContentStore, onProgress?: PackProgress): Promise<void> {
  const dirs: DirEntry[] = [];
  const digests = new Map<string, string>();
  let done = 0;
  for (const entry of manifest.files) {
    const abs = entry.path === ROOT ? destDir : join(destDir, entry.path);
    switch (entry.type) {
      case 'dir':
        if (entry.path !== ROOT) await fs.mkdir(abs, 0o700);
        dirs.push(entry);
        break;
      case 'file':
        await store.linkInto(entry.digest, abs);
        digests.set(entry.path, entry.digest);
        break;
      case 'hardlink':
        await store.linkInto(digests.get(entry.target)!, abs);
        break;
      case 'symlink':
        await fs.symlink(entry.target, abs);
        await fs.lchown(abs, entry.uid, entry.gid);
        await fs.lutimes(abs, utimeOf(entry.mtime), utimeOf(entry.mtime));
        break;
    }
    onProgress?.({ step: 'tree', done: ++done, total: manifest.files.length });
  }
  // Deepest first, so that creating entries does not change a directory's mtime afterwards.
  dirs.sort((a, b) => depth(b.path) - depth(a.path));
  for (const dir of dirs) {
    const abs = dir.path === ROOT ? destDir : join(destDir, dir.path);
    const handle = await fs.open(abs, fsc.O_RDONLY | fsc.O_DIRECTORY | fsc.O_NOFOLLOW);
    try {
      await handle.chown(dir.uid, dir.gid);
      await handle.chmod(dir.mode);
      if (dir.xattrs) await store.xattrs.write(abs, decodeXattrs(dir.xattrs));
      await handle.utimes(utimeOf(dir.mtime), utimeOf(dir.mtime));
    } finally {
      await handle.close();
    }
  }
}

function depth(path: string): number {
  return path === ROOT ? 0 : path.split('/').length;
}

interface Handlers {
  onManifest(manifest: Manifest): void;
  /** Absent: stop after the manifest. */
  onObject?(digest: string, header: Header, body: AsyncIterable<Buffer>): Promise<void>;
}

async function checkFile(file: string): Promise<void> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, fsc.O_RDONLY | fsc.O_NONBLOCK);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFound(`template file ${file} does not exist`);
    throw new FailedPrecondition(`cannot read the template file ${file}: ${(err as Error).message}`, { cause: err });
  }
  try {
    if (!(await handle.stat()).isFile()) throw new InvalidArgument(`${file} is not a regular file: give the path of a template file`);
    const magic = Buffer.alloc(4);
    const { bytesRead } = await handle.read(magic, 0, 4, 0);
    if (bytesRead < 4 || !ZSTD_MAGIC.every((byte, i) => magic[i] === byte)) {
      throw new InvalidArgument(`${file} is not a Strata template file (it is not zstd-compressed): make one with 'strata template export'`);
    }
  } finally {
    await handle.close();
  }
}

/**
 * Streams the template file once: the manifest first (validated), then each object entry to
 * `onObject`. Counts the decompressed bytes and refuses more than the manifest announces.
 */
async function readTemplate(file: string, limits: ImportLimits, handlers: Handlers): Promise<void> {
  await checkFile(file);
  const command = ['zstd', '-dcq', '--memory=128MB', '--', file];
  const zstd = startProgram(command);
  const stdout = zstd.stdout!;
  const parser = tarExtract();
  let parserError: unknown;
  parser.on('error', (err) => { parserError ??= err; });
  const parserClosed = new Promise<void>((resolve) => parser.on('close', () => resolve()));
  let streamed = 0;
  let allowed = OVERHEAD_BYTES + limits.maxManifestBytes;
  stdout.on('error', (err: Error) => parser.destroy(err));
  let bomb: InvalidArgument | undefined;
  stdout.on('data', (chunk: Buffer) => {
    streamed += chunk.length;
    if (streamed > allowed && bomb === undefined) {
      // Also past the end of the tar archive: zstd is stopped, not drained.
      bomb = refuse(file, `decompresses to more than the ${allowed} bytes its manifest announces (a decompression bomb?)`);
      parser.destroy(bomb);
      stdout.destroy();
      zstd.kill();
    }
  });
  stdout.pipe(parser as unknown as NodeJS.WritableStream);

  let failure: unknown;
  let stoppedEarly = false;
  let index = 0;
  let manifest: Manifest | undefined;
  try {
    for await (const tarEntry of parser) {
      tarEntry.on('error', () => undefined); // failures are reported through the parser
      const header = tarEntry.header;
      const body = tarEntry as AsyncIterable<Buffer>;
      if (index === 0) {
        if (header.name !== 'manifest.json' || header.type !== 'file') throw refuse(file, `starts with ${show(header.name)}, not manifest.json`);
        if (header.size > limits.maxManifestBytes) throw refuse(file, `has a manifest of ${header.size} bytes, over the limit of ${limits.maxManifestBytes}`);
        const chunks: Buffer[] = [];
        let size = 0;
        for await (const chunk of body) {
          size += chunk.length;
          if (size > limits.maxManifestBytes) throw refuse(file, `has a manifest over the limit of ${limits.maxManifestBytes} bytes`);
          chunks.push(chunk);
        }
        manifest = parseManifest(Buffer.concat(chunks).toString('utf8'), limits);
        allowed = OVERHEAD_BYTES + size + manifest.totals.objectBytes + (manifest.totals.objects + 1) * OVERHEAD_PER_ENTRY;
        if (streamed > allowed) throw refuse(file, `decompresses to more than the ${allowed} bytes its manifest announces (a decompression bomb?)`);
        handlers.onManifest(manifest);
        if (!handlers.onObject) {
          stoppedEarly = true;
          break;
        }
      } else {
        if (header.type !== 'file') throw refuse(file, `has the entry ${show(header.name)} of type ${header.type}; a template file holds only the manifest and objects`);
        const match = OBJECT_NAME.exec(header.name);
        if (!match) throw refuse(file, `has the entry ${show(header.name)}, which is not an object (objects/sha256/<digest>)`);
        if (index > manifest!.totals.objects) throw refuse(file, `has more entries than the ${manifest!.totals.objects} objects its manifest lists`);
        await handlers.onObject!(`sha256:${match[1]}`, header, body);
        for await (const _chunk of body);
      }
      index++;
    }
    if (index === 0 && !stoppedEarly) throw refuse(file, 'holds no manifest');
  } catch (err) {
    failure = err;
  }
  if (failure !== undefined || stoppedEarly) {
    // zstd that wrote all it had exits by itself, with its own verdict; one still writing is stopped.
    const finished = stdout.readableEnded;
    stdout.destroy();
    parser.destroy();
    if (!finished) zstd.kill();
  }
  await parserClosed.catch(() => undefined);
  const { code, spawnError } = await zstd.closed;
  const stderr = zstd.stderrTail();
  if (spawnError) {
    throw (spawnError as NodeJS.ErrnoException).code === 'ENOENT'
      ? new FailedPrecondition('zstd is not installed: run \'apt-get install zstd\' (the set-up does it)')
      : new ToolError(command, null, spawnError.message, `decompressing ${file}`);
  }
  if (stoppedEarly && failure === undefined) return;
  if (bomb) throw bomb;
  // zstd failing on its own (not killed by us) is the cause of whatever the parser saw after.
  if (code !== null && code !== 0) {
    const last = stderr.split(/[\r\n]/).map((line) => line.trim()).filter(Boolean).pop();
    // zstd says "FILE : Decoding error (36) : …": keep what follows the file name.
    const said = last === undefined ? `zstd exited with status ${code}` : last.replace(/^.*? : /, '');
    throw refuse(file, `is damaged or truncated (${said})`);
  }
  if (failure instanceof InvalidArgument) throw failure;
  if (parserError !== undefined) {
    if (parserError instanceof StrataError) throw parserError;
    throw refuse(file, `is not a valid template archive (${(parserError as Error).message})`);
  }
  if (failure instanceof StrataError) throw failure;
  if (failure !== undefined) {
    if ((failure as NodeJS.ErrnoException).syscall !== undefined) throw new Internal(`cannot import the template file ${file}: ${(failure as Error).message}`, { cause: failure });
    throw refuse(file, `is not a valid template archive (${(failure as Error).message})`);
  }
}

function refuse(file: string, why: string): InvalidArgument {
  return new InvalidArgument(`template file ${file} ${why}: refusing it`);
}

function show(name: string): string {
  const quoted = JSON.stringify(name);
  return quoted.length > 200 ? `${quoted.slice(0, 196)}…"` : quoted;
}
