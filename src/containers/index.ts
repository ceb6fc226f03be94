/**
 * containers: the orchestration that strings the other modules together, as a thin facade.
 * Each public verb takes the container's lock (every operation on one container is serialized
 * by name) and delegates to the file named for what it does:
 *   context.ts    the shared services and per-container lookups
 *   lifecycle.ts  create / start / stop / restart / destroy, each a Reverter sequence
 *   limits.ts     live limits (`set`)
 *   usage.ts      usage totals, CPU %, OOM events
 *   processes.ts  `ps`, and the runc argv of `exec` / `enter`
 *   logs.ts       the console and its log
 *   reconcile.ts  reconciliation at daemon start, autostart, lxcfs rebinding
 *   views.ts      what `inspect` and `list` show
 *   apps.ts       application templates on a container; capture.ts template captures
 */
import type { Readable } from 'node:stream';
import type { Paths } from '../config/index.js';
import { AlreadyExists, asStrataError, errorFromWire, FailedPrecondition, InvalidArgument } from '../errors/index.js';
import type { InitDeath, OciRuntime } from '../runtime/index.js';
import type { ContainerRecord, Store } from '../state/index.js';
import type { Storage } from '../storage/index.js';
import type { PoolView } from '../storage/pool.js';
import type { Templates } from '../templates/index.js';
import { KeyedLock } from '../util/keyed-lock.js';
import { run } from '../util/exec.js';
import { moveIds } from './clone.js';
import type { AttachOptions, AttachReport } from './apps.js';
import { ContainerContext, type HostServices } from './context.js';
import { checkStopTimeout, Lifecycle, type CreateOptions } from './lifecycle.js';
import { applyChange, parseChange } from './limits.js';
import { ContainerFiles } from './files.js';
import { consolePlan, followLog, readLog } from './logs.js';
import { enterPlan, execPlan, listProcesses, type ContainerProcess, type ExecRequest } from './processes.js';
import { Reconciler } from './reconcile.js';
import { UsageMonitor, type ContainerStats, type UsageReading } from './usage.js';
import { listBrief, listViews, viewOf, type BriefView, type ContainerView, type ListBulk } from './views.js';
import { Snapshots, type SnapshotView } from './snapshots.js';
import type { SnapshotSchedule } from '../state/index.js';

export type { HostServices } from './context.js';

/** What a container is made of, its own files aside (Containers.settings). */
export interface ContainerSettings {
  name: string;
  hostname: string;
  privileged: boolean;
  autostart: boolean;
  tenant: string | null;
  template: string;
  limits: Record<string, string | number>;
  networks: string[];
  netIn: string | null;
  netOut: string | null;
  /** Published ports as `strata port` takes them (8080:80/tcp). */
  ports: string[];
  /** The first network's address (without prefix) and MAC; null: none, or new ones wanted. */
  address: { ip: string; mac: string } | null;
  /** Attached application templates, bottom first. */
  apps: Array<{ template: string; version: number; position: number; applied: Record<string, unknown> }>;
}

function createOptionsOf(s: ContainerSettings): CreateOptions {
  return {
    name: s.name, template: s.template, hostname: s.hostname, privileged: s.privileged, autostart: s.autostart, limits: s.limits, tenant: s.tenant,
    ...(s.networks.length ? { nets: s.networks } : { noNet: true }),
    ...(s.netIn ? { netIn: s.netIn } : {}), ...(s.netOut ? { netOut: s.netOut } : {}),
    ...(s.ports.length ? { ports: s.ports } : {}),
    ...(s.address ? { ip: s.address.ip, mac: s.address.mac } : {}),
  };
}
export type { CreateOptions } from './lifecycle.js';
export type { ExecRequest } from './processes.js';
export type { ContainerStats, UsageReading } from './usage.js';
export type { ContainerView } from './views.js';

