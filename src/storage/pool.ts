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
import { FailedPrecondition, InvalidArgument } from '../errors/index.js';
import { GiB, MiB } from '../model/units.js';
import { DEFAULT_VOLUME_DRIVER, VOLUME_DRIVERS, type DriverCapabilities, type VolumeDriver } from './volumes/index.js';
import type { VolumeUsage } from './volumes/driver.js';



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

/** A volume as its callers name it: the driver recorded for it, its name, and where its files appear. */
export interface VolumeRef {
  driver: string;
  volume: string;
  mountpoint: string;
}

export class Pool {
  /** The driver of new volumes. */
  readonly driver: VolumeDriver;
  private readonly drivers = new Map<string, VolumeDriver>();

  constructor(readonly path: string, defaultDriver = DEFAULT_VOLUME_DRIVER) {
    this.driver = this.driverNamed(defaultDriver);
  }

  /** The driver called `name`, as recorded for a volume. */
  private driverNamed(name: string): VolumeDriver {
    const known = this.drivers.get(name);
    if (known) return known;
    const make = VOLUME_DRIVERS[name];
    if (!make) throw new InvalidArgument(`unknown storage driver ${JSON.stringify(name)}: use one of ${Object.keys(VOLUME_DRIVERS).join(', ')}`);
    const driver = make(this.path);
    this.drivers.set(name, driver);
    return driver;
  }

  /** The name of the driver of new volumes, to record with each. */
  get defaultDriver(): string {
    return this.driver.name;
  }

  // The volume operations: callers name the volume (VolumeRef); the pool picks its driver.

  create(ref: VolumeRef, sizeBytes: number): Promise<void> {
    return this.driverNamed(ref.driver).create(ref.volume, sizeBytes);
  }

  activate(ref: VolumeRef): Promise<void> {
    return this.driverNamed(ref.driver).activate(ref.volume, ref.mountpoint);
  }

  deactivate(ref: VolumeRef): Promise<void> {
    return this.driverNamed(ref.driver).deactivate(ref.mountpoint);
  }

  usage(ref: VolumeRef): Promise<VolumeUsage | null> {
    return this.driverNamed(ref.driver).usage(ref.volume, ref.mountpoint);
  }

  /** The block device (major:minor) that holds the volume's data, for I/O limits. */
  device(ref: Pick<VolumeRef, 'driver' | 'volume'>): Promise<{ major: number; minor: number } | null> {
    return this.driverNamed(ref.driver).device(ref.volume);
  }

  remove(ref: Pick<VolumeRef, 'driver' | 'volume'>): Promise<void> {
    return this.driverNamed(ref.driver).remove(ref.volume);
  }

  /**
   * Resizes a volume. One in use (its container runs) is resized online, which its driver's
   * capabilities must allow (and the driver refuses what it cannot do live, e.g. an ext4 shrink);
   * one not in use is unmounted, resized and mounted again.
   */
  async resize(ref: VolumeRef, sizeBytes: number, opts: { inUse: boolean }): Promise<void> {
    const driver = this.driverNamed(ref.driver);
    if (opts.inUse) {
      if (!driver.capabilities.growOnline && !driver.capabilities.shrinkOnline) {
        throw new FailedPrecondition(`the disk of ${ref.volume} (${driver.name}) cannot be resized while it is in use: stop the container first`);
      }
      return driver.resize(ref.volume, ref.mountpoint, sizeBytes);
    }
    await driver.deactivate(ref.mountpoint);
    try {
      await driver.resize(ref.volume, ref.mountpoint, sizeBytes);
    } finally {
      await driver.activate(ref.volume, ref.mountpoint);
    }
  }

  rename(ref: Pick<VolumeRef, 'driver' | 'volume'>, to: string): Promise<void> {
    return this.driverNamed(ref.driver).rename(ref.volume, to);
  }

  /** Whether the volume's driver makes instant snapshots (else a snapshot is a copy of the files). */
  snapshots(ref: Pick<VolumeRef, 'driver'>): boolean {
    const d = this.driverNamed(ref.driver);
    return d.capabilities.snapshots && !!d.snapshot && !!d.restoreSnapshot && !!d.removeSnapshot;
  }

  snapshot(ref: Pick<VolumeRef, 'driver' | 'volume'>, name: string): Promise<void> {
    return this.driverNamed(ref.driver).snapshot!(ref.volume, name);
  }

  /** Puts a snapshot back: the volume is unmounted for it and mounted again. */
  async restoreSnapshot(ref: VolumeRef, name: string): Promise<void> {
    const driver = this.driverNamed(ref.driver);
    await driver.deactivate(ref.mountpoint);
    try {
      await driver.restoreSnapshot!(ref.volume, name);
    } finally {
      await driver.activate(ref.volume, ref.mountpoint);
    }
  }

  /**
   * Makes `target`'s files an instant copy of `source`'s where their driver can (the same one,
   * snapshotting): false when it cannot, and the caller copies. The target is unmounted meanwhile.
   */
  async cloneFrom(target: VolumeRef, source: Pick<VolumeRef, 'driver' | 'volume'>): Promise<boolean> {
    const driver = this.driverNamed(target.driver);
    if (target.driver !== source.driver || !driver.cloneFrom) return false;
    await driver.deactivate(target.mountpoint);
    try {
      await driver.cloneFrom(target.volume, source.volume);
    } finally {
      await driver.activate(target.volume, target.mountpoint);
    }
    return true;
  }

  removeSnapshot(ref: Pick<VolumeRef, 'driver' | 'volume'>, name: string): Promise<void> {
    return this.driverNamed(ref.driver).removeSnapshot!(ref.volume, name);
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
