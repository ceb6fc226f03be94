/**
 * Plain data that every layer shares (no I/O; nothing of Strata but its errors): a container's id
 * range, a block device's numbers, and sizes (units.ts). Leaves (runtime, storage, resources, network) import these
 * instead of importing each other.
 */

/** A container's user namespace range on the host. */
export interface IdMap {
  /** First host id of the container's range; container id 0 maps here. */
  hostBase: number;
  size: number;
}

/** A block device, as cgroups and /sys/dev/block name it. */
export interface IoDevice {
  major: number;
  minor: number;
}

/** Major and minor of a `st_dev` as the kernel encodes it (new_encode_dev). */
export function decodeDev(dev: number): IoDevice {
  return { major: (dev >> 8) & 0xfff, minor: (dev & 0xff) | ((dev >> 12) & 0xfff00) };
}
