/**
 * The cgroup v2 driver: the unified hierarchy at the root, where the
 * container's cgroup is one directory holding every controller's files
 * (cpu.max, cpu.weight, cpuset.cpus, memory.max, memory.swap.max, pids.max,
 * io.weight, io.max…). It writes and reads files; runc creates and removes
 * the cgroup and enables the controllers in the parents' subtree_control.
 *
 * Unlike v1, memory.max below the current use is not refused by the kernel:
 * it reclaims and then OOM-kills inside the container.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { FailedPrecondition } from '../errors/index.js';
import type { CgroupDriver, CgroupUsage } from './cgroup.js';
import { WriteJournal, delegateDir, fileExists, isDir, procsBelow, readNow, readText } from './cgroupfs.js';
import { CPU_PERIOD_US, cpuQuotaOf, noIoDevice, type IoDevice, type LimitKey, type Limits } from './limits.js';

const DEFAULT_WEIGHT = 100;

const IO_MAX_KEYS: Array<[LimitKey, string]> = [['ioReadBps', 'rbps'], ['ioWriteBps', 'wbps'], ['ioReadIops', 'riops'], ['ioWriteIops', 'wiops']];

/** `rbps=1 wbps=max` → a map; the kernel leaves out nothing, a fixture may. */
function ioMaxFields(line: string | undefined): Map<string, string> {
  const out = new Map<string, string>(IO_MAX_KEYS.map(([, k]) => [k, 'max']));
  for (const m of (line ?? '').matchAll(/(\w+)=(\S+)/g)) out.set(m[1], m[2]);
  return out;
}

export class CgroupV2 implements CgroupDriver {
  readonly version = 2 as const;

  constructor(readonly root = '/sys/fs/cgroup') {}

  private file(path: string, name: string): string {
    return join(this.root, path, name);
  }

  async makeGroup(path: string): Promise<void> {
    // Each level down to the group hands cpu, memory and pids to its children (the root's are the host's).
    const parts = path.split('/').filter(Boolean);
    for (let i = 0; i < parts.length; i++) {
      const dir = join(this.root, ...parts.slice(0, i + 1));
      await fsp.mkdir(dir, { recursive: true });
      if (i < parts.length - 1) await fsp.writeFile(join(dir, 'cgroup.subtree_control'), '+cpu +memory +pids').catch(() => undefined);
    }
  }

