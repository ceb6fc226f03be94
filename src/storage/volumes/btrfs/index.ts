/**
 * `btrfs`: every volume a subvolume of one btrfs file system with a qgroup limit, as Incus's
 * btrfs driver does. Where the data root is not on btrfs, the file system is a sparse image in
 * the pool (<root>/pool/btrfs.pool, the size of the file system under it; it costs only the
 * blocks written), loop-mounted on <root>/pool/btrfs while it has volumes. A volume is bind
 * mounted on the container's private area. Limits change online both ways; snapshots are
 * instant (copy-on-write). Writes past the limit fail with EDQUOT ("Disk quota exceeded"), and
 * `df` inside the container shows the pool's size, not the limit (qgroups are not statfs).
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { FailedPrecondition, InvalidArgument } from '../../../errors/index.js';
import { decodeDev } from '../../../model/index.js';
import { run } from '../../../util/exec.js';
import { mountedTargets, unmountTargets } from '../../mounts.js';
import type { DriverCapabilities, VolumeDriver, VolumeUsage } from '../driver.js';

/** The inode number of a btrfs subvolume's root directory. */
const SUBVOLUME_INO = 256;

export class BtrfsDriver implements VolumeDriver {
  readonly name = 'btrfs';
  readonly capabilities: DriverCapabilities = { quota: true, growOnline: true, shrinkOnline: true, snapshots: true, dfShowsLimit: false };
  private readonly image: string;
  private readonly mnt: string;
  private ready: Promise<void> | null = null;
  /** Operations one at a time: the pool is unmounted when a listing finds it empty, never under a create. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly dir: string) {
    this.image = join(dir, 'btrfs.pool');
    this.mnt = join(dir, 'btrfs');
  }

  private serial<T>(work: () => Promise<T>): Promise<T> {
    const next = this.queue.then(work, work);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private subvolume(volume: string): string {
    return join(this.mnt, volume);
  }

  /** The pool's btrfs, made on first use and mounted (again after a host reboot), quotas on. */
  private ensurePool(): Promise<void> {
    this.ready ??= this.mountPool().catch((err: unknown) => { this.ready = null; throw err; });
    return this.ready;
  }

  private async mountPool(): Promise<void> {
    await fsp.mkdir(this.mnt, { recursive: true, mode: 0o700 });
    if (mountedTargets().has(this.mnt)) return;
    const fresh = !(await fsp.stat(this.image).catch(() => null));
    if (fresh) {
      const s = await fsp.statfs(this.dir);
      const fh = await fsp.open(this.image, 'wx', 0o600);
      try { await fh.truncate(s.blocks * s.bsize); } finally { await fh.close(); }
      try {
        await run(['mkfs.btrfs', '-q', '-f', this.image], { context: 'making the btrfs storage pool' });
      } catch (err) {
        await fsp.rm(this.image, { force: true });
        throw toolMissing(err);
      }
    }
    await run(['mount', '-o', 'loop,noatime,nosuid,nodev', this.image, this.mnt], { context: 'mounting the btrfs storage pool' });
    if (fresh) await run(['btrfs', 'quota', 'enable', this.mnt], { context: 'enabling quotas on the btrfs storage pool' });
  }

  create(volume: string, sizeBytes: number): Promise<void> {
    return this.serial(() => this.createNow(volume, sizeBytes));
  }

  private async createNow(volume: string, sizeBytes: number): Promise<void> {
    await this.ensurePool();
    const sub = this.subvolume(volume);
    await run(['btrfs', 'subvolume', 'create', sub], { context: `making the disk of ${volume}` });
    try {
      await run(['btrfs', 'qgroup', 'limit', String(sizeBytes), sub], { context: `limiting the disk of ${volume}` });
    } catch (err) {
      await this.removeNow(volume);
      throw err;
    }
  }

  activate(volume: string, mountpoint: string): Promise<void> {
    return this.serial(() => this.activateNow(volume, mountpoint));
  }

