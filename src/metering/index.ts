/**
 * metering: what each container uses over time. A Meter reads every container every 10 s (the
 * daemon hands it a reading function), keeps rollups in the database (10 s for an hour, 1 min for
 * two days, 1 h for 90 days, 1 day for two years), answers series per container and per tenant
 * and a tenant's monthly ledger, and exposes the newest readings to Prometheus. It does not read
 * cgroups itself (containers/usage.ts does) and holds no SQL (state/metering.ts).
 */
export { Meter } from './meter.js';
export { MeterMetrics } from './prometheus.js';
export type { MeterReading } from './rollup.js';