  async apply(path: string, limits: Limits, ioDevice?: IoDevice): Promise<void> {
    for (const [key] of IO_MAX_KEYS) if (limits[key] !== undefined && !ioDevice) throw noIoDevice(key);
    if (!(await isDir(join(this.root, path)))) {
      throw new FailedPrecondition(`the cgroup ${path} does not exist under ${this.root}: the container is not running; start it, or change the limits while it is stopped (they apply at the next start)`);
    }
    const swapFile = this.file(path, 'memory.swap.max');
    if (typeof limits.swap === 'number' && limits.swap > 0 && !(await fileExists(swapFile))) {
      throw new FailedPrecondition('cannot set --swap: this host has no swap accounting (no memory.swap.max): give --swap none (or 0), or boot the host with swapaccount=1');
    }

    const j = new WriteJournal();
    try {
      if (limits.cpus !== undefined) {
        const value = limits.cpus === null ? `max ${CPU_PERIOD_US}` : `${cpuQuotaOf(limits.cpus)} ${CPU_PERIOD_US}`;
        await j.write(this.file(path, 'cpu.max'), value, 'cpus', limits.cpus);
      }
      if (limits.cpuWeight !== undefined) {
        await j.write(this.file(path, 'cpu.weight'), String(limits.cpuWeight ?? DEFAULT_WEIGHT), 'cpuWeight', limits.cpuWeight);
      }
      if (limits.cpuset !== undefined) {
        // Empty = the parent's effective CPUs.
        await j.write(this.file(path, 'cpuset.cpus'), limits.cpuset ?? '', 'cpuset', limits.cpuset);
      }
      if (limits.memory !== undefined) {
        await j.write(this.file(path, 'memory.max'), limits.memory === null ? 'max' : String(limits.memory), 'memory', limits.memory);
      }
      if (limits.swap !== undefined && (await fileExists(swapFile))) {
        await j.write(swapFile, limits.swap === null ? 'max' : String(limits.swap), 'swap', limits.swap);
      }
      if (limits.pids !== undefined) {
        await j.write(this.file(path, 'pids.max'), limits.pids === null ? 'max' : String(limits.pids), 'pids', limits.pids);
      }
      if (limits.ioWeight !== undefined) {
        const weight = `default ${limits.ioWeight ?? DEFAULT_WEIGHT}`;
        // io.weight is iocost's; with the bfq scheduler bfq reads io.bfq.weight. Both take "default W".
        for (const name of ['io.weight', 'io.bfq.weight']) {
          const file = this.file(path, name);
          if (name !== 'io.weight' && !(await fileExists(file))) continue;
          const before = (await readText(file).catch(() => null))?.split('\n')[0].trim() || null;
          await j.write(file, weight, 'ioWeight', limits.ioWeight, before);
        }
      }
      const rates = IO_MAX_KEYS.filter(([key]) => limits[key] !== undefined);
      if (rates.length && ioDevice) {
        // The kernel merges the keys given into the device's line; write the whole line so a fixture agrees.
        const file = this.file(path, 'io.max');
        const dev = `${ioDevice.major}:${ioDevice.minor}`;
        const current = ((await readText(file).catch(() => null)) ?? '').split('\n').find((l) => l.startsWith(`${dev} `));
        const fields = ioMaxFields(current);
        const undo = `${dev} ${[...fields].map(([k, v]) => `${k}=${v}`).join(' ')}`;
        for (const [key, name] of rates) fields.set(name, limits[key] === null ? 'max' : String(limits[key]));
        const [firstKey] = rates[0];
        await j.write(file, `${dev} ${[...fields].map(([k, v]) => `${k}=${v}`).join(' ')}`, firstKey, limits[firstKey] as number | null, undo);
      }
    } catch (err) {
      await j.rollback();
      throw err;
    }
  }

  // Synchronous inside (readNow): these are the kernel's counters, read for a thousand containers at once.
  async read(path: string): Promise<CgroupUsage | null> {
    const dir = join(this.root, path);
    if (!readNow.isDir(dir)) return null;
    const f = (name: string): string => join(dir, name);
    const cpuStat = readNow.text(f('cpu.stat')) ?? '';
    const events = readNow.text(f('memory.events')) ?? '';
    let ioReadBytes = 0; let ioWriteBytes = 0; let ioReadOps = 0; let ioWriteOps = 0;
    for (const line of (readNow.text(f('io.stat')) ?? '').split('\n')) {
      const v = (k: string): number => Number(new RegExp(`\\b${k}=(\\d+)`).exec(line)?.[1] ?? 0);
      ioReadBytes += v('rbytes'); ioWriteBytes += v('wbytes'); ioReadOps += v('rios'); ioWriteOps += v('wios');
    }
    const pidsNow = readNow.number(f('pids.current'));
    return {
      cpuUsageNs: Number(/^usage_usec (\d+)$/m.exec(cpuStat)?.[1] ?? 0) * 1000,
      memoryBytes: readNow.number(f('memory.current')) ?? 0,
      memoryLimitBytes: readNow.limit(f('memory.max')),
      memoryPeakBytes: readNow.number(f('memory.peak')),
      swapBytes: readNow.number(f('memory.swap.current')),
      pids: pidsNow ?? (await procsBelow(dir)).length,
      pidsLimit: readNow.limit(f('pids.max')),
      ioReadBytes, ioWriteBytes, ioReadOps, ioWriteOps,
      oomKills: Number(/^oom_kill (\d+)$/m.exec(events)?.[1] ?? 0),
    };
  }

  async procs(path: string): Promise<number[]> {
    const dir = join(this.root, path);
    return (await isDir(dir)) ? procsBelow(dir) : [];
  }

  async delegate(path: string, owner: number): Promise<void> {
    await delegateDir(join(this.root, path), owner);
  }
}
