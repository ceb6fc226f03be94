/**
 * What the benchmarks share: modes and sizes, timing, summaries, the result shape that
 * bench/report.ts turns into JSON, tables and plots, and a daemon of their own per benchmark.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Client } from '../src/api/client.js';
import { TestDaemon } from '../test/harness.js';

export type Mode = 'tiny' | 'quick' | 'full';

/** Sizes per mode: tiny is the harness test in `npm test`, quick a few minutes, full up to ~30. */
export interface Sizes {
  runs: number;
  /** Containers of the density and at-scale benchmarks. */
  density: number;
  /** Containers of the attach and shared-memory benchmarks. */
  many: number;
  /** Size of the application template of the attach benchmark, in MiB. */
  templateMiB: number;
  /** Levels of the logged-in density benchmark: Debian containers with sshd, grown level by level. */
  logins: number[];
}

export const SIZES: Record<Mode, Sizes> = {
  tiny: { runs: 2, density: 3, many: 3, templateMiB: 4, logins: [2] },
  quick: { runs: 5, density: 100, many: 20, templateMiB: 100, logins: [25, 100] },
  full: { runs: 15, density: 1000, many: 100, templateMiB: 100, logins: [100, 600, 1000] },
};

export interface Summary {
  median: number;
  min: number;
  max: number;
  n: number;
}

export function summarize(xs: number[]): Summary {
  const s = [...xs].sort((a, b) => a - b);
  if (!s.length) return { median: NaN, min: NaN, max: NaN, n: 0 };
  const mid = s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  return { median: mid, min: s[0], max: s[s.length - 1], n: s.length };
}

/** The q-quantile (0.99: p99) of the samples, nearest rank. */
export function percentile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)] : NaN;
}

/** Wall time of one call, in milliseconds. */
export async function time(fn: () => Promise<unknown> | unknown): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

/** One measured quantity of a benchmark: a bar of its plot and a row of its table. */
export interface Measure {
  label: string;
  unit: 'µs' | 'ms' | 's' | 'MiB' | 'KiB' | 'count';
  summary: Summary;
  /** e.g. "1.42× runc+CNI" */
  note?: string;
}

export interface Goal {
  text: string;
  met: boolean | null;
  /** What was measured against it, in words. */
  measured: string;
}

export interface BenchResult {
  id: string;
  title: string;
  /** What was measured and how, one paragraph. */
  method: string;
  measures: Measure[];
  goals: Goal[];
  /** Reference tools or parts that could not be measured, with why. */
  skipped: string[];
  /** Anything else worth keeping in the JSON. */
  data?: Record<string, unknown>;
}

export interface Context {
  mode: Mode;
  sizes: Sizes;
  log: (line: string) => void;
}

/** Runs `work` against a fresh daemon (own data root) with a busybox template `bb`; cleans up after. */
export async function withDaemon<T>(work: (d: TestDaemon, api: Client) => Promise<T>, env: Record<string, string> = {}): Promise<T> {
  const d = new TestDaemon({ env });
  try {
    await d.start();
    await d.ok('template', 'build', 'bb', '--from', 'busybox');
    return await work(d, new Client(d.socket));
  } finally {
    await d.cleanup();
  }
}

/** Runs `fn` over 0..n-1 with at most `width` at a time; returns each call's wall time (ms). */
export async function parallel(n: number, width: number, fn: (i: number) => Promise<unknown>): Promise<number[]> {
  const times = new Array<number>(n);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < n; i = next++) times[i] = await time(() => fn(i));
  };
  await Promise.all(Array.from({ length: Math.min(width, n) }, worker));
  return times;
}

/** /proc/meminfo in KiB. */
export function meminfo(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of readFileSync('/proc/meminfo', 'utf8').split('\n')) {
    const m = /^(\w+(?:\(\w+\))?):\s+(\d+)/.exec(line);
    if (m) out[m[1]] = Number(m[2]);
  }
  return out;
}

/** Drops clean caches so that memory deltas are not page-cache noise. */
export function settleMemory(): void {
  spawnSync('sync');
  spawnSync('sh', ['-c', 'echo 3 > /proc/sys/vm/drop_caches']);
}

export function has(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
}

export function ratio(a: Summary, b: Summary): number {
  return a.median / b.median;
}

export const fmt = (n: number, digits = 1): string => (Number.isFinite(n) ? n.toFixed(digits) : '-');

export function sh(cmd: string, args: string[], opts: { cwd?: string; input?: string } = {}): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', cwd: opts.cwd, input: opts.input, maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr || r.error?.message}`);
  return r.stdout;
}
