// Integration: the meter on a real daemon and a real container. CPU burnt inside shows in the
// usage series and in /metrics; a daemon restart keeps the points from before it, and the CPU
// burnt while the daemon was down is counted once (series total = the container's cumulative CPU).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '../src/api/client.js';
import { sleep, useDaemon } from './harness.js';

const CT = 'mt-burn';
/** About a second of CPU in busybox's shell. */
const BURN = 'i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done';

/** The value of one sample of the exposition, or undefined. */
function sample(text: string, name: string, labels: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('metering', () => {
  // Readings every half second instead of every 10 s: the test needs no waiting for ticks.
  const d = useDaemon({ template: 'bb', env: { STRATA_METER_INTERVAL_MS: '500' } });
  const api = (): Client => new Client(d.socket);
  const hourTotal = async (): Promise<number> =>
    (await api().metering.containerSeries(CT, { resolution: '1h', from: new Date(Date.now() - 7200_000).toISOString() })).points.reduce((a, p) => a + p.cpuSeconds, 0);
  const metricCpu = async (): Promise<number | undefined> => sample(await api().metering.metrics(), 'strata_container_cpu_seconds_total', `container="${CT}",tenant=""`);
  /** Waits until two ticks in a row agree (the container idles), then answers the series total and /metrics' counter. */
  const settled = async (): Promise<{ series: number; metric: number }> => {
    let prev = -1;
    for (let i = 0; i < 40; i++) {
      await sleep(600);
      const metric = (await metricCpu()) ?? -1;
      const series = await hourTotal();
      if (metric >= 0 && Math.abs(metric - prev) < 0.005 && Math.abs(series - metric) < 0.01) return { series, metric };
      prev = metric;
    }
    return { series: await hourTotal(), metric: (await metricCpu()) ?? -1 };
  };

  test('CPU burnt in a container shows in its usage series, the CLI and /metrics', async () => {
    await d.ok('create', CT, '--template', 'bb');
    await d.ok('start', CT);
    await d.ok('exec', CT, '--', 'sh', '-c', BURN);
    const { series, metric } = await settled();
    assert.ok(series > 0.2, `the series counts the burnt CPU: ${series} s`);
    assert.ok(Math.abs(series - metric) < 0.01, `series (${series}) and /metrics (${metric}) agree`);
    const points = (await api().metering.containerSeries(CT, { resolution: '10s' })).points;
    assert.ok(points.some((p) => p.cpuSeconds > 0.1 && (p.cpuPercent ?? 0) > 0), 'a 10 s point holds the burst');
    assert.ok(points.every((p) => p.memoryBytes === null || p.memoryBytes > 0));
    const text = await api().metering.metrics();
    assert.equal(sample(text, 'strata_container_running', `container="${CT}",tenant=""`), 1);
    assert.equal(sample(text, 'strata_containers', 'state="running"'), 1);
    assert.ok((sample(text, 'strata_container_memory_bytes', `container="${CT}",tenant=""`) ?? 0) > 0);
    assert.match(await d.ok('usage', CT), new RegExp(`^${CT}: .* points of 10s\\n  cpu `));
    const month = new Date().toISOString().slice(0, 7);
    const ledger = JSON.parse(await d.ok('usage', '--tenant', '-', '--month', month, '--json')) as { containers: Array<{ container: string; cpuSeconds: number }> };
    assert.ok((ledger.containers.find((l) => l.container === CT)?.cpuSeconds ?? 0) > 0.2, 'the host\'s own ledger of this month has it');
    const typo = await d.cli('usage', 'mt-nosuch');
    assert.equal(typo.status, 3);
    assert.match(typo.stderr, /container mt-nosuch does not exist and has no recorded usage/);
    const bad = await d.cli('usage', CT, '--resolution', '5m');
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /unknown resolution "5m": use one of 10s, 1m, 1h, 1d/);
  });

  test('a daemon restart keeps the points and counts the CPU burnt while it was down exactly once', async () => {
    const before = (await api().metering.containerSeries(CT, { resolution: '10s' })).points;
    const { series: s0 } = await settled();
    // A burn that runs on while the daemon is down (exec runs runc itself once the daemon planned it).
    const burn = d.cli('exec', CT, '--', 'sh', '-c', `${BURN}; ${BURN}`);
    await sleep(500);
    await d.stop();
    await sleep(1500);
    await d.start();
    const r = await burn;
    assert.equal(r.status, 0, r.stderr);
    const { series, metric } = await settled();
    assert.ok(series > s0 + 0.5, `the burn while the daemon was down is counted: ${s0} → ${series} s`);
    assert.ok(Math.abs(series - metric) < 0.01, `not counted twice: the series total (${series}) is the container's cumulative CPU (${metric})`);
    const after = new Map((await api().metering.containerSeries(CT, { resolution: '10s', from: before[0].at })).points.map((p) => [p.at, p]));
    for (const p of before) {
      const kept = after.get(p.at);
      assert.ok(kept && kept.cpuSeconds >= p.cpuSeconds - 1e-6, `the point of ${p.at} is kept`);
    }
  });
});