  private async activateNow(volume: string, mountpoint: string): Promise<void> {
    await this.ensurePool();
    if (mountedTargets().has(mountpoint)) return;
    await fsp.mkdir(mountpoint, { recursive: true, mode: 0o700 });
    await run(['mount', '--bind', '-o', 'nosuid,nodev', this.subvolume(volume), mountpoint], { context: `mounting the disk of ${volume}` });
  }

  deactivate(mountpoint: string): Promise<void> {
    return unmountTargets([mountpoint]);
  }

  resize(volume: string, _mountpoint: string, sizeBytes: number): Promise<void> {
    return this.serial(() => this.resizeNow(volume, _mountpoint, sizeBytes));
  }

  private async resizeNow(volume: string, _mountpoint: string, sizeBytes: number): Promise<void> {
    await this.ensurePool();
    const now = await this.qgroup(volume);
    if (now && sizeBytes < now.used) {
      throw new InvalidArgument(`the disk of ${volume} holds ${now.used} bytes, more than the ${sizeBytes} asked: free space inside first, or choose a larger --disk`);
    }
    await run(['btrfs', 'qgroup', 'limit', String(sizeBytes), this.subvolume(volume)], { context: `resizing the disk of ${volume}` });
  }

  /** The subvolume's qgroup: bytes referenced, exclusive, and its limit (after a sync: qgroups count at commit). */
  private async qgroup(volume: string): Promise<{ used: number; exclusive: number; limit: number } | null> {
    const sub = this.subvolume(volume);
    const st = await fsp.stat(sub).catch(() => null);
    if (!st || st.ino !== SUBVOLUME_INO) return null;
    await run(['btrfs', 'filesystem', 'sync', this.mnt], { context: 'syncing the btrfs storage pool' });
    const id = (await run(['btrfs', 'subvolume', 'show', sub], { context: `reading the disk of ${volume}` })).stdout.match(/Subvolume ID:\s+(\d+)/)?.[1];
    const { stdout } = await run(['btrfs', 'qgroup', 'show', '-r', '--raw', this.mnt], { context: `reading the disk of ${volume}` });
    for (const line of stdout.split('\n')) {
      const f = line.trim().split(/\s+/);
      if (f[0] !== `0/${id}`) continue;
      return { used: Number(f[1]), exclusive: Number(f[2]), limit: /^\d+$/.test(f[3] ?? '') ? Number(f[3]) : 0 };
    }
    return null;
  }

  usage(volume: string): Promise<VolumeUsage | null> {
    return this.serial(() => this.usageNow(volume));
  }

  private async usageNow(volume: string): Promise<VolumeUsage | null> {
    if (!mountedTargets().has(this.mnt)) {
      if (!(await fsp.stat(this.image).catch(() => null))) return null;
      await this.ensurePool();
    }
    const q = await this.qgroup(volume);
    return q ? { limitBytes: q.limit, usedBytes: q.used, allocatedBytes: q.exclusive } : null;
  }

  async device(): Promise<{ major: number; minor: number } | null> {
    // Every volume is on the pool's loop device: I/O limits apply to it.
    const { stdout } = await run(['losetup', '--associated', this.image, '--noheadings', '--output', 'NAME']);
    const loop = stdout.trim().split('\n')[0];
    return loop ? decodeDev((await fsp.stat(loop)).rdev) : null;
  }

  remove(volume: string): Promise<void> {
    return this.serial(() => this.removeNow(volume));
  }

  private async removeNow(volume: string): Promise<void> {
    const sub = this.subvolume(volume);
    const st = await fsp.stat(sub).catch(() => null);
    if (!st) return;
    await this.ensurePool();
    await run(['btrfs', 'subvolume', 'delete', sub], { context: `removing the disk of ${volume}` });
    // The deleted subvolume's qgroup stays until cleared.
    await run(['btrfs', 'qgroup', 'clear-stale', this.mnt], { allowFailure: true });
    await this.listNow();
  }

  rename(volume: string, to: string): Promise<void> {
    return this.serial(async () => {
      await this.ensurePool();
      await fsp.rename(this.subvolume(volume), this.subvolume(to));
      await fsp.rename(join(this.mnt, '.snapshots', volume), join(this.mnt, '.snapshots', to)).catch((err: NodeJS.ErrnoException) => { if (err.code !== 'ENOENT') throw err; });
    });
  }

