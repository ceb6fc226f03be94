/**
 * 1. Start latency and 2. stop and destroy. Alternated in one run, rotating which tool goes first:
 *
 * - strata create + start through the API, and through the CLI, of a busybox container with an
 *   address on the default network and limits (256 MiB memory, 1 CPU, 512 pids);
 * - the floor: runc create (below a monitor, as Strata does it) + the CNI bridge plugin's ADD
 *   done by hand (static IPAM, its own bridge) + runc start, with Strata's own OCI config (same
 *   root, limits and namespaces);
 * - podman run -d with its default network, and lxc-start of a busybox container on a bridge,
 *   when the bench set-up installed them (bench/reference.ts).
 *
 * Stop and destroy: strata destroy --force (SIGKILL, wait, runc delete, network detach, unmount,
 * records) against runc kill -9 + wait + delete, and the same + CNI DEL.
 *
 * CLI overhead: `strata list` (a new node process, a request, a table) against a bare `node -e 0`.
 */
import { spawnSync } from 'node:child_process';
import { chownSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathsFor } from '../src/config/index.js';
import { Monitor } from '../src/runtime/index.js';
import { STRATA } from '../test/harness.js';
import { fmt, ratio, summarize, time, withDaemon, type BenchResult, type Context, type Measure } from './lib.js';
import { references, type Reference } from './reference.js';

const LIMITS = { memory: '256M', cpus: '1', pids: '512' };
const CNI = '/usr/lib/cni';

/** The CNI floor: the bridge plugin on a bridge of the bench's own, static addresses. */
class CniFloor {
  readonly bridge = `sbf${process.pid.toString(16).slice(-6)}`;
  private readonly prefix = '10.254.77';

  conf(i: number): string {
    return JSON.stringify({
      cniVersion: '1.0.0', name: 'strata-bench-floor', type: 'bridge', bridge: this.bridge, isGateway: true, ipMasq: false,
      ipam: { type: 'static', addresses: [{ address: `${this.prefix}.${10 + (i % 200)}/24`, gateway: `${this.prefix}.1` }], routes: [{ dst: '0.0.0.0/0', gw: `${this.prefix}.1` }] },
    });
  }

  call(cmd: 'ADD' | 'DEL', i: number, id: string, netns: string): void {
    const r = spawnSync(join(CNI, 'bridge'), [], {
      input: this.conf(i), encoding: 'utf8',
      env: { CNI_COMMAND: cmd, CNI_CONTAINERID: id, CNI_NETNS: netns, CNI_IFNAME: 'eth0', CNI_PATH: CNI, PATH: process.env.PATH },
    });
    if (r.status !== 0 && cmd === 'ADD') throw new Error(`CNI bridge ADD: ${r.stdout}${r.stderr}`);
  }

  remove(): void {
    spawnSync('ip', ['link', 'del', this.bridge]);
  }
}

/** True once `pid` has exited (gone, or a zombie nobody reaped yet). */
function exited(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return true;
  }
}

async function waitExit(pid: number): Promise<void> {
  for (let i = 0; i < 5000 && !exited(pid); i++) await new Promise((r) => setTimeout(r, 1));
}

