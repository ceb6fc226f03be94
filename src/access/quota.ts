/**
 * Plans and the quota checks made before anything is made. Countable things (containers, disk,
 * published ports) are checked against what the tenant holds in the database at that instant,
 * synchronously: the caller records the new container in the same turn of the event loop, so
 * parallel creates never overshoot. CPU, memory and processes are ceilings of the tenant's cgroup
 * (containers may overcommit them; the kernel holds the sum): here only one container may not ask
 * for more than the whole plan.
 */
import { InvalidArgument, ResourceExhausted, FailedPrecondition } from '../errors/index.js';
import { formatSize, parseSize } from '../model/units.js';
import type { AccessRecords, Plan, TenantRecord } from '../state/index.js';

/** A plan as given: sizes as numbers of bytes or text (`8G`); null removes a field. */
export interface PlanInput {
  cpus?: number | string | null;
  memory?: number | string | null;
  pids?: number | string | null;
  disk?: number | string | null;
  containers?: number | string | null;
  ports?: number | string | null;
  traffic?: number | string | null;
  trafficPolicy?: string | null;
}

const SIZES = new Set(['memory', 'disk', 'traffic']);

function field(key: string, v: number | string): number {
  if (SIZES.has(key)) {
    const n = typeof v === 'number' ? v : parseSize(v, `the plan's ${key}`);
    if (!Number.isFinite(n) || n <= 0) throw new InvalidArgument(`the plan's ${key} must be a positive size (8G, 512M)`);
    return n;
  }
  const n = Number(v);
  const ok = key === 'cpus' ? Number.isFinite(n) && n > 0 : Number.isInteger(n) && n >= 0;
  if (!ok) throw new InvalidArgument(`the plan's ${key} must be a ${key === 'cpus' ? 'positive number of CPUs (1.5)' : 'whole number, 0 or more'}, not ${JSON.stringify(v)}`);
  return n;
}

/** `current` changed by `input` (null removes a field); refuses what is not a plan. */
export function parsePlan(input: PlanInput, current: Plan = {}): Plan {
  const out: Record<string, unknown> = { ...current };
  for (const [key, v] of Object.entries(input)) {
    const target = key === 'traffic' ? 'trafficBytes' : key;
    if (v === undefined) continue;
    if (v === null) { delete out[target]; continue; }
    if (key === 'trafficPolicy') {
      if (v !== 'throttle' && v !== 'suspend') throw new InvalidArgument(`the traffic policy is 'throttle' or 'suspend', not ${JSON.stringify(v)}`);
      out.trafficPolicy = v;
      continue;
    }
    if (!['cpus', 'memory', 'pids', 'disk', 'containers', 'ports', 'traffic'].includes(key)) {
      throw new InvalidArgument(`a plan has no field ${JSON.stringify(key)}: give cpus, memory, pids, disk, containers, ports, traffic, trafficPolicy`);
    }
    out[target] = field(key, v);
  }
  return out as Plan;
}

export function describePlan(p: Plan): string {
  const parts: string[] = [];
  if (p.cpus !== undefined) parts.push(`${p.cpus} CPUs`);
  if (p.memory !== undefined) parts.push(`${formatSize(p.memory)} memory`);
  if (p.pids !== undefined) parts.push(`${p.pids} processes`);
  if (p.disk !== undefined) parts.push(`${formatSize(p.disk)} disk`);
  if (p.containers !== undefined) parts.push(`${p.containers} containers`);
  if (p.ports !== undefined) parts.push(`${p.ports} ports`);
  if (p.trafficBytes !== undefined) parts.push(`${formatSize(p.trafficBytes)} traffic a month (then ${p.trafficPolicy ?? 'throttle'})`);
  return parts.join(', ') || 'no limits';
}

/** Ports being published for a tenant and not yet recorded; given back by `release`. */
export interface Reservation {
  release(): void;
}

/** The per-container limits that quota checks read. */
interface AskedLimits {
  cpus?: number | null;
  memory?: number | null;
  pids?: number | null;
  disk?: number | null;
}

export class QuotaBook {
  /** Ports reserved per tenant by publishes and creates under way. */
  private readonly pendingPorts = new Map<string, number>();

  /** `refused` hears every refusal over a plan (the daemon makes it a `quota-refused` event of the tenant). */
  constructor(private readonly records: AccessRecords, private readonly refused: (tenant: string, message: string) => void = () => undefined) {}

  /** Runs a check; a refusal over the plan is told to `refused` before it is thrown. */
  private told<T>(tenant: string, check: () => T): T {
    try {
      return check();
    } catch (err) {
      if (err instanceof ResourceExhausted) this.refused(tenant, err.message);
      throw err;
    }
  }

  private tenant(name: string): TenantRecord {
    const t = this.records.getTenant(name);
    if (!t) throw new FailedPrecondition(`tenant ${name} no longer exists`);
    return t;
  }

  plan(name: string): Plan {
    return this.tenant(name).plan;
  }

