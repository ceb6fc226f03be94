// The meter over simulated time: readings every 10 s rolled up to 1 min, 1 h and 1 day, retention,
// counter resets, a daemon that was down, tenants and the monthly ledger. No daemon, no cgroup:
// the readings are made up, the clock is the test's, the database is in memory.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgument } from '../errors/index.js';
import { MeterRecords, Store } from '../state/index.js';
import { Meter, type MeterReading } from './index.js';

const MiB = 1 << 20;

/** A made-up host: containers whose counters the test moves, and a clock it sets. */
class Sim {
  readonly store = new Store(':memory:');
  readonly records = new MeterRecords(this.store.db);
  now = Date.parse('2026-11-01T00:00:00Z');
  readonly cts = new Map<string, MeterReading>();
  readonly owners = new Map<string, string>();

  meter(): Meter {
    return new Meter(this.records, {
      read: async () => [...this.cts.values()].map((r) => ({ ...r })),
      tenantOf: (ct) => this.owners.get(ct) ?? null,
      now: () => this.now,
      diskEvery: 1,
    });
  }

  add(name: string, tenant?: string, over: Partial<MeterReading> = {}): MeterReading {
    const r: MeterReading = {
      container: name, since: '2026-01-01T00:00:00.000Z', template: 'bb', state: 'running', cpuNs: 0, ioReadBytes: 0, ioWriteBytes: 0, ioReadOps: 0, ioWriteOps: 0,
      netRxBytes: 0, netTxBytes: 0, oomKills: 0, memoryBytes: 100 * MiB, memoryLimitBytes: null, diskUsedBytes: 10 * MiB, ...over,
    };
    this.cts.set(name, r);
    if (tenant) this.owners.set(name, tenant);
    return r;
  }

  /** Advances the clock by `seconds`, each container using `cpu` CPUs meanwhile, then ticks. */
  async run(meter: Meter, seconds: number, cpu = 0.5): Promise<void> {
    this.now += seconds * 1000;
    for (const r of this.cts.values()) {
      if (r.state !== 'running') continue;
      r.cpuNs += Math.round(cpu * seconds * 1e9);
      r.netRxBytes += 1000 * seconds;
      r.ioWriteBytes += 4096 * seconds;
    }
    await meter.tick();
  }

  iso(offsetSeconds = 0): string {
    return new Date(this.now + offsetSeconds * 1000).toISOString();
  }
}

const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
const near = (a: number, b: number, what: string): void => assert.ok(Math.abs(a - b) < 1e-6, `${what}: ${a} ≠ ${b}`);

