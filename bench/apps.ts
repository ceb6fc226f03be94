/**
 * 4. Template attach, 5. capture and 6. shared memory: application templates.
 *
 * Attach: a template of `templateMiB` MiB (incompressible files and a user) is attached to 1 and
 * to `many` containers, stopped and running: time per attach and disk growth per container.
 * Capture: the same installer captured, against running it directly (strata exec) in a container
 * of the same template, alternated.
 * Shared memory: `many` containers each run one long-lived process from the same program file of
 * an attached template, against `many` running it from private copies; total PSS of those
 * processes (/proc/PID/smaps_rollup).
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '../src/api/client.js';
import type { TestDaemon } from '../test/harness.js';
import { fmt, parallel, summarize, time, withDaemon, type BenchResult, type Context } from './lib.js';

/** Bytes of every container's private area (its own files; the mounted template layers are not its disk). */
const du = (containers: string): number => Number(spawnSync('sh', ['-c', `du -scb ${containers}/*/private 2>/dev/null | tail -1`]).stdout.toString().split('\t')[0]) || 0;

function installer(mib: number): string {
  const files = Math.max(1, Math.round(mib / 5));
  const per = Math.round((mib * 1024) / files);
  return [
    'set -e', 'mkdir -p /opt/big/lib /opt/big/bin',
    `i=0; while [ $i -lt ${files} ]; do head -c ${per * 1024} /dev/urandom > /opt/big/lib/part$i; i=$((i+1)); done`,
    "printf '#!/bin/sh\\necho big\\n' > /opt/big/bin/big && chmod 755 /opt/big/bin/big",
    "echo 'big:x:1700:1700::/opt/big:/bin/sh' >> /etc/passwd", "echo 'big:x:1700:' >> /etc/group", '',
  ].join('\n');
}

async function capture(d: TestDaemon, name: string, script: string): Promise<number> {
  const file = join(d.root, `${name}.sh`);
  writeFileSync(file, script);
  return time(() => d.ok('template', 'capture', name, '--base', 'bb', '--script', file));
}

export async function appBenchmarks(ctx: Context): Promise<BenchResult[]> {
  const { many, templateMiB } = ctx.sizes;
  return withDaemon(async (d, api) => [await attachBench(ctx, d, api, many, templateMiB), await captureBench(ctx, d, templateMiB), await memoryBench(ctx, d, api, many)]);
}

