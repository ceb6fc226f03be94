/**
 * Bandwidth rates as `tc` writes them (`10mbit`, `500kbit`, `1mbps`…), parsed to
 * bits per second, and the token-bucket burst that goes with a rate. Pure; the
 * shaping itself is done by the CNI bandwidth plugin (see shaping in index.ts).
 */
import { InvalidArgument } from '../errors/index.js';

/** Units in bits per second, as tc(8) knows them (bare number = bit/s). */
const UNITS: Record<string, number> = {
  '': 1, bit: 1, kbit: 1e3, mbit: 1e6, gbit: 1e9, tbit: 1e12,
  kibit: 1024, mibit: 1024 ** 2, gibit: 1024 ** 3, tibit: 1024 ** 4,
  bps: 8, kbps: 8e3, mbps: 8e6, gbps: 8e9, tbps: 8e12,
  kibps: 8 * 1024, mibps: 8 * 1024 ** 2, gibps: 8 * 1024 ** 3, tibps: 8 * 1024 ** 4,
};

const MIN_RATE = 8_000; // 8 kbit/s: below that TBF cannot keep a full-size frame in its bucket sensibly
const MAX_RATE = 100e9; // 100 gbit/s

/** `10mbit` → 10000000 (bits per second). Throws InvalidArgument naming the accepted forms. */
export function parseRate(text: string, what = 'rate'): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(String(text));
  const unit = m?.[2].toLowerCase();
  if (!m || unit === undefined || !(unit in UNITS)) {
    throw new InvalidArgument(
      `invalid ${what} ${JSON.stringify(text)}: write a number with a tc unit, e.g. 500kbit, 10mbit, 1gbit (bits/s) or 1mbps (bytes/s)`,
    );
  }
  const bits = Math.round(Number(m[1]) * UNITS[unit]);
  if (bits < MIN_RATE || bits > MAX_RATE) {
    throw new InvalidArgument(`invalid ${what} ${JSON.stringify(text)}: use a rate between 8kbit and 100gbit`);
  }
  return bits;
}

/** A rate back in the shortest exact tc form (10000000 → `10mbit`). */
export function formatRate(bits: number): string {
  for (const [unit, mul] of [['gbit', 1e9], ['mbit', 1e6], ['kbit', 1e3]] as const) {
    if (bits % mul === 0) return `${bits / mul}${unit}`;
  }
  return `${bits}bit`;
}

/**
 * Token-bucket depth in bits for a rate: 50 ms worth of traffic, at least 64 KiB
 * so that a few full frames (and GSO bursts) always fit. Small enough that a
 * transfer of a few seconds measures close to the rate.
 */
export function burstFor(bits: number): number {
  return Math.max(Math.round(bits / 20), 64 * 1024 * 8);
}
