/**
 * The physical floor: what the kernel itself charges for the parts of a container on this
 * machine, with no program started per step, beside what starting a program costs (the daemon's
 * way of doing most steps). Per operation, in µs:
 *
 * - a network namespace made and left (bench/native/kernel-floor.c: unshare + setns, in one process);
 * - a veth pair added, and deleted (one `ip -batch` of many each, less an empty batch: netlink's own cost);
 * - a container's cgroups: a directory made and removed in every mounted hierarchy (the v1
 *   controllers, name=systemd, the hybrid's unified tree; or the v2 tree);
 * - fork + exit + wait of a small C process; a program started from node (/bin/true), and a Go
 *   program (`runc --version`), as the daemon starts `runc`, `ip`, `nft` and the CNI plugins.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TOP } from '../test/harness.js';
import { fmt, sh, summarize, type BenchResult, type Context, type Measure } from './lib.js';

/** One batch of `ip` commands; its wall time in µs. */
function ipBatch(file: string, lines: string[]): number {
  writeFileSync(file, lines.length ? `${lines.join('\n')}\n` : '\n');
  const t = performance.now();
  sh('ip', ['-batch', file]);
  return (performance.now() - t) * 1000;
}

/** Every cgroup hierarchy mounted under /sys/fs/cgroup (one directory each; cpu,cpuacct links skipped). */
function hierarchies(): string[] {
  const root = '/sys/fs/cgroup';
  if (statSync(join(root, 'cgroup.controllers'), { throwIfNoEntry: false })) return [root];
  const seen = new Set<string>();
  return readdirSync(root, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => join(root, e.name)).filter((dir) => {
    const key = String(statSync(dir).ino) + String(statSync(dir).dev);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

const spawnUs = (argv: string[]): number => {
  const t = performance.now();
  spawnSync(argv[0], argv.slice(1), { stdio: 'ignore' });
  return (performance.now() - t) * 1000;
};

export async function floorBenchmarks(ctx: Context): Promise<BenchResult[]> {
  const runs = Math.max(3, Math.min(ctx.sizes.runs, 7));
  const ops = ctx.mode === 'tiny' ? 10 : 100;
  const dir = mkdtempSync('/tmp/strata-bench-floor-');
  const tag = `sfl${process.pid.toString(36).slice(-4)}`;
  const cgroups = hierarchies();
  const made: string[] = [];
  const t: Record<string, number[]> = { netns: [], vethAdd: [], vethDel: [], cgroups: [], fork: [], exec: [], go: [] };
  try {
    const bin = join(dir, 'kernel-floor');
    sh('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', bin, join(TOP, 'bench', 'native', 'kernel-floor.c')]);
    const batch = join(dir, 'batch');
    for (let r = 0; r < runs; r++) {
      const m = /^netns ([\d.]+) fork ([\d.]+)$/m.exec(sh(bin, [String(ops)]));
      if (!m) throw new Error('kernel-floor printed nothing');
      t.netns.push(Number(m[1]));
      t.fork.push(Number(m[2]));
      // veth pairs: made and deleted in one batch each; an empty batch is ip's own start.
      const names = Array.from({ length: ops }, (_, i) => `${tag}${r}x${i}`);
      const empty = ipBatch(batch, []);
      made.push(...names);
      const add = ipBatch(batch, names.map((n) => `link add ${n} type veth peer name ${n}p`));
      const del = ipBatch(batch, names.map((n) => `link del ${n}`));
      made.length = 0;
      t.vethAdd.push((add - empty) / ops);
      t.vethDel.push((del - empty) / ops);
      // A container's cgroups: a directory in each hierarchy, made and removed.
      const t0 = performance.now();
      for (let i = 0; i < ops; i++) {
        const name = `${tag}-${r}-${i}`;
        for (const h of cgroups) { made.push(join(h, name)); mkdirSync(join(h, name)); }
        for (const h of cgroups) rmdirSync(join(h, name));
        made.length = 0;
      }
      t.cgroups.push(((performance.now() - t0) * 1000) / ops);
      const execs = Math.min(ops, 20);
      let e = 0; let g = 0;
      for (let i = 0; i < execs; i++) { e += spawnUs(['/bin/true']); g += spawnUs(['runc', '--version']); }
      t.exec.push(e / execs);
      t.go.push(g / execs);
    }
  } finally {
    for (const p of made) {
      if (p.startsWith('/sys/')) { try { rmdirSync(p); } catch { /* not made */ } } else spawnSync('ip', ['link', 'del', p]);
    }
    rmSync(dir, { recursive: true, force: true });
  }
  const S = Object.fromEntries(Object.entries(t).map(([k, v]) => [k, summarize(v)]));
  ctx.log(`floor: netns ${fmt(S.netns.median)} µs, veth add ${fmt(S.vethAdd.median)} µs, delete ${fmt(S.vethDel.median)} µs, cgroups ${fmt(S.cgroups.median)} µs, fork ${fmt(S.fork.median)} µs, a program from node ${fmt(S.exec.median)} µs, a Go program ${fmt(S.go.median)} µs`);
  const measures: Measure[] = [
    { label: 'network namespace, made (teardown deferred)', unit: 'µs', summary: S.netns },
    { label: 'veth pair added (netlink)', unit: 'µs', summary: S.vethAdd },
    { label: 'veth pair deleted (netlink; waits for the network to quiesce)', unit: 'µs', summary: S.vethDel },
    { label: `cgroups: a directory in ${cgroups.length} hierarchies, made and removed`, unit: 'µs', summary: S.cgroups },
    { label: 'fork + exit + wait (a small C process)', unit: 'µs', summary: S.fork },
    { label: 'a program started from node (/bin/true)', unit: 'µs', summary: S.exec },
    { label: 'a Go program started from node (runc --version)', unit: 'µs', summary: S.go },
  ];
  return [{
    id: 'floor', title: 'The physical floor: what the kernel charges',
    method: `${runs} runs of ${ops} operations each, per operation: a network namespace made and left (unshare + setns in one C process; the kernel tears it down later in its own worker), a veth pair added, and deleted (one \`ip -batch\` of each, less an empty batch), a directory made and removed in each of the ${cgroups.length} cgroup hierarchies, fork + exit + wait of a small C process; then what the daemon pays for each program it starts: /bin/true and a Go program (\`runc --version\`) spawned from node.`,
    measures, goals: [], skipped: [], data: { runs: t, hierarchies: cgroups },
  }];
}
