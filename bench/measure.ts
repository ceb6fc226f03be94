/** What every benchmark shares: a daemon of its own, timing, summaries (median, min, max), results. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '../src/api/client.js';
import { TestDaemon, TOP } from '../test/harness.js';

export interface Summary {
  median: number;
  min: number;
  max: number;
}

export function summarize(xs: number[]): Summary {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)], min: s[0], max: s[s.length - 1] };
}

export function formatSummary(s: Summary): string {
  return `${s.median.toFixed(1)} ms (min ${s.min.toFixed(1)}, max ${s.max.toFixed(1)})`;
}

/** Wall time of one call, in milliseconds. */
export async function time(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

/** The value after `name` on the command line as a number, or `fallback`. */
export function numberArg(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return (i >= 0 && Number(process.argv[i + 1])) || fallback;
}

/** Runs `work` against a fresh daemon (own data root) with a busybox template `bb`; cleans up after. */
export async function withBenchDaemon(work: (d: TestDaemon, api: Client) => Promise<void>): Promise<void> {
  const d = new TestDaemon();
  try {
    await d.start();
    await d.ok('template', 'build', 'bb', '--from', 'busybox');
    await work(d, new Client(d.socket));
  } finally {
    await d.cleanup();
  }
}

/** Writes bench/results/NAME.json. */
export function writeResult(name: string, result: unknown): void {
  mkdirSync(join(TOP, 'bench', 'results'), { recursive: true });
  writeFileSync(join(TOP, 'bench', 'results', `${name}.json`), `${JSON.stringify(result, null, 2)}\n`);
}
