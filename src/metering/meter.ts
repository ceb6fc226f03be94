/**
 * The meter: every interval it takes one reading of every container (through the `read` callback
 * the daemon gives it), turns the cumulative counters into deltas against the last reading kept in
 * the database, and adds them to the rollup tiers, in one transaction per tick. It answers the
 * series and ledgers, and keeps the newest readings in memory for /metrics (a scrape reads no
 * cgroup). Not the reading itself (containers/usage.ts) nor the SQL (state/metering.ts).
 *
 *   const meter = new Meter(new MeterRecords(db), { read, tenantOf: (ct) => owner(ct) });
 *   meter.start();                                   // a tick now, then every 10 s
 *   meter.series('web', { resolution: '1m', from: '2026-11-26T00:00:00Z' });
 *   meter.ledger('acme', '2026-11');
 *   await meter.stop();                              // waits for a tick under way
 */
import { InvalidArgument } from '../errors/index.js';
import type { LastReading, MeterRecords, PointDelta, UsageSum } from '../state/index.js';
import { bucketsOf, deltaOf, lastOf, pointOf, tierFor, tierOf, TIERS, type MeterReading, type Resolution, type UsagePoint } from './rollup.js';

export interface MeterOptions {
  /** Reads every container. `disk: false`: leave diskUsedBytes null (not read this tick: it costs more than cgroup files). */
  read: (opts: { disk: boolean }) => Promise<MeterReading[]>;
  /** The tenant that owns a container now; null for the host's own. */
  tenantOf: (container: string) => string | null;
  /** Unix milliseconds; tests pass a clock of their own. */
  now?: () => number;
  intervalMs?: number;
  /** Disk usage is read every this many ticks; in between, the last figure stands. */
  diskEvery?: number;
  log?: (line: string) => void;
  /** Called after each tick's readings are recorded (the traffic quota is checked on fresh figures). */
  afterTick?: () => Promise<void>;
}

export interface SeriesQuery {
  resolution?: string;
  /** ISO 8601 times; default: the last hour. */
  from?: string;
  to?: string;
}

export interface UsageSeries {
  resolution: Resolution;
  from: string;
  to: string;
  points: UsagePoint[];
}

/** A container's (or, as the total, a tenant's) usage over a month. */
interface LedgerLine {
  container: string | null;
  runningHours: number;
  cpuSeconds: number;
  memoryGiBHours: number;
  /** Average memory while running. */
  memoryAverageBytes: number | null;
  memoryMaxBytes: number;
  diskGiBHours: number;
  diskMaxBytes: number;
  ioReadBytes: number;
  ioWriteBytes: number;
  ioReadOps: number;
  ioWriteOps: number;
  netRxBytes: number;
  netTxBytes: number;
}

export interface Ledger {
  tenant: string | null;
  month: string;
  from: string;
  to: string;
  containers: LedgerLine[];
  total: LedgerLine;
}

/** The newest reading of a container, as /metrics shows it. */
export interface LatestReading {
  reading: MeterReading;
  /** '' for the host's own. */
  tenant: string;
}

/** Counters metered for a tenant since this daemon started (monotonic, as Prometheus counters must be). */
export interface TenantCounters {
  cpuSeconds: number;
  ioReadBytes: number;
  ioWriteBytes: number;
  netRxBytes: number;
  netTxBytes: number;
}

export interface TickReport {
  /** Unix milliseconds of the reading. */
  at: number;
  containers: number;
  /** Wall time of the tick: reading and writing. */
  ms: number;
}

const GiB = 1024 ** 3;
const MONTH = /^(\d{4})-(0[1-9]|1[0-2])$/;

function parseTime(what: string, value: string | undefined, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new InvalidArgument(`${what} ${JSON.stringify(value)} is not a time: give an ISO 8601 time such as 2026-11-26T10:00:00Z`);
  return ms;
}

export class Meter {
  private readonly last = new Map<string, LastReading>();
  private readonly latest = new Map<string, LatestReading>();
  private readonly disk = new Map<string, number>();
  private readonly tenants = new Map<string, TenantCounters>();
  private readonly now: () => number;
  readonly intervalMs: number;
  private readonly diskEvery: number;
  private ticks = 0;
  /** The meter meets containers older than itself (its first tick on a data root): their past is no bucket's usage. */
  private baseline: boolean;
  private timer: NodeJS.Timeout | undefined;
  private current: Promise<void> | undefined;
  private stopped = false;
  lastTick: TickReport | null = null;

