/**
 * The content store: every file of every template is stored once per distinct content and
 * metadata, as an object named by its object digest (see digest.ts), and hardlinked into the
 * template trees that use it. After containerd's content store: an object is written under
 * `ingest/` with a random name, hashed while it is written, and only then linked into
 * `objects/` — a half-written or unverified object is never visible, and a failed ingest leaves
 * nothing in `objects/`.
 *
 *   <dir>/objects/sha256/<first 2 hex digits>/<64 hex digits>   objects (regular files)
 *   <dir>/ingest/<random>                                        objects being written
 *
 * An object is an ordinary inode that carries its metadata (owner, mode, kept xattrs), so a
 * hardlink to it in a template tree shows exactly that metadata. Template trees are read-only
 * by convention: nothing may ever write through such a hardlink, or every template and every
 * container sharing the object would change (and `verify` would report it bad). Containers see
 * template trees through read-only (idmapped) mounts as overlayfs lower layers; overlayfs
 * copies a file up into the container's private area before the first write.
 *
 * The store and the trees must be on one file system (hardlinks cannot cross): both live under
 * the data root. `<dir>` is mode 0700: objects keep their setuid bits and owners, and no host
 * user but root may reach them.
 *
 * Worked example:
 *   const store = new ContentStore('/var/lib/strata/store');
 *   await store.hold(async () => {                    // gc waits until this is done
 *     const { digest } = await store.ingestFile('/scratch/rootfs/bin/ls');
 *     await store.linkInto(digest, '/var/lib/strata/templates/deb12/rootfs/bin/ls');
 *   });
 *   await store.verify();                              // { checked, bad: [] }
 *   await store.gc(new Set());                         // removes objects no tree links to
 *
 * It is not a database: which template uses which object is known from the trees (link
 * counts) and from the `referenced` set the caller passes to gc.
 */
import { createHash, randomBytes } from 'node:crypto';
import { constants as fsc } from 'node:fs';
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { AlreadyExists, FailedPrecondition, Internal, InvalidArgument, NotFound, StrataError } from '../errors/index.js';
import { hexOf, objectDigest, utimeOf, xattrRefusal, type ObjectMeta, type Xattrs } from './digest.js';
import { toolXattrs, type XattrIO } from './xattrs.js';

export interface IngestResult {
  /** The object digest: the object's name in the store. */
  digest: string;
  /** sha256 of the bytes alone. */
  contentDigest: string;
  size: number;
  /** false when the store already had the object (dedup: the copy was dropped). */
  created: boolean;
}

/** Metadata of an object to ingest; mtime is applied to a new object but is not part of its identity. */
export interface IngestMeta extends ObjectMeta {
  mtime?: Date;
}

export interface IngestStreamOptions {
  /** Refuse (nothing becomes visible) unless the object digest is this. */
  expectedDigest?: string;
  /** Refuse unless sha256 of the content is this. */
  expectedContentDigest?: string;
  /** Refuse unless the content is exactly this many bytes. */
  expectedSize?: number;
  /** Refuse as soon as the content goes over this many bytes. */
  maxBytes?: number;
}

export interface VerifyResult {
  checked: number;
  /** Digests of objects whose content or metadata no longer match their name, and stray names. */
  bad: string[];
}

export interface GcResult {
  removed: number;
  bytes: number;
}

export interface StoreUsage {
  objects: number;
  /** Sum of the objects' sizes. */
  storedBytes: number;
  /** Blocks the objects take on disk. */
  allocatedBytes: number;
  /** Objects no tree links to (link count 1): what gc removes unless referenced. */
  unlinked: number;
}

export type StoreProgress = (progress: { done: number; total?: number }) => void;

export interface ContentStoreOptions {
  /** How xattrs are read and written (default: the getfattr/setfattr tools). */
  xattrs?: XattrIO;
}

const CHUNK = 1 << 20;
const NO_DIGEST = `sha256:${'0'.repeat(64)}`;

