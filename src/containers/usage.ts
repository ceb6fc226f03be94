/**
 * Usage accounting: what each container used (CPU, memory peak, I/O, OOM kills, disk, network),
 * as the sums of its earlier runs (kept in the database when a run ends) plus its cgroup's
 * counters now; CPU % from samples; OOM kills turned into events by a periodic sample.
 * Not limits (limits.ts) and not the cgroup files themselves (resources/).
 */
import type { CgroupUsage, Limits } from '../resources/index.js';
import type { ContainerRecord } from '../state/index.js';
import type { ContainerContext } from './context.js';

export interface ContainerStats {
  name: string;
  state: ContainerRecord['state'];
  cpuSeconds: number;
  cpuPercent: number | null;
  memoryBytes: number | null;
  memoryLimitBytes: number | null;
  memoryPeakBytes: number | null;
  pids: number | null;
  pidsLimit: number | null;
  ioReadBytes: number;
  ioWriteBytes: number;
  ioReadOps: number;
  ioWriteOps: number;
  diskUsedBytes: number | null;
  diskLimitBytes: number | null;
  oomKills: number;
  netRxBytes: number;
  netTxBytes: number;
  netRxPackets: number;
  netTxPackets: number;
}

interface Sample { at: number; cpuNs: number; percent?: number }

export class UsageMonitor {
  /** The newest usage sample of each running container, and the CPU % measured up to it. */
  private readonly samples = new Map<string, Sample>();
  /** OOM kills of each running container already recorded as events. */
  private readonly oomSeen = new Map<string, number>();

  constructor(private readonly ctx: ContainerContext) {}

  /** A run began in a fresh cgroup: every OOM kill from now on is new. */
  started(name: string): void {
    this.samples.set(name, { at: performance.now(), cpuNs: 0 });
    this.oomSeen.set(name, 0);
  }

  /** A run ends: what its cgroup counted is added to the totals before runc delete removes it. */
  async ended(name: string): Promise<void> {
    const u = await this.ctx.host.cgroups.read(this.ctx.cgroupPath(name)).catch(() => null);
    if (u) {
      this.ctx.store.addUsage(name, {
        cpuNs: u.cpuUsageNs, ioReadBytes: u.ioReadBytes, ioWriteBytes: u.ioWriteBytes, ioReadOps: u.ioReadOps,
        ioWriteOps: u.ioWriteOps, oomKills: u.oomKills, memoryPeak: u.memoryPeakBytes ?? u.memoryBytes,
      });
    }
    this.samples.delete(name);
    this.oomSeen.delete(name);
  }

  /** Usage now plus the sums of earlier runs; CPU % over the time since the previous sample. */
  async stats(name: string): Promise<ContainerStats> {
    const { ctx } = this;
    const c = ctx.record(name);
    const totals = ctx.store.usageTotals(name);
    const live = c.state === 'running' ? await ctx.host.cgroups.read(ctx.cgroupPath(name)).catch(() => null) : null;
    let cpuPercent: number | null = null;
    if (live) cpuPercent = await this.cpuPercent(name, live);
    const disk = c.volume ? await ctx.host.pool.usage(ctx.volumeOf(c)) : null;
    const limits = c.limits as Limits;
    const net = ctx.host.networks.counters(name);
    return {
      name, state: c.state,
      cpuSeconds: (totals.cpuNs + (live?.cpuUsageNs ?? 0)) / 1e9,
      cpuPercent,
      memoryBytes: live?.memoryBytes ?? null,
      memoryLimitBytes: live?.memoryLimitBytes ?? limits.memory ?? null,
      memoryPeakBytes: Math.max(totals.memoryPeak, live?.memoryPeakBytes ?? 0) || null,
      pids: live?.pids ?? null,
      pidsLimit: live?.pidsLimit ?? limits.pids ?? null,
      ioReadBytes: totals.ioReadBytes + (live?.ioReadBytes ?? 0),
      ioWriteBytes: totals.ioWriteBytes + (live?.ioWriteBytes ?? 0),
      ioReadOps: totals.ioReadOps + (live?.ioReadOps ?? 0),
      ioWriteOps: totals.ioWriteOps + (live?.ioWriteOps ?? 0),
      diskUsedBytes: disk?.usedBytes ?? null,
      diskLimitBytes: disk?.limitBytes ?? null,
      oomKills: totals.oomKills + (live?.oomKills ?? 0),
      netRxBytes: net.rxBytes, netTxBytes: net.txBytes, netRxPackets: net.rxPackets, netTxPackets: net.txPackets,
    };
  }

  private async cpuPercent(name: string, live: CgroupUsage): Promise<number | null> {
    let prev = this.samples.get(name);
    let now: Sample = { at: performance.now(), cpuNs: live.cpuUsageNs };
    // Asked again within 100 ms: the figure measured up to the last sample is the best there is.
    if (prev && now.at - prev.at < 100 && prev.percent !== undefined) return prev.percent;
    if (!prev || now.at - prev.at < 100) {
      // No usable sample: take a short one now.
      prev = now;
      await new Promise((r) => setTimeout(r, 200));
      const again = await this.ctx.host.cgroups.read(this.ctx.cgroupPath(name)).catch(() => null);
      if (!again) return null;
      now = { at: performance.now(), cpuNs: again.cpuUsageNs };
    }
    now.percent = Math.max(0, ((now.cpuNs - prev.cpuNs) / 1e6 / (now.at - prev.at)) * 100);
    this.samples.set(name, now);
    return now.percent;
  }

  /** Periodic: records OOM kills as events and keeps CPU samples fresh. */
  async sample(): Promise<void> {
    for (const c of this.ctx.store.listContainers()) {
      if (c.state !== 'running') continue;
      const u = await this.ctx.host.cgroups.read(this.ctx.cgroupPath(c.name)).catch(() => null);
      if (!u) continue;
      // After a daemon restart the first sample is the baseline: kills before it were not seen live.
      const seen = this.oomSeen.get(c.name) ?? u.oomKills;
      if (u.oomKills > seen) {
        this.ctx.store.addEvent('oom-kill', c.name, `${u.oomKills - seen} process(es) killed at the memory limit; the container runs on`);
      }
      this.oomSeen.set(c.name, u.oomKills);
      const prev = this.samples.get(c.name);
      const at = performance.now();
      const percent = prev && at > prev.at ? Math.max(0, ((u.cpuUsageNs - prev.cpuNs) / 1e6 / (at - prev.at)) * 100) : undefined;
      this.samples.set(c.name, { at, cpuNs: u.cpuUsageNs, percent });
    }
  }
}
