/**
 * Start latency: `strata create` + `strata start` of a busybox container without a network
 * adapter (through the CLI, and through the API alone) against runc's own create + start of
 * the same root file system with the same OCI config, alternated in one run. (What networking
 * adds is measured by bench/network.ts.) Prints medians, min/max and ratios and
 * writes bench/results/start.json.
 *   node dist/bench/start.js [--runs N]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '../src/api/client.js';
import { TestDaemon, TOP } from '../test/harness.js';
import { formatSummary, numberArg, summarize } from './measure.js';

const runs = numberArg('--runs', 15);
const stats = summarize;

async function main(): Promise<void> {
  const d = new TestDaemon();
  const runcRoot = join(d.root, 'bench-runc');
  try {
    await d.start();
    await d.ok('template', 'build', 'bb', '--from', 'busybox');
    const client = new Client(d.socket);
    // A reference bundle: Strata's own config for one container, its root already mounted.
    await d.ok('create', 'ref', '--template', 'bb', '--no-net');
    await d.ok('start', 'ref');
    const ref = await d.json<{ rootfs: string }>('inspect', 'ref');
    const bundle = join(d.root, 'bench-bundle');
    mkdirSync(bundle, { recursive: true });
    const config = JSON.parse(readFileSync(join(d.paths.containers, 'ref', 'bundle', 'config.json'), 'utf8')) as { linux: { cgroupsPath: string } };
    cpSync(join(d.paths.containers, 'ref', 'bundle', 'config.json'), join(bundle, 'config.json'));
    const cli: number[] = [];
    const api: number[] = [];
    const runc: number[] = [];
    for (let i = 0; i < runs; i++) {
      let t = performance.now();
      await d.ok('create', `c${i}`, '--template', 'bb', '--no-net');
      await d.ok('start', `c${i}`);
      cli.push(performance.now() - t);

      t = performance.now();
      await client.call('POST', '/v1/containers', { name: `a${i}`, template: 'bb', noNet: true });
      await client.call('POST', `/v1/containers/a${i}/start`);
      api.push(performance.now() - t);

      config.linux.cgroupsPath = `${d.paths.cgroupParent}-bench/r${i}`;
      writeFileSync(join(bundle, 'config.json'), JSON.stringify({ ...config, root: { path: ref.rootfs } }));
      t = performance.now();
      execFileSync('runc', ['--root', runcRoot, 'create', '--bundle', bundle, `r${i}`], { stdio: 'ignore' });
      execFileSync('runc', ['--root', runcRoot, 'start', `r${i}`], { stdio: 'ignore' });
      runc.push(performance.now() - t);
      spawnSync('runc', ['--root', runcRoot, 'delete', '--force', `r${i}`]);
      await d.ok('destroy', `c${i}`, '--force');
      await d.ok('destroy', `a${i}`, '--force');
    }
    const result = {
      benchmark: 'start-latency', runs, date: new Date().toISOString(),
      strataCli: stats(cli), strataApi: stats(api), runcCreateStart: stats(runc),
      ratioCli: stats(cli).median / stats(runc).median, ratioApi: stats(api).median / stats(runc).median,
    };
    const f = formatSummary;
    console.log(`start latency, ${runs} runs each, alternated:`);
    console.log(`  strata create+start (CLI)  ${f(result.strataCli)}  ratio ${result.ratioCli.toFixed(2)}x`);
    console.log(`  strata create+start (API)  ${f(result.strataApi)}  ratio ${result.ratioApi.toFixed(2)}x`);
    console.log(`  runc create+start          ${f(result.runcCreateStart)}`);
    mkdirSync(join(TOP, 'bench', 'results'), { recursive: true });
    writeFileSync(join(TOP, 'bench', 'results', 'start.json'), `${JSON.stringify(result, null, 2)}\n`);
  } finally {
    for (const dir of ['cpu', 'cpuacct', 'cpuset', 'memory', 'devices', 'freezer', 'blkio', 'pids', 'systemd', 'unified']) {
      spawnSync('rmdir', [join('/sys/fs/cgroup', dir, `${d.paths.cgroupParent}-bench`)]);
    }
    await d.cleanup();
    rmSync(runcRoot, { recursive: true, force: true });
  }
}

await main();
