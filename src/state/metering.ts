/**
 * The meter's records (migration 010): usage points in rollup tiers and the last cumulative
 * reading of each container. The meter (src/metering) holds no SQL: every statement is here,
 * prepared once. Not the arithmetic of deltas and buckets (src/metering/rollup.ts).
 */
import type Database from 'better-sqlite3';

/** What one reading adds to a bucket: counter deltas, gauge samples, covered time. */
export interface PointDelta {
  container: string;
  /** '' for the host's own containers. */
  tenant: string;
  samples: number;
  seconds: number;
  cpuNs: number;
  cpuPctMax: number;
  memSum: number;
  memMax: number;
  memByteSeconds: number;
  diskSamples: number;
  diskSum: number;
  diskMax: number;
  diskByteSeconds: number;
  ioReadBytes: number;
  ioWriteBytes: number;
  ioReadOps: number;
  ioWriteOps: number;
  netRxBytes: number;
  netTxBytes: number;
}

/** A bucket as a reader sees it (a container's, or a tenant's summed over its containers), `at` in Unix seconds. */
export interface PointRow {
  at: number;
  samples: number;
  seconds: number;
  cpuNs: number;
  /** Average CPU % over the running time; a tenant's is the sum of its containers'. */
  cpuPct: number | null;
  cpuPctMax: number;
  /** Average memory and disk while running (null: no sample); a tenant's are sums of its containers'. */
  memAvg: number | null;
  memMax: number;
  diskAvg: number | null;
  diskMax: number;
  ioReadBytes: number;
  ioWriteBytes: number;
  ioReadOps: number;
  ioWriteOps: number;
  netRxBytes: number;
  netTxBytes: number;
}

/** A container's usage summed over a time range (the ledger). */
export interface UsageSum {
  container: string;
  samples: number;
  seconds: number;
  cpuNs: number;
  memByteSeconds: number;
  memMax: number;
  diskByteSeconds: number;
  diskMax: number;
  ioReadBytes: number;
  ioWriteBytes: number;
  ioReadOps: number;
  ioWriteOps: number;
  netRxBytes: number;
  netTxBytes: number;
}

/** The last cumulative reading of a container, `at` in Unix milliseconds. */
export interface LastReading {
  container: string;
  /** The container's creation time: tells a container from a new one under its name. */
  since: string;
  at: number;
  running: boolean;
  cpuNs: number;
  ioReadBytes: number;
  ioWriteBytes: number;
  ioReadOps: number;
  ioWriteOps: number;
  netRxBytes: number;
  netTxBytes: number;
  oomKills: number;
}

const COUNTER_SUMS = `SUM(samples) AS samples, SUM(seconds) AS seconds, SUM(cpu_ns) AS cpuNs, SUM(io_read_bytes) AS ioReadBytes,
  SUM(io_write_bytes) AS ioWriteBytes, SUM(io_read_ops) AS ioReadOps, SUM(io_write_ops) AS ioWriteOps, SUM(net_rx_bytes) AS netRxBytes,
  SUM(net_tx_bytes) AS netTxBytes`;

interface LastRow {
  container: string; since: string; at: number; running: number; cpu_ns: number; io_read_bytes: number; io_write_bytes: number;
  io_read_ops: number; io_write_ops: number; net_rx_bytes: number; net_tx_bytes: number; oom_kills: number;
}

export class MeterRecords {
  private readonly add: Database.Statement;
  private readonly setLast: Database.Statement;
  private readonly dropLast: Database.Statement;
  private readonly prune: Database.Statement;
  private readonly ofContainer: Database.Statement;
  private readonly ofTenant: Database.Statement;
  private readonly byContainer: Database.Statement;

