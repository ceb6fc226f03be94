/**
 * Writing a template file: a template tree (normally a tree of hardlinks into the content
 * store, but any directory tree will do, such as an OS template not yet moved into the store)
 * becomes one zstd-compressed tar whose first entry is the manifest and whose other entries are
 * the objects, each once. See docs/template-format.md.
 *
 * The file is written aside and renamed into place, so `outFile` is either the whole file or
 * absent. It is not an import: nothing is added to the store.
 */
import { startProgram } from '../../util/exec.js';
import { createHash, randomBytes } from 'node:crypto';
import { constants as fsc } from 'node:fs';
import * as fs from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { pack as tarPack, type Pack } from 'tar-stream';
import { FailedPrecondition, Internal, InvalidArgument, NotFound, StrataError, ToolError } from '../../errors/index.js';
import { hashFile, hexOf, keptXattrs, objectDigest, type ContentStore } from '../../store/index.js';
import {
  computeTotals,
  encodeXattrs,
  canonicalJson,
  FORMAT,
  metaOf,
  objectsOf,
  ROOT,
  templateDigest,
  validateManifest,
  type FileEntry,
  type Manifest,
  type ManifestEntry,
} from './manifest.js';

/** Everything of a manifest but what the tree tells. */
export type ManifestBase = Omit<Manifest, 'format' | 'files' | 'totals'>;

export type PackProgress = (progress: { step: 'scan' | 'objects' | 'tree'; done: number; total?: number }) => void;

/**
 * Pack progress as counter lines (`objects: 1200 of 11436`), at most a few a second and always
 * the last of each step: the CLI shows them as one line that updates in place.
 */
export function countProgress(line: (message: string) => void, everyMs = 250): PackProgress {
  let last = 0;
  return (p) => {
    const now = Date.now();
    if (now - last < everyMs && p.done !== p.total) return;
    last = now;
    line(`${p.step}: ${p.done}${p.total ? ` of ${p.total}` : ''}`);
  };
}

export interface ExportResult {
  /** The template digest (sha256 of the canonical manifest). */
  digest: string;
  manifest: Manifest;
  /** Size of the written file. */
  bytes: number;
  /** Device nodes, FIFOs and sockets of the tree that were left out (relative paths). */
  skipped: string[];
}

const CHUNK = 1 << 20;
const UNLIMITED = { maxFiles: Number.MAX_SAFE_INTEGER, maxBytes: Number.MAX_SAFE_INTEGER, maxEntries: Number.MAX_SAFE_INTEGER };

/**
 * Writes the template whose files are the tree `tree` to `outFile`. The tree's regular files
 * that are store objects are recognised by inode; others are hashed. Every object's content is
 * re-hashed while it is written, so a corrupted object fails the export instead of producing a
 * file that no import accepts.
 */
export async function exportTemplate(
  tree: string,
  manifestBase: ManifestBase,
  store: ContentStore,
  outFile: string,
  onProgress?: PackProgress,
  opts: { omitObjects?: ReadonlySet<string> } = {},
): Promise<ExportResult> {
  const { manifest, digest, sources, skipped } = await describeTree(tree, manifestBase, store, onProgress);
  // An incremental backup's area leaves out the objects its earlier backups hold (not importable alone).
  const written = opts.omitObjects ? new Map([...sources].filter(([d]) => !opts.omitObjects!.has(d))) : sources;
  const bytes = await writeTemplateFile(outFile, manifest, written, onProgress);
  return { digest, manifest, bytes, skipped };
}

export interface TreeDescription {
  manifest: Manifest;
  digest: string;
  /** Where each object's content is read from: digest → a path of the tree. */
  sources: Map<string, string>;
  skipped: string[];
}

/** The manifest and template digest the tree would be exported with, without writing anything. */
export async function describeTree(tree: string, manifestBase: ManifestBase, store: ContentStore, onProgress?: PackProgress): Promise<TreeDescription> {
  const { files, sources, skipped } = await scanTree(tree, store, onProgress);
  const draft: Manifest = { ...manifestBase, format: FORMAT, files, totals: computeTotals(files) };
  // Our own importer's rules, so that we never write a file that an import refuses.
  const manifest = validateManifest(JSON.parse(JSON.stringify(draft)), UNLIMITED);
  return { manifest, digest: templateDigest(manifest), sources, skipped };
}