export class Containers {
  private readonly lock = new KeyedLock();
  readonly storage: Storage;
  readonly runc: OciRuntime;
  private readonly ctx: ContainerContext;
  private readonly usage: UsageMonitor;
  private readonly life: Lifecycle;
  private readonly snaps: Snapshots;
  private readonly reconciler: Reconciler;

  constructor(paths: Paths, store: Store, templates: Templates, runc: OciRuntime, host: HostServices) {
    this.ctx = new ContainerContext(paths, store, templates, runc, host);
    this.storage = this.ctx.storage;
    this.runc = runc;
    this.usage = new UsageMonitor(this.ctx);
    this.life = new Lifecycle(this.ctx, this.usage);
    this.snaps = new Snapshots(this.ctx);
    this.reconciler = new Reconciler(this.ctx, this.life, this.lock);
  }

  // Views

  view(c: ContainerRecord, bulk?: ListBulk): ContainerView {
    return viewOf(this.ctx, c, bulk);
  }

  exists(name: string): boolean {
    return this.ctx.store.getContainer(name) !== undefined;
  }

  inspect(name: string): ContainerView {
    return this.view(this.ctx.record(name));
  }

  /** What the `strata list` table shows, straight from the records: cheap for thousands. */
  listBrief(): BriefView[] {
    return listBrief(this.ctx);
  }

  list(): ContainerView[] {
    return listViews(this.ctx);
  }

  // Lifecycle

  /** Refuses a create request that cannot succeed (name, template, limits), before anything starts. */
  checkCreate(opts: CreateOptions): void {
    this.life.planCreate(opts);
  }

  create(opts: CreateOptions, signal?: AbortSignal): Promise<ContainerView> {
    const plan = this.life.planCreate(opts);
    return this.lock.run(plan.name, async () => this.view(await this.life.create(plan, signal)));
  }

  /**
   * Creates several containers one after the other (a bulk create). All are checked first, so a
   * bad name or template makes nothing; then it stops at the first failure (or cancel), keeping
   * the containers already made, and its error names which were made, which failed and which not.
   */
  async createMany(all: CreateOptions[], progress: (line: string) => void, signal?: AbortSignal): Promise<{ created: string[] }> {
    const plans = all.map((o) => this.life.planCreate(o));
    const names = plans.map((p) => p.name);
    const twice = names.find((n, i) => names.indexOf(n) !== i);
    if (twice) throw new InvalidArgument(`container name ${twice} is given twice: give each name once`);
    const taken = names.filter((n) => this.ctx.store.getContainer(n));
    if (taken.length) throw new AlreadyExists(`${taken.length === 1 ? 'container' : 'containers'} ${taken.join(', ')} already ${taken.length === 1 ? 'exists' : 'exist'}: nothing was made; pick other names or destroy ${taken.length === 1 ? 'it' : 'them'} first`);
    const created: string[] = [];
    progress(`containers: 0 of ${plans.length}`);
    for (const [i, plan] of plans.entries()) {
      try {
        signal?.throwIfAborted();
        await this.lock.run(plan.name, () => this.life.create(plan, signal));
      } catch (err) {
        const e = asStrataError(err);
        const left = names.slice(i + 1);
        const kept = created.length ? `kept the ${created.length} made (${created.join(', ')})` : 'none was made';
        throw errorFromWire(e.code, `creating ${plan.name} (${i + 1} of ${plans.length}) failed: ${e.message}; ${kept}${left.length ? `; not made: ${left.join(', ')}` : ''}`
          + (created.length ? ': destroy the kept ones, or create the rest once the cause is fixed' : ''));
      }
      created.push(plan.name);
      progress(`containers: ${created.length} of ${plans.length}`);
    }
    return { created };
  }

  start(name: string): Promise<ContainerView> {
    return this.lock.run(name, async () => {
      await this.life.start(name);
      return this.inspect(name);
    });
  }

