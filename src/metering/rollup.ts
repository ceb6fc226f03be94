/**
 * The arithmetic of metering, pure and synchronous: the rollup tiers, which bucket a reading
 * falls in, the delta between two cumulative readings (counter resets and gaps included), and
 * what a stored bucket means to a reader. No I/O, no clock: the meter passes the time in.
 */
import { InvalidArgument } from '../errors/index.js';
import type { LastReading, PointDelta, PointRow } from '../state/index.js';

/** What the daemon reads of one container at a tick: counters cumulative over all its runs. */
export interface MeterReading {
  container: string;
  /** When the container was created: a container destroyed and made again under its name is another. */
  since: string;
  template: string;
  state: 'created' | 'running' | 'stopped';
  cpuNs: number;
  ioReadBytes: number;
  ioWriteBytes: number;
  ioReadOps: number;
  ioWriteOps: number;
  netRxBytes: number;
  netTxBytes: number;
  oomKills: number;
  /** Gauges of a running container; null when it is not running. */
  memoryBytes: number | null;
  memoryLimitBytes: number | null;
  /** Bytes used in its private area; null when not measured (no volume, not running). */
  diskUsedBytes: number | null;
}

export type Resolution = '10s' | '1m' | '1h' | '1d';

export interface Tier {
  resolution: Resolution;
  /** Bucket length. */
  seconds: number;
  /** How long its points are kept. */
  keepSeconds: number;
}

const DAY = 86_400;

/** Finest first. Each reading is added to its bucket of every tier at once (no re-aggregation pass). */
export const TIERS: readonly Tier[] = [
  { resolution: '10s', seconds: 10, keepSeconds: 3600 },
  { resolution: '1m', seconds: 60, keepSeconds: 2 * DAY },
  { resolution: '1h', seconds: 3600, keepSeconds: 90 * DAY },
  { resolution: '1d', seconds: DAY, keepSeconds: 730 * DAY },
];

const RESOLUTIONS = TIERS.map((t) => t.resolution);

export function tierOf(resolution: string): Tier {
  const tier = TIERS.find((t) => t.resolution === resolution);
  if (!tier) throw new InvalidArgument(`unknown resolution ${JSON.stringify(resolution)}: use one of ${RESOLUTIONS.join(', ')}`);
  return tier;
}

/**
 * The finest tier that still holds points as old as `fromMs`, and gives at most ~500 points over
 * the range. A minute of slack: "the last hour" asked a moment ago still gets 10 s points.
 */
export function tierFor(fromMs: number, toMs: number, nowMs: number): Tier {
  const age = (nowMs - fromMs) / 1000 - 60;
  const span = (toMs - fromMs) / 1000;
  return TIERS.find((t) => age <= t.keepSeconds && span / t.seconds <= 500) ?? TIERS[TIERS.length - 1];
}

/** The bucket start (Unix seconds) of time `ms` in every tier. */
export function bucketsOf(ms: number): Array<[tier: number, at: number]> {
  const s = Math.floor(ms / 1000);
  return TIERS.map((t) => [t.seconds, s - (s % t.seconds)]);
}

const COUNTERS = ['cpuNs', 'ioReadBytes', 'ioWriteBytes', 'ioReadOps', 'ioWriteOps', 'netRxBytes', 'netTxBytes'] as const;

/**
 * What `r` adds since `prev`. Counters: the difference. A gap (the daemon was down) needs nothing
 * special: the first reading after it carries everything used meanwhile. A container new under
 * the name (`since` differs: destroyed and made again) counts from zero: all of its value is new.
 * A counter that fell within the same container (a run whose end could not be read, so its
 * sums lack that run's last seconds) starts again from the new value: what it had was counted,
 * and counting the rest again would bill its whole past twice. `baseline`: the meter meets
 * containers that ran before it existed; their past is not this bucket's usage. Gauges count only
 * while running; the time they cover is the time since the previous reading when that one was
 * running too, else one interval. Returns null when the reading adds nothing (a stopped
 * container, unchanged).
 */
