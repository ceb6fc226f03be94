/**
 * The cgroup driver interface: live limits and usage of one container's
 * cgroup, whichever cgroup layout the host has. Two implementations beside
 * it, picked by `drivers.ts` — `v1.ts` (one hierarchy per controller, also the v1/v2 hybrid) and
 * `v2.ts` (the unified hierarchy) — and one conformance suite
 * (`cgroup.conformance.ts`) that both pass. It does not create or remove
 * cgroups: runc does, from the OCI spec (`toOciResources`), at start and delete.
 *
 * Lifecycle, worked example:
 *
 *   const cg = detectCgroupDriver();              // once, at daemon start (drivers.ts)
 *   // runc has created `strata-ab12cd34ef/web1` under every hierarchy
 *   await cg.apply('strata-ab12cd34ef/web1', { memory: 512 * MiB, pids: null }, dev);
 *   const u = await cg.read('strata-ab12cd34ef/web1');   // null once it is gone
 *   const pids = await cg.procs('strata-ab12cd34ef/web1');
 */
import type { IoDevice, Limits } from './limits.js';

/** What a container's cgroup has used, as the kernel counts it now (since the cgroup was created). */
export interface CgroupUsage {
  cpuUsageNs: number;
  memoryBytes: number;
  /** null when unlimited. */
  memoryLimitBytes: number | null;
  /** null when the kernel does not keep a peak (cgroup v2 before Linux 5.19). */
  memoryPeakBytes: number | null;
  /** null when the kernel does not account swap. */
  swapBytes: number | null;
  pids: number;
  pidsLimit: number | null;
  ioReadBytes: number;
  ioWriteBytes: number;
  ioReadOps: number;
  ioWriteOps: number;
  /** Processes the kernel killed at the memory limit. */
  oomKills: number;
}

export interface CgroupDriver {
  readonly version: 1 | 2;
  /**
   * Live update of a running container's limits: writes the cgroup files
   * directly, only for the fields that are not undefined (null = remove the
   * limit). All or nothing: when the kernel refuses one write, the files
   * already written are restored and the refusal is thrown as a clear
   * InvalidArgument / FailedPrecondition naming the limit. I/O rates need
   * `ioDevice`. `disk` is ignored (storage's business).
   * `path` is the cgroup path relative to each hierarchy root.
   */
  apply(path: string, limits: Limits, ioDevice?: IoDevice): Promise<void>;
  /** Usage now; null when the cgroup does not exist. */
  read(path: string): Promise<CgroupUsage | null>;
  /** Host pids of every process in the cgroup and below it, sorted; [] when it does not exist. */
  procs(path: string): Promise<number[]>;
  /**
   * Hands the cgroup's subtree to the container's root (host id `owner`), the way systemd
   * expects a delegated subtree: the directory and the files that move processes and enable
   * controllers become its own, in every hierarchy; the limit files stay host root's, so the
   * limits set by Strata hold from above and cannot be raised from inside.
   */
  delegate(path: string, owner: number): Promise<void>;
  /**
   * Makes a grouping cgroup (a tenant's, above its containers') with the cpu, memory and pids
   * controllers, so that `apply` can set ceilings that hold for everything below it. Idempotent.
   */
  makeGroup(path: string): Promise<void>;
}