async function attachBench(ctx: Context, d: TestDaemon, api: Client, many: number, mib: number): Promise<BenchResult> {
  ctx.log(`attach: capturing a ${mib} MiB template`);
  await capture(d, 'big', installer(mib));
  const containers = join(d.root, 'containers');
  const attach = (name: string): Promise<number> => time(() => api.containers.attach(name, { template: 'big' }));

  // Stopped.
  await parallel(many, 4, (i) => api.containers.create({ name: `s${i}`, template: 'bb', noNet: true }));
  let before = du(containers);
  const stopped: number[] = [];
  for (let i = 0; i < many; i++) stopped.push(await attach(`s${i}`));
  const stoppedGrowth = (du(containers) - before) / many;
  ctx.log(`attach: stopped ${fmt(summarize(stopped).median)} ms, +${fmt(stoppedGrowth / 1024)} KiB per container`);
  await parallel(many, 4, (i) => api.containers.destroy(`s${i}`, true));

  // Running.
  await parallel(many, 4, async (i) => {
    await api.containers.create({ name: `r${i}`, template: 'bb', noNet: true });
    await api.containers.start(`r${i}`);
  });
  before = du(containers);
  const running: number[] = [];
  for (let i = 0; i < many; i++) {
    running.push(await attach(`r${i}`));
    if ((i + 1) % 10 === 0) ctx.log(`attach: ${i + 1}/${many} running containers`);
  }
  const runningGrowth = (du(containers) - before) / many;
  // The next start gives the copies back to the shared layer.
  await parallel(many, 2, (i) => api.containers.restart(`r${i}`));
  const afterRestart = (du(containers) - before) / many;
  const works = (await d.ok('exec', 'r0', '--', '/opt/big/bin/big')).trim() === 'big';
  await parallel(many, 4, (i) => api.containers.destroy(`r${i}`, true));

  const S = summarize(stopped);
  const R = summarize(running);
  const S1 = summarize(stopped.slice(0, 1));
  const R1 = summarize(running.slice(0, 1));
  const kib = (b: number): number => b / 1024;
  return {
    id: 'attach', title: `Template attach: a ${mib} MiB template, 1 and ${many} containers`,
    method: `An application template of ${mib} MiB (incompressible files and a user) attached through the API to ${many} stopped containers, then to ${many} running ones, one after the other; disk growth is du of the containers' private areas (their own files) before and after, per container. Running attaches copy the files in until the next start, which hands them back to the shared layer (measured after restarting all).`,
    measures: [
      { label: 'attach, stopped (first container)', unit: 'ms', summary: S1 },
      { label: `attach, stopped (all ${many})`, unit: 'ms', summary: S },
      { label: 'attach, running (first container)', unit: 'ms', summary: R1 },
      { label: `attach, running (all ${many})`, unit: 'ms', summary: R },
      { label: 'disk per container, stopped attach', unit: 'KiB', summary: summarize([kib(stoppedGrowth)]) },
      { label: 'disk per container, running attach (until restart)', unit: 'KiB', summary: summarize([kib(runningGrowth)]) },
      { label: 'disk per container, running attach, after restart', unit: 'KiB', summary: summarize([kib(afterRestart)]) },
    ],
    goals: [
      { text: 'attach to a stopped container ≤ 100 ms', met: S.max <= 100, measured: `median ${fmt(S.median)} ms, max ${fmt(S.max)} ms` },
      { text: 'attach to a running container ≤ 1 s', met: R.max <= 1000, measured: `median ${fmt(R.median)} ms, max ${fmt(R.max)} ms` },
      { text: '≤ 1 MiB disk per container (stopped attach)', met: stoppedGrowth <= 1 << 20, measured: `${fmt(kib(stoppedGrowth))} KiB` },
      { text: '≤ 1 MiB disk per container (running attach, after its restart)', met: afterRestart <= 1 << 20, measured: `${fmt(kib(afterRestart))} KiB; ${fmt(kib(runningGrowth) / 1024)} MiB until the restart` },
      { text: 'the attached program runs', met: works, measured: works ? 'yes' : 'no' },
    ],
    skipped: [],
    data: { stopped, running, stoppedGrowth, runningGrowth, afterRestart },
  };
}

async function captureBench(ctx: Context, d: TestDaemon, mib: number): Promise<BenchResult> {
  const runs = Math.max(1, Math.min(3, ctx.sizes.runs));
  const script = installer(mib);
  await d.ok('create', 'direct', '--template', 'bb', '--no-net');
  await d.ok('start', 'direct');
  const cap: number[] = [];
  const direct: number[] = [];
  for (let i = 0; i < runs; i++) {
    const steps = [
      async () => { cap.push(await time(() => capture(d, `cap${i}`, script))); },
      async () => {
        direct.push(await time(() => d.ok('exec', 'direct', '--', 'sh', '-c', script)));
        await d.ok('exec', 'direct', '--', 'sh', '-c', 'rm -rf /opt/big; sed -i "/^big:/d" /etc/passwd /etc/group');
      },
    ];
    for (let k = 0; k < steps.length; k++) await steps[(i + k) % steps.length]();
    await d.ok('template', 'rm', `cap${i}`);
    ctx.log(`capture ${i + 1}/${runs}: ${fmt(cap[i])} ms, directly ${fmt(direct[i])} ms`);
  }
  await d.ok('destroy', 'direct', '--force');
  const C = summarize(cap);
  const D = summarize(direct);
  const limit = 1.2 * D.median + 2000;
  return {
    id: 'capture', title: `Capture: the ${mib} MiB installer`,
    method: `${runs} runs of each, alternated: \`strata template capture\` (CLI: throw-away container, installer, diff, store) against the same installer run directly with \`strata exec\` in a running container of the same template.`,
    measures: [
      { label: 'strata template capture', unit: 'ms', summary: C, note: `${fmt(C.median / D.median, 2)}× directly` },
      { label: 'the installer directly (strata exec)', unit: 'ms', summary: D },
    ],
    goals: [{ text: 'capture ≤ 1.2× the installer + 2 s', met: C.median <= limit, measured: `${fmt(C.median / 1000, 2)} s against a limit of ${fmt(limit / 1000, 2)} s` }],
    skipped: [],
  };
}