describe('meter rollups over simulated time', () => {
  test('readings every 10 s roll up to 1 min, 1 h and 1 day with the same sums; gauges keep average and max', async () => {
    const sim = new Sim();
    const r = sim.add('web');
    const meter = sim.meter();
    await meter.tick(); // the first reading: a brand-new data root takes it as the baseline
    const start = sim.now;
    for (let i = 1; i <= 360; i++) {
      // Memory alternates 100 MiB / 300 MiB: the average is 200 MiB, the maximum 300 MiB.
      r.memoryBytes = (i % 2 ? 100 : 300) * MiB;
      await sim.run(meter, 10);
    }
    const range = { from: new Date(start).toISOString(), to: sim.iso(1) };
    const s10 = meter.series('web', { ...range, resolution: '10s' });
    assert.equal(s10.resolution, '10s');
    assert.equal(s10.points.length, 361, 'one point per reading (the first bucket holds the baseline)');
    const p = s10.points[5];
    near(p.cpuSeconds, 5, '10 s at half a CPU');
    near(p.cpuPercent!, 50, 'CPU %');
    assert.equal(p.runningSeconds, 10);
    assert.equal(p.netRxBytes, 10_000);

    const s1m = meter.series('web', { ...range, resolution: '1m' });
    assert.equal(s1m.points.length, 61);
    near(s1m.points[1].cpuSeconds, 30, 'a minute at half a CPU');
    assert.equal(s1m.points[1].memoryBytes, 200 * MiB);
    assert.equal(s1m.points[1].memoryMaxBytes, 300 * MiB);
    near(s1m.points[1].cpuPercentMax, 50, 'highest CPU % between readings');

    const s1h = meter.series('web', { from: new Date(start).toISOString(), to: sim.iso(1), resolution: '1h' });
    near(sum(s1h.points.map((x) => x.cpuSeconds)), 1800, 'an hour at half a CPU');
    const s1d = meter.series('web', { from: new Date(start).toISOString(), to: sim.iso(1), resolution: '1d' });
    assert.equal(s1d.points.length, 1);
    near(s1d.points[0].cpuSeconds, 1800, 'the day holds the same CPU seconds');
    assert.equal(s1d.points[0].ioWriteBytes, 3600 * 4096);
    assert.equal(s1d.points[0].diskUsedBytes, 10 * MiB);
    near(sum(s10.points.map((x) => x.cpuSeconds)), 1800, 'the 10 s points add up to the same');

    // No resolution: the range picks it (an hour: 10 s; a week: 1 h).
    assert.equal(meter.series('web', { from: sim.iso(-3000) }).resolution, '10s');
    assert.equal(meter.series('web', { from: sim.iso(-7 * 86400) }).resolution, '1h');
    assert.equal(meter.series('web', { from: sim.iso(-365 * 86400) }).resolution, '1d');
  });

  test('retention: 10 s points go after an hour, 1 min after two days, 1 h after 90 days', async () => {
    const sim = new Sim();
    sim.add('web');
    const meter = sim.meter();
    await meter.tick();
    const t0 = sim.iso();
    for (let i = 0; i < 12; i++) await sim.run(meter, 10);
    const count = (resolution: string): number => meter.series('web', { from: t0, to: sim.iso(1), resolution }).points.length;
    assert.ok(count('10s') >= 12 && count('1m') >= 2);
    await sim.run(meter, 3601);
    assert.equal(count('10s'), 1, 'only the newest 10 s point is left');
    assert.ok(count('1m') >= 3, '1 min points are still there');
    await sim.run(meter, 2 * 86400);
    assert.equal(count('1m'), 1);
    assert.ok(count('1h') >= 2);
    await sim.run(meter, 90 * 86400);
    assert.equal(count('1h'), 1);
    assert.ok(count('1d') >= 3, 'days are kept two years');
    near(sum(meter.series('web', { from: t0, to: sim.iso(1), resolution: '1d' }).points.map((x) => x.cpuSeconds)),
      0.5 * (120 + 3601 + 2 * 86400 + 90 * 86400), 'no CPU second lost to retention of finer tiers');
  });

  test('a 5-minute gap (daemon down) loses no CPU second, also across a new Meter; a reset counts from its new value', async () => {
    const sim = new Sim();
    const r = sim.add('web');
    let meter = sim.meter();
    await meter.tick();
    const t0 = sim.iso();
    for (let i = 0; i < 6; i++) await sim.run(meter, 10);
    // The daemon stops for 5 minutes; the container runs on at half a CPU.
    await meter.stop();
    sim.now += 300_000;
    r.cpuNs += 150e9;
    meter = sim.meter(); // a restarted daemon: the last reading comes from the database
    await sim.run(meter, 10);
    const points = meter.series('web', { from: t0, to: sim.iso(1), resolution: '10s' }).points;
    near(sum(points.map((x) => x.cpuSeconds)), 30 + 150 + 5, 'every CPU second of the gap is in the first point after it');
    const after = points[points.length - 1];
    near(after.cpuPercent!, 50, 'CPU % over the gap is the true average (the point covers the whole gap)');
    assert.equal(after.runningSeconds, 310);

    // A counter that falls within the same container (a run's end could not be read): counted from the new value on, never twice.
    r.cpuNs = 2e9;
    sim.now += 10_000;
    await meter.tick();
    r.cpuNs += 1e9;
    sim.now += 10_000;
    await meter.tick();
    const hour = (): number => sum(meter.series('web', { from: t0, to: sim.iso(1), resolution: '1h' }).points.map((x) => x.cpuSeconds));
    near(hour(), 186, 'the fall adds nothing, the second after it is counted');

    // Destroyed and made again under its name: a new cgroup, counters from zero, all of its value is new usage.
    r.since = '2026-11-01T01:00:00.000Z';
    r.cpuNs = 4e9;
    sim.now += 10_000;
    await meter.tick();
    near(meter.series('web', { from: t0, to: sim.iso(1), resolution: '10s' }).points.at(-1)!.cpuSeconds, 4, 'a new container: the delta is its value');
    near(hour(), 190, 'the hour agrees');
  });

  test('containers that ran before the meter existed start from a baseline; one created later counts from zero', async () => {
    const sim = new Sim();
    sim.add('old', undefined, { cpuNs: 1e12 });
    const meter = sim.meter();
    await meter.tick();
    sim.add('new', undefined, { cpuNs: 3e9 });
    await sim.run(meter, 10, 0);
    const from = sim.iso(-60);
    assert.equal(sum(meter.series('old', { from }).points.map((x) => x.cpuSeconds)), 0, 'its lifetime before the meter is not a bucket\'s usage');
    near(sum(meter.series('new', { from }).points.map((x) => x.cpuSeconds)), 3, 'a new container\'s first reading is all new');
  });

  test('tenants: series summed over their containers, the host\'s own apart, a destroyed container\'s usage kept', async () => {
    const sim = new Sim();
    sim.add('a1', 'acme');
    sim.add('a2', 'acme', { memoryBytes: 50 * MiB });
    sim.add('b1', 'bolt');
    sim.add('h1');
    const meter = sim.meter();
    await meter.tick();
    const t0 = sim.iso();
    for (let i = 0; i < 6; i++) await sim.run(meter, 10);
    sim.cts.delete('a2'); // destroyed
    for (let i = 0; i < 6; i++) await sim.run(meter, 10);
    const acme = meter.tenantSeries('acme', { from: t0, to: sim.iso(1), resolution: '1m' });
    near(sum(acme.points.map((x) => x.cpuSeconds)), 90, 'a1 for 120 s and a2 for 60 s at half a CPU');
    const acme10 = meter.tenantSeries('acme', { from: t0, to: sim.iso(1), resolution: '10s' }).points;
    assert.equal(acme10[2].memoryBytes, 150 * MiB, 'a tenant\'s memory is the sum of its containers\'');
    assert.equal(acme10.at(-1)!.memoryBytes, 100 * MiB, 'after a2 is gone only a1 remains');
    near(acme10[2].cpuPercent!, 100, 'two containers at half a CPU each');
    near(sum(meter.tenantSeries(null, { from: t0, to: sim.iso(1) }).points.map((x) => x.cpuSeconds)), 60, 'the host\'s own: h1');
    near(sum(meter.tenantSeries('bolt', { from: t0, to: sim.iso(1) }).points.map((x) => x.cpuSeconds)), 60, 'bolt: b1');
    const ledger = meter.ledger('acme', '2026-11');
    assert.deepEqual(ledger.containers.map((l) => l.container), ['a1', 'a2'], 'the destroyed container is on the ledger');
    near(ledger.containers[1].cpuSeconds, 30, 'a2 ran 60 s at half a CPU');
    near(ledger.total.cpuSeconds, 90, 'acme in all');
  });

  test('the monthly ledger: usage in the month it was used, GiB-hours of memory and disk, nothing of other tenants', async () => {
    const sim = new Sim();
    sim.now = Date.parse('2026-10-31T22:59:59Z');
    sim.add('a1', 'acme', { memoryBytes: 1024 * MiB, diskUsedBytes: 2048 * MiB });
    sim.add('b1', 'bolt');
    const meter = sim.meter();
    await meter.tick();
    // Two hours across midnight of 31 October, a reading every 10 minutes, at one CPU.
    for (let i = 0; i < 12; i++) await sim.run(meter, 600, 1);
    const oct = meter.ledger('acme', '2026-10');
    const nov = meter.ledger('acme', '2026-11');
    assert.equal(oct.from, '2026-10-01T00:00:00.000Z');
    assert.equal(oct.to, '2026-11-01T00:00:00.000Z');
    near(oct.total.cpuSeconds, 3600, 'the hour of October');
    near(nov.total.cpuSeconds, 3600, 'the hour of November');
    near(nov.total.runningHours, 1, 'running hours');
    near(nov.total.memoryGiBHours, 1, '1 GiB for an hour');
    near(nov.total.diskGiBHours, 2, '2 GiB of disk for an hour');
    assert.equal(nov.total.memoryAverageBytes, 1024 * MiB);
    assert.equal(nov.total.netRxBytes, 3600 * 1000);
    assert.equal(nov.containers.length, 1, 'bolt\'s container is not on acme\'s ledger');
    assert.equal(meter.ledger('acme', '2026-09').containers.length, 0);
    assert.throws(() => meter.ledger('acme', '2026-13'), (e: unknown) => e instanceof InvalidArgument && /YYYY-MM/.test(e.message));
  });

  test('a stopped container adds nothing; the tail of its last run still counts; bad queries are refused by name', async () => {
    const sim = new Sim();
    const r = sim.add('web');
    const meter = sim.meter();
    await meter.tick();
    const t0 = sim.iso();
    await sim.run(meter, 10);
    // It stops: the last seconds of its run are folded into its cumulative counters.
    r.state = 'stopped';
    r.memoryBytes = null;
    r.cpuNs += 1e9;
    await sim.run(meter, 10);
    await sim.run(meter, 10);
    const points = meter.series('web', { from: t0, to: sim.iso(1), resolution: '10s' }).points;
    assert.equal(points.length, 3, 'the baseline, a running reading and the tail; nothing for the stopped one');
    near(points[2].cpuSeconds, 1, 'the tail');
    assert.equal(points[2].memoryBytes, null);
    assert.throws(() => meter.series('web', { resolution: '5m' }), (e: unknown) => e instanceof InvalidArgument && /10s, 1m, 1h, 1d/.test(e.message));
    assert.throws(() => meter.series('web', { from: 'yesterday' }), (e: unknown) => e instanceof InvalidArgument && /ISO 8601/.test(e.message));
    assert.throws(() => meter.series('web', { from: sim.iso(), to: sim.iso(-10) }), InvalidArgument);
  });
});
