/**
 * Usage accounting: what each container used (CPU, memory peak, I/O, OOM kills, disk, network),
 * as the sums of its earlier runs (kept in the database when a run ends) plus its cgroup's
 * counters now; CPU % from samples; OOM kills turned into events by a periodic sample.
 * Not limits (limits.ts) and not the cgroup files themselves (resources/).
 */
import type { TrafficCounters } from '../network/index.js';
import type { CgroupUsage, Limits } from '../resources/index.js';
import { NO_USAGE, type ContainerRecord, type UsageTotals } from '../state/index.js';
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
  /** What its snapshots take, beside its disk (their size when taken). */
  snapshotBytes: number;
  oomKills: number;
  netRxBytes: number;
  netTxBytes: number;
  netRxPackets: number;
  netTxPackets: number;
}

interface Sample { at: number; cpuNs: number; percent?: number }

/**
 * One container's usage for the meter: counters cumulative over all its runs (the sums of ended
 * runs plus the live cgroup's), gauges of now. See readings().
 */
export interface UsageReading {
  container: string;
  /** Its creation time (tells it from a container made later under its name). */
  since: string;
  template: string;
  state: ContainerRecord['state'];
  cpuNs: number;
  ioReadBytes: number;
  ioWriteBytes: number;
  ioReadOps: number;
  ioWriteOps: number;
  netRxBytes: number;
  netTxBytes: number;
  oomKills: number;
  memoryBytes: number | null;
  memoryLimitBytes: number | null;
  diskUsedBytes: number | null;
}

/** Cgroups read at once by readings(): enough to hide file latency, few enough not to flood the event loop. */
const READ_WIDTH = 64;

export class UsageMonitor {
  /** The newest usage sample of each running container, and the CPU % measured up to it. */
  private readonly samples = new Map<string, Sample>();
  /** OOM kills of each running container already recorded as events. */
  private readonly oomSeen = new Map<string, number>();
  /**
   * Running containers whose run is already added to their sums while their cgroup still counts
   * it (between ended() and runc delete): a reading of both would count the run twice.
   */
  private readonly folded = new Set<string>();

  constructor(private readonly ctx: ContainerContext) {}

  /** A run began in a fresh cgroup: every OOM kill from now on is new. */
  started(name: string): void {
    this.samples.set(name, { at: performance.now(), cpuNs: 0 });
    this.oomSeen.set(name, 0);
    this.folded.delete(name);
  }

  /** A run ends: what its cgroup counted is added to the totals before runc delete removes it. */
  async ended(name: string): Promise<void> {
    const u = await this.ctx.host.cgroups.read(this.ctx.cgroupPath(name)).catch(() => null);
    if (u) {
      this.ctx.store.addUsage(name, {
        cpuNs: u.cpuUsageNs, ioReadBytes: u.ioReadBytes, ioWriteBytes: u.ioWriteBytes, ioReadOps: u.ioReadOps,
        ioWriteOps: u.ioWriteOps, oomKills: u.oomKills, memoryPeak: u.memoryPeakBytes ?? u.memoryBytes,
      });
      // In the same synchronous step as the sums: no reading sees both.
      this.folded.add(name);
    }
    this.samples.delete(name);
    this.oomSeen.delete(name);
  }

  /** Usage now plus the sums of earlier runs; CPU % over the time since the previous sample. */
  async stats(name: string): Promise<ContainerStats> {
    const { ctx } = this;
    const c = ctx.record(name);
    const [one] = await this.assemble([c], {
      totals: new Map([[name, ctx.store.usageTotals(name)]]),
      net: new Map([[name, ctx.host.networks.counters(name)]]),
      snapshots: new Map([[name, ctx.snapshots.bytes(name)]]),
    });
    return one;
  }

