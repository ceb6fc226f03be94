/**
 * Resource-control figures: time to create a container with and without a disk limit
 * (the pool's overhead), time to change a limit live, and the cost of `stats` for one
 * container and for all of N, through the API and the CLI.
 *   node dist/bench/resources.js [--runs N] [--containers N]
 */
import { formatSummary, numberArg, summarize, time, withBenchDaemon, writeResult } from './measure.js';

const runs = numberArg('--runs', 10);
const count = numberArg('--containers', 100);
const stats = summarize;
const f = formatSummary;

async function main(): Promise<void> {
  await withBenchDaemon(async (d, api) => {
    const plain: number[] = [];
    const disk: number[] = [];
    for (let i = 0; i < runs; i++) {
      plain.push(await time(() => api.call('POST', '/v1/containers', { name: `p${i}`, template: 'bb' })));
      disk.push(await time(() => api.call('POST', '/v1/containers', { name: `d${i}`, template: 'bb', limits: { disk: '1G' } })));
    }
    await api.call('POST', '/v1/containers/d0/start');
    const live: number[] = [];
    for (let i = 0; i < runs; i++) {
      live.push(await time(() => api.call('PATCH', '/v1/containers/d0/limits', { limits: { memory: `${128 + i}M`, cpus: i % 2 ? '1' : '0.5' } })));
    }
    // Online ext4 growth needs CAP_SYS_RESOURCE, which some sandboxes withhold: measure on a stopped container.
    const growDisk = await time(() => api.call('PATCH', '/v1/containers/d1/limits', { limits: { disk: '2G' } }));
    for (let i = 0; i < runs; i++) {
      await api.call('DELETE', `/v1/containers/p${i}?force=true`);
      if (i) await api.call('DELETE', `/v1/containers/d${i}?force=true`);
    }
    const one: number[] = [];
    for (let i = 0; i < runs; i++) one.push(await time(() => api.call('GET', '/v1/containers/d0/stats')));
    for (let i = 1; i < count; i++) {
      await api.call('POST', '/v1/containers', { name: `s${i}`, template: 'bb', limits: { memory: '64M' } });
      await api.call('POST', `/v1/containers/s${i}/start`);
    }
    await api.call('GET', '/v1/stats'); // first CPU samples
    const all: number[] = [];
    const allCli: number[] = [];
    for (let i = 0; i < Math.min(runs, 5); i++) {
      all.push(await time(() => api.call('GET', '/v1/stats')));
      allCli.push(await time(() => d.ok('stats', '--json')));
    }
    const result = {
      benchmark: 'resources', runs, containers: count, date: new Date().toISOString(),
      createPlain: stats(plain), createWithDisk: stats(disk), liveLimitChange: stats(live), growDiskLiveMs: growDisk,
      statsOne: stats(one), statsAllApi: stats(all), statsAllCli: stats(allCli),
    };
    console.log(`create without a disk limit      ${f(result.createPlain)}`);
    console.log(`create with --disk 1G (pool)     ${f(result.createWithDisk)}  overhead ${(result.createWithDisk.median - result.createPlain.median).toFixed(1)} ms`);
    console.log(`live limit change (memory, cpus) ${f(result.liveLimitChange)}`);
    console.log(`disk grow 1G → 2G (stopped)      ${growDisk.toFixed(1)} ms`);
    console.log(`stats, one container (API)       ${f(result.statsOne)}`);
    console.log(`stats, ${count} containers (API)     ${f(result.statsAllApi)}`);
    console.log(`stats, ${count} containers (CLI)     ${f(result.statsAllCli)}`);
    writeResult('resources', result);
  });
}

await main();
