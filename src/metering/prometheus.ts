/**
 * The Prometheus exposition of the meter (GET /metrics), through prom-client with a registry of
 * its own (never the global one: two daemons in one process, as in tests, must not share it).
 * Built at each scrape from the meter's newest readings in memory: a scrape reads no cgroup and
 * no database, so it stays fast with a thousand containers. Every metric is in docs/metrics.md.
 */
import { Counter, Gauge, Registry } from 'prom-client';
import type { Meter } from './meter.js';

const CT = ['container', 'tenant'] as const;
const TN = ['tenant'] as const;
type Ct = (typeof CT)[number];
type Tn = (typeof TN)[number];

export class MeterMetrics {
  private readonly registry = new Registry();
  private readonly info: Gauge<'version'>;
  private readonly containers: Gauge<'state'>;
  private readonly meterTick: Gauge;
  private readonly meterTickSeconds: Gauge;
  private readonly ctInfo: Gauge<Ct | 'template'>;
  private readonly ctRunning: Gauge<Ct>;
  private readonly ctCpu: Counter<Ct>;
  private readonly ctMem: Gauge<Ct>;
  private readonly ctMemLimit: Gauge<Ct>;
  private readonly ctDisk: Gauge<Ct>;
  private readonly ctIoRead: Counter<Ct>;
  private readonly ctIoWrite: Counter<Ct>;
  private readonly ctRx: Counter<Ct>;
  private readonly ctTx: Counter<Ct>;
  private readonly ctOom: Counter<Ct>;
  private readonly tnContainers: Gauge<Tn | 'state'>;
  private readonly tnCpu: Counter<Tn>;
  private readonly tnMem: Gauge<Tn>;
  private readonly tnDisk: Gauge<Tn>;
  private readonly tnIoRead: Counter<Tn>;
  private readonly tnIoWrite: Counter<Tn>;
  private readonly tnRx: Counter<Tn>;
  private readonly tnTx: Counter<Tn>;