  constructor(private readonly db: Database.Database) {
    this.add = db.prepare(`INSERT INTO meter_points (tier, at, container, tenant, samples, seconds, cpu_ns, cpu_pct_max, mem_sum, mem_max,
        mem_byte_seconds, disk_samples, disk_sum, disk_max, disk_byte_seconds, io_read_bytes, io_write_bytes, io_read_ops, io_write_ops,
        net_rx_bytes, net_tx_bytes)
      VALUES (@tier, @at, @container, @tenant, @samples, @seconds, @cpuNs, @cpuPctMax, @memSum, @memMax, @memByteSeconds, @diskSamples,
        @diskSum, @diskMax, @diskByteSeconds, @ioReadBytes, @ioWriteBytes, @ioReadOps, @ioWriteOps, @netRxBytes, @netTxBytes)
      ON CONFLICT (tier, container, at, tenant) DO UPDATE SET samples = samples + excluded.samples, seconds = seconds + excluded.seconds,
        cpu_ns = cpu_ns + excluded.cpu_ns, cpu_pct_max = MAX(cpu_pct_max, excluded.cpu_pct_max), mem_sum = mem_sum + excluded.mem_sum,
        mem_max = MAX(mem_max, excluded.mem_max), mem_byte_seconds = mem_byte_seconds + excluded.mem_byte_seconds,
        disk_samples = disk_samples + excluded.disk_samples, disk_sum = disk_sum + excluded.disk_sum, disk_max = MAX(disk_max, excluded.disk_max),
        disk_byte_seconds = disk_byte_seconds + excluded.disk_byte_seconds, io_read_bytes = io_read_bytes + excluded.io_read_bytes,
        io_write_bytes = io_write_bytes + excluded.io_write_bytes, io_read_ops = io_read_ops + excluded.io_read_ops,
        io_write_ops = io_write_ops + excluded.io_write_ops, net_rx_bytes = net_rx_bytes + excluded.net_rx_bytes,
        net_tx_bytes = net_tx_bytes + excluded.net_tx_bytes`);
    this.setLast = db.prepare(`INSERT OR REPLACE INTO meter_last (container, since, at, running, cpu_ns, io_read_bytes, io_write_bytes, io_read_ops,
        io_write_ops, net_rx_bytes, net_tx_bytes, oom_kills)
      VALUES (@container, @since, @at, @running, @cpuNs, @ioReadBytes, @ioWriteBytes, @ioReadOps, @ioWriteOps, @netRxBytes, @netTxBytes, @oomKills)`);
    this.dropLast = db.prepare('DELETE FROM meter_last WHERE container = ?');
    this.prune = db.prepare('DELETE FROM meter_points WHERE tier = ? AND at < ?');
    // A container's points of any tenant (it may have changed hands within a bucket) are one series.
    this.ofContainer = db.prepare(`SELECT at, ${COUNTER_SUMS}, MAX(cpu_pct_max) AS cpuPctMax,
        CASE WHEN SUM(seconds) > 0 THEN SUM(cpu_ns) / 1e7 / SUM(seconds) END AS cpuPct,
        CASE WHEN SUM(samples) > 0 THEN SUM(mem_sum) * 1.0 / SUM(samples) END AS memAvg, MAX(mem_max) AS memMax,
        CASE WHEN SUM(disk_samples) > 0 THEN SUM(disk_sum) * 1.0 / SUM(disk_samples) END AS diskAvg, MAX(disk_max) AS diskMax
      FROM meter_points WHERE tier = ? AND container = ? AND at >= ? AND at < ? GROUP BY at ORDER BY at`);
    // A tenant's gauges are the sums of its containers' (each row is one container's bucket); the
    // maxima are summed too: an upper bound of the tenant's peak, which no reading saw at once.
    this.ofTenant = db.prepare(`SELECT at, ${COUNTER_SUMS}, SUM(cpu_pct_max) AS cpuPctMax,
        SUM(CASE WHEN seconds > 0 THEN cpu_ns / 1e7 / seconds END) AS cpuPct,
        SUM(CASE WHEN samples > 0 THEN mem_sum * 1.0 / samples END) AS memAvg, SUM(mem_max) AS memMax,
        SUM(CASE WHEN disk_samples > 0 THEN disk_sum * 1.0 / disk_samples END) AS diskAvg, SUM(disk_max) AS diskMax
      FROM meter_points WHERE tier = ? AND tenant = ? AND at >= ? AND at < ? GROUP BY at ORDER BY at`);
    this.byContainer = db.prepare(`SELECT container, ${COUNTER_SUMS}, SUM(mem_byte_seconds) AS memByteSeconds, MAX(mem_max) AS memMax,
        SUM(disk_byte_seconds) AS diskByteSeconds, MAX(disk_max) AS diskMax
      FROM meter_points WHERE tier = ? AND tenant = ? AND at >= ? AND at < ? GROUP BY container ORDER BY container`);
  }

  /** Every container's last cumulative reading. */
  lastReadings(): LastReading[] {
    return (this.db.prepare('SELECT * FROM meter_last').all() as LastRow[]).map((r) => ({
      container: r.container, since: r.since, at: r.at, running: r.running === 1, cpuNs: r.cpu_ns, ioReadBytes: r.io_read_bytes, ioWriteBytes: r.io_write_bytes,
      ioReadOps: r.io_read_ops, ioWriteOps: r.io_write_ops, netRxBytes: r.net_rx_bytes, netTxBytes: r.net_tx_bytes, oomKills: r.oom_kills,
    }));
  }

  /**
   * One tick, in one transaction: each delta added to its bucket of every tier (`buckets`: tier →
   * bucket start), the new last readings, the containers that are gone forgotten.
   */
  recordTick(buckets: Array<[tier: number, at: number]>, deltas: PointDelta[], last: LastReading[], gone: string[]): void {
    this.db.transaction(() => {
      for (const d of deltas) {
        for (const [tier, at] of buckets) this.add.run({ tier, at, ...d });
      }
      for (const l of last) this.setLast.run({ ...l, running: l.running ? 1 : 0 });
      for (const name of gone) this.dropLast.run(name);
    })();
  }

  /** Deletes the points of `tier` that start before `before` (Unix seconds). */
  pruneTier(tier: number, before: number): number {
    return this.prune.run(tier, before).changes;
  }

  /** A container's points of `tier` in [from, to) (Unix seconds), oldest first. */
  containerSeries(tier: number, container: string, from: number, to: number): PointRow[] {
    return this.ofContainer.all(tier, container, from, to) as PointRow[];
  }

  /** A tenant's points of `tier` in [from, to), summed over the containers it owned at each reading. */
  tenantSeries(tier: number, tenant: string, from: number, to: number): PointRow[] {
    return this.ofTenant.all(tier, tenant, from, to) as PointRow[];
  }

  /** Each container's usage for `tenant` in [from, to), from the points of `tier`. */
  tenantUsage(tier: number, tenant: string, from: number, to: number): UsageSum[] {
    return this.byContainer.all(tier, tenant, from, to) as UsageSum[];
  }
}