export async function startBenchmarks(ctx: Context): Promise<BenchResult[]> {
  const runs = ctx.sizes.runs;
  const refs = references();
  return withDaemon(async (d, api) => {
    await d.ok('create', 'ref', '--template', 'bb', '--memory', LIMITS.memory, '--cpus', LIMITS.cpus, '--pids', LIMITS.pids);
    await d.ok('start', 'ref');
    const refView = await d.json<{ idMap: { hostBase: number; size: number } | null }>('inspect', 'ref');
    const config = JSON.parse(readFileSync(join(d.paths.containers, 'ref', 'bundle', 'config.json'), 'utf8')) as Record<string, unknown> & { linux: { cgroupsPath: string } };
    const floorDir = join(d.root, 'bench-floor');
    const runcRoot = join(floorDir, 'runc');
    const bundle = join(floorDir, 'bundle');
    mkdirSync(bundle, { recursive: true });
    const monitor = new Monitor(join(floorDir, 'monitor.sock'), pathsFor(d.root).helpers.monitor);
    await monitor.ensureRunning();
    const floor = new CniFloor();
    const cgroupParent = `${d.paths.cgroupParent}-floor`;
    for (const r of refs) await r.prepare?.(ctx.log);

    const floorRoot = join(floorDir, 'rootfs');
    const t: Record<string, number[]> = { api: [], cli: [], floor: [], floorCreate: [] };
    const down: Record<string, number[]> = { strata: [], runc: [], runcCni: [] };
    for (const r of refs) { t[r.id] = []; down[r.id] = []; }
    try {
      // The floor's root: the template's tree idmapped below an overlay, as Strata makes a container's
      // root, mounted once outside the timings (Strata's own root lives in its container's namespace).
      const idMap = refView.idMap ?? { hostBase: 0, size: 65536 };
      for (const dir of ['rootfs', 'lower', 'upper', 'work']) mkdirSync(join(floorDir, dir), { recursive: true });
      chownSync(join(floorDir, 'upper'), idMap.hostBase, idMap.hostBase);
      const mounted = spawnSync(pathsFor(d.root).helpers.idmount, ['batch',
        'map', String(idMap.hostBase), String(idMap.size), join(d.root, 'templates', 'bb', 'rootfs'), join(floorDir, 'lower'), 'ro', '--',
        'overlay', join(floorDir, 'lower'), join(floorDir, 'upper'), join(floorDir, 'work'), floorRoot, '--', 'drop', join(floorDir, 'lower')], { encoding: 'utf8' });
      if (mounted.status !== 0) throw new Error(`the floor's root could not be mounted: ${mounted.stderr}`);
      for (let i = 0; i < runs; i++) {
        const steps: Array<[string, () => Promise<void>]> = [
          ['api', async () => {
            t.api.push(await time(async () => {
              await api.containers.create({ name: `a${i}`, template: 'bb', limits: LIMITS });
              await api.containers.start(`a${i}`);
            }));
          }],
          ['cli', async () => {
            t.cli.push(await time(async () => {
              await d.ok('create', `c${i}`, '--template', 'bb', '--memory', LIMITS.memory, '--cpus', LIMITS.cpus, '--pids', LIMITS.pids);
              await d.ok('start', `c${i}`);
            }));
          }],
          ['floor', async () => {
            writeFileSync(join(bundle, 'config.json'), JSON.stringify({ ...config, root: { path: floorRoot }, linux: { ...config.linux, cgroupsPath: `/${cgroupParent}/r${i}` } }));
            const pidFile = join(floorDir, `r${i}.pid`);
            t.floor.push(await time(async () => {
              // A console as Strata gives every container: runc hands the pty master to the monitor.
              const tty = join(floorDir, `tty-r${i}.sock`);
              const status = await monitor.run(['runc', '--root', runcRoot, 'create', '--bundle', bundle, '--pid-file', pidFile, '--console-socket', tty, `r${i}`], join(floorDir, 'runc.log'), undefined, tty);
              if (status !== 0) throw new Error(`runc create failed: ${readFileSync(join(floorDir, 'runc.log'), 'utf8').slice(-500)}`);
              const pid = Number(readFileSync(pidFile, 'utf8'));
              floor.call('ADD', i, `r${i}`, `/proc/${pid}/ns/net`);
              spawnSync('runc', ['--root', runcRoot, 'start', `r${i}`]);
            }));
          }],
          ...refs.map((r): [string, () => Promise<void>] => [r.id, async () => {
            await r.before?.(i);
            t[r.id].push(await time(() => r.start(i)));
          }]),
        ];
        // Rotate who goes first, so that no tool always runs on a warm or a cold cache.
        for (let k = 0; k < steps.length; k++) await steps[(i + k) % steps.length][1]();

        // Stop and destroy, alternated the same way.
        const pid = Number(readFileSync(join(floorDir, `r${i}.pid`), 'utf8'));
        const stops: Array<() => Promise<void>> = [
          async () => { down.strata.push(await time(() => api.containers.destroy(`a${i}`, true))); },
          async () => {
            const ms = await time(async () => {
              spawnSync('runc', ['--root', runcRoot, 'kill', `r${i}`, 'KILL']);
              await waitExit(pid);
              spawnSync('runc', ['--root', runcRoot, 'delete', `r${i}`]);
            });
            const cni = await time(() => floor.call('DEL', i, `r${i}`, ''));
            down.runc.push(ms);
            down.runcCni.push(ms + cni);
          },
          ...refs.map((r) => async () => { down[r.id].push(await time(() => r.stop(i))); }),
        ];
        for (let k = 0; k < stops.length; k++) await stops[(i + k) % stops.length]();
        await d.ok('destroy', `c${i}`, '--force');
        ctx.log(`start ${i + 1}/${runs}: strata ${fmt(t.api[i])} ms, runc+CNI ${fmt(t.floor[i])} ms${refs.map((r) => `, ${r.id} ${fmt(t[r.id][i])} ms`).join('')}`);
      }
    } finally {
      for (let i = 0; i < runs; i++) spawnSync('runc', ['--root', runcRoot, 'delete', '--force', `r${i}`]);
      for (const r of refs) await r.cleanup();
      floor.remove();
      await monitor.quit();
      spawnSync('umount', ['--lazy', floorRoot]);
      // Every hierarchy runc made it in: the v1 controllers, name=systemd, the hybrid's unified tree, or a v2 root.
      for (const ctl of [...readdirSync('/sys/fs/cgroup'), '']) {
        spawnSync('rmdir', [join('/sys/fs/cgroup', ctl, cgroupParent)]);
      }
      rmSync(floorDir, { recursive: true, force: true });
    }

    // The CLI's own cost: a bare node against `strata list` (a request to the daemon and its table), alternated.
    const cliRuns = Math.max(10, runs * 2);
    const bare: number[] = [];
    const listed: number[] = [];
    const spawnTime = (argv: string[]): number => {
      const t0 = performance.now();
      const r = spawnSync(argv[0], argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
      if (r.status !== 0) throw new Error(`${argv.join(' ')}: ${r.stderr.toString()}`);
      return performance.now() - t0;
    };
    for (let i = 0; i < cliRuns; i++) {
      const pair: Array<() => void> = [() => bare.push(spawnTime([process.execPath, '-e', '0'])), () => listed.push(spawnTime([process.execPath, STRATA, '--socket', d.socket, 'list']))];
      if (i % 2) pair.reverse();
      for (const f of pair) f();
    }
    ctx.log(`cli: node -e 0 ${fmt(summarize(bare).median)} ms, strata list ${fmt(summarize(listed).median)} ms`);

    const S = Object.fromEntries(Object.entries(t).map(([k, v]) => [k, summarize(v)]));
    const D = Object.fromEntries(Object.entries(down).map(([k, v]) => [k, summarize(v)]));
    const startMeasures: Measure[] = [
      { label: 'strata create+start (API)', unit: 'ms', summary: S.api, note: `${fmt(ratio(S.api, S.floor), 2)}× runc+CNI` },
      { label: 'strata create+start (CLI)', unit: 'ms', summary: S.cli, note: `${fmt(ratio(S.cli, S.floor), 2)}× runc+CNI` },
      { label: 'runc create+start + CNI bridge ADD', unit: 'ms', summary: S.floor, note: 'the floor' },
      ...refs.map((r) => ({ label: r.label, unit: 'ms' as const, summary: S[r.id], note: `${fmt(ratio(S[r.id], S.api), 2)}× strata (API)` })),
    ];
    const podman = refs.find((r) => r.id === 'podman');
    const start: BenchResult = {
      id: 'start', title: 'Start latency',
      method: `${runs} runs of each, alternated (the first tool rotates). A busybox container with an address on a bridge and limits (memory 256M, 1 CPU, 512 pids). The floor is runc create (below a subreaper monitor, as Strata runs it) + the CNI bridge plugin ADD by hand + runc start, with Strata's own OCI config and root.`,
      measures: startMeasures,
      goals: [
        { text: 'strata (API) ≤ 1.2× the runc+CNI floor', met: ratio(S.api, S.floor) <= 1.2, measured: `${fmt(ratio(S.api, S.floor), 2)}×` },
        { text: 'strata ≥ 4× faster than podman run -d', met: podman ? ratio(S.podman, S.api) >= 4 : null, measured: podman ? `${fmt(ratio(S.podman, S.api), 1)}× (API), ${fmt(ratio(S.podman, S.cli), 1)}× (CLI)` : 'podman not installed' },
      ],
      skipped: references.skipped(),
      data: { runs: t },
    };
    const stop: BenchResult = {
      id: 'stop', title: 'Stop and destroy',
      method: `${runs} runs of each, alternated. strata destroy --force through the API (SIGKILL, wait, runc delete, network detach, unmount, records) against runc kill -9 + wait + delete of the floor's containers, and the same plus the CNI DEL.`,
      measures: [
        { label: 'strata destroy --force (API)', unit: 'ms', summary: D.strata, note: `${fmt(ratio(D.strata, D.runc), 2)}× runc` },
        { label: 'runc kill -9 + wait + delete', unit: 'ms', summary: D.runc, note: 'the reference' },
        { label: 'runc kill -9 + wait + delete + CNI DEL', unit: 'ms', summary: D.runcCni, note: `strata is ${fmt(ratio(D.strata, D.runcCni), 2)}× this` },
        ...refs.map((r) => ({ label: r.stopLabel, unit: 'ms' as const, summary: D[r.id] })),
      ],
      // Strata's destroy takes the network down too: the reference with it is runc's plus the CNI DEL.
      goals: [{ text: 'strata ≤ 1.5× runc kill + wait + delete + CNI DEL', met: ratio(D.strata, D.runcCni) <= 1.5, measured: `${fmt(ratio(D.strata, D.runcCni), 2)}× (${fmt(ratio(D.strata, D.runc), 2)}× without the CNI DEL)` }],
      skipped: references.skipped(),
      data: { runs: down },
    };
    const B = { bare: summarize(bare), listed: summarize(listed) };
    const cli: BenchResult = {
      id: 'cli', title: 'CLI overhead',
      method: `${cliRuns} runs of each, alternated: a bare \`node -e 0\` (the cost of any node program on this machine) and \`strata list\` through the daemon's socket (one container), each a new process, as an operator's command or script runs it.`,
      measures: [
        { label: 'node -e 0', unit: 'ms', summary: B.bare, note: 'the reference' },
        { label: 'strata list (CLI)', unit: 'ms', summary: B.listed, note: `${fmt(ratio(B.listed, B.bare), 2)}× node -e 0` },
      ],
      goals: [{ text: 'strata list ≤ 1.5× a bare node -e 0', met: ratio(B.listed, B.bare) <= 1.5, measured: `${fmt(ratio(B.listed, B.bare), 2)}×` }],
      skipped: [],
      data: { bare, listed },
    };
    return [start, stop, cli];
  });
}

export type { Reference };
