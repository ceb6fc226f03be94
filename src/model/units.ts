/**
 * Sizes: the binary units, reading a size a user wrote (`512M`) and writing one for people.
 * Every layer shares these instead of its own `1048576` and formatter.
 */
import { InvalidArgument } from '../errors/index.js';

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;
export const TiB = 1024 * GiB;

const SIZE_RE = /^(\d+(?:\.\d+)?)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib|t|tb|tib)?$/i;
const UNIT: Record<string, number> = { b: 1, k: KiB, m: MiB, g: GiB, t: TiB };

/**
 * A size in bytes from text such as `512M`, `1.5GiB`, `64k` or `1048576`.
 * Binary units (1024-based) only; `KB`/`MB` are read as KiB/MiB, as Docker does.
 * `what` names the value in the error (e.g. `--memory`).
 */
export function parseSize(text: string, what: string): number {
  const t = String(text).trim();
  const m = SIZE_RE.exec(t);
  const hint = 'give a byte count or a number with K, M, G or T (1024-based), e.g. 512M or 1.5G';
  if (!m) throw new InvalidArgument(`invalid ${what} '${text}': not a size; ${hint}`);
  const unit = (m[2] ?? 'b')[0].toLowerCase();
  if (unit === 'b' && m[1].includes('.')) throw new InvalidArgument(`invalid ${what} '${text}': a byte count must be a whole number; ${hint}`);
  const bytes = Math.floor(Number(m[1]) * UNIT[unit]);
  if (!Number.isSafeInteger(bytes)) throw new InvalidArgument(`invalid ${what} '${text}': too large; ${hint}`);
  return bytes;
}

/** Bytes for humans: `512 MiB`, `1.5 GiB`, `100 B`. */
export function formatSize(bytes: number): string {
  const units: Array<[number, string]> = [[TiB, 'TiB'], [GiB, 'GiB'], [MiB, 'MiB'], [KiB, 'KiB']];
  for (const [size, name] of units) {
    if (bytes >= size) {
      const n = bytes / size;
      return `${Number.isInteger(n) ? n : Number(n.toFixed(2))} ${name}`;
    }
  }
  return `${bytes} B`;
}

/** Bytes for tables and progress, one decimal: `1.5 MiB`, `12.0 GiB`, `100 B`. */
export function humanBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

const SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/** `90s`, `15m`, `6h`, `1d`, `2w` → seconds; `what` names the option in the error. */
export function parseDuration(text: string, what: string): number {
  const m = /^(\d+)([smhdw])$/.exec(String(text).trim());
  if (!m || Number(m[1]) === 0) throw new InvalidArgument(`invalid ${what} ${JSON.stringify(text)}: give a duration such as 90s, 15m, 6h, 1d or 2w`);
  return Number(m[1]) * SECONDS[m[2]];
}

