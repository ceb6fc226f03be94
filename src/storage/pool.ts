/**
 * The storage pool: where private areas with a hard size limit live. Drivers
 * only do volume operations and never touch the database; callers branch on
 * their declared capabilities, never on a driver's name (after Incus).
 *
 * The drivers are in volumes/ (loop-ext4, btrfs); the pool creates new volumes with the
 * default one (the daemon's configuration) and reaches each existing volume through the driver
 * recorded for it, so that changing the default strands nothing.
 */
import { promises as fsp } from 'node:fs';
import { InvalidArgument } from '../errors/index.js';
import { GiB, MiB } from '../model/units.js';
import { DEFAULT_VOLUME_DRIVER, VOLUME_DRIVERS, type DriverCapabilities, type VolumeDriver } from './volumes/index.js';

export type { VolumeDriver } from './volumes/index.js';


/** The minimum size of a disk-limited private area (ext4 metadata needs room). */
const MIN_DISK = 16 * MiB;

export interface PoolView {
  /** The driver of new volumes. */
  driver: string;
  capabilities: DriverCapabilities;
  /** Volumes per driver that has any. */
  volumesByDriver: Record<string, number>;
  path: string;
  volumes: number;
  /** Sum of the volumes' limits. */
  provisionedBytes: number;
  /** Bytes used inside the volumes. */
  usedBytes: number;
  /** Bytes the volumes take on the host's disk. */
  allocatedBytes: number;
  hostSizeBytes: number;
  hostFreeBytes: number;
}

export class Pool {
  /** The driver of new volumes. */
  readonly driver: VolumeDriver;
  private readonly drivers = new Map<string, VolumeDriver>();

  constructor(readonly path: string, defaultDriver = DEFAULT_VOLUME_DRIVER) {
    this.driver = this.driverNamed(defaultDriver);
  }

  /** The driver called `name`, as recorded for a volume. */
  driverNamed(name: string): VolumeDriver {
    const known = this.drivers.get(name);
    if (known) return known;
    const make = VOLUME_DRIVERS[name];
    if (!make) throw new InvalidArgument(`unknown storage driver ${JSON.stringify(name)}: use one of ${Object.keys(VOLUME_DRIVERS).join(', ')}`);
    const driver = make(this.path);
    this.drivers.set(name, driver);
    return driver;
  }

  /** Every volume of every driver: [driver name, volume]. */
  async volumes(): Promise<Array<[string, string]>> {
    const out: Array<[string, string]> = [];
    for (const name of Object.keys(VOLUME_DRIVERS)) for (const v of await this.driverNamed(name).list()) out.push([name, v]);
    return out;
  }

  /** Refuses a disk limit the pool cannot honour. */
  async checkSize(sizeBytes: number): Promise<void> {
    if (sizeBytes < MIN_DISK) throw new InvalidArgument(`disk limit ${sizeBytes} bytes is too small: use 16M or more`);
    await fsp.mkdir(this.path, { recursive: true, mode: 0o700 });
    const s = await fsp.statfs(this.path);
    if (sizeBytes > s.blocks * s.bsize) throw new InvalidArgument(`disk limit of ${(sizeBytes / GiB).toFixed(1)} GiB is larger than the file system holding the pool (${((s.blocks * s.bsize) / GiB).toFixed(1)} GiB): choose a smaller --disk`);
  }

  async view(mounts: (volume: string) => string): Promise<PoolView> {
    await fsp.mkdir(this.path, { recursive: true, mode: 0o700 });
    const volumes = await this.volumes();
    let provisioned = 0;
    let used = 0;
    let allocated = 0;
    const byDriver: Record<string, number> = {};
    for (const [driver, v] of volumes) {
      byDriver[driver] = (byDriver[driver] ?? 0) + 1;
      const u = await this.driverNamed(driver).usage(v, mounts(v));
      if (!u) continue;
      provisioned += u.limitBytes;
      used += u.usedBytes;
      allocated += u.allocatedBytes;
    }
    const s = await fsp.statfs(this.path);
    return {
      driver: this.driver.name, capabilities: this.driver.capabilities, volumesByDriver: byDriver, path: this.path, volumes: volumes.length,
      provisionedBytes: provisioned, usedBytes: used, allocatedBytes: allocated,
      hostSizeBytes: s.blocks * s.bsize, hostFreeBytes: s.bavail * s.bsize,
    };
  }
}
