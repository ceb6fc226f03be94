/**
 * `loop-ext4` (the default where the host offers no project quotas): one sparse ext4 image per
 * container under <root>/pool, loop-mounted on its private area. The limit is hard (ENOSPC
 * inside), `df /` inside shows it (overlayfs reports its upper layer), growing works online
 * (truncate, loop capacity refresh, resize2fs) and shrinking offline. An image costs only the
 * blocks written.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { FailedPrecondition, ToolError } from '../../../errors/index.js';
import { decodeDev } from '../../../model/index.js';
import { run } from '../../../util/exec.js';
import { mountedTargets, unmountTargets } from '../../mounts.js';
import type { DriverCapabilities, VolumeDriver, VolumeUsage } from '../driver.js';

async function statfsUsage(mountpoint: string): Promise<{ size: number; used: number }> {
  const s = await fsp.statfs(mountpoint);
  return { size: s.blocks * s.bsize, used: (s.blocks - s.bfree) * s.bsize };
}

export class LoopExt4Driver implements VolumeDriver {
  readonly name = 'loop-ext4';
  readonly capabilities: DriverCapabilities = { quota: true, growOnline: true, shrinkOnline: false, snapshots: false, dfShowsLimit: true };

  constructor(private readonly dir: string) {}

  async rename(volume: string, to: string): Promise<void> {
    await fsp.rename(this.image(volume), this.image(to));
  }

  private image(volume: string): string {
    return join(this.dir, `${volume}.img`);
  }

  async create(volume: string, sizeBytes: number): Promise<void> {
    await fsp.mkdir(this.dir, { recursive: true, mode: 0o700 });
    const img = this.image(volume);
    const fh = await fsp.open(img, 'wx', 0o600);
    try {
      await fh.truncate(sizeBytes);
    } finally {
      await fh.close();
    }
    try {
      // No reserved blocks: the limit the operator set is what the container gets.
      await run(['mkfs.ext4', '-q', '-F', '-m', '0', '-E', 'lazy_itable_init=1,lazy_journal_init=1', img], { context: `making the disk of ${volume}` });
    } catch (err) {
      await fsp.rm(img, { force: true });
      throw err;
    }
  }

  async activate(volume: string, mountpoint: string): Promise<void> {
    if (mountedTargets().has(mountpoint)) return;
    await fsp.mkdir(mountpoint, { recursive: true, mode: 0o700 });
    // nosuid,nodev: a file of the private area run by its host path grants nothing (the overlay above has its own flags).
    await run(['mount', '-o', 'loop,noatime,nosuid,nodev', this.image(volume), mountpoint], { context: `mounting the disk of ${volume}` });
  }

  deactivate(mountpoint: string): Promise<void> {
    return unmountTargets([mountpoint]);
  }

  private async loopDevice(volume: string): Promise<string | null> {
    const { stdout } = await run(['losetup', '--associated', this.image(volume), '--noheadings', '--output', 'NAME']);
    return stdout.trim().split('\n')[0] || null;
  }

  async resize(volume: string, mountpoint: string, sizeBytes: number): Promise<void> {
    const img = this.image(volume);
    const current = (await fsp.stat(img)).size;
    if (sizeBytes === current) return;
    const mounted = mountedTargets().has(mountpoint);
    if (sizeBytes > current) {
      await fsp.truncate(img, sizeBytes);
      const loop = mounted ? await this.loopDevice(volume) : null;
      if (loop) {
        await run(['losetup', '--set-capacity', loop], { context: `growing the disk of ${volume}` });
        const res = await run(['resize2fs', loop], { allowFailure: true });
        if (res.status !== 0) {
          await fsp.truncate(img, current);
          await run(['losetup', '--set-capacity', loop], { allowFailure: true });
          // ext4 grows online only for a process with CAP_SYS_RESOURCE, which some sandboxes withhold.
          if (/Permission denied/.test(res.stderr)) {
            throw new FailedPrecondition(`cannot grow the disk of ${volume} while it is mounted: the kernel refused an online resize (the daemon lacks CAP_SYS_RESOURCE on this host); stop the container and set --disk again`);
          }
          throw new ToolError(['resize2fs', loop], res.status, res.stderr, `growing the disk of ${volume}`);
        }
      } else {
        await run(['e2fsck', '-f', '-p', img], { context: `checking the disk of ${volume}` });
        await run(['resize2fs', img], { context: `growing the disk of ${volume}` });
      }
      return;
    }
    if (mounted) throw new FailedPrecondition(`cannot shrink the disk of ${volume} while it is in use: stop the container first (growing works live)`);
    await run(['e2fsck', '-f', '-p', img], { context: `checking the disk of ${volume}` });
    await run(['resize2fs', img, `${Math.floor(sizeBytes / 1024)}K`], { context: `shrinking the disk of ${volume}` });
    await fsp.truncate(img, sizeBytes);
  }

  async usage(volume: string, mountpoint: string): Promise<VolumeUsage | null> {
    const st = await fsp.stat(this.image(volume)).catch(() => null);
    if (!st) return null;
    const mounted = mountedTargets().has(mountpoint);
    const fs = mounted ? await statfsUsage(mountpoint) : { size: st.size, used: 0 };
    return { limitBytes: fs.size, usedBytes: fs.used, allocatedBytes: st.blocks * 512 };
  }

  async device(volume: string): Promise<{ major: number; minor: number } | null> {
    const loop = await this.loopDevice(volume);
    if (!loop) return null;
    return decodeDev((await fsp.stat(loop)).rdev);
  }

  async remove(volume: string): Promise<void> {
    await fsp.rm(this.image(volume), { force: true });
  }

  async list(): Promise<string[]> {
    const files = await fsp.readdir(this.dir).catch(() => [] as string[]);
    return files.filter((f) => f.endsWith('.img')).map((f) => f.slice(0, -4));
  }
}