/** PIDs whose command line is `argv`, and the sum of their PSS (KiB). */
function pssOf(argv: string): { pids: number; pssKiB: number; fileKiB: number } {
  let pids = 0;
  let pssKiB = 0;
  let fileKiB = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8') !== argv) continue;
      const rollup = readFileSync(`/proc/${entry}/smaps_rollup`, 'utf8');
      pssKiB += Number(/^Pss:\s+(\d+)/m.exec(rollup)?.[1] ?? 0);
      fileKiB += Number(/^Pss_File:\s+(\d+)/m.exec(rollup)?.[1] ?? 0);
      pids++;
    } catch { /* gone */ }
  }
  return { pids, pssKiB, fileKiB };
}

async function memoryBench(ctx: Context, d: TestDaemon, api: Client, many: number): Promise<BenchResult> {
  // The program: a copy of busybox under another path, so that it is its own file.
  await capture(d, 'prog', 'set -e\nmkdir -p /opt/prog\ncp /bin/busybox /opt/prog/busybox\necho shared >> /opt/prog/marker\n');
  const argv = '/opt/prog/busybox\0sleep\x00100000\0';
  const launch = '/opt/prog/busybox sleep 100000 </dev/null >/dev/null 2>&1 &';
  const measure = async (prefix: string, apps: string[], prep: string): Promise<{ pids: number; pssKiB: number; fileKiB: number }> => {
    await parallel(many, 4, async (i) => {
      await api.containers.create({ name: `${prefix}${i}`, template: 'bb', noNet: true, apps });
      await api.containers.start(`${prefix}${i}`);
      await d.ok('exec', `${prefix}${i}`, '--', 'sh', '-c', `${prep}${launch}`);
    });
    await new Promise((r) => setTimeout(r, 1000));
    const r = pssOf(argv);
    await parallel(many, 4, (i) => api.containers.destroy(`${prefix}${i}`, true));
    return r;
  };
  const shared = await measure('m', ['prog'], '');
  const priv = await measure('p', [], 'mkdir -p /opt/prog && cp /bin/busybox /opt/prog/busybox && ');
  const oneCopy = priv.fileKiB / Math.max(1, priv.pids);
  ctx.log(`shared memory: ${shared.pids} processes ${fmt(shared.pssKiB / 1024)} MiB PSS shared, ${priv.pids} ${fmt(priv.pssKiB / 1024)} MiB private`);
  return {
    id: 'memory', title: `Shared memory: ${many} containers running one program`,
    method: `${many} containers each run \`/opt/prog/busybox sleep\` (a copy of busybox-static): first from one attached application template (one inode for all), then from a private copy in each container (its own inode). Total PSS and its file-backed part over those processes, from /proc/PID/smaps_rollup.`,
    measures: [
      { label: `total PSS, from the template (${shared.pids} processes)`, unit: 'KiB', summary: summarize([shared.pssKiB]) },
      { label: `total PSS, private copies (${priv.pids} processes)`, unit: 'KiB', summary: summarize([priv.pssKiB]) },
      { label: 'file-backed PSS, from the template', unit: 'KiB', summary: summarize([shared.fileKiB]) },
      { label: 'file-backed PSS, private copies', unit: 'KiB', summary: summarize([priv.fileKiB]) },
    ],
    goals: [{
      text: 'shared ≈ one copy: the program\'s file pages of all containers together ≤ 2× those of one private copy',
      met: shared.pids >= many && priv.pids >= many && shared.fileKiB <= 2 * oneCopy,
      measured: `file-backed PSS ${fmt(shared.fileKiB)} KiB for all ${shared.pids} from the template; one private copy ${fmt(oneCopy)} KiB, all ${priv.pids} private copies ${fmt(priv.fileKiB)} KiB`,
    }],
    skipped: [],
    data: { shared, private: priv },
  };
}