interface Scan {
  files: ManifestEntry[];
  /** Where each object's content is read from: digest → a path of the tree. */
  sources: Map<string, string>;
  skipped: string[];
}

async function scanTree(tree: string, store: ContentStore, onProgress?: PackProgress): Promise<Scan> {
  const rootStat = await fs.lstat(tree).catch(() => undefined);
  if (!rootStat) throw new NotFound(`cannot export ${tree}: it does not exist`);
  if (!rootStat.isDirectory()) throw new InvalidArgument(`cannot export ${tree}: it is not a directory`);
  const xattrs = await store.xattrs.readTree(tree);
  const xattrsOf = (rel: string): ReturnType<typeof keptXattrs> => {
    const abs = rel === ROOT ? tree : join(tree, rel);
    return keptXattrs(xattrs.get(abs) ?? {}, abs);
  };
  const index = await store.inodeIndex();
  const files: ManifestEntry[] = [{ path: ROOT, type: 'dir', ...dirMeta(rootStat), xattrs: encodeXattrs(xattrsOf(ROOT)) }];
  const sources = new Map<string, string>();
  const skipped: string[] = [];
  const byInode = new Map<string, string>();

  const walk = async (dir: string): Promise<void> => {
    const names = (await fs.readdir(join(tree, dir), { encoding: 'buffer' })).map((raw) => {
      const name = raw.toString('utf8');
      if (!Buffer.from(name).equals(raw)) throw new InvalidArgument(`cannot export ${join(tree, dir, name)}: its name is not valid UTF-8`);
      return name;
    });
    names.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    for (const name of names) {
      const rel = dir === '' ? name : `${dir}/${name}`;
      const abs = join(tree, rel);
      const stat = await fs.lstat(abs);
      if (stat.isDirectory()) {
        files.push({ path: rel, type: 'dir', ...dirMeta(stat), xattrs: encodeXattrs(xattrsOf(rel)) });
        await walk(rel);
      } else if (stat.isSymbolicLink()) {
        const target = await fs.readlink(abs, { encoding: 'buffer' });
        if (!Buffer.from(target.toString('utf8')).equals(target)) throw new InvalidArgument(`cannot export ${abs}: its symlink target is not valid UTF-8`);
        files.push({ path: rel, type: 'symlink', uid: stat.uid, gid: stat.gid, mtime: Math.floor(stat.mtimeMs), target: target.toString('utf8') });
      } else if (stat.isFile()) {
        const key = `${stat.dev}:${stat.ino}`;
        const kept = xattrsOf(rel);
        const entry: FileEntry = {
          path: rel, type: 'file', mode: stat.mode & 0o7777, uid: stat.uid, gid: stat.gid, mtime: Math.floor(stat.mtimeMs),
          size: stat.size, digest: '', xattrs: encodeXattrs(kept),
        };
        entry.digest = index.get(key) ?? byInode.get(key) ?? objectDigest(metaOf(entry), await hashFile(abs));
        byInode.set(key, entry.digest);
        if (!sources.has(entry.digest)) sources.set(entry.digest, abs);
        files.push(entry);
        onProgress?.({ step: 'scan', done: files.length });
      } else {
        skipped.push(rel);
      }
    }
  };
  await walk('');
  return { files, sources, skipped };
}

function dirMeta(stat: import('node:fs').Stats): { mode: number; uid: number; gid: number; mtime: number } {
  return { mode: stat.mode & 0o7777, uid: stat.uid, gid: stat.gid, mtime: Math.floor(stat.mtimeMs) };
}