  stop(name: string, timeoutSeconds = 10): Promise<ContainerView> {
    checkStopTimeout(timeoutSeconds);
    return this.lock.run(name, async () => {
      await this.life.stop(name, timeoutSeconds);
      return this.inspect(name);
    });
  }

  restart(name: string, timeoutSeconds = 10): Promise<ContainerView> {
    return this.lock.run(name, async () => {
      await this.life.restart(name, timeoutSeconds);
      return this.inspect(name);
    });
  }

  /** What a container is made of, as a clone or a backup carries it (its own files aside). */
  settings(name: string): ContainerSettings {
    const c = this.ctx.record(name);
    const net = this.ctx.host.networks;
    const rates = net.bandwidth(name);
    const first = net.adapters(name)[0];
    return {
      name, hostname: c.hostname, privileged: c.privileged, autostart: c.autostart, tenant: c.tenant ?? null, template: c.template,
      limits: Object.fromEntries(Object.entries(c.limits).filter((e): e is [string, string | number] => typeof e[1] === 'number' || typeof e[1] === 'string')),
      networks: [...new Set(net.adapters(name).map((a) => a.network))], netIn: rates.netIn, netOut: rates.netOut,
      ports: net.listPorts(name).map((p) => p.spec),
      address: first ? { ip: first.address.split('/')[0], mac: first.mac } : null,
      apps: this.ctx.store.containerApps(name).map((a) => ({ template: a.template, version: a.version, position: a.position, applied: a.applied })),
    };
  }

  /** A new container from `src`'s template, limits, networks, application templates and own files (see Lifecycle.clone). */
  clone(src: string, dst: string): Promise<ContainerView> {
    const plan = this.life.planCreate({ ...createOptionsOf({ ...this.settings(src), address: null }), name: dst, hostname: undefined, autostart: undefined, ports: undefined });
    return this.lock.run(src, () => this.lock.run(plan.name, async () => this.view(await this.life.clone(src, plan))));
  }

  /**
   * Copies a container's own files into `dir` (absent; a running container is frozen meanwhile),
   * with the ids as the container sees them, and says how long it was frozen.
   */
  copyOwnFiles(name: string, dir: string): Promise<{ frozenMs: number | null }> {
    return this.lock.run(name, async () => {
      const c = this.ctx.record(name);
      if (c.scratch) throw new FailedPrecondition(`container ${name} is a capture's throw-away container: it cannot be backed up`);
      const running = c.state === 'running';
      const ms = await this.ctx.frozen(name, running, async () => {
        const t0 = performance.now();
        await run(['cp', '-a', '--reflink=auto', this.storage.layout(name).privateArea, dir], { context: `copying the files of ${name}` });
        return performance.now() - t0;
      });
      const map = this.ctx.idMapOf(c);
      if (map) await moveIds(dir, map, { hostBase: 0, size: map.size });
      return { frozenMs: running ? ms : null };
    });
  }

  /**
   * A new container from `settings` (a backup's) whose own files `fill` puts in place, ids as the
   * container sees them; `apps` must be the templates those files were made over. Nothing is left
   * when it fails.
   */
  restore(settings: ContainerSettings, fill: (area: string) => Promise<void>, event: string): Promise<ContainerView> {
    const plan = this.life.planCreate(createOptionsOf(settings));
    const apps = settings.apps.map((a) => ({ ...a, live: false, attachedAt: new Date().toISOString() }));
    return this.lock.run(plan.name, async () => this.view(await this.life.createFilled(plan, apps, { hostBase: 0, size: 0 }, ['container-restored', event], fill)));
  }

  /** Runs `work` with the container frozen (`runc pause`) when `running`, under its lock; thawed after, whatever happens. */
  frozen<T>(name: string, running: boolean, work: () => Promise<T>): Promise<T> {
    return this.lock.run(name, () => this.ctx.frozen(name, running, work));
  }

