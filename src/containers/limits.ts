/**
 * Live limits (`strata set`): cgroup limits, the disk's size and network rates changed on a
 * container, live while it runs, all or nothing. The translation of limits to cgroup values is
 * resources/'s; this file only sequences the change and its undo. Callers hold the container's lock.
 */
import { FailedPrecondition, InvalidArgument } from '../errors/index.js';
import { describeLimits, formatSize, mergeLimits, parseLimits, type HostCapacity, type Limits } from '../resources/index.js';
import { Reverter } from '../util/reverter.js';
import type { ContainerContext } from './context.js';

/** Keys of `set` that are network rates, not cgroup limits. */
const NET_RATE_KEYS = ['netIn', 'netOut'] as const;

/** A checked `set` request: the limits to change and the network rates (null: unlimited). */
export interface LimitChange {
  change: Limits;
  rates: { netIn?: string | null; netOut?: string | null };
}

/** Checks a `set` request before anything is locked or read; refuses one that changes nothing. */
export function parseChange(given: Record<string, string | number>, capacity: HostCapacity): LimitChange {
  const raw = { ...given };
  const rates: LimitChange['rates'] = {};
  for (const key of NET_RATE_KEYS) {
    if (raw[key] === undefined) continue;
    const v = String(raw[key]);
    rates[key] = /^(none|max|unlimited)$/i.test(v) ? null : v;
    delete raw[key];
  }
  const change = parseLimits(raw, capacity);
  if (Object.values(change).every((v) => v === undefined) && !Object.keys(rates).length) {
    throw new InvalidArgument('nothing to change: give at least one limit, e.g. --memory 512M or --cpus 1');
  }
  return { change, rates };
}

/** Applies a change to the container `name` (live when it runs) and records it; on a failure puts back what it changed. */
export async function applyChange(ctx: ContainerContext, name: string, { change, rates }: LimitChange): Promise<void> {
  const { host, store } = ctx;
  const c = ctx.record(name);
  const before = c.limits as Limits;
  const after = stripUnset(mergeLimits(before, change));
  if (c.tenant) host.quota?.checkResize(c.tenant, before, after);
  if (change.disk !== undefined) {
    if (!c.volume) throw new FailedPrecondition(`container ${name} was created without --disk, so its private area has no size limit to change: recreate it with --disk SIZE`);
    if (change.disk === null) throw new InvalidArgument('a disk limit cannot be removed, only changed: give a size such as --disk 20G');
    const usage = await host.pool.usage(ctx.volumeOf(c));
    if (usage && change.disk < usage.usedBytes) {
      throw new FailedPrecondition(`cannot shrink the disk of ${name} to ${formatSize(change.disk)}: it holds ${formatSize(usage.usedBytes)}; free space inside first or choose a larger size`);
    }
    await host.pool.checkSize(change.disk);
  }
  const r = new Reverter();
  try {
    if (c.state === 'running') {
      const cgroupChange: Limits = { ...change, disk: undefined };
      const device = await ctx.ioDevice(c);
      r.add(() => host.cgroups.apply(ctx.cgroupPath(name), undoOf(before, cgroupChange), device));
      await host.cgroups.apply(ctx.cgroupPath(name), cgroupChange, device);
    }
    if (change.disk !== undefined && change.disk !== null) await host.pool.resize(ctx.volumeOf(c), change.disk, { inUse: c.state === 'running' });
    if (Object.keys(rates).length) {
      const before = host.networks.bandwidth(name);
      await host.networks.setBandwidth(name, rates);
      r.add(() => host.networks.setBandwidth(name, before));
    }
    store.setLimits(name, after as Record<string, unknown>);
    const changed = [describeLimits(change), ...Object.entries(rates).map(([k, v]) => `${k} ${v ?? 'unlimited'}`)];
    store.addEvent('limits-changed', name, changed.filter((t) => t !== 'no limits').join(', '));
    r.success();
  } finally {
    await r.fail();
  }
}

/** Limits without the unset (undefined) entries, as stored. */
export function stripUnset(l: Limits): Limits {
  return Object.fromEntries(Object.entries(l).filter(([, v]) => v !== undefined && v !== null)) as Limits;
}

/** The change that puts back what `change` replaced. */
function undoOf(before: Limits, change: Limits): Limits {
  const undo: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(change)) if (v !== undefined) undo[k] = (before as Record<string, unknown>)[k] ?? null;
  return undo as Limits;
}
