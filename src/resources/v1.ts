/**
 * The cgroup v1 driver: one hierarchy per controller under the root
 * (`<root>/cpu`, `cpuacct`, `cpuset`, `memory`, `pids`, `blkio`), the layout
 * of v1 and of the v1/v2 hybrid (where the v2 tree holds no controller we
 * use). The container's cgroup has the same relative path under each.
 * It writes and reads files; runc creates and removes the cgroups.
 */
import { promises as fsp, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { FailedPrecondition } from '../errors/index.js';
import type { CgroupDriver, CgroupUsage } from './cgroup.js';
import { delegateDir, fileExists, isDir, procsBelow, readLimit, readNow, readText, WriteJournal } from './cgroupfs.js';
import { CPU_PERIOD_US, cpuQuotaOf, noIoDevice, weightToShares, type IoDevice, type LimitKey, type Limits } from './limits.js';

/** The defaults a removed limit returns to. */
const DEFAULT_SHARES = 1024;
/** bfq's default weight (also Strata's); CFQ's blkio.weight defaulted to 500. */
const DEFAULT_BFQ_WEIGHT = 100;
const DEFAULT_CFQ_WEIGHT = 500;

const THROTTLE: Array<[LimitKey, string]> = [
  ['ioReadBps', 'blkio.throttle.read_bps_device'], ['ioWriteBps', 'blkio.throttle.write_bps_device'],
  ['ioReadIops', 'blkio.throttle.read_iops_device'], ['ioWriteIops', 'blkio.throttle.write_iops_device'],
];

function noSwapAccounting(): FailedPrecondition {
  return new FailedPrecondition('cannot set --swap: this host has no swap accounting (no memory.memsw.limit_in_bytes): give --swap none (or 0), or boot the host with swapaccount=1');
}

export class CgroupV1 implements CgroupDriver {
  readonly version = 1 as const;

  constructor(readonly root = '/sys/fs/cgroup') {}

  private file(controller: string, path: string, name: string): string {
    return join(this.root, controller, path, name);
  }

  async makeGroup(path: string): Promise<void> {
    // Only the hierarchies whose ceilings a group sets; runc makes the rest of a container's path.
    for (const c of ['cpu', 'cpuacct', 'memory', 'pids']) await fsp.mkdir(join(this.root, c, path), { recursive: true });
  }

  private async exists(path: string): Promise<boolean> {
    for (const c of ['memory', 'pids', 'cpu', 'cpuacct']) if (await isDir(join(this.root, c, path))) return true;
    return false;
  }

  async apply(path: string, limits: Limits, ioDevice?: IoDevice): Promise<void> {
    // Refusals that need no kernel come before the first write.
    for (const [key] of THROTTLE) if (limits[key] !== undefined && !ioDevice) throw noIoDevice(key);
    const memsw = this.file('memory', path, 'memory.memsw.limit_in_bytes');
    const hasMemsw = await fileExists(memsw);
    if (typeof limits.swap === 'number' && limits.swap > 0 && !hasMemsw) throw noSwapAccounting();
    if (!(await this.exists(path))) {
      throw new FailedPrecondition(`the cgroup ${path} does not exist under ${this.root}: the container is not running; start it, or change the limits while it is stopped (they apply at the next start)`);
    }

    const j = new WriteJournal();
    try {
      if (limits.cpus !== undefined) {
        const quota = this.file('cpu', path, 'cpu.cfs_quota_us');
        if (limits.cpus === null) {
          await j.write(quota, '-1', 'cpus', null);
        } else {
          await j.write(this.file('cpu', path, 'cpu.cfs_period_us'), String(CPU_PERIOD_US), 'cpus', limits.cpus);
          await j.write(quota, String(cpuQuotaOf(limits.cpus)), 'cpus', limits.cpus);
        }
      }
      if (limits.cpuWeight !== undefined) {
        const shares = limits.cpuWeight === null ? DEFAULT_SHARES : weightToShares(limits.cpuWeight);
        await j.write(this.file('cpu', path, 'cpu.shares'), String(shares), 'cpuWeight', limits.cpuWeight);
      }
      if (limits.cpuset !== undefined) {
        // Removing the cpuset gives back every CPU the parent has.
        const cpus = limits.cpuset ?? ((await readText(join(this.root, 'cpuset', dirname(path), 'cpuset.cpus'))) ?? '').trim();
        await j.write(this.file('cpuset', path, 'cpuset.cpus'), cpus, 'cpuset', limits.cpuset);
      }
      if (limits.memory !== undefined || limits.swap !== undefined) await this.applyMemory(j, path, limits, hasMemsw);
      if (limits.pids !== undefined) {
        await j.write(this.file('pids', path, 'pids.max'), limits.pids === null ? 'max' : String(limits.pids), 'pids', limits.pids);
      }
      if (limits.ioWeight !== undefined) {
        const cfq = this.file('blkio', path, 'blkio.weight');
        const isCfq = await fileExists(cfq);
        const file = isCfq ? cfq : this.file('blkio', path, 'blkio.bfq.weight');
        const weight = limits.ioWeight ?? (isCfq ? DEFAULT_CFQ_WEIGHT : DEFAULT_BFQ_WEIGHT);
        const before = (await readText(file).catch(() => null))?.match(/\d+/)?.[0] ?? null;
        await j.write(file, String(weight), 'ioWeight', limits.ioWeight, before);
      }
      for (const [key, name] of THROTTLE) {
        const rate = limits[key];
        if (rate === undefined || !ioDevice) continue;
        const file = this.file('blkio', path, name);
        const dev = `${ioDevice.major}:${ioDevice.minor}`;
        const current = (await readText(file).catch(() => null)) ?? '';
        const line = current.split('\n').find((l) => l.startsWith(`${dev} `));
        await j.write(file, `${dev} ${rate === null ? 0 : rate}`, key, rate as number | null, line?.trim() ?? `${dev} 0`);
      }
    } catch (err) {
      await j.rollback();
      throw err;
    }
  }

  /**
   * memory.limit_in_bytes and memory.memsw.limit_in_bytes (memory + swap).
   * The kernel keeps memory ≤ memsw at every moment, so when memory grows (or
   * memsw becomes unlimited) memsw is written first, else memory first.
   * A swap limit needs a memory limit; without one memsw is unlimited.
   */
  private async applyMemory(j: WriteJournal, path: string, limits: Limits, hasMemsw: boolean): Promise<void> {
    const memFile = this.file('memory', path, 'memory.limit_in_bytes');
    const memswFile = this.file('memory', path, 'memory.memsw.limit_in_bytes');
    const curMem = await readLimit(memFile);
    const curMemsw = hasMemsw ? await readLimit(memswFile) : null;
    const newMem = limits.memory !== undefined ? limits.memory : curMem;
    const asText = (n: number | null): string => (n === null ? '-1' : String(n));
    if (!hasMemsw) {
      if (limits.memory !== undefined) await j.write(memFile, asText(newMem), 'memory', limits.memory, asText(curMem));
      return;
    }
    const curSwap = curMem !== null && curMemsw !== null ? Math.max(0, curMemsw - curMem) : null;
    const newSwap = limits.swap !== undefined ? limits.swap : curSwap;
    const newMemsw = newMem === null || newSwap === null ? null : newMem + newSwap;
    const writeMem = (): Promise<void> => j.write(memFile, asText(newMem), 'memory', newMem, asText(curMem));
    const writeMemsw = (): Promise<void> => j.write(memswFile, asText(newMemsw), limits.swap !== undefined ? 'swap' : 'memory', limits.swap !== undefined ? newSwap : newMem, asText(curMemsw));
    const grows = (newMem ?? Infinity) > (curMem ?? Infinity);
    if (newMemsw === null || grows) {
      await writeMemsw();
      await writeMem();
    } else {
      await writeMem();
      await writeMemsw();
    }
  }

  // Synchronous inside (readNow): these are the kernel's counters, read for a thousand containers at once.
  async read(path: string): Promise<CgroupUsage | null> {
    if (!['memory', 'pids', 'cpu', 'cpuacct'].some((c) => readNow.isDir(join(this.root, c, path)))) return null;
    const mem = (name: string): string => this.file('memory', path, name);
    const memoryBytes = readNow.number(mem('memory.usage_in_bytes')) ?? 0;
    const memswUsage = readNow.number(mem('memory.memsw.usage_in_bytes'));
    const oom = readNow.text(mem('memory.oom_control')) ?? '';
    const pidsNow = readNow.number(this.file('pids', path, 'pids.current'));
    return {
      cpuUsageNs: readNow.number(this.file('cpuacct', path, 'cpuacct.usage')) ?? 0,
      memoryBytes,
      memoryLimitBytes: readNow.limit(mem('memory.limit_in_bytes')),
      memoryPeakBytes: readNow.number(mem('memory.max_usage_in_bytes')),
      swapBytes: memswUsage === null ? null : Math.max(0, memswUsage - memoryBytes),
      pids: pidsNow ?? (await this.procs(path)).length,
      pidsLimit: readNow.limit(this.file('pids', path, 'pids.max')),
      ...this.blkioStats(path),
      oomKills: Number(/^oom_kill (\d+)$/m.exec(oom)?.[1] ?? 0),
    };
  }

  /** Bytes and operations, summed over devices, from the blkio throttle statistics (which count all I/O). */
  private blkioStats(path: string): Pick<CgroupUsage, 'ioReadBytes' | 'ioWriteBytes' | 'ioReadOps' | 'ioWriteOps'> {
    const sum = (base: string): { read: number; write: number } => {
      const text = readNow.text(this.file('blkio', path, `${base}_recursive`)) ?? readNow.text(this.file('blkio', path, base)) ?? '';
      let read = 0;
      let write = 0;
      for (const m of text.matchAll(/^\d+:\d+ (Read|Write) (\d+)$/gm)) {
        if (m[1] === 'Read') read += Number(m[2]);
        else write += Number(m[2]);
      }
      return { read, write };
    };
    const bytes = sum('blkio.throttle.io_service_bytes');
    const ops = sum('blkio.throttle.io_serviced');
    return { ioReadBytes: bytes.read, ioWriteBytes: bytes.write, ioReadOps: ops.read, ioWriteOps: ops.write };
  }

  /** Every hierarchy mounted under the root: the controllers, name=systemd, and the hybrid's unified cgroup2. */
  async delegate(path: string, owner: number): Promise<void> {
    const seen = new Set<string>();
    for (const entry of readdirSync(this.root, { withFileTypes: true })) {
      if (!entry.isDirectory()) continue; // cpu,cpuacct-style links name a hierarchy already listed
      const dir = join(this.root, entry.name, path);
      if (seen.has(dir)) continue;
      seen.add(dir);
      await delegateDir(dir, owner);
    }
  }

  async procs(path: string): Promise<number[]> {
    for (const c of ['pids', 'memory', 'cpu', 'cpuacct', 'cpuset', 'blkio']) {
      const dir = join(this.root, c, path);
      if (await isDir(dir)) return procsBelow(dir);
    }
    return [];
  }
}