  /** Gives a stopped container another name (see Lifecycle.rename). */
  rename(from: string, to: string): Promise<ContainerView> {
    return this.lock.run(from, () => this.lock.run(to, async () => {
      await this.life.rename(from, to);
      return this.inspect(to);
    }));
  }

  // Snapshots

  snapshots(name: string): SnapshotView[] {
    return this.snaps.list(name);
  }

  /** Takes a snapshot of the container's own files; a running one is frozen for the instant it takes. */
  snapshot(name: string, snapshot?: string): Promise<SnapshotView> {
    return this.lock.run(name, () => this.snaps.create(name, snapshot));
  }

  restoreSnapshot(name: string, snapshot: string): Promise<SnapshotView> {
    return this.lock.run(name, () => this.snaps.restore(name, snapshot));
  }

  removeSnapshot(name: string, snapshot: string): Promise<void> {
    return this.lock.run(name, () => this.snaps.remove(name, snapshot));
  }

  snapshotSchedule(name: string): SnapshotSchedule | null {
    return this.snaps.schedule(name);
  }

  setSnapshotSchedule(name: string, everySeconds: number, keep: number): Promise<SnapshotSchedule> {
    return this.lock.run(name, async () => this.snaps.setSchedule(name, everySeconds, keep));
  }

  removeSnapshotSchedule(name: string): Promise<void> {
    return this.lock.run(name, async () => this.snaps.removeSchedule(name));
  }

  /** Takes the scheduled snapshots that are due (periodic); a failure is an event of its container, not a stop. */
  async takeScheduledSnapshots(now = Date.now()): Promise<void> {
    for (const s of this.snaps.due(now)) {
      if (!this.ctx.store.getContainer(s.container)) continue;
      await this.lock.run(s.container, () => this.snaps.runScheduled(s, new Date(now))).catch((err: Error) => {
        this.ctx.store.addEvent('snapshot-failed', s.container, `the scheduled snapshot failed: ${err.message}`);
      });
    }
  }

  /** Stops every running container of a tenant (it is being suspended); their names. */
  async stopTenant(tenant: string): Promise<string[]> {
    const running = this.ctx.store.listContainers().filter((c) => c.tenant === tenant && c.state === 'running').map((c) => c.name);
    for (const name of running) await this.stop(name);
    return running;
  }

  destroy(name: string, force = false): Promise<void> {
    return this.lock.run(name, () => this.life.destroy(name, force));
  }

  /** The monitor reaped a container's init: one recorded running with it stopped by itself (or rebooted). Idempotent. */
  async initDied(death: InitDeath): Promise<void> {
    const name = await this.life.deathIsNews(death);
    if (name) await this.lock.run(name, () => this.life.initDied(name, death));
  }

  // Limits and usage

  /** Changes limits; on a running container live, without a restart. All or nothing. */
  set(name: string, given: Record<string, string | number>): Promise<ContainerView> {
    const change = parseChange(given, this.ctx.host.capacity);
    return this.lock.run(name, async () => {
      await applyChange(this.ctx, name, change);
      return this.inspect(name);
    });
  }

  /** Usage now plus the sums of earlier runs; CPU % over the time since the previous sample. */
  stats(name: string): Promise<ContainerStats> {
    return this.usage.stats(name);
  }

  /** The stats of every container `shown` lets through, gathered at once (cheap for a thousand). */
  allStats(shown: (c: ContainerRecord) => boolean): Promise<ContainerStats[]> {
    return this.usage.statsOf(this.ctx.store.listContainers().filter(shown));
  }

  /** Periodic: records OOM kills as events and keeps CPU samples fresh. */
  sample(): Promise<void> {
    return this.usage.sample();
  }

  /** Sets a tenant's plan ceilings on its cgroup now (after a plan change; starts set them too). */
  async applyTenantCeilings(tenant: string): Promise<void> {
    if (this.ctx.store.listContainers().some((c) => c.tenant === tenant && c.state === 'running')) await this.ctx.applyTenantCeilings(tenant);
  }

