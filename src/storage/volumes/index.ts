/**
 * The volume drivers by name: adding one is a file of this folder and one entry here (and
 * volume.conformance.ts in its test). The daemon picks the default by configuration
 * (`strata daemon --storage-driver NAME`); each volume remembers its own.
 */
import { BtrfsDriver } from './btrfs/index.js';
import type { VolumeDriver } from './driver.js';
import { LoopExt4Driver } from './loop-ext4/index.js';

export type { DriverCapabilities, VolumeDriver } from './driver.js';

export const VOLUME_DRIVERS: Readonly<Record<string, (poolDir: string) => VolumeDriver>> = {
  'loop-ext4': (dir) => new LoopExt4Driver(dir),
  btrfs: (dir) => new BtrfsDriver(dir),
};

export const DEFAULT_VOLUME_DRIVER = 'loop-ext4';
