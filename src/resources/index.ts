/**
 * resources: container limits (CPU, memory, swap, processes, disk I/O, disk
 * size) as plain data, their translation to the OCI runtime spec, and the
 * cgroup drivers that change them live and read usage on cgroup v1 or v2.
 * The disk size is only validated here; storage enforces it. lxcfs lives in
 * `./lxcfs.ts`.
 */
export {
  type Limits, type LimitKey, type HostCapacity, type IoDevice, type OciResources, type ThrottleDevice,
  LIMIT_KEYS, KiB, MiB, GiB, TiB, MIN_MEMORY, MIN_DISK, MAX_PIDS, CPU_PERIOD_US,
  parseSize, formatSize, parseCpuList, formatCpuList, parseLimits, mergeLimits, describeLimits, describeValue, flagOf,
  hostCapacity, toOciResources, weightToShares, sharesToWeight, weightToRuncV2Shares, runcV2SharesToWeight,
} from './limits.js';
export { type CgroupDriver, type CgroupUsage } from './cgroup.js';
export { CGROUP_DRIVERS, detectCgroupDriver } from './drivers.js';
export { ioDeviceOf, decodeDev } from './device.js';
export { CgroupV1 } from './v1.js';
export { CgroupV2 } from './v2.js';