  /** Every container's usage for the meter: counters cumulative over all runs (disk only when asked). */
  usageReadings(opts: { disk: boolean }): Promise<UsageReading[]> {
    return this.usage.readings(opts);
  }

  poolView(): Promise<PoolView> {
    return this.ctx.host.pool.view((volume) => this.storage.layout(volume).privateDir);
  }

  // Application templates

  /** Attaches an application template: a layer when stopped, copied in at once when running. */
  attach(name: string, template: string, opts: AttachOptions, progress: (m: string) => void = () => undefined): Promise<AttachReport> {
    return this.lock.run(name, async () => {
      const c = this.ctx.record(name);
      const running = await this.ctx.isRunning(c);
      const report = await this.ctx.apps.attach(c, template, running, opts, progress);
      if (running) {
        progress('recomputing derived files (ld.so.cache …)');
        const now = this.ctx.record(name);
        await this.life.recomputeDerived(now, this.ctx.mergedRoot(now));
      }
      return report;
    });
  }

  detach(name: string, template: string): Promise<{ conflicts: string[] }> {
    return this.lock.run(name, async () => {
      const c = await this.stopped(name, `detach ${template}`);
      return this.ctx.apps.detach(c, template);
    });
  }

  upgrade(name: string, template: string, force = false): Promise<{ from: number; to: number; conflicts: string[]; remaps: string[] }> {
    return this.lock.run(name, async () => {
      const c = await this.stopped(name, `upgrade ${template}`);
      return this.ctx.apps.upgrade(c, template, force);
    });
  }

  /** The record of a container that must not run for `what`. */
  private async stopped(name: string, what: string): Promise<ContainerRecord> {
    const c = this.ctx.record(name);
    if (await this.ctx.isRunning(c)) throw new FailedPrecondition(`container ${name} is running: stop it first ('strata stop ${name}'), then ${what}`);
    return c;
  }

  // Processes and the console

  /** Host processes of the containers (all, or one), with the pid each has inside. */
  processes(name?: string): Promise<ContainerProcess[]> {
    return listProcesses(this.ctx, name);
  }

  /** Checks the request and returns the runc argv that runs it; the caller runs it with its own terminal. */
  execPlan(name: string, req: ExecRequest): Promise<string[]> {
    return execPlan(this.ctx, name, req);
  }

  /** A login shell of root with a terminal. */
  enterPlan(name: string): Promise<string[]> {
    return enterPlan(this.ctx, name);
  }

  /** Where a client attaches to a running container's console (the monitor holds it; root only). */
  consolePlan(name: string): Promise<{ monitorSocket: string; consoleLog: string }> {
    return consolePlan(this.ctx, name);
  }

  logs(name: string): Promise<string> {
    return readLog(this.ctx, name);
  }

  /** The console log, then what the console prints, until `signal` (the client going away). */
  followLogs(name: string, signal: AbortSignal): Readable {
    return followLog(this.ctx, name, signal);
  }

  /** Files copied in and out of a running container (strata cp), under its lock. */
  files(): ContainerFiles { return new ContainerFiles(this.ctx, this.lock); }

  // Reconciliation

  /** Makes the records agree with what really runs; returns one line per difference found. */
  reconcile(deaths: InitDeath[] = []): Promise<string[]> {
    return this.reconciler.reconcile(deaths);
  }

  /** Starts the containers marked autostart that are not running. */
  autostart(): Promise<string[]> {
    return this.reconciler.autostart();
  }

  /** Starts the containers that rebooted themselves while the daemon was down (after reconcile, once networks are up). */
  finishReboots(): Promise<void> {
    return this.reconciler.finishReboots();
  }

  /** After an lxcfs restart: its files are bound again in every running container. */
  rebindLxcfs(): Promise<void> {
    return this.reconciler.rebindLxcfs();
  }
}
