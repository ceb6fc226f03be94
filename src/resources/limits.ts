/**
 * Resource limits as plain data: parsing and validation of what a user typed
 * (`--cpus 1.5`, `--memory 512M`, `--swap none`…), merging a change into the
 * current limits, a human description, and the translation to the OCI
 * runtime spec's `linux.resources`. Pure and synchronous except
 * `hostCapacity()`, which reads the host's facts once for the validation.
 * It does not touch cgroups: the drivers (`v1.ts`, `v2.ts`) do.
 *
 * Conventions:
 * - In a `Limits` value, `undefined` means "unchanged" (or "the default" at
 *   create) and `null` means "explicitly removed: unlimited / the default share".
 * - Sizes are binary: K = KiB = 1024 bytes, M = MiB, G = GiB, T = TiB, case-insensitive;
 *   a plain number is a byte count.
 * - The words `none`, `max` and `unlimited` remove a limit (null) — except for
 *   `--swap`, where `none` means *no swap* (0) and `max`/`unlimited` remove the
 *   swap limit (null).
 * - Weights follow cgroup v2: `cpuWeight` 1..10000 and `ioWeight` 10..1000,
 *   100 is the default share of both.
 */
import { readFileSync, existsSync } from 'node:fs';
import type { IoDevice } from '../model/index.js';

export type { IoDevice };
import { cpus as osCpus } from 'node:os';
import { join } from 'node:path';
import { FailedPrecondition, InvalidArgument } from '../errors/index.js';
import { formatSize, MiB, parseSize } from '../model/units.js';

export interface Limits {
  /** Hard CPU cap in CPUs, fractional (1.5 = one and a half CPUs' time per period). */
  cpus?: number | null;
  /** Relative CPU share, 1..10000, 100 = default (cgroup v2 cpu.weight). */
  cpuWeight?: number | null;
  /** CPUs the container may run on, canonical list form (`0-1,3`). */
  cpuset?: string | null;
  /** Memory limit in bytes. */
  memory?: number | null;
  /** Bytes of swap beyond memory; 0 = no swap; null = no swap limit. Applies only with a memory limit on cgroup v1. */
  swap?: number | null;
  /** Most processes (and threads) at once. */
  pids?: number | null;
  /** Relative disk I/O share, 10..1000, 100 = default. */
  ioWeight?: number | null;
  /** Bytes per second read from the device holding the container's data. */
  ioReadBps?: number | null;
  ioWriteBps?: number | null;
  /** Read operations per second on that device. */
  ioReadIops?: number | null;
  ioWriteIops?: number | null;
  /** Hard size of the container's private area in bytes (the storage module enforces it). */
  disk?: number | null;
}

export type LimitKey = keyof Limits;

/** The keys of `Limits`, in the order they are described and validated. */
const LIMIT_KEYS: readonly LimitKey[] = [
  'cpus', 'cpuWeight', 'cpuset', 'memory', 'swap', 'pids', 'ioWeight',
  'ioReadBps', 'ioWriteBps', 'ioReadIops', 'ioWriteIops', 'disk',
];

/** What the host has, against which limits are checked. */
export interface HostCapacity {
  cpus: number;
  memoryBytes: number;
  /** CPU numbers a cpuset may name (the root cgroup's cpuset). */
  cpusetAvailable: number[];
  /**
   * Whether the kernel accounts swap per cgroup (v1 memory.memsw.*, v2 memory.swap.*).
   * Without it only `--swap none`/`0` (and `max`) are accepted. Absent = assumed present.
   */
  swapAccounting?: boolean;
}

const MIN_MEMORY = 4 * MiB;
const MIN_DISK = 16 * MiB;
const MAX_PIDS = 4194304;
/** The CFS period Strata uses (100 ms, the kernel's default); the smallest quota the kernel takes is 1 ms. */
export const CPU_PERIOD_US = 100000;
const MIN_CPUS = 0.01;