export function deltaOf(prev: LastReading | undefined, r: MeterReading, tenant: string, atMs: number, intervalMs: number, baseline: boolean): PointDelta | null {
  const running = r.state === 'running' && r.memoryBytes !== null;
  const d: PointDelta = {
    container: r.container, tenant, samples: 0, seconds: 0, cpuNs: 0, cpuPctMax: 0, memSum: 0, memMax: 0, memByteSeconds: 0,
    diskSamples: 0, diskSum: 0, diskMax: 0, diskByteSeconds: 0, ioReadBytes: 0, ioWriteBytes: 0, ioReadOps: 0, ioWriteOps: 0, netRxBytes: 0, netTxBytes: 0,
  };
  const same = prev?.since === r.since;
  if (same || !baseline) {
    for (const k of COUNTERS) {
      const before = same ? prev[k] : 0;
      d[k] = r[k] >= before ? r[k] - before : 0;
    }
  }
  if (running) {
    const elapsed = same ? (atMs - prev.at) / 1000 : 0;
    const dt = same && prev.running && elapsed > 0 ? elapsed : Math.min(elapsed > 0 ? elapsed : Infinity, intervalMs / 1000);
    d.samples = 1;
    d.seconds = dt;
    d.cpuPctMax = dt > 0 ? (d.cpuNs / 1e9 / dt) * 100 : 0;
    d.memSum = d.memMax = r.memoryBytes ?? 0;
    d.memByteSeconds = d.memSum * dt;
    if (r.diskUsedBytes !== null) {
      d.diskSamples = 1;
      d.diskSum = d.diskMax = r.diskUsedBytes;
      d.diskByteSeconds = r.diskUsedBytes * dt;
    }
  }
  const adds = running || COUNTERS.some((k) => d[k] > 0);
  return adds ? d : null;
}

/** The reading as the next delta's starting point. */
export function lastOf(r: MeterReading, atMs: number): LastReading {
  return {
    container: r.container, since: r.since, at: atMs, running: r.state === 'running' && r.memoryBytes !== null, cpuNs: r.cpuNs,
    ioReadBytes: r.ioReadBytes, ioWriteBytes: r.ioWriteBytes, ioReadOps: r.ioReadOps, ioWriteOps: r.ioWriteOps,
    netRxBytes: r.netRxBytes, netTxBytes: r.netTxBytes, oomKills: r.oomKills,
  };
}

/** One point of a series as the API answers it. */
export interface UsagePoint {
  /** Bucket start, ISO 8601. */
  at: string;
  /** Seconds the container (or the tenant's containers, summed) ran in the bucket. */
  runningSeconds: number;
  cpuSeconds: number;
  /** Average CPU % over the running time (100 = one CPU), and the highest between two readings. */
  cpuPercent: number | null;
  cpuPercentMax: number;
  /** Average and highest memory while running. */
  memoryBytes: number | null;
  memoryMaxBytes: number;
  diskUsedBytes: number | null;
  diskUsedMaxBytes: number;
  ioReadBytes: number;
  ioWriteBytes: number;
  ioReadOps: number;
  ioWriteOps: number;
  netRxBytes: number;
  netTxBytes: number;
}

const round = (n: number, digits = 3): number => Math.round(n * 10 ** digits) / 10 ** digits;
const rounded = (n: number | null): number | null => (n === null ? null : Math.round(n));

/** A bucket as a point of a series. */
export function pointOf(row: PointRow): UsagePoint {
  return {
    at: new Date(row.at * 1000).toISOString(),
    runningSeconds: round(row.seconds),
    cpuSeconds: round(row.cpuNs / 1e9, 6),
    cpuPercent: row.cpuPct === null ? null : round(row.cpuPct, 2),
    cpuPercentMax: round(row.cpuPctMax, 2),
    memoryBytes: rounded(row.memAvg),
    memoryMaxBytes: row.memMax,
    diskUsedBytes: rounded(row.diskAvg),
    diskUsedMaxBytes: row.diskMax,
    ioReadBytes: row.ioReadBytes, ioWriteBytes: row.ioWriteBytes, ioReadOps: row.ioReadOps, ioWriteOps: row.ioWriteOps,
    netRxBytes: row.netRxBytes, netTxBytes: row.netTxBytes,
  };
}