  constructor(private readonly meter: Meter, private readonly version: string) {
    const registers = [this.registry];
    const g = <T extends string>(name: string, help: string, labelNames: readonly T[]): Gauge<T> => new Gauge({ name, help, labelNames, registers });
    const c = <T extends string>(name: string, help: string, labelNames: readonly T[]): Counter<T> => new Counter({ name, help, labelNames, registers });
    this.info = g('strata_info', 'The Strata daemon (always 1), its version as a label', ['version']);
    this.containers = g('strata_containers', 'Containers of this host by state', ['state']);
    this.meterTick = g('strata_meter_last_tick_timestamp_seconds', 'When the meter last read every container (Unix seconds)', []);
    this.meterTickSeconds = g('strata_meter_last_tick_duration_seconds', 'How long the meter\'s last reading of every container took', []);
    this.ctInfo = g('strata_container_info', 'A container (always 1), its template as a label', [...CT, 'template']);
    this.ctRunning = g('strata_container_running', '1 when the container runs, else 0', CT);
    this.ctCpu = c('strata_container_cpu_seconds_total', 'CPU time used over all its runs', CT);
    this.ctMem = g('strata_container_memory_bytes', 'Memory in use now (running containers only)', CT);
    this.ctMemLimit = g('strata_container_memory_limit_bytes', 'Its memory limit (running containers with one only)', CT);
    this.ctDisk = g('strata_container_disk_used_bytes', 'Bytes used in its private area (containers with a disk limit, while running)', CT);
    this.ctIoRead = c('strata_container_io_read_bytes_total', 'Bytes read from block devices over all its runs', CT);
    this.ctIoWrite = c('strata_container_io_write_bytes_total', 'Bytes written to block devices over all its runs', CT);
    this.ctRx = c('strata_container_network_receive_bytes_total', 'Bytes the container received on its adapters', CT);
    this.ctTx = c('strata_container_network_transmit_bytes_total', 'Bytes the container sent on its adapters', CT);
    this.ctOom = c('strata_container_oom_kills_total', 'Processes the kernel killed at its memory limit', CT);
    this.tnContainers = g('strata_tenant_containers', 'Containers of a tenant by state', [...TN, 'state']);
    this.tnCpu = c('strata_tenant_cpu_seconds_total', 'CPU time of the tenant\'s containers metered since the daemon started', TN);
    this.tnMem = g('strata_tenant_memory_bytes', 'Memory in use now by the tenant\'s running containers', TN);
    this.tnDisk = g('strata_tenant_disk_used_bytes', 'Bytes used in the private areas of the tenant\'s running containers', TN);
    this.tnIoRead = c('strata_tenant_io_read_bytes_total', 'Bytes its containers read, metered since the daemon started', TN);
    this.tnIoWrite = c('strata_tenant_io_write_bytes_total', 'Bytes its containers wrote, metered since the daemon started', TN);
    this.tnRx = c('strata_tenant_network_receive_bytes_total', 'Bytes its containers received, metered since the daemon started', TN);
    this.tnTx = c('strata_tenant_network_transmit_bytes_total', 'Bytes its containers sent, metered since the daemon started', TN);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The exposition text of the newest readings. */
  async text(): Promise<string> {
    this.refresh();
    return this.registry.metrics();
  }

  private refresh(): void {
    this.registry.resetMetrics();
    this.info.set({ version: this.version }, 1);
    const last = this.meter.lastTick;
    if (last) {
      this.meterTick.set(last.at / 1000);
      this.meterTickSeconds.set(last.ms / 1000);
    }
    const byState = new Map<string, number>();
    const tenantState = new Map<string, number>();
    const tenantMem = new Map<string, number>();
    const tenantDisk = new Map<string, number>();
    for (const { reading: r, tenant } of this.meter.latestReadings()) {
      const l = { container: r.container, tenant };
      byState.set(r.state, (byState.get(r.state) ?? 0) + 1);
      const ts = `${tenant}\n${r.state}`;
      tenantState.set(ts, (tenantState.get(ts) ?? 0) + 1);
      this.ctInfo.set({ ...l, template: r.template }, 1);
      this.ctRunning.set(l, r.state === 'running' ? 1 : 0);
      this.ctCpu.inc(l, r.cpuNs / 1e9);
      this.ctIoRead.inc(l, r.ioReadBytes);
      this.ctIoWrite.inc(l, r.ioWriteBytes);
      this.ctRx.inc(l, r.netRxBytes);
      this.ctTx.inc(l, r.netTxBytes);
      this.ctOom.inc(l, r.oomKills);
      if (r.memoryBytes !== null) {
        this.ctMem.set(l, r.memoryBytes);
        tenantMem.set(tenant, (tenantMem.get(tenant) ?? 0) + r.memoryBytes);
      }
      if (r.memoryLimitBytes !== null && r.state === 'running') this.ctMemLimit.set(l, r.memoryLimitBytes);
      if (r.diskUsedBytes !== null && r.state === 'running') {
        this.ctDisk.set(l, r.diskUsedBytes);
        tenantDisk.set(tenant, (tenantDisk.get(tenant) ?? 0) + r.diskUsedBytes);
      }
    }
    for (const state of ['created', 'running', 'stopped']) this.containers.set({ state }, byState.get(state) ?? 0);
    for (const [ts, n] of tenantState) {
      const [tenant, state] = ts.split('\n');
      this.tnContainers.set({ tenant, state }, n);
    }
    for (const [tenant, m] of tenantMem) this.tnMem.set({ tenant }, m);
    for (const [tenant, d] of tenantDisk) this.tnDisk.set({ tenant }, d);
    for (const [tenant, t] of this.meter.tenantCounters()) {
      this.tnCpu.inc({ tenant }, t.cpuSeconds);
      this.tnIoRead.inc({ tenant }, t.ioReadBytes);
      this.tnIoWrite.inc({ tenant }, t.ioWriteBytes);
      this.tnRx.inc({ tenant }, t.netRxBytes);
      this.tnTx.inc({ tenant }, t.netTxBytes);
    }
  }
}