/** The CLI flag of each key, for messages. */
export function flagOf(key: string): string {
  return `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

/** Parses a CPU list like `0-1,3` into sorted unique numbers; null when malformed. */
export function parseCpuList(text: string): number[] | null {
  const t = text.trim();
  if (t === '') return [];
  const out = new Set<number>();
  for (const part of t.split(',')) {
    const m = /^\s*(\d+)(?:\s*-\s*(\d+))?\s*$/.exec(part);
    if (!m) return null;
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (b < a || b - a > 65536) return null;
    for (let i = a; i <= b; i++) out.add(i);
  }
  return [...out].sort((x, y) => x - y);
}

/** The canonical list form of CPU numbers: `[0,1,3]` → `0-1,3`. */
export function formatCpuList(list: number[]): string {
  const parts: string[] = [];
  const sorted = [...new Set(list)].sort((a, b) => a - b);
  for (let i = 0; i < sorted.length; i++) {
    const start = sorted[i];
    while (i + 1 < sorted.length && sorted[i + 1] === sorted[i] + 1) i++;
    parts.push(start === sorted[i] ? `${start}` : `${start}-${sorted[i]}`);
  }
  return parts.join(',');
}

const CLEAR_WORDS = new Set(['none', 'max', 'unlimited']);

type Raw = string | number | undefined;

interface Check {
  problems: string[];
}

function wordOf(v: Raw): string | null {
  return typeof v === 'string' ? v.trim().toLowerCase() : null;
}

function sizeOf(key: string, v: string | number, c: Check): number | undefined {
  if (typeof v === 'number') {
    if (v < 0) {
      c.problems.push(`invalid ${flagOf(key)} ${v}: a size cannot be negative; give e.g. 512M, or none to remove the limit`);
      return undefined;
    }
    if (!Number.isSafeInteger(v)) {
      c.problems.push(`invalid ${flagOf(key)} ${v}: a size in bytes must be a whole number; give e.g. 512M`);
      return undefined;
    }
    return v;
  }
  if (/^\s*-/.test(v)) {
    c.problems.push(`invalid ${flagOf(key)} '${v}': a size cannot be negative; give e.g. 512M, or none to remove the limit`);
    return undefined;
  }
  try {
    return parseSize(v, flagOf(key));
  } catch (err) {
    c.problems.push((err as Error).message);
    return undefined;
  }
}

function numberOf(key: string, v: string | number, integer: boolean, example: string, c: Check): number | undefined {
  const n = typeof v === 'number' ? v : /^\s*[-+]?(\d+(\.\d*)?|\.\d+)\s*$/.test(v) ? Number(v) : NaN;
  if (!Number.isFinite(n)) {
    c.problems.push(`invalid ${flagOf(key)} '${v}': not a number; give e.g. ${example}, or none to remove the limit`);
    return undefined;
  }
  if (integer && !Number.isInteger(n)) {
    c.problems.push(`invalid ${flagOf(key)} '${v}': must be a whole number; give e.g. ${example}`);
    return undefined;
  }
  return n;
}

/**
 * Validates limits as the CLI or API gives them (keys in camelCase, values as
 * text or numbers) against the host. All problems are reported at once, in one
 * InvalidArgument; nothing is returned partly. Absent keys stay undefined; the
 * words none/max/unlimited become null (see the module comment for `--swap`).
 */
export function parseLimits(raw: Record<string, string | number | undefined>, host: HostCapacity): Limits {
  const c: Check = { problems: [] };
  const out: Limits = {};
  for (const key of Object.keys(raw)) {
    if (!(LIMIT_KEYS as readonly string[]).includes(key) && raw[key] !== undefined) {
      c.problems.push(`unknown limit '${key}': the limits are ${LIMIT_KEYS.map(flagOf).join(', ')}`);
    }
  }
  for (const key of LIMIT_KEYS) {
    const v = raw[key];
    if (v === undefined) continue;
    if (typeof v === 'string' && v.trim() === '') {
      c.problems.push(`${flagOf(key)} is empty: give a value, or none to remove the limit`);
      continue;
    }
    const word = wordOf(v);
    if (key === 'swap') {
      if (word === 'none') { out.swap = 0; continue; }
      if (word === 'max' || word === 'unlimited') { out.swap = null; continue; }
    } else if (word !== null && CLEAR_WORDS.has(word)) {
      out[key] = null as never;
      continue;
    }
    const flag = flagOf(key);
    switch (key) {
      case 'cpus': {
        const n = numberOf(key, v, false, '1.5', c);
        if (n === undefined) break;
        if (n <= 0) c.problems.push(`invalid ${flag} ${v}: must be more than 0; give e.g. 0.5 or 2, or none to remove the cap`);
        else if (n < MIN_CPUS) c.problems.push(`invalid ${flag} ${v}: the smallest CPU cap is ${MIN_CPUS} (1 ms per 100 ms period)`);
        else if (n > host.cpus) c.problems.push(`invalid ${flag} ${v}: this host has ${host.cpus} CPU${host.cpus === 1 ? '' : 's'}; give at most ${host.cpus}`);
        else out.cpus = Math.round(n * 100) / 100;
        break;
      }
      case 'cpuWeight': {
        const n = numberOf(key, v, true, '200', c);
        if (n === undefined) break;
        if (n < 1 || n > 10000) c.problems.push(`invalid ${flag} ${v}: a CPU weight is 1..10000 (100 is the default share)`);
        else out.cpuWeight = n;
        break;
      }
      case 'cpuset': {
        const list = parseCpuList(String(v));
        if (!list || list.length === 0) {
          c.problems.push(`invalid ${flag} '${v}': not a CPU list; give CPU numbers and ranges such as 0-1,3, or none for all CPUs`);
          break;
        }
        const missing = list.filter((n) => !host.cpusetAvailable.includes(n));
        if (missing.length) c.problems.push(`invalid ${flag} '${v}': this host has no CPU ${formatCpuList(missing)}; its CPUs are ${formatCpuList(host.cpusetAvailable)}`);
        else out.cpuset = formatCpuList(list);
        break;
      }
      case 'memory': {
        const n = sizeOf(key, v, c);
        if (n === undefined) break;
        if (n === 0) c.problems.push(`invalid ${flag} ${v}: a memory limit of 0 is meaningless; give at least ${formatSize(MIN_MEMORY)}, or none to remove the limit`);
        else if (n < MIN_MEMORY) c.problems.push(`invalid ${flag} ${v}: too small for a container; give at least ${formatSize(MIN_MEMORY)}`);
        else if (n > host.memoryBytes) c.problems.push(`invalid ${flag} ${v}: this host has ${formatSize(host.memoryBytes)} of memory; give at most that`);
        else out.memory = n;
        break;
      }
      case 'swap': {
        const n = sizeOf(key, v, c);
        if (n === undefined) break;
        if (n > 0 && host.swapAccounting === false) {
          c.problems.push(`invalid ${flag} ${v}: this host has no swap accounting: the kernel cannot limit a container's swap (no memory.memsw / memory.swap files); give --swap none (or 0), or enable swap accounting (swapaccount=1) on the host`);
        } else out.swap = n;
        break;
      }
      case 'pids': {
        const n = numberOf(key, v, true, '512', c);
        if (n === undefined) break;
        if (n < 1) c.problems.push(`invalid ${flag} ${v}: a container needs at least 1 process; give e.g. 512, or none to remove the limit`);
        else if (n > MAX_PIDS) c.problems.push(`invalid ${flag} ${v}: the kernel allows at most ${MAX_PIDS} processes; give less, or none to remove the limit`);
        else out.pids = n;
        break;
      }
      case 'ioWeight': {
        const n = numberOf(key, v, true, '200', c);
        if (n === undefined) break;
        if (n < 10 || n > 1000) c.problems.push(`invalid ${flag} ${v}: an I/O weight is 10..1000 (100 is the default share)`);
        else out.ioWeight = n;
        break;
      }
      case 'ioReadBps':
      case 'ioWriteBps': {
        const n = sizeOf(key, v, c);
        if (n === undefined) break;
        if (n === 0) c.problems.push(`invalid ${flag} ${v}: a rate of 0 would stop all I/O; give e.g. 10M (bytes per second), or none to remove the limit`);
        else out[key] = n;
        break;
      }
      case 'ioReadIops':
      case 'ioWriteIops': {
        const n = numberOf(key, v, true, '500', c);
        if (n === undefined) break;
        if (n <= 0) c.problems.push(`invalid ${flag} ${v}: must be at least 1 operation per second; give e.g. 500, or none to remove the limit`);
        else out[key] = n;
        break;
      }
      case 'disk': {
        const n = sizeOf(key, v, c);
        if (n === undefined) break;
        if (n < MIN_DISK) c.problems.push(`invalid ${flag} ${v}: too small for a private area; give at least ${formatSize(MIN_DISK)}`);
        else out.disk = n;
        break;
      }
    }
  }
  if (c.problems.length === 1) throw new InvalidArgument(c.problems[0]);
  if (c.problems.length > 1) throw new InvalidArgument(`${c.problems.length} problems with the limits, nothing changed: ${c.problems.join('; ')}`);
  return out;
}