  constructor(private readonly records: MeterRecords, private readonly opts: MeterOptions) {
    this.now = opts.now ?? Date.now;
    this.intervalMs = opts.intervalMs ?? 10_000;
    this.diskEvery = Math.max(1, opts.diskEvery ?? 6);
    for (const l of records.lastReadings()) this.last.set(l.container, l);
    this.baseline = this.last.size === 0;
  }

  /** A tick now, then one every interval (never two at once), until stop(). */
  start(): void {
    const next = (): void => {
      if (this.stopped) return;
      this.timer = setTimeout(() => { void this.tick().finally(next); }, this.intervalMs);
      this.timer.unref();
    };
    void this.tick().finally(next);
  }

  /** Stops the ticks; waits for one under way (its readings are written, none is half-written). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.current;
  }

  /** One reading of every container, recorded. A tick asked for while one runs joins it. */
  tick(): Promise<void> {
    this.current ??= this.tickNow().catch((err: Error) => { this.opts.log?.(`meter: ${err.message}`); }).finally(() => { this.current = undefined; });
    return this.current;
  }

  private async tickNow(): Promise<void> {
    const t0 = performance.now();
    const disk = this.ticks++ % this.diskEvery === 0;
    const readings = await this.opts.read({ disk });
    const at = this.now();
    const deltas: PointDelta[] = [];
    const lasts: LastReading[] = [];
    const seen = new Set<string>();
    for (const r of readings) {
      seen.add(r.container);
      if (disk) {
        if (r.diskUsedBytes === null) this.disk.delete(r.container);
        else this.disk.set(r.container, r.diskUsedBytes);
      } else if (r.state === 'running') {
        r.diskUsedBytes = this.disk.get(r.container) ?? null;
      }
      const tenant = this.opts.tenantOf(r.container) ?? '';
      const d = deltaOf(this.last.get(r.container), r, tenant, at, this.intervalMs, this.baseline);
      if (d) {
        deltas.push(d);
        this.countForTenant(tenant, d);
      }
      const l = lastOf(r, at);
      lasts.push(l);
      this.last.set(r.container, l);
      this.latest.set(r.container, { reading: r, tenant });
    }
    const gone = [...this.last.keys()].filter((name) => !seen.has(name));
    for (const name of gone) { this.last.delete(name); this.latest.delete(name); this.disk.delete(name); }
    this.records.recordTick(bucketsOf(at), deltas, lasts, gone);
    const nowS = Math.floor(at / 1000);
    for (const t of TIERS) this.records.pruneTier(t.seconds, nowS - t.keepSeconds);
    this.baseline = false;
    this.lastTick = { at, containers: readings.length, ms: performance.now() - t0 };
    await this.opts.afterTick?.().catch((err: Error) => this.opts.log?.(`after a meter tick: ${err.message}`));
  }

  /** A container was renamed (its records were, in the same breath): its last reading follows it. */
  rename(from: string, to: string): void {
    for (const map of [this.last, this.latest, this.disk] as Array<Map<string, unknown>>) {
      const v = map.get(from);
      if (v === undefined) continue;
      map.delete(from);
      map.set(to, v);
    }
    const l = this.last.get(to);
    if (l) l.container = to;
  }

  private countForTenant(tenant: string, d: PointDelta): void {
    let t = this.tenants.get(tenant);
    if (!t) { t = { cpuSeconds: 0, ioReadBytes: 0, ioWriteBytes: 0, netRxBytes: 0, netTxBytes: 0 }; this.tenants.set(tenant, t); }
    t.cpuSeconds += d.cpuNs / 1e9;
    t.ioReadBytes += d.ioReadBytes;
    t.ioWriteBytes += d.ioWriteBytes;
    t.netRxBytes += d.netRxBytes;
    t.netTxBytes += d.netTxBytes;
  }