  /** Refuses to run anything of a suspended tenant. */
  checkActive(name: string): void {
    const t = this.tenant(name);
    if (t.suspendedAt) throw new FailedPrecondition(`tenant ${name} is suspended (${t.suspendedWhy ?? 'by the host'}): nothing of it may start until 'strata tenant unsuspend ${name}'`);
  }

  /** One container may not ask for more than the whole plan. */
  private checkCeilings(t: TenantRecord, limits: AskedLimits): void {
    const over = (what: string, asked: number, plan: number, show: (n: number) => string): never => {
      throw new ResourceExhausted(`a container of tenant ${t.name} may not have ${what} ${show(asked)}: its plan allows ${show(plan)} for all its containers together`);
    };
    const { plan } = t;
    if (plan.cpus !== undefined && typeof limits.cpus === 'number' && limits.cpus > plan.cpus) over('cpus', limits.cpus, plan.cpus, String);
    if (plan.memory !== undefined && typeof limits.memory === 'number' && limits.memory > plan.memory) over('memory', limits.memory, plan.memory, formatSize);
    if (plan.pids !== undefined && typeof limits.pids === 'number' && limits.pids > plan.pids) over('pids', limits.pids, plan.pids, String);
    if (plan.disk !== undefined && typeof limits.disk !== 'number') {
      throw new InvalidArgument(`tenant ${t.name}'s plan caps its disk at ${formatSize(plan.disk)}: give the container a disk limit (--disk SIZE)`);
    }
  }

  private checkDisk(t: TenantRecord, held: number, asked: number, fix = 'ask for less, or free some'): void {
    const cap = t.plan.disk;
    if (cap !== undefined && held + asked > cap) {
      throw new ResourceExhausted(`tenant ${t.name} would have ${formatSize(held + asked)} of disk, over its plan's ${formatSize(cap)} (${formatSize(Math.max(0, cap - held))} left): ${fix}`);
    }
  }

  /** Refuses a snapshot of `bytes` that would take the tenant over its plan's disk (snapshots count in it). */
  checkSnapshot(tenant: string, bytes: number): void {
    this.told(tenant, () => this.checkDisk(this.tenant(tenant), this.records.holdings(tenant).disk, bytes, 'remove older snapshots (strata snapshot rm), or ask the host for a larger plan'));
  }

  /** Refuses a kept backup of about `bytes` that would take the tenant over its plan's disk (kept backups count in it). */
  checkBackup(tenant: string, bytes: number): void {
    this.told(tenant, () => this.checkDisk(this.tenant(tenant), this.records.holdings(tenant).disk, bytes, 'remove older backups (strata backups rm), or ask the host for a larger plan'));
  }

  private reservePorts(t: TenantRecord, n: number, held: number): Reservation {
    const cap = t.plan.ports;
    const pending = this.pendingPorts.get(t.name) ?? 0;
    if (n > 0 && cap !== undefined && held + pending + n > cap) {
      throw new ResourceExhausted(`tenant ${t.name} may publish ${cap} port(s) and has ${held + pending}: unpublish one first, or ask the host for a larger plan`);
    }
    this.pendingPorts.set(t.name, pending + n);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        const left = (this.pendingPorts.get(t.name) ?? n) - n;
        if (left > 0) this.pendingPorts.set(t.name, left); else this.pendingPorts.delete(t.name);
      },
    };
  }

  /**
   * Checks a new container of `tenant` against its plan. Synchronous: record the container before
   * the next await, and release the reservation (of its ports) once they are recorded or given up.
   */
  checkCreate(tenant: string, limits: AskedLimits, ports: number): Reservation {
    return this.told(tenant, () => this.createChecked(tenant, limits, ports));
  }

  private createChecked(tenant: string, limits: AskedLimits, ports: number): Reservation {
    const t = this.tenant(tenant);
    this.checkActive(tenant);
    this.checkCeilings(t, limits);
    const held = this.records.holdings(tenant);
    if (t.plan.containers !== undefined && held.containers + 1 > t.plan.containers) {
      throw new ResourceExhausted(`tenant ${tenant} has ${held.containers} of the ${t.plan.containers} containers its plan allows: destroy one first, or ask the host for a larger plan`);
    }
    this.checkDisk(t, held.disk, limits.disk ?? 0);
    return this.reservePorts(t, ports, held.ports);
  }

  /** Checks a container's new limits (`before` → `after`) against its tenant's plan. */
  checkResize(tenant: string, before: AskedLimits, after: AskedLimits): void {
    this.told(tenant, () => {
      const t = this.tenant(tenant);
      this.checkCeilings(t, after);
      const held = this.records.holdings(tenant);
      this.checkDisk(t, held.disk - (before.disk ?? 0), after.disk ?? 0);
    });
  }

  /** Reserves `n` more published ports of `tenant`; release once they are recorded or given up. */
  checkPorts(tenant: string, n: number): Reservation {
    return this.told(tenant, () => this.reservePorts(this.tenant(tenant), n, this.records.holdings(tenant).ports));
  }
}