/** `current` with `change` applied: undefined keeps, null clears, a value replaces. Nulls are kept. */
export function mergeLimits(current: Limits, change: Limits): Limits {
  const out: Limits = { ...current };
  for (const key of LIMIT_KEYS) {
    if (change[key] !== undefined) out[key] = change[key] as never;
  }
  return out;
}

const LABEL: Record<LimitKey, string> = {
  cpus: 'cpus', cpuWeight: 'cpu weight', cpuset: 'cpuset', memory: 'memory', swap: 'swap', pids: 'pids',
  ioWeight: 'io weight', ioReadBps: 'io read', ioWriteBps: 'io write', ioReadIops: 'io read', ioWriteIops: 'io write', disk: 'disk',
};

/** One limit's value for humans: `512 MiB`, `10 MiB/s`, `unlimited`. */
export function describeValue(key: LimitKey, v: number | string | null): string {
  if (v === null) {
    if (key === 'cpuWeight' || key === 'ioWeight') return 'default';
    if (key === 'cpuset') return 'all CPUs';
    return 'unlimited';
  }
  switch (key) {
    case 'memory': case 'disk': return formatSize(v as number);
    case 'swap': return v === 0 ? 'none' : formatSize(v as number);
    case 'ioReadBps': case 'ioWriteBps': return `${formatSize(v as number)}/s`;
    case 'ioReadIops': case 'ioWriteIops': return `${v} ops/s`;
    default: return String(v);
  }
}

