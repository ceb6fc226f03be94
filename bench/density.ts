/**
 * 3. Density and 7. at scale. N idle busybox containers, each with its own address on one
 * network and limits, created and started through the API, four at a time. Reported: total time,
 * per-start latency of the first and the last 10 %, host memory per container (MemAvailable and
 * slab deltas, caches dropped before each reading), `strata list` and `strata stats` wall time
 * with all N running (CLI and API), the Prometheus scrape (GET /metrics) and a usage series once
 * the meter has read them all, then the time to destroy them all and what is left behind.
 */
import { spawnSync } from 'node:child_process';
import { STRATA } from '../test/harness.js';
import { request } from 'node:http';
import { fmt, meminfo, parallel, percentile, settleMemory, summarize, time, withDaemon, type BenchResult, type Context } from './lib.js';

const WIDTH = 4;
const LIMITS = { memory: '256M', cpus: '1', pids: '512' };

/** One GET over the socket as the holder of `token`, read to the end; its wall time in ms. */
function timedGet(socket: string, path: string, token: string): Promise<number> {
  const t = performance.now();
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, path, headers: { authorization: `Bearer ${token}` } }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve(performance.now() - t) : reject(new Error(`${path}: ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end();
  });
}

function cliTime(socket: string, args: string[]): number {
  const t = performance.now();
  const r = spawnSync(process.execPath, [STRATA, '--socket', socket, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0) throw new Error(`strata ${args.join(' ')}: ${r.stderr.toString()}`);
  return performance.now() - t;
}

/** The host's links and nftables tables, to compare before and after. */
function hostObjects(): string[] {
  const links = spawnSync('ip', ['-o', 'link']).stdout.toString().split('\n').map((l) => `link ${l.split(':')[1]?.trim().split('@')[0] ?? ''}`);
  const tables = spawnSync('nft', ['list', 'tables']).stdout.toString().split('\n').filter(Boolean);
  return [...links, ...tables].filter((x) => x !== 'link ').sort();
}

export async function densityBenchmarks(ctx: Context): Promise<BenchResult[]> {
  const n = ctx.sizes.density;
  return withDaemon(async (d, api) => {
    // A network big enough for all of them (the default one is a /24).
    const subnet = '10.123.0.0/20';
    const objectsBefore = hostObjects();
    await d.ok('network', 'create', 'dens', '--subnet', subnet);
    settleMemory();
    const before = meminfo();
    ctx.log(`density: starting ${n} containers, ${WIDTH} at a time`);
    const t0 = performance.now();
    let done = 0;
    const starts = await parallel(n, WIDTH, async (i) => {
      await api.containers.create({ name: `d${i}`, template: 'bb', nets: ['dens'], limits: LIMITS });
      await api.containers.start(`d${i}`);
      if (++done % Math.max(1, Math.floor(n / 10)) === 0) ctx.log(`density: ${done}/${n} running after ${fmt((performance.now() - t0) / 1000)} s`);
    });
    const totalS = (performance.now() - t0) / 1000;
    await new Promise((r) => setTimeout(r, 2000));
    settleMemory();
    const memAfter = meminfo();
    const running = (await api.containers.list()).filter((c) => c.state === 'running').length;
    const tenth = Math.max(1, Math.floor(n / 10));
    const first = summarize(starts.slice(0, tenth));
    const last = summarize(starts.slice(-tenth));
    const availKiB = (before.MemAvailable - memAfter.MemAvailable) / n;
    const slabKiB = (memAfter.Slab - before.Slab) / n;

    // At scale: list and stats with all of them running.
    const runs = Math.max(3, Math.min(ctx.sizes.runs, 10));
    const listApi: number[] = [];
    const listCli: number[] = [];
    const statsApi: number[] = [];
    const statsCli: number[] = [];
    for (let i = 0; i < runs; i++) {
      listApi.push(await time(() => api.containers.list()));
      listCli.push(cliTime(d.socket, ['list']));
      statsApi.push(await time(() => api.containers.allStats()));
      statsCli.push(cliTime(d.socket, ['stats']));
    }
    ctx.log(`at scale: list ${fmt(summarize(listApi).median)} ms (API), ${fmt(summarize(listCli).median)} ms (CLI)`);
    // Latency as a remote caller sees it (less the network): a token through the permission check.
    await d.ok('tenant', 'create', 'benchco');
    await d.ok('user', 'create', 'benchadm', '--role', 'admin');
    const token = (await d.ok('token', 'create', '--user', 'benchadm')).trim();
    const samples = Math.max(50, ctx.sizes.runs * 20);
    const listToken: number[] = [];
    const inspectToken: number[] = [];
    const listTenant: number[] = [];
    for (let i = 0; i < samples; i++) {
      listToken.push(await timedGet(d.socket, '/v1/containers', token));
      inspectToken.push(await timedGet(d.socket, `/v1/containers/d${(i * 7919) % n}`, token));
    }
    // An owner of a tenant with none of them: the list is filtered down to nothing.
    await d.ok('user', 'create', 'benchowner', '--role', 'owner', '--tenant', 'benchco');
    const ownerToken = (await d.ok('token', 'create', '--user', 'benchowner')).trim();
    for (let i = 0; i < samples; i++) listTenant.push(await timedGet(d.socket, '/v1/containers', ownerToken));
    const pct = (xs: number[]): string => `p50 ${fmt(percentile(xs, 0.5))} ms, p99 ${fmt(percentile(xs, 0.99))} ms`;
    ctx.log(`at scale, with a token: list ${pct(listToken)}; inspect ${pct(inspectToken)}; a tenant's list ${pct(listTenant)}`);
    // The scrape and a series, once the meter (every 10 s) has read all of them.
    const metered = async (): Promise<number> => Number(/^strata_containers\{state="running"\} (\d+)$/m.exec(await api.metering.metrics())?.[1] ?? 0);
    for (let i = 0; i < 60 && (await metered()) < n; i++) await new Promise((r) => setTimeout(r, 1000));
    const scrapes: number[] = [];
    const series: number[] = [];
    for (let i = 0; i < Math.max(runs, 20); i++) {
      scrapes.push(await time(() => api.metering.metrics()));
      series.push(await time(() => api.metering.containerSeries('d0')));
    }
    ctx.log(`at scale: GET /metrics p50 ${fmt(percentile(scrapes, 0.5))} ms, p99 ${fmt(percentile(scrapes, 0.99))} ms; usage series p50 ${fmt(percentile(series, 0.5))} ms`);

    ctx.log(`density: destroying ${n} containers`);
    const d0 = performance.now();
    await parallel(n, WIDTH, (i) => api.containers.destroy(`d${i}`, true));
    const destroyS = (performance.now() - d0) / 1000;
    await d.ok('network', 'rm', 'dens');
    // Mounts, cgroups and runc state of this data root, and any link or table the run added.
    // The containers' veths go with their namespaces, which the kernel removes in its own time.
    let after = new Set(hostObjects());
    for (let i = 0; i < 300 && [...after].some((o) => !objectsBefore.includes(o)); i++) {
      await new Promise((r) => setTimeout(r, 100));
      after = new Set(hostObjects());
    }
    const left = [...d.leftovers(), ...[...after].filter((o) => !objectsBefore.includes(o))];

    const density: BenchResult = {
      id: 'density', title: `Density: ${n} containers`,
      method: `${n} idle busybox containers, each with its own address on one bridge (${subnet}) and limits (memory 256M, 1 CPU, 512 pids), created and started through the API ${WIDTH} at a time; memory read from /proc/meminfo after dropping caches, before and 2 s after the last start; then all destroyed ${WIDTH} at a time.`,
      measures: [
        { label: 'per start (create+start), first 10 %', unit: 'ms', summary: first },
        { label: 'per start (create+start), last 10 %', unit: 'ms', summary: last, note: `${fmt(last.median / first.median, 2)}× the first` },
        { label: 'all started', unit: 's', summary: summarize([totalS]) },
        { label: 'all destroyed', unit: 's', summary: summarize([destroyS]) },
        { label: 'host memory per container (MemAvailable)', unit: 'KiB', summary: summarize([availKiB]) },
        { label: 'kernel slab per container', unit: 'KiB', summary: summarize([slabKiB]) },
      ],
      goals: [
        { text: `${n} containers running at once`, met: running === n, measured: `${running} running` },
        { text: '≤ 1 MiB host memory per idle container', met: availKiB <= 1024, measured: `${fmt(availKiB, 0)} KiB (slab ${fmt(slabKiB, 0)} KiB)` },
        { text: 'all started within 45 s', met: totalS <= 45, measured: `${fmt(totalS)} s` },
        { text: 'the last 10 % start no slower than 1.2× the first', met: last.median <= 1.2 * first.median, measured: `${fmt(last.median / first.median, 2)}×` },
        { text: 'nothing left behind after destroying them all', met: left.length === 0, measured: left.length ? left.join(', ') : 'nothing' },
      ],
      skipped: [],
      data: { starts, totalS, destroyS, before, after: memAfter, left },
    };
    const L = { listApi: summarize(listApi), listCli: summarize(listCli), statsApi: summarize(statsApi), statsCli: summarize(statsCli), scrape: summarize(scrapes), series: summarize(series) };
    const p99 = percentile(scrapes, 0.99);
    const scale: BenchResult = {
      id: 'scale', title: `At scale: list and stats with ${n} containers`,
      method: `${runs} runs each with all ${n} containers running: GET /v1/containers and GET /v1/stats through the API, and \`strata list\` and \`strata stats\` (a new node process each) through the CLI; then ${samples} each of GET /v1/containers and GET /v1/containers/NAME with an administrator's API token, and of GET /v1/containers with a tenant owner's token (whose tenant has none of them), all through the permission check (over the unix socket: the TLS listener adds the network and TLS); then, once the meter has read all ${n}, ${scrapes.length} runs of GET /metrics and of one container's usage series (the last hour) through the API.`,
      measures: [
        { label: 'list (API)', unit: 'ms', summary: L.listApi },
        { label: 'strata list (CLI)', unit: 'ms', summary: L.listCli },
        { label: 'stats of all (API)', unit: 'ms', summary: L.statsApi },
        { label: 'strata stats (CLI)', unit: 'ms', summary: L.statsCli },
        { label: 'list with a token (API)', unit: 'ms', summary: summarize(listToken), note: pct(listToken) },
        { label: 'inspect with a token (API)', unit: 'ms', summary: summarize(inspectToken), note: pct(inspectToken) },
        { label: "a tenant's list with a token (API)", unit: 'ms', summary: summarize(listTenant), note: pct(listTenant) },
        { label: 'GET /metrics (API)', unit: 'ms', summary: L.scrape, note: `p99 ${fmt(p99)} ms` },
        { label: 'GET …/usage/series, the last hour (API)', unit: 'ms', summary: L.series, note: `p99 ${fmt(percentile(series, 0.99))} ms` },
      ],
      goals: [
        { text: 'list through the API ≤ 50 ms', met: L.listApi.median <= 50, measured: `${fmt(L.listApi.median)} ms` },
        { text: 'strata list (CLI) ≤ 150 ms', met: L.listCli.median <= 150, measured: `${fmt(L.listCli.median)} ms` },
        { text: `stats of all ${n} through the API ≤ 300 ms`, met: L.statsApi.median <= 300, measured: `${fmt(L.statsApi.median)} ms` },
        { text: 'inspect with a token: p99 ≤ 50 ms', met: percentile(inspectToken, 0.99) <= 50, measured: pct(inspectToken) },
        { text: `a Prometheus scrape with ${n} containers ≤ 500 ms`, met: p99 <= 500, measured: `p50 ${fmt(L.scrape.median)} ms, p99 ${fmt(p99)} ms` },
      ],
      skipped: [],
    };
    return [density, scale];
  });
}
