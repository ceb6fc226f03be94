/**
 * Metering at scale, with 1000 *synthetic* metered containers fed into a Meter in this process
 * (its database a real file, as the daemon's): an hour of 10 s readings is recorded, then
 * GET /metrics and GET …/usage/series are served by the daemon's own HTTP server (Fastify inject,
 * no socket). The scrape with 1000 *real* running containers is measured by the scale benchmark
 * (density.ts) in the full run.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { buildServer, type Services } from '../src/api/server.js';
import { Meter, type MeterReading } from '../src/metering/index.js';
import { MeterRecords, Store } from '../src/state/index.js';
import { fmt, percentile, summarize, time, type BenchResult, type Context } from './lib.js';

const MiB = 1 << 20;
const TENANTS = 20;

/** The p-th percentile (0-100) of `xs`. */
function reading(i: number): MeterReading {
  return {
    container: `ct${i}`, since: '2026-01-01T00:00:00.000Z', template: 'bb', state: 'running', cpuNs: 0, ioReadBytes: 0, ioWriteBytes: 0,
    ioReadOps: 0, ioWriteOps: 0, netRxBytes: 0, netTxBytes: 0, oomKills: 0, memoryBytes: 64 * MiB, memoryLimitBytes: 256 * MiB, diskUsedBytes: 100 * MiB,
  };
}

export async function meteringBenchmarks(ctx: Context): Promise<BenchResult[]> {
  const tiny = ctx.mode === 'tiny';
  const n = tiny ? 50 : 1000;
  const ticks = tiny ? 12 : 360;
  const runs = tiny ? 5 : 100;
  const dir = mkdtempSync('/tmp/strata-bench-meter-');
  const store = new Store(join(dir, 'state.db'));
  try {
    let now = Date.now() - ticks * 10_000;
    const cts = Array.from({ length: n }, (_, i) => reading(i));
    const meter = new Meter(new MeterRecords(store.db), {
      read: async () => cts.map((c) => ({ ...c })),
      tenantOf: (ct) => `t${Number(ct.slice(2)) % TENANTS}`,
      now: () => now,
    });
    await meter.tick();
    ctx.log(`metering: recording ${ticks} readings of ${n} synthetic containers (${fmt(ticks / 360, 2)} h of 10 s ticks)`);
    const tickMs: number[] = [];
    for (let t = 0; t < ticks; t++) {
      now += 10_000;
      for (const [i, c] of cts.entries()) {
        c.cpuNs += (i % 10) * 1e8;
        c.netRxBytes += 1000 * i;
        c.ioWriteBytes += 4096;
        c.memoryBytes = (64 + (t % 7)) * MiB;
      }
      tickMs.push(await time(() => meter.tick()));
    }
    const app = await buildServer({ meter, info: {} } as unknown as Services);
    const get = async (url: string): Promise<number> => time(async () => {
      const r = await app.inject({ method: 'GET', url });
      if (r.statusCode !== 200) throw new Error(`GET ${url}: ${r.statusCode} ${r.body.slice(0, 200)}`);
    });
    const from = encodeURIComponent(new Date(now - 3600_000).toISOString());
    const month = new Date(now).toISOString().slice(0, 7);
    const measure = async (url: string): Promise<number[]> => {
      await get(url); // warm
      const xs: number[] = [];
      for (let i = 0; i < runs; i++) xs.push(await get(url));
      return xs;
    };
    const scrape = await measure('/metrics');
    const series = await measure(`/v1/containers/ct7/usage/series?from=${from}&resolution=10s`);
    const tenant = await measure(`/v1/tenants/t7/usage/series?from=${from}&resolution=10s`);
    const ledger = await measure(`/v1/tenants/t7/usage/ledger?month=${month}`);
    await app.close();
    const line = (label: string, xs: number[]): string => `${label}: p50 ${fmt(percentile(xs, 0.5))} ms, p99 ${fmt(percentile(xs, 0.99))} ms`;
    ctx.log(`metering: ${line('GET /metrics', scrape)} (goal ≤ 500 ms: ${fmt(percentile(scrape, 0.99) / 500, 3)} of it)`);
    ctx.log(`metering: ${line('container series', series)}; ${line('tenant series', tenant)}; ${line('ledger', ledger)}; ${line('tick', tickMs)}`);
    const note = (xs: number[]): string => `p50 ${fmt(percentile(xs, 0.5))}, p99 ${fmt(percentile(xs, 0.99))} ms`;
    const perTenant = n / TENANTS;
    return [{
      id: 'metering', title: `Metering: /metrics and usage series with ${n} metered containers`,
      method: `${n} synthetic running containers (not real ones: the scale benchmark scrapes real ones) fed into the daemon's Meter, ${TENANTS} tenants, `
        + `its database a file as the daemon's; ${ticks} readings 10 s apart recorded (an hour of points in every tier), then ${runs} requests each through the `
        + `daemon's HTTP server (Fastify inject, no socket): GET /metrics, one container's and one tenant's (${perTenant} containers) series of the last hour at 10 s, and the tenant's ledger of the month.`,
      measures: [
        { label: `GET /metrics, ${n} containers`, unit: 'ms', summary: summarize(scrape), note: note(scrape) },
        { label: 'GET …/usage/series, a container, 1 h at 10 s', unit: 'ms', summary: summarize(series), note: note(series) },
        { label: `GET …/usage/series, a tenant of ${perTenant}, 1 h at 10 s`, unit: 'ms', summary: summarize(tenant), note: note(tenant) },
        { label: 'GET …/usage/ledger, a tenant, one month', unit: 'ms', summary: summarize(ledger), note: note(ledger) },
        { label: `a meter tick recording ${n} containers`, unit: 'ms', summary: summarize(tickMs), note: note(tickMs) },
      ],
      goals: [
        { text: `a scrape with ${n} containers ≤ 500 ms`, met: tiny ? null : percentile(scrape, 0.99) <= 500, measured: `p50 ${fmt(percentile(scrape, 0.5))} ms, p99 ${fmt(percentile(scrape, 0.99))} ms (${fmt(percentile(scrape, 0.99) / 500, 3)} of the goal)` },
      ],
      skipped: [],
    }];
  } finally {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
