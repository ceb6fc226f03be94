/**
 * Where the time of one operation goes: laps of a stopwatch, written to the daemon's log when
 * STRATA_PROFILE=1 (see docs/benchmarks.md). Costs nothing otherwise.
 */
export interface Stopwatch {
  lap(name: string): void;
  done(): void;
}

const enabled = (): boolean => process.env.STRATA_PROFILE === '1';

export function stopwatch(what: string): Stopwatch {
  if (!enabled()) return { lap: () => undefined, done: () => undefined };
  const start = performance.now();
  let last = start;
  const laps: string[] = [];
  return {
    lap(name) {
      const now = performance.now();
      laps.push(`${name} ${(now - last).toFixed(1)}`);
      last = now;
    },
    done() {
      process.stderr.write(`profile ${what}: ${(performance.now() - start).toFixed(1)} ms = ${laps.join(', ')}\n`);
    },
  };
}