export class ContentStore {
  readonly dir: string;
  /** How this store reads and writes xattrs; tree walkers use the same. */
  readonly xattrs: XattrIO;
  private ready: Promise<void> | undefined;
  /** Operations in progress that gc must wait for (see hold). */
  private active = 0;
  private idle: Array<() => void> = [];
  private collecting: Promise<unknown> | undefined;

  constructor(dir: string, opts: ContentStoreOptions = {}) {
    this.dir = dir;
    this.xattrs = opts.xattrs ?? toolXattrs;
  }

  private get objectsDir(): string {
    return join(this.dir, 'objects', 'sha256');
  }

  private get ingestDir(): string {
    return join(this.dir, 'ingest');
  }

  /** Creates the layout (idempotent); every method calls it. */
  init(): Promise<void> {
    this.ready ??= (async () => {
      await fs.mkdir(this.dir, { recursive: true, mode: 0o700 });
      await fs.chmod(this.dir, 0o700);
      await fs.mkdir(this.objectsDir, { recursive: true, mode: 0o700 });
      await fs.mkdir(this.ingestDir, { recursive: true, mode: 0o700 });
    })().catch((err) => {
      this.ready = undefined;
      throw new Internal(`cannot create the content store at ${this.dir}: ${(err as Error).message}`, { cause: err });
    });
    return this.ready;
  }

  /** The file system device of the store, to check that trees are on the same one. */
  async device(): Promise<number> {
    await this.init();
    return (await fs.stat(this.dir)).dev;
  }

  /**
   * Runs `work` while gc waits: objects ingested inside `work` are safe from gc until they are
   * linked into a tree. Ingest-then-link sequences must run inside one hold. Holds run
   * concurrently with each other; a gc waits for all of them and holds wait for a running gc.
   */
  async hold<T>(work: () => Promise<T>): Promise<T> {
    while (this.collecting) await this.collecting.catch(() => undefined);
    this.active++;
    try {
      return await work();
    } finally {
      if (--this.active === 0) for (const wake of this.idle.splice(0)) wake();
    }
  }

  path(digest: string): string {
    const hex = hexOf(digest);
    return join(this.objectsDir, hex.slice(0, 2), hex);
  }

  async has(digest: string): Promise<boolean> {
    const stat = await fs.lstat(this.path(digest)).catch(() => undefined);
    return stat?.isFile() ?? false;
  }