/** Writes manifest + objects as a zstd-compressed tar, aside, then renames it to outFile. */
async function writeTemplateFile(outFile: string, manifest: Manifest, sources: Map<string, string>, onProgress?: PackProgress): Promise<number> {
  const tmp = join(dirname(outFile), `.${basename(outFile)}.tmp-${randomBytes(6).toString('hex')}`);
  let out: fs.FileHandle;
  try {
    out = await fs.open(tmp, 'wx', 0o644);
  } catch (err) {
    throw new FailedPrecondition(`cannot write the template file ${outFile}: ${(err as Error).message}`, { cause: err });
  }
  const command = ['zstd', '-q', '-c', '-T0', '-3'];
  const zstd = startProgram(command, { stdin: 'pipe', stdout: out.fd });
  const stdin = zstd.stdin!;
  let stdinError: Error | undefined;
  stdin.on('error', (err) => { stdinError = err; });
  const packer = tarPack();
  const pump = (async () => {
    for await (const chunk of packer) {
      if (stdinError) throw stdinError;
      if (!stdin.write(chunk as Buffer)) {
        await new Promise<void>((resolve) => {
          const done = (): void => {
            stdin.off('drain', done);
            stdin.off('close', done);
            resolve();
          };
          stdin.on('drain', done);
          stdin.on('close', done);
        });
      }
    }
    stdin.end();
  })();
  pump.catch(() => undefined);
  let ok = false;
  try {
    const text = Buffer.from(canonicalJson(manifest));
    await entry(packer, 'manifest.json', text.length, async (write) => write(text));
    let done = 0;
    const objects = [...sources];
    const entries = objectsOf(manifest);
    for (const [digest, path] of objects) {
      const file = entries.get(digest)!;
      await entry(packer, `objects/sha256/${hexOf(digest)}`, file.size, async (write) => {
        const content = await copyContent(path, file.size, write);
        if (objectDigest(metaOf(file), content) !== digest) {
          throw new Internal(`object ${digest} (${path}) no longer matches its digest: the store is damaged; run 'strata template verify'`);
        }
      });
      onProgress?.({ step: 'objects', done: ++done, total: objects.length });
    }
    packer.finalize();
    await pump;
    const { code, spawnError } = await zstd.closed;
    if (spawnError) {
      throw (spawnError as NodeJS.ErrnoException).code === 'ENOENT'
        ? new FailedPrecondition('zstd is not installed: run \'apt-get install zstd\' (the set-up does it)')
        : new ToolError(command, null, spawnError.message, `compressing ${outFile}`);
    }
    if (code !== 0) throw new ToolError(command, code, zstd.stderrTail(), `compressing ${outFile}`);
    await out.close();
    await fs.rename(tmp, outFile);
    ok = true;
    return (await fs.stat(outFile)).size;
  } catch (err) {
    if (err instanceof StrataError) throw err;
    throw new Internal(`cannot write the template file ${outFile}: ${(err as Error).message}`, { cause: err });
  } finally {
    if (!ok) {
      packer.destroy();
      stdin.destroy();
      zstd.kill();
      await zstd.closed;
      await out.close().catch(() => undefined);
      await fs.unlink(tmp).catch(() => undefined);
    }
  }
}

/** Adds one tar entry of `size` bytes that `fill` writes. */
function entry(packer: Pack, name: string, size: number, fill: (write: (chunk: Buffer) => Promise<void>) => Promise<void>): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const sink = packer.entry({ name, size, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: new Date(0) }, (err) => (err ? reject(err) : resolve()));
    const write = async (chunk: Buffer): Promise<void> => {
      if (!sink.write(chunk)) await new Promise<void>((done) => sink.once('drain', () => done()));
    };
    fill(write).then(() => (sink as unknown as { end(): void }).end(), (err: unknown) => {
      sink.destroy(err as Error);
      reject(err);
    });
  });
}

/** Streams a file's bytes (exactly `size`, or fails) and returns their sha256. */
async function copyContent(path: string, size: number, write: (chunk: Buffer) => Promise<void>): Promise<string> {
  const hash = createHash('sha256');
  const handle = await fs.open(path, fsc.O_RDONLY | fsc.O_NOFOLLOW);
  let total = 0;
  try {
    for (;;) {
      const buffer = Buffer.allocUnsafe(CHUNK);
      const { bytesRead } = await handle.read(buffer, 0, CHUNK, null);
      if (bytesRead === 0) break;
      total += bytesRead;
      if (total > size) break;
      const chunk = buffer.subarray(0, bytesRead);
      hash.update(chunk);
      await write(chunk);
    }
  } finally {
    await handle.close();
  }
  if (total !== size) throw new Internal(`${path} changed size while it was exported: template trees must not change`);
  return `sha256:${hash.digest('hex')}`;
}