  /**
   * The stats of many containers (GET /v1/stats), cheaply for a thousand: a query each for the
   * sums, the network counters and the snapshots, the cgroups read in one pass, and one short CPU
   * sample shared by every container that has no recent one.
   */
  statsOf(records: ContainerRecord[]): Promise<ContainerStats[]> {
    const { ctx } = this;
    return this.assemble(records, { totals: ctx.store.allUsageTotals(), net: ctx.host.networks.allCounters(), snapshots: ctx.snapshots.allBytes() });
  }

  private async assemble(records: ContainerRecord[], sums: { totals: Map<string, UsageTotals>; net: Map<string, TrafficCounters>; snapshots: Map<string, number> }): Promise<ContainerStats[]> {
    const { ctx } = this;
    const live = await this.readCgroups(records.filter((c) => c.state === 'running'));
    const percents = await this.cpuPercents(live, records);
    const disks = new Map<string, { usedBytes: number; limitBytes: number } | null>();
    for (const c of records) if (c.volume) disks.set(c.name, await ctx.host.pool.usage(ctx.volumeOf(c)));
    return records.map((c) => {
      const { name } = c;
      const totals = sums.totals.get(name) ?? NO_USAGE;
      const u = live.get(name) ?? null;
      const disk = disks.get(name) ?? null;
      const limits = c.limits as Limits;
      const net = sums.net.get(name) ?? { rxBytes: 0, txBytes: 0, rxPackets: 0, txPackets: 0 };
      return {
        name, state: c.state,
        cpuSeconds: (totals.cpuNs + (u?.cpuUsageNs ?? 0)) / 1e9,
        cpuPercent: percents.get(name) ?? null,
        memoryBytes: u?.memoryBytes ?? null,
        memoryLimitBytes: u?.memoryLimitBytes ?? limits.memory ?? null,
        memoryPeakBytes: Math.max(totals.memoryPeak, u?.memoryPeakBytes ?? 0) || null,
        pids: u?.pids ?? null,
        pidsLimit: u?.pidsLimit ?? limits.pids ?? null,
        ioReadBytes: totals.ioReadBytes + (u?.ioReadBytes ?? 0),
        ioWriteBytes: totals.ioWriteBytes + (u?.ioWriteBytes ?? 0),
        ioReadOps: totals.ioReadOps + (u?.ioReadOps ?? 0),
        ioWriteOps: totals.ioWriteOps + (u?.ioWriteOps ?? 0),
        diskUsedBytes: disk?.usedBytes ?? null,
        diskLimitBytes: disk?.limitBytes ?? null,
        snapshotBytes: sums.snapshots.get(name) ?? 0,
        oomKills: totals.oomKills + (u?.oomKills ?? 0),
        netRxBytes: net.rxBytes, netTxBytes: net.txBytes, netRxPackets: net.rxPackets, netTxPackets: net.txPackets,
      };
    });
  }

  /** The cgroups of running containers, READ_WIDTH at a time, letting other work in between; a missing one is left out. */
  private async readCgroups(running: ContainerRecord[]): Promise<Map<string, CgroupUsage | null>> {
    const live = new Map<string, CgroupUsage | null>();
    for (let i = 0; i < running.length; i += READ_WIDTH) {
      if (i) await new Promise((r) => setImmediate(r));
      // The records in hand give each cgroup's path: a query per container for its tenant was, after
      // the reads themselves, the largest cost of reading a thousand.
      await Promise.all(running.slice(i, i + READ_WIDTH).map(async (c) => {
        live.set(c.name, await this.ctx.host.cgroups.read(this.ctx.cgroupPathOf(c)).catch(() => null));
      }));
    }
    return live;
  }

