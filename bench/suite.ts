/**
 * The benchmark suite: `node dist/bench/suite.js [--quick | --tiny] [--only ID,ID] [--out DIR] [--no-doc]`.
 * Runs the physical floor, start/stop (and the CLI's overhead), density/scale, logged-in density (Debian with sshd, a login into each), the application-template, the metering, the web panel and the snapshot and backup benchmarks, writes their results
 * (bench/results/MODE/ unless --out) and rewrites docs/benchmarks.md (unless --no-doc or --tiny).
 * Each benchmark has a daemon and data root of its own and cleans up after itself.
 */
import { join } from 'node:path';
import { TOP } from '../test/harness.js';
import { appBenchmarks } from './apps.js';
import { backupBenchmarks } from './backups.js';
import { densityBenchmarks } from './density.js';
import { floorBenchmarks } from './floor.js';
import { meteringBenchmarks } from './metering.js';
import { panelBenchmarks } from './panel.js';
import { SIZES, type BenchResult, type Context, type Mode } from './lib.js';
import { loginBenchmarks } from './logins.js';
import { referencesDone } from './reference.js';
import { machine, writeDocument, writeResults } from './report.js';
import { startBenchmarks } from './start.js';

const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
};

const GROUPS: Record<string, (ctx: Context) => Promise<BenchResult[]>> = {
  floor: floorBenchmarks,
  start: startBenchmarks,
  density: densityBenchmarks,
  logins: loginBenchmarks,
  apps: appBenchmarks,
  metering: meteringBenchmarks,
  panel: panelBenchmarks,
  backups: backupBenchmarks,
};

async function main(): Promise<void> {
  const mode: Mode = process.argv.includes('--tiny') ? 'tiny' : process.argv.includes('--quick') ? 'quick' : 'full';
  const only = arg('--only')?.split(',');
  const out = arg('--out') ?? join(TOP, 'bench', 'results', mode);
  const started = Date.now();
  const log = (line: string): void => { process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(0).padStart(5)} s] ${line}\n`); };
  const ctx: Context = { mode, sizes: SIZES[mode], log };
  const results: BenchResult[] = [];
  try {
    for (const [id, run] of Object.entries(GROUPS)) {
      if (only && !only.includes(id)) continue;
      log(`${id}: running (${mode})`);
      results.push(...(await run(ctx)));
    }
  } finally {
    await referencesDone();
  }
  const m = { ...machine(mode), seconds: (Date.now() - started) / 1000 };
  writeResults(out, m, results);
  if (mode !== 'tiny' && !process.argv.includes('--no-doc')) writeDocument(join(TOP, 'bench', 'results'), join(TOP, 'docs'));
  for (const r of results) {
    process.stdout.write(`\n${r.title}\n`);
    for (const x of r.measures) process.stdout.write(`  ${x.label.padEnd(52)} ${x.summary.median.toFixed(1).padStart(9)} ${x.unit}  (min ${x.summary.min.toFixed(1)}, max ${x.summary.max.toFixed(1)})${x.note ? `  ${x.note}` : ''}\n`);
    for (const g of r.goals) process.stdout.write(`  goal: ${g.text}: ${g.measured} — ${g.met === null ? 'not measured' : g.met ? 'met' : 'MISSED'}\n`);
    for (const s of r.skipped) process.stdout.write(`  not measured: ${s}\n`);
  }
  process.stdout.write(`\nresults in ${out}${mode !== 'tiny' && !process.argv.includes('--no-doc') ? '; docs/benchmarks.md rewritten' : ''}\n`);
}

await main();