  /** Snapshots of a volume live in <pool>/.snapshots/VOLUME/NAME (read-only subvolumes sharing its extents). */
  private snapshotPath(volume: string, name: string): string {
    return join(this.mnt, '.snapshots', volume, name);
  }

  snapshot(volume: string, name: string): Promise<void> {
    return this.serial(async () => {
      await this.ensurePool();
      await fsp.mkdir(join(this.mnt, '.snapshots', volume), { recursive: true, mode: 0o700 });
      await run(['btrfs', 'subvolume', 'snapshot', '-r', this.subvolume(volume), this.snapshotPath(volume, name)], { context: `snapshotting the disk of ${volume}` });
    });
  }

  restoreSnapshot(volume: string, name: string): Promise<void> {
    return this.serial(() => this.replaceBy(volume, this.snapshotPath(volume, name), `restoring the disk of ${volume}`));
  }

  cloneFrom(volume: string, source: string): Promise<void> {
    return this.serial(() => this.replaceBy(volume, this.subvolume(source), `copying the disk of ${source} to ${volume}`));
  }

  /** The volume's files become a writable snapshot of the subvolume `from`, its limit kept; a failure puts them back. */
  private async replaceBy(volume: string, from: string, context: string): Promise<void> {
    await this.ensurePool();
    const limit = (await this.qgroup(volume))?.limit ?? 0;
    const sub = this.subvolume(volume);
    const aside = `${sub}.restoring`;
    await fsp.rename(sub, aside);
    try {
      await run(['btrfs', 'subvolume', 'snapshot', from, sub], { context });
      if (limit) await run(['btrfs', 'qgroup', 'limit', String(limit), sub], { context: `limiting the disk of ${volume}` });
    } catch (err) {
      await run(['btrfs', 'subvolume', 'delete', sub], { allowFailure: true });
      await fsp.rename(aside, sub);
      throw err;
    }
    await run(['btrfs', 'subvolume', 'delete', aside], { context: `removing the replaced disk of ${volume}` });
    await run(['btrfs', 'qgroup', 'clear-stale', this.mnt], { allowFailure: true });
  }

  removeSnapshot(volume: string, name: string): Promise<void> {
    return this.serial(async () => {
      const path = this.snapshotPath(volume, name);
      if (!(await fsp.stat(path).catch(() => null))) return;
      await this.ensurePool();
      await run(['btrfs', 'subvolume', 'delete', path], { context: `removing a snapshot of ${volume}` });
      await fsp.rmdir(join(this.mnt, '.snapshots', volume)).catch(() => undefined);
      await fsp.rmdir(join(this.mnt, '.snapshots')).catch(() => undefined);
      await run(['btrfs', 'qgroup', 'clear-stale', this.mnt], { allowFailure: true });
    });
  }

  /** The pool is mounted while it has volumes, no longer: the host's mount table keeps nothing. */
  private async unmountIfEmpty(names: string[]): Promise<void> {
    if (names.length) return;
    this.ready = null;
    await run(['umount', this.mnt], { allowFailure: true });
  }

  list(): Promise<string[]> {
    return this.serial(() => this.listNow());
  }

  private async listNow(): Promise<string[]> {
    if (!(await fsp.stat(this.image).catch(() => null))) return [];
    await this.ensurePool();
    const names: string[] = [];
    for (const name of await fsp.readdir(this.mnt)) {
      const st = await fsp.stat(join(this.mnt, name)).catch(() => null);
      if (st?.isDirectory() && st.ino === SUBVOLUME_INO) names.push(name);
    }
    await this.unmountIfEmpty(names);
    return names;
  }
}

function toolMissing(err: unknown): unknown {
  if (err instanceof Error && /ENOENT|not found/.test(err.message)) {
    return new FailedPrecondition('mkfs.btrfs is not installed, and the btrfs storage driver needs it: run \'apt-get install btrfs-progs\' (the set-up does it)', { cause: err });
  }
  return err;
}