/** Limits for humans: `cpus 1.5, memory 512 MiB, swap none, pids 100`; `no limits` when empty. */
export function describeLimits(l: Limits): string {
  const parts = LIMIT_KEYS.filter((k) => l[k] !== undefined).map((k) => `${LABEL[k]} ${describeValue(k, l[k] as number | string | null)}`);
  return parts.length ? parts.join(', ') : 'no limits';
}

// The host

function memTotal(): number {
  const m = /^MemTotal:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

/**
 * The host's CPUs, memory, usable CPU numbers and swap accounting, read now
 * (`root` is the cgroup mount point, for tests). Synchronous: a few small files.
 */
export function hostCapacity(root = '/sys/fs/cgroup'): HostCapacity {
  const cpus = osCpus().length || 1;
  const read = (p: string): string | null => {
    try { return readFileSync(p, 'utf8'); } catch { return null; }
  };
  const v2 = (read(join(root, 'cgroup.controllers')) ?? '').split(/\s+/).includes('memory');
  const cpusetText = v2
    ? read(join(root, 'cpuset.cpus.effective'))
    : read(join(root, 'cpuset', 'cpuset.effective_cpus')) ?? read(join(root, 'cpuset', 'cpuset.cpus'));
  const parsed = cpusetText !== null ? parseCpuList(cpusetText) : null;
  const cpusetAvailable = parsed && parsed.length ? parsed : Array.from({ length: cpus }, (_, i) => i);
  let swapAccounting: boolean;
  if (v2) {
    // The root has no memory.swap.* files: look at the cgroup this process is in, or any child.
    const own = /^0::(.*)$/m.exec(read('/proc/self/cgroup') ?? '')?.[1]?.trim() ?? '/';
    swapAccounting = own !== '/' ? existsSync(join(root, own, 'memory.swap.max')) : true;
  } else {
    swapAccounting = existsSync(join(root, 'memory', 'memory.memsw.limit_in_bytes'));
  }
  return { cpus, memoryBytes: memTotal(), cpusetAvailable, swapAccounting };
}

// Translation to the OCI runtime spec


interface ThrottleDevice { major: number; minor: number; rate: number }

/** The OCI `linux.resources` fields Strata fills (devices are added by the spec builder). */
export type OciResources = {
  cpu?: { quota?: number; period?: number; shares?: number; cpus?: string };
  memory?: { limit?: number; swap?: number };
  pids?: { limit: number };
  blockIO?: {
    weight?: number;
    throttleReadBpsDevice?: ThrottleDevice[];
    throttleWriteBpsDevice?: ThrottleDevice[];
    throttleReadIOPSDevice?: ThrottleDevice[];
    throttleWriteIOPSDevice?: ThrottleDevice[];
  };
  /** cgroup v2 files written as given (runc ≥ 1.0). */
  unified?: Record<string, string>;
};

/**
 * cgroup v1 cpu.shares of a weight: linear, so that the default weight 100 is
 * the default 1024 shares (weight 200 → 2048, weight 1 → 10, weight 10000 → 102400).
 * The inverse is `sharesToWeight`.
 */
export function weightToShares(weight: number): number {
  return Math.min(262144, Math.max(2, Math.round((weight * 1024) / 100)));
}

export function sharesToWeight(shares: number): number {
  return Math.min(10000, Math.max(1, Math.round((shares * 100) / 1024)));
}

/**
 * The OCI cpu.shares that runc 1.1 turns into exactly `weight` on cgroup v2.
 * runc maps shares to cpu.weight with `1 + ((shares - 2) * 9999) / 262142`
 * (integer division); this is its inverse, rounded up so the division lands on `weight`.
 */
export function weightToRuncV2Shares(weight: number): number {
  return 2 + Math.ceil(((weight - 1) * 262142) / 9999);
}

/** runc 1.1's own shares → cgroup v2 cpu.weight conversion (for tests and reading back). */
export function runcV2SharesToWeight(shares: number): number {
  return 1 + Math.floor(((shares - 2) * 9999) / 262142);
}

/** The CFS quota in microseconds per CPU_PERIOD_US of a CPU cap. */
export function cpuQuotaOf(cpus: number): number {
  return Math.round(cpus * CPU_PERIOD_US);
}

/**
 * The OCI `linux.resources` of a container's limits, for the runtime spec at
 * start. Unset and removed (null) limits are left out: at start, absent means
 * unlimited / the default share. `disk` is the storage module's business.
 *
 * - cpus → cpu.quota over a 100 ms period.
 * - cpuWeight → cpu.shares: on v1 `weightToShares` (100 ⇔ 1024); on v2 the
 *   shares that runc converts back to exactly that cpu.weight.
 * - swap → OCI memory.swap, which is memory *plus* swap (memsw) on both layouts
 *   (runc subtracts the memory on v2): swap 0 → memory, swap S → memory + S,
 *   swap null → -1. A swap limit needs a memory limit; without one it is left out.
 *   When the host has no swap accounting (`opts.swapAccounting === false`), the
 *   swap field is left out (runc would fail on the missing memsw files).
 * - ioWeight → blockIO.weight on v1 (runc writes blkio.weight or blkio.bfq.weight
 *   as given); on v2 `unified["io.weight"] = "default W"` since runc's own
 *   blkio → io.weight conversion cannot land on every weight.
 * - I/O rates → blockIO throttle entries on `ioDevice`; without a device they
 *   are refused (FailedPrecondition).
 */
export function toOciResources(limits: Limits, ioDevice: IoDevice | undefined, v: 1 | 2, opts: { swapAccounting?: boolean } = {}): OciResources {
  const out: OciResources = {};
  const cpu: NonNullable<OciResources['cpu']> = {};
  if (typeof limits.cpus === 'number') {
    cpu.quota = cpuQuotaOf(limits.cpus);
    cpu.period = CPU_PERIOD_US;
  }
  if (typeof limits.cpuWeight === 'number') cpu.shares = v === 1 ? weightToShares(limits.cpuWeight) : weightToRuncV2Shares(limits.cpuWeight);
  if (typeof limits.cpuset === 'string') cpu.cpus = limits.cpuset;
  if (Object.keys(cpu).length) out.cpu = cpu;

  if (typeof limits.memory === 'number') {
    const memory: NonNullable<OciResources['memory']> = { limit: limits.memory };
    if (opts.swapAccounting !== false && limits.swap !== undefined) {
      memory.swap = limits.swap === null ? -1 : limits.memory + limits.swap;
    }
    out.memory = memory;
  }

  if (typeof limits.pids === 'number') out.pids = { limit: limits.pids };

  const blockIO: NonNullable<OciResources['blockIO']> = {};
  if (typeof limits.ioWeight === 'number') {
    if (v === 1) blockIO.weight = limits.ioWeight;
    else out.unified = { ...out.unified, 'io.weight': `default ${limits.ioWeight}` };
  }
  const rates: Array<[keyof Limits, keyof NonNullable<OciResources['blockIO']>]> = [
    ['ioReadBps', 'throttleReadBpsDevice'], ['ioWriteBps', 'throttleWriteBpsDevice'],
    ['ioReadIops', 'throttleReadIOPSDevice'], ['ioWriteIops', 'throttleWriteIOPSDevice'],
  ];
  for (const [key, field] of rates) {
    const rate = limits[key];
    if (typeof rate !== 'number') continue;
    if (!ioDevice) throw noIoDevice(key);
    (blockIO as Record<string, unknown>)[field] = [{ major: ioDevice.major, minor: ioDevice.minor, rate }];
  }
  if (Object.keys(blockIO).length) out.blockIO = blockIO;
  return out;
}

/** The error for an I/O rate limit when the container's data device is not known. */
export function noIoDevice(key: string): FailedPrecondition {
  return new FailedPrecondition(`cannot apply ${flagOf(key)}: the block device that holds this container's data is not known (its private area is not on a block device); remove the I/O rate limits or put the data root on a block device`);
}