  /**
   * CPU % of each, over the time since its previous sample. Containers with no usable sample
   * (none, or under 100 ms old without a figure) share one short sample taken now.
   */
  private async cpuPercents(live: Map<string, CgroupUsage | null>, records: ContainerRecord[]): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    const fresh: Array<[string, Sample]> = [];
    const at = performance.now();
    for (const [name, u] of live) {
      if (!u) continue;
      const prev = this.samples.get(name);
      // Asked again within 100 ms: the figure measured up to the last sample is the best there is.
      if (prev && at - prev.at < 100 && prev.percent !== undefined) out.set(name, prev.percent);
      else if (prev && at - prev.at >= 100) out.set(name, this.record(name, prev, { at, cpuNs: u.cpuUsageNs }));
      else fresh.push([name, { at, cpuNs: u.cpuUsageNs }]);
    }
    if (fresh.length) {
      const freshNames = new Set(fresh.map(([name]) => name));
      await new Promise((r) => setTimeout(r, 200));
      const again = await this.readCgroups(records.filter((c) => freshNames.has(c.name)));
      const now = performance.now();
      for (const [name, prev] of fresh) {
        const u = again.get(name);
        if (u) out.set(name, this.record(name, prev, { at: now, cpuNs: u.cpuUsageNs }));
      }
    }
    return out;
  }

  /** Keeps `now` as the container's newest sample, with the CPU % since `prev`. */
  private record(name: string, prev: Sample, now: Sample): number {
    now.percent = Math.max(0, ((now.cpuNs - prev.cpuNs) / 1e6 / (now.at - prev.at)) * 100);
    this.samples.set(name, now);
    return now.percent;
  }

  /** Periodic: records OOM kills as events and keeps CPU samples fresh. */
  async sample(): Promise<void> {
    for (const c of this.ctx.store.listContainers()) {
      if (c.state !== 'running') continue;
      const u = await this.ctx.host.cgroups.read(this.ctx.cgroupPathOf(c)).catch(() => null);
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

  /**
   * Every container's usage for the meter, cheaply for a thousand: one query for the sums, one
   * pass over the adapters, the cgroups of running ones READ_WIDTH at a time, the disk only when
   * asked (`disk`; it costs a statfs or a btrfs command per volume). A running container whose
   * cgroup cannot be read is left out (its counters would seem to fall, then rise again).
   */
  async readings(opts: { disk: boolean }): Promise<UsageReading[]> {
    const { ctx } = this;
    const records = ctx.store.listContainers();
    const net = ctx.host.networks.allCounters();
    const running = records.filter((c) => c.state === 'running');
    const live = await this.readCgroups(running);
    const disks = new Map<string, number>();
    if (opts.disk) {
      for (const c of running) {
        if (!c.volume) continue;
        const u = await ctx.host.pool.usage(ctx.volumeOf(c)).catch(() => null);
        if (u) disks.set(c.name, u.usedBytes);
      }
    }
    // The sums and the folded marks are read in one synchronous step, after the cgroups.
    const totals = ctx.store.allUsageTotals();
    const out: UsageReading[] = [];
    for (const c of records) {
      const t = totals.get(c.name);
      const n = net.get(c.name);
      const u = c.state === 'running' && !this.folded.has(c.name) ? live.get(c.name) : undefined;
      if (u === null) continue;
      const isRunning = c.state === 'running' && u !== undefined;
      out.push({
        container: c.name, since: c.createdAt, template: c.template, state: c.state,
        cpuNs: (t?.cpuNs ?? 0) + (u?.cpuUsageNs ?? 0),
        ioReadBytes: (t?.ioReadBytes ?? 0) + (u?.ioReadBytes ?? 0),
        ioWriteBytes: (t?.ioWriteBytes ?? 0) + (u?.ioWriteBytes ?? 0),
        ioReadOps: (t?.ioReadOps ?? 0) + (u?.ioReadOps ?? 0),
        ioWriteOps: (t?.ioWriteOps ?? 0) + (u?.ioWriteOps ?? 0),
        oomKills: (t?.oomKills ?? 0) + (u?.oomKills ?? 0),
        netRxBytes: n?.rxBytes ?? 0, netTxBytes: n?.txBytes ?? 0,
        memoryBytes: isRunning ? u.memoryBytes : null,
        memoryLimitBytes: isRunning ? u.memoryLimitBytes : null,
        diskUsedBytes: isRunning ? disks.get(c.name) ?? null : null,
      });
    }
    return out;
  }
}