  /** The newest reading of every container (in memory: what /metrics shows). */
  latestReadings(): IterableIterator<LatestReading> {
    return this.latest.values();
  }

  /** Counters metered per tenant ('' for the host's own) since the daemon started. */
  tenantCounters(): ReadonlyMap<string, TenantCounters> {
    return this.tenants;
  }

  /** A container's usage over time (also of one destroyed, while its points are kept). */
  series(container: string, q: SeriesQuery = {}): UsageSeries {
    return this.seriesOf(q, (tier, from, to) => this.records.containerSeries(tier, container, from, to));
  }

  /** A tenant's usage over time: its containers' summed (null: the host's own containers). */
  tenantSeries(tenant: string | null, q: SeriesQuery = {}): UsageSeries {
    return this.seriesOf(q, (tier, from, to) => this.records.tenantSeries(tier, tenant ?? '', from, to));
  }

  private seriesOf(q: SeriesQuery, rows: (tier: number, from: number, to: number) => ReturnType<MeterRecords['containerSeries']>): UsageSeries {
    const now = this.now();
    const to = parseTime('to', q.to, now);
    const from = parseTime('from', q.from, to - 3600_000);
    if (from >= to) throw new InvalidArgument(`from (${new Date(from).toISOString()}) is not before to (${new Date(to).toISOString()}): give an earlier from or a later to`);
    const tier = q.resolution ? tierOf(q.resolution) : tierFor(from, to, now);
    const fromS = Math.floor(from / 1000);
    // The buckets that hold `from` and `to` are included.
    const points = rows(tier.seconds, fromS - (fromS % tier.seconds), Math.floor(to / 1000) + 1).map((r) => pointOf(r));
    return { resolution: tier.resolution, from: new Date(from).toISOString(), to: new Date(to).toISOString(), points };
  }

  /** A tenant's usage in one calendar month (UTC), per container and in total, from the daily points (kept two years). */
  ledger(tenant: string | null, month: string): Ledger {
    const m = MONTH.exec(month);
    if (!m) throw new InvalidArgument(`month ${JSON.stringify(month)} is not a month: give it as YYYY-MM, e.g. 2026-11`);
    const from = Date.UTC(Number(m[1]), Number(m[2]) - 1, 1);
    const to = Date.UTC(Number(m[1]), Number(m[2]), 1);
    const sums = this.records.tenantUsage(tierOf('1d').seconds, tenant ?? '', from / 1000, to / 1000);
    const total: UsageSum = {
      container: '', samples: 0, seconds: 0, cpuNs: 0, memByteSeconds: 0, memMax: 0, diskByteSeconds: 0, diskMax: 0,
      ioReadBytes: 0, ioWriteBytes: 0, ioReadOps: 0, ioWriteOps: 0, netRxBytes: 0, netTxBytes: 0,
    };
    for (const s of sums) {
      for (const k of Object.keys(total) as Array<keyof UsageSum>) {
        if (k === 'container') continue;
        // Peaks of different containers add up to the tenant's most at once, at worst.
        total[k] += s[k];
      }
    }
    return {
      tenant, month, from: new Date(from).toISOString(), to: new Date(to).toISOString(),
      containers: sums.map((s) => lineOf(s, s.container)), total: lineOf(total, null),
    };
  }
}

const r3 = (n: number): number => Math.round(n * 1000) / 1000;

function lineOf(s: UsageSum, container: string | null): LedgerLine {
  return {
    container,
    runningHours: r3(s.seconds / 3600),
    cpuSeconds: r3(s.cpuNs / 1e9),
    memoryGiBHours: r3(s.memByteSeconds / GiB / 3600),
    memoryAverageBytes: s.seconds > 0 ? Math.round(s.memByteSeconds / s.seconds) : null,
    memoryMaxBytes: s.memMax,
    diskGiBHours: r3(s.diskByteSeconds / GiB / 3600),
    diskMaxBytes: s.diskMax,
    ioReadBytes: s.ioReadBytes, ioWriteBytes: s.ioWriteBytes, ioReadOps: s.ioReadOps, ioWriteOps: s.ioWriteOps,
    netRxBytes: s.netRxBytes, netTxBytes: s.netTxBytes,
  };
}
