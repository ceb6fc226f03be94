/**
 * Reading and writing cgroup files, shared by the v1 and v2 drivers: one
 * write(2) per value, kernel refusals turned into errors that name the limit
 * and the fix, and a journal that restores what an all-or-nothing update had
 * already written. Knows no cgroup layout.
 */
import { chownSync, constants, promises as fsp, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { FailedPrecondition, Internal, InvalidArgument, NotSupported, type StrataError } from '../errors/index.js';
import { describeValue, flagOf, type LimitKey } from './limits.js';

/** The kernel's "unlimited" for v1 byte counters is LONG_MAX rounded to pages; anything this big is unlimited. */
const UNLIMITED_V1 = 2 ** 62;

export async function readText(file: string): Promise<string | null> {
  try {
    return await fsp.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

function asNumber(text: string | null): number | null {
  const t = text?.trim();
  if (t === undefined || t === '') return null;
  const n = Number(t);
  return Number.isFinite(n) ? n : null;
}

/** A number, or null for `max` (v2) or the v1 unlimited value. */
function asLimit(text: string | null): number | null {
  const n = text?.trim() === 'max' ? null : asNumber(text);
  return n === null || n < 0 || n >= UNLIMITED_V1 ? null : n;
}

/** A number, or null for `max` (v2) or the v1 unlimited value. */
export async function readLimit(file: string): Promise<number | null> {
  return asLimit(await readText(file));
}

/**
 * The same reads, synchronous: for usage, whose files are the kernel's counters (no disk behind
 * them). A read is a few microseconds, while the thread pool's open/read/close of ten files per
 * container, for a thousand containers, queues for a second.
 */
export const readNow = {
  text(file: string): string | null {
    try {
      return readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  },
  number: (file: string): number | null => asNumber(readNow.text(file)),
  limit: (file: string): number | null => asLimit(readNow.text(file)),
  isDir(path: string): boolean {
    return statSync(path, { throwIfNoEntry: false })?.isDirectory() ?? false;
  },
};

export async function isDir(path: string): Promise<boolean> {
  try {
    return (await fsp.stat(path)).isDirectory();
  } catch {
    return false;
  }
}

export { exists as fileExists } from '../util/fs.js';

/** One write(2) of `value`; no O_CREAT, so a missing file fails with ENOENT instead of appearing. */
async function writeCgroupFile(file: string, value: string): Promise<void> {
  const fh = await fsp.open(file, constants.O_WRONLY | constants.O_TRUNC);
  try {
    await fh.write(value);
  } finally {
    await fh.close();
  }
}

/** `pid`s in `dir`'s cgroup.procs and in every cgroup below it, sorted and unique. */
export async function procsBelow(dir: string): Promise<number[]> {
  const seen = new Set<number>();
  const walk = async (d: string): Promise<void> => {
    const text = await readText(join(d, 'cgroup.procs')).catch(() => null);
    if (text === null) return;
    for (const line of text.split('\n')) if (line.trim()) seen.add(Number(line));
    const entries = await fsp.readdir(d, { withFileTypes: true }).catch(() => []);
    for (const e of entries) if (e.isDirectory()) await walk(join(d, e.name));
  };
  await walk(dir);
  return [...seen].sort((a, b) => a - b);
}

const STRERROR: Record<string, string> = {
  EBUSY: 'Device or resource busy', EINVAL: 'Invalid argument', ENOSPC: 'No space left on device',
  EACCES: 'Permission denied', EPERM: 'Operation not permitted', ENOENT: 'No such file or directory',
  ERANGE: 'Numerical result out of range', ENODEV: 'No such device', EROFS: 'Read-only file system', EOPNOTSUPP: 'Operation not supported',
};

const BUSY_FIX: Partial<Record<LimitKey, string>> = {
  memory: 'the container uses more; free memory inside or choose a higher limit',
  swap: 'the container uses more memory and swap than that; free memory inside or choose a higher limit',
  cpuset: 'the CPUs are in exclusive use elsewhere; choose other CPUs',
};

const INVALID_FIX: Partial<Record<LimitKey, string>> = {
  cpus: 'the parent cgroup may allow less CPU time; choose a lower --cpus',
  cpuset: 'the CPUs must be online and allowed to the parent cgroup; choose CPUs the host has',
  memory: 'choose another limit',
  swap: 'swap must be at least the memory limit on this kernel; choose another value',
  pids: 'choose a limit between 1 and 4194304',
  ioWeight: 'choose a weight between 10 and 1000',
  ioReadBps: 'I/O rates apply to a whole block disk; the container\'s data must be on one',
  ioWriteBps: 'I/O rates apply to a whole block disk; the container\'s data must be on one',
  ioReadIops: 'I/O rates apply to a whole block disk; the container\'s data must be on one',
  ioWriteIops: 'I/O rates apply to a whole block disk; the container\'s data must be on one',
};

/**
 * A refused write to a cgroup file as an error that names the limit, the
 * kernel's words and the fix, e.g. "cannot set memory to 1 MiB for this
 * container: the kernel refused (Device or resource busy): the container uses
 * more; free memory inside or choose a higher limit".
 */
function kernelRefusal(err: unknown, key: LimitKey, value: number | string | null, file: string): StrataError {
  const code = (err as NodeJS.ErrnoException)?.code ?? '';
  const shown = describeValue(key, value);
  const what = `cannot set ${flagOf(key).slice(2)} to ${shown} for this container`;
  const said = STRERROR[code] ?? (code || (err as Error)?.message || String(err));
  switch (code) {
    case 'EBUSY':
      return new FailedPrecondition(`${what}: the kernel refused (${said}): ${BUSY_FIX[key] ?? 'the limit conflicts with what the container is using now; choose another value'}`, { cause: err });
    case 'EINVAL':
    case 'ERANGE':
    case 'ENOSPC':
    case 'ENODEV':
      return new InvalidArgument(`${what}: the kernel refused (${said}): ${INVALID_FIX[key] ?? 'choose another value'}`, { cause: err });
    case 'ENOENT':
      return new NotSupported(`${what}: this kernel has no ${file}: the cgroup controller for it is missing or disabled on this host; enable it, or leave out ${flagOf(key)}`, { cause: err });
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      return new FailedPrecondition(`${what}: the kernel refused (${said}) writing ${file}: the daemon must run as root with a writable cgroup file system`, { cause: err });
    default:
      return new Internal(`${what}: writing ${file} failed (${said})`, { cause: err });
  }
}

/**
 * The writes of one update, so that a failure half-way restores the files
 * already written (in reverse order, which the kernel accepts because every
 * intermediate state was valid on the way there).
 */
export class WriteJournal {
  private readonly written: Array<{ file: string; undo: string }> = [];

  /** Writes `value`; `undo` is what to write back on rollback (default: the file's content before). */
  async write(file: string, value: string, key: LimitKey, shown: number | string | null, undo?: string | null): Promise<void> {
    let before: string | null | undefined = undo;
    if (before === undefined) {
      try {
        before = (await readText(file))?.trim() ?? null;
      } catch (err) {
        throw kernelRefusal(err, key, shown, file);
      }
    }
    try {
      await writeCgroupFile(file, value);
    } catch (err) {
      throw kernelRefusal(err, key, shown, file);
    }
    if (before !== null) this.written.push({ file, undo: before });
  }

  async rollback(): Promise<void> {
    for (const w of this.written.reverse()) await writeCgroupFile(w.file, w.undo).catch(() => undefined);
    this.written.length = 0;
  }
}

/** The files of a cgroup that a delegated subtree's owner needs (v1 and v2 names; absent ones skipped). */
const DELEGATED_FILES = ['cgroup.procs', 'tasks', 'cgroup.clone_children', 'cgroup.threads', 'cgroup.subtree_control'];

/**
 * Gives directory `dir` (a cgroup) and its delegation files to `owner`; false when `dir` does not
 * exist. Synchronous: a start does this in every hierarchy, and each call is the kernel's, microseconds.
 */
export async function delegateDir(dir: string, owner: number): Promise<boolean> {
  try {
    chownSync(dir, owner, owner);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
  for (const file of DELEGATED_FILES) {
    try {
      chownSync(join(dir, file), owner, owner);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  return true;
}
