/**
 * resources: container limits (CPU, memory, swap, processes, disk I/O, disk
 * size) as plain data, their translation to the OCI runtime spec, and the
 * cgroup drivers that change them live and read usage on cgroup v1 or v2.
 * The disk size is only validated here; storage enforces it. lxcfs lives in
 * `./lxcfs.ts`.
 */
export {
  type Limits, type HostCapacity, type IoDevice,
  parseLimits, mergeLimits, describeLimits,
  hostCapacity, toOciResources,
} from './limits.js';
/** Kept here for the orchestrator's messages; sizes live in model/units. */
export { formatSize } from '../model/units.js';
export { type CgroupDriver, type CgroupUsage } from './cgroup.js';
export { detectCgroupDriver } from './drivers.js';
export { ioDeviceOf } from './device.js';
export { HostUsageReader } from './host-usage.js';