  /**
   * Copies a regular file into the store. Metadata comes from the file (lstat, and its kept
   * xattrs) unless given in `meta`; the copy has it exactly. Refuses a symlink or non-regular
   * file, and a file carrying overlayfs private xattrs.
   */
  async ingestFile(srcPath: string, meta: Partial<IngestMeta> = {}): Promise<IngestResult> {
    return this.hold(async () => {
      await this.init();
      let src: fs.FileHandle;
      try {
        src = await fs.open(srcPath, fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ELOOP') throw new InvalidArgument(`cannot store ${srcPath}: it is a symlink, not a regular file`);
        if (code === 'ENOENT') throw new NotFound(`cannot store ${srcPath}: it does not exist`);
        throw new Internal(`cannot open ${srcPath}: ${(err as Error).message}`, { cause: err });
      }
      try {
        const stat = await src.stat();
        if (!stat.isFile()) throw new InvalidArgument(`cannot store ${srcPath}: it is not a regular file`);
        const xattrs = meta.xattrs ?? keptXattrs(await this.xattrs.read(srcPath), srcPath);
        const full: IngestMeta = {
          mode: meta.mode ?? stat.mode & 0o7777,
          uid: meta.uid ?? stat.uid,
          gid: meta.gid ?? stat.gid,
          xattrs,
          mtime: meta.mtime ?? stat.mtime,
        };
        return await this.ingest(full, {}, async (write) => {
          const buffer = Buffer.allocUnsafe(CHUNK);
          for (;;) {
            const { bytesRead } = await src.read(buffer, 0, CHUNK, null);
            if (bytesRead === 0) break;
            await write(buffer.subarray(0, bytesRead));
          }
        });
      } finally {
        await src.close();
      }
    });
  }

  /**
   * Stores the bytes of `stream` as an object with metadata `meta`, for imports of untrusted
   * files: with `expectedDigest` (and/or `expectedContentDigest`, `expectedSize`) a mismatch is
   * refused with InvalidArgument and nothing becomes visible; `maxBytes` stops a stream that
   * goes on too long. The stream is consumed up to where it was refused.
   */
  async ingestStream(
    stream: AsyncIterable<Buffer | Uint8Array>,
    meta: IngestMeta,
    opts: IngestStreamOptions = {},
  ): Promise<IngestResult> {
    return this.hold(async () => {
      await this.init();
      return this.ingest(meta, opts, async (write) => {
        for await (const chunk of stream) await write(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
      });
    });
  }

  /**
   * The ingest protocol: write under ingest/ while hashing, check, set metadata, then link into
   * objects/ unless present. link(2) never replaces, so an object, once visible, stays the
   * inode that trees link to. The ingest file is always removed.
   */
  private async ingest(
    meta: IngestMeta,
    opts: IngestStreamOptions,
    fill: (write: (chunk: Buffer) => Promise<void>) => Promise<void>,
  ): Promise<IngestResult> {
    objectDigest(meta, NO_DIGEST); // validates the metadata before any byte is copied
    const tmp = join(this.ingestDir, randomBytes(16).toString('hex'));
    const out = await fs.open(tmp, fsc.O_CREAT | fsc.O_EXCL | fsc.O_WRONLY | fsc.O_NOFOLLOW, 0o600);
    let closed = false;
    try {
      const hash = createHash('sha256');
      let size = 0;
      const limit = Math.min(opts.maxBytes ?? Infinity, opts.expectedSize ?? Infinity);
      await fill(async (chunk) => {
        size += chunk.length;
        if (size > limit) {
          throw new InvalidArgument(opts.expectedSize !== undefined && size > opts.expectedSize
            ? `object content is longer than the expected ${opts.expectedSize} bytes: refusing it`
            : `object content goes over the limit of ${opts.maxBytes} bytes: refusing it`);
        }
        hash.update(chunk);
        for (let written = 0; written < chunk.length;) written += (await out.write(chunk, written)).bytesWritten;
      });
      const contentDigest = `sha256:${hash.digest('hex')}`;
      if (opts.expectedSize !== undefined && size !== opts.expectedSize) {
        throw new InvalidArgument(`object content is ${size} bytes, not the expected ${opts.expectedSize}: refusing it (truncated?)`);
      }
      if (opts.expectedContentDigest !== undefined && contentDigest !== opts.expectedContentDigest) {
        throw new InvalidArgument(`object content has digest ${contentDigest}, not the expected ${opts.expectedContentDigest}: refusing it`);
      }
      const digest = objectDigest(meta, contentDigest);
      if (opts.expectedDigest !== undefined && digest !== opts.expectedDigest) {
        throw new InvalidArgument(`object has digest ${digest}, not the expected ${opts.expectedDigest}: refusing it`);
      }
      const final = this.path(digest);
      if (await this.has(digest)) return { digest, contentDigest, size, created: false };
      // Owner first: chown clears setuid, setgid and security.capability, which come after.
      await out.chown(meta.uid, meta.gid);
      await out.chmod(meta.mode);
      if (meta.xattrs && Object.keys(meta.xattrs).length > 0) await this.xattrs.write(tmp, meta.xattrs);
      if (meta.mtime) await out.utimes(utimeOf(meta.mtime.getTime()), utimeOf(meta.mtime.getTime()));
      await out.close();
      closed = true;
      await fs.mkdir(join(final, '..'), { recursive: true, mode: 0o700 });
      try {
        await fs.link(tmp, final);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') return { digest, contentDigest, size, created: false };
        throw err;
      }
      return { digest, contentDigest, size, created: true };
    } catch (err) {
      if (err instanceof StrataError) throw err;
      throw new Internal(`cannot store an object in ${this.dir}: ${(err as Error).message}`, { cause: err });
    } finally {
      if (!closed) await out.close().catch(() => undefined);
      await fs.unlink(tmp).catch(() => undefined);
    }
  }

  /**
   * Hardlinks the object at `targetPath` (which must not exist; its parent must). Should the
   * object have reached the file system's link limit (65000 on ext4), the target gets a copy
   * with the same metadata instead: correct, but not shared.
   */
  async linkInto(digest: string, targetPath: string): Promise<void> {
    const source = this.path(digest);
    try {
      await fs.link(source, targetPath);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EMLINK') return this.copyObject(source, targetPath);
      if (code === 'EXDEV') throw crossDevice(this.dir, targetPath, err);
      if (code === 'EEXIST') throw new AlreadyExists(`cannot link object ${digest} at ${targetPath}: something is already there`, { cause: err });
      if (code === 'ENOENT' && !(await this.has(digest))) throw new NotFound(`object ${digest} is not in the content store ${this.dir}: ingest it first`, { cause: err });
      throw new Internal(`cannot link object ${digest} at ${targetPath}: ${(err as Error).message}`, { cause: err });
    }
  }

  private async copyObject(source: string, target: string): Promise<void> {
    const stat = await fs.lstat(source);
    const xattrs = keptXattrs(await this.xattrs.read(source), source);
    await fs.copyFile(source, target, fsc.COPYFILE_EXCL);
    await fs.chown(target, stat.uid, stat.gid);
    await fs.chmod(target, stat.mode & 0o7777);
    if (Object.keys(xattrs).length > 0) await this.xattrs.write(target, xattrs);
    await fs.utimes(target, utimeOf(Math.floor(stat.atimeMs)), utimeOf(Math.floor(stat.mtimeMs)));
  }

  /** Re-hashes the content and metadata of every object and reports those that do not match their name. */
  async verify(onProgress?: StoreProgress): Promise<VerifyResult> {
    return this.hold(async () => {
      await this.init();
      const { objects, strays } = await this.list();
      const xattrs = await this.xattrs.readTree(this.objectsDir);
      const bad = [...strays];
      let checked = 0;
      for (const { digest, path } of objects) {
        const stat = await fs.lstat(path).catch(() => undefined);
        let ok = false;
        if (stat?.isFile()) {
          try {
            const kept = keptXattrs(xattrs.get(path) ?? {}, path);
            const content = await hashFile(path);
            ok = objectDigest({ mode: stat.mode & 0o7777, uid: stat.uid, gid: stat.gid, xattrs: kept }, content) === digest;
          } catch {
            ok = false;
          }
        }
        if (!ok) bad.push(digest);
        checked++;
        onProgress?.({ done: checked, total: objects.length });
      }
      return { checked, bad };
    });
  }

  /**
   * Removes the objects that nothing uses: link count 1 (the store's own name is the only one,
   * so no template tree has a hardlink to it) and not in `referenced` (digests the caller keeps
   * without a tree, e.g. objects of a template being assembled). Runs alone: it waits for every
   * hold to end and holds wait for it, so an object ingested but not yet linked is never taken.
   * Also empties ingest/ (no ingest can be in progress then). Only this process is coordinated:
   * one daemon owns the store.
   */
  async gc(referenced: Set<string>): Promise<GcResult> {
    while (this.collecting) await this.collecting.catch(() => undefined);
    while (this.active > 0) await new Promise<void>((resolve) => this.idle.push(resolve));
    const run = (async () => {
      await this.init();
      let removed = 0;
      let bytes = 0;
      const { objects } = await this.list();
      for (const { digest, path } of objects) {
        const stat = await fs.lstat(path).catch(() => undefined);
        if (!stat?.isFile() || stat.nlink !== 1 || referenced.has(digest)) continue;
        await fs.unlink(path);
        removed++;
        bytes += stat.size;
      }
      await this.cleanIngest();
      return { removed, bytes };
    })();
    this.collecting = run;
    try {
      return await run;
    } finally {
      this.collecting = undefined;
    }
  }

  /** Removes what ingests interrupted by a crash left in ingest/. Call when no ingest runs (start-up). */
  async cleanIngest(): Promise<void> {
    await this.init();
    for (const name of await fs.readdir(this.ingestDir)) await fs.rm(join(this.ingestDir, name), { force: true, recursive: true });
  }

  async df(): Promise<StoreUsage> {
    await this.init();
    const usage: StoreUsage = { objects: 0, storedBytes: 0, allocatedBytes: 0, unlinked: 0 };
    for (const { path } of (await this.list()).objects) {
      const stat = await fs.lstat(path).catch(() => undefined);
      if (!stat?.isFile()) continue;
      usage.objects++;
      usage.storedBytes += stat.size;
      usage.allocatedBytes += stat.blocks * 512;
      if (stat.nlink === 1) usage.unlinked++;
    }
    return usage;
  }

  /** The object digest of each object's inode, keyed `dev:ino`: which tree file is which object. */
  async inodeIndex(): Promise<Map<string, string>> {
    await this.init();
    const index = new Map<string, string>();
    for (const { digest, path } of (await this.list()).objects) {
      const stat = await fs.lstat(path).catch(() => undefined);
      if (stat?.isFile()) index.set(`${stat.dev}:${stat.ino}`, digest);
    }
    return index;
  }

  /** The objects by name, and whatever else is in objects/ (reported by verify). */
  private async list(): Promise<{ objects: Array<{ digest: string; path: string }>; strays: string[] }> {
    const objects: Array<{ digest: string; path: string }> = [];
    const strays: string[] = [];
    for (const prefix of (await fs.readdir(this.objectsDir)).sort()) {
      const sub = join(this.objectsDir, prefix);
      if (!/^[0-9a-f]{2}$/.test(prefix) || !(await fs.lstat(sub)).isDirectory()) {
        strays.push(`objects/sha256/${prefix}`);
        continue;
      }
      for (const hex of (await fs.readdir(sub)).sort()) {
        if (/^[0-9a-f]{64}$/.test(hex) && hex.startsWith(prefix)) objects.push({ digest: `sha256:${hex}`, path: join(sub, hex) });
        else strays.push(`objects/sha256/${prefix}/${hex}`);
      }
    }
    return { objects, strays };
  }
}

/**
 * The xattrs of `xattrs` that the store keeps. Overlayfs private xattrs are refused (a file
 * carrying them comes from an overlay upper directory and must be translated first); the other
 * names that are not kept (security.selinux, ACLs…) are dropped.
 */
export function keptXattrs(xattrs: Xattrs, path: string): Xattrs {
  const kept: Xattrs = {};
  for (const [name, value] of Object.entries(xattrs)) {
    const why = xattrRefusal(name);
    if (why === undefined) kept[name] = value;
    else if (name.startsWith('trusted.overlay.') || name.startsWith('user.overlay.')) {
      throw new InvalidArgument(`${path} carries the xattr ${name}, which ${why}: translate overlay whiteouts and opaque directories before storing the tree`);
    }
  }
  return kept;
}

export async function hashFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  const handle = await fs.open(path, fsc.O_RDONLY | fsc.O_NOFOLLOW);
  try {
    const buffer = Buffer.allocUnsafe(CHUNK);
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, CHUNK, null);
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
    }
  } finally {
    await handle.close();
  }
  return `sha256:${hash.digest('hex')}`;
}

export function crossDevice(store: string, target: string, cause?: unknown): FailedPrecondition {
  return new FailedPrecondition(
    `the content store ${store} and ${target} are on different file systems, and hardlinks cannot cross them: keep the store and the template trees under the same data root`,
    { cause },
  );
}
