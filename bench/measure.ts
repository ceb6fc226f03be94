/** What every benchmark shares: timing one call and summarizing a series (median, min, max). */

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
