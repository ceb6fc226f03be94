// The Prometheus exposition: it parses as the text format, has exactly the metrics, types and
// labels that docs/metrics.md documents, and a scrape of a thousand metered containers is fast.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MeterRecords, Store } from '../state/index.js';
import { Meter, MeterMetrics, type MeterReading } from './index.js';

const TOP = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

interface Documented { type: string; labels: string[] }

/** The metrics table of docs/metrics.md: name → type and labels. */
function documented(): Map<string, Documented> {
  const out = new Map<string, Documented>();
  for (const line of readFileSync(join(TOP, 'docs', 'metrics.md'), 'utf8').split('\n')) {
    const m = /^\| `(strata_\w+)` \| (\w+) \| [^|]+ \| ([^|]+) \|/.exec(line);
    if (!m) continue;
    const labels = m[3].trim() === '—' ? [] : [...m[3].matchAll(/`(\w+)`/g)].map((x) => x[1]);
    out.set(m[1], { type: m[2], labels: labels.sort() });
  }
  return out;
}

interface Sample { name: string; labels: Record<string, string>; value: number }

/** A strict reader of the text format: HELP and TYPE comments, then `name{label="v",...} value` lines. */
function parse(text: string): { types: Map<string, string>; samples: Sample[] } {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const t = /^# TYPE (\w+) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (t) { types.set(t[1], t[2]); continue; }
    if (/^# HELP \w+ .*$/.test(line)) continue;
    const m = /^(\w+)(?:\{(.*)\})? (-?[\d.e+-]+|NaN|\+Inf|-Inf)$/.exec(line);
    assert.ok(m, `a valid sample line: ${line}`);
    const labels: Record<string, string> = {};
    if (m[2]) {
      const rest = m[2].replace(/(\w+)="((?:[^"\\]|\\.)*)",?/g, (_, k: string, v: string) => { labels[k] = v; return ''; });
      assert.equal(rest, '', `labels parse: ${m[2]}`);
    }
    assert.ok(types.has(m[1]), `${m[1]} has a TYPE line before its samples`);
    samples.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return { types, samples };
}

function reading(i: number): MeterReading {
  const running = i % 10 !== 0;
  return {
    container: `ct${i}`, since: '2026-01-01T00:00:00.000Z', template: 'bb', state: running ? 'running' : 'stopped', cpuNs: i * 1e9, ioReadBytes: i, ioWriteBytes: 2 * i,
    ioReadOps: 1, ioWriteOps: 1, netRxBytes: 10 * i, netTxBytes: 20 * i, oomKills: i % 7 === 0 ? 1 : 0,
    memoryBytes: running ? 1 << 20 : null, memoryLimitBytes: running ? 256 << 20 : null, diskUsedBytes: running ? 4 << 20 : null,
  };
}

test('the exposition parses, matches docs/metrics.md, and a scrape of 1000 containers takes well under 500 ms', async () => {
  const store = new Store(':memory:');
  let now = Date.parse('2026-11-01T00:00:00Z');
  let cpu = 0;
  const meter = new Meter(new MeterRecords(store.db), {
    read: async () => Array.from({ length: 1000 }, (_, i) => { const r = reading(i); r.cpuNs += cpu; return r; }),
    tenantOf: (ct) => (Number(ct.slice(2)) % 3 === 0 ? null : `t${Number(ct.slice(2)) % 3}`),
    now: () => now,
  });
  await meter.tick();
  now += 10_000;
  cpu = 1e9;
  await meter.tick();
  const metrics = new MeterMetrics(meter, '9.9.9');
  assert.match(metrics.contentType, /^text\/plain; version=0\.0\.4/);

  const times: number[] = [];
  let text = '';
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    text = await metrics.text();
    times.push(performance.now() - t);
  }
  const { types, samples } = parse(text);
  const docs = documented();
  assert.deepEqual([...types.keys()].sort(), [...docs.keys()].sort(), 'every metric exposed is documented, and every documented one exposed');
  for (const [name, d] of docs) {
    assert.equal(types.get(name), d.type, `${name} is a ${d.type}`);
    for (const s of samples.filter((x) => x.name === name)) assert.deepEqual(Object.keys(s.labels).sort(), d.labels, `${name}'s labels`);
  }
  const one = (name: string, labels: Record<string, string>): number | undefined =>
    samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
  assert.equal(one('strata_info', { version: '9.9.9' }), 1);
  assert.equal(one('strata_containers', { state: 'running' }), 900);
  assert.equal(one('strata_containers', { state: 'stopped' }), 100);
  assert.equal(one('strata_container_cpu_seconds_total', { container: 'ct5', tenant: 't2' }), 6);
  assert.equal(one('strata_container_cpu_seconds_total', { container: 'ct3', tenant: '' }), 4, 'the host\'s own: tenant ""');
  assert.equal(one('strata_container_running', { container: 'ct10' }), 0);
  assert.equal(one('strata_container_memory_bytes', { container: 'ct10' }), undefined, 'no memory figure for a stopped container');
  assert.equal(one('strata_container_memory_limit_bytes', { container: 'ct11' }), 256 << 20);
  assert.equal(one('strata_container_info', { container: 'ct11', template: 'bb' }), 1);
  // The second tick metered 1 s per container: the tenant counters hold what was metered since start.
  assert.equal(one('strata_tenant_cpu_seconds_total', { tenant: 't1' }), samples.filter((s) => s.name === 'strata_container_info' && s.labels.tenant === 't1').length);
  assert.equal(samples.filter((s) => s.name === 'strata_container_cpu_seconds_total').length, 1000);
  const median = times.sort((a, b) => a - b)[2];
  assert.ok(median < 500, `a scrape of 1000 containers took ${median.toFixed(1)} ms`);
  process.stderr.write(`scrape of 1000 containers: median ${median.toFixed(1)} ms, ${text.length} bytes\n`);
  store.close();
});
