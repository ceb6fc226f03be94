/**
 * What networking adds to a container's start and stop: `start` and `stop` of busybox
 * containers with an adapter on the default network against ones created with --no-net,
 * alternated in one run, through the API.
 *   node dist/bench/network.js [--runs N]
 */
import { formatSummary, numberArg, summarize, time, withBenchDaemon, writeResult } from './measure.js';

const runs = numberArg('--runs', 15);
const stats = summarize;
const f = formatSummary;

async function main(): Promise<void> {
  await withBenchDaemon(async (_d, api) => {
    await api.call('POST', '/v1/containers', { name: 'net', template: 'bb' });
    await api.call('POST', '/v1/containers', { name: 'nonet', template: 'bb', noNet: true });
    const start = { net: [] as number[], nonet: [] as number[] };
    const stop = { net: [] as number[], nonet: [] as number[] };
    for (let i = 0; i < runs; i++) {
      for (const n of ['net', 'nonet'] as const) {
        start[n].push(await time(() => api.call('POST', `/v1/containers/${n}/start`)));
        stop[n].push(await time(() => api.call('POST', `/v1/containers/${n}/stop`, { timeout: 0 })));
      }
    }
    const result = {
      benchmark: 'network-overhead', runs, date: new Date().toISOString(),
      startWithNet: stats(start.net), startNoNet: stats(start.nonet), stopWithNet: stats(stop.net), stopNoNet: stats(stop.nonet),
    };
    console.log(`start, default network  ${f(result.startWithNet)}`);
    console.log(`start, --no-net         ${f(result.startNoNet)}  → networking adds ${(result.startWithNet.median - result.startNoNet.median).toFixed(1)} ms`);
    console.log(`stop, default network   ${f(result.stopWithNet)}`);
    console.log(`stop, --no-net          ${f(result.stopNoNet)}  → networking adds ${(result.stopWithNet.median - result.stopNoNet.median).toFixed(1)} ms`);
    writeResult('network', result);
  });
}

await main();
