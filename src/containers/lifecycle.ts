/**
 * The life of a container: create = record → addresses → directory → volume → private area →
 * identity files → application templates; start = volume → root mounts → spec → runc create →
 * derived files → network → runc start; stop and destroy undo them. Each multi-step operation is a
 * Reverter sequence. Every method runs with the container's lock held by its caller (index.ts),
 * except planCreate and deathIsNews, which only check.
 */
import { chownSync, mkdirSync, promises as fsp, writeFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { dirname, join } from 'node:path';
import { AlreadyExists, Conflict, FailedPrecondition, InvalidArgument, NotSupported } from '../errors/index.js';
import { containerNetFiles, hostNameservers } from '../network/index.js';
import { parseLimits, toOciResources, type Limits } from '../resources/index.js';
import { buildSpec, isAlive, waitForExit, type InitDeath } from '../runtime/index.js';
import type { Reservation } from '../access/index.js';
import type { ContainerAppRecord, ContainerRecord, LastExit } from '../state/index.js';
import type { IdMap } from '../model/index.js';
import { runningRoot, type ContainerLayout } from '../storage/index.js';
import { lstatInside } from '../templates/app/index.js';
import { regenerationScript } from '../templates/merge/index.js';
import { run } from '../util/exec.js';
import { validateName } from '../util/names.js';
import { stopwatch } from '../util/profile.js';
import { Reverter } from '../util/reverter.js';
import { removeCgroupParent } from './cgroups.js';
import type { ContainerContext } from './context.js';
import { stripUnset } from './limits.js';
import type { UsageMonitor } from './usage.js';
import { moveIds } from './clone.js';

export interface CreateOptions {
  name: string;
  template: string;
  hostname?: string;
  privileged?: boolean;
  autostart?: boolean;
  /** Limits as given on the command line (`--cpus 1.5`, `--memory 512M`…), keyed in camelCase. */
  limits?: Record<string, string | number>;
  /** Networks to join (default: `default`), a static address on the first, or none at all. */
  nets?: string[];
  ip?: string;
  /** The first network's MAC (default: made from its address). */
  mac?: string;
  noNet?: boolean;
  ports?: string[];
  netIn?: string;
  netOut?: string;
  /** Application templates to attach, bottom first. */
  apps?: string[];
  /** Attach --app templates even when their bases do not match. */
  force?: boolean;
  /** Internal: a capture's throw-away container, run with `init` instead of the template's. */
  scratch?: { init: string[] };
  /** The tenant that owns it (its plan is checked, its cgroup is below the tenant's); none: the host's own. */
  tenant?: string | null;
}

/** A create request checked before the lock: the name, hostname, application templates and limits it resolved to. */
export interface CreatePlan {
  opts: CreateOptions;
  name: string;
  hostname: string;
  apps: string[];
  limits: Limits;
}

const HOSTNAME = /^(?=.{1,253}$)[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;

/** Refuses a stop timeout that is not a number of seconds. */
export function checkStopTimeout(timeoutSeconds: number): void {
  if (!Number.isFinite(timeoutSeconds) || timeoutSeconds < 0) throw new InvalidArgument(`invalid stop timeout ${timeoutSeconds}: use a number of seconds, 0 or more`);
}

export class Lifecycle {
  /** How recently reaped inits ended (pid → death), for a minute: a stop records it. */
  private readonly deaths = new Map<number, InitDeath>();
  /** Containers that rebooted themselves while no daemon watched: started by finishReboots. */
  private readonly reboots: string[] = [];

  constructor(private readonly ctx: ContainerContext, private readonly usage: UsageMonitor) {}

  /** Checks a create request before anything is locked or made. */
  planCreate(opts: CreateOptions): CreatePlan {
    const { templates, host } = this.ctx;
    const name = validateName('container', opts.name);
    const hostname = opts.hostname ?? name;
    if (!HOSTNAME.test(hostname)) throw new InvalidArgument(`invalid hostname ${JSON.stringify(hostname)}: use DNS labels of a-z, 0-9 and '-' separated by dots`);
    if (typeof opts.template !== 'string' || !opts.template) throw new InvalidArgument('a template is required: add --template NAME (see \'strata template list\')');
    templates.getOs(opts.template);
    const apps = opts.apps ?? [];
    if (!Array.isArray(apps) || apps.some((a) => typeof a !== 'string')) throw new InvalidArgument('--app takes template names: see \'strata template list\'');
    if (new Set(apps).size !== apps.length) throw new InvalidArgument('an application template is given twice with --app: give each once');
    for (const a of apps) templates.apps.get(a);
    const limits = stripUnset(parseLimits(opts.limits ?? {}, host.capacity));
    return { opts, name, hostname, apps, limits };
  }

  /** Makes the container; returns its record. All or nothing (also when `signal` aborts). */
  async create({ opts, name, hostname, apps, limits }: CreatePlan, signal?: AbortSignal): Promise<ContainerRecord> {
    const { store, storage, host } = this.ctx;
    const sw = stopwatch(`create ${name}`);
    if (store.getContainer(name)) throw new AlreadyExists(`container ${name} already exists: pick another name or destroy it first`);
    const layers = this.ctx.osLayers(opts.template);
    const layout = storage.layout(name);
    const r = new Reverter();
    // Ports counted for the tenant until they are recorded (or given up).
    let reservation: Reservation | undefined;
    try {
      if (limits.disk) await host.pool.checkSize(limits.disk);
      // The plan is checked and the container recorded in one turn of the event loop: parallel creates cannot overshoot.
      if (opts.tenant) {
        if (!host.quota) throw new FailedPrecondition('this daemon has no tenants');
        reservation = host.quota.checkCreate(opts.tenant, limits, opts.ports?.length ?? 0);
      }
      const record = store.insertContainer({
        name, template: opts.template, hostname, privileged: !!opts.privileged, autostart: !!opts.autostart,
        state: 'created', pid: null, createdAt: new Date().toISOString(), startedAt: null, stoppedAt: null,
        limits: limits as Record<string, unknown>, volume: !!limits.disk, volumeDriver: limits.disk ? host.pool.defaultDriver : null, scratch: !!opts.scratch,
        tenant: opts.tenant ?? null,
      });
      r.add(() => store.deleteContainer(name), `the record of ${name}`);
      if (opts.scratch) {
        this.ctx.scratchInit.set(name, opts.scratch.init);
        r.add(() => this.ctx.scratchInit.delete(name));
      }
      sw.lap('record');
      await host.networks.plan(name, { nets: opts.nets, ip: opts.ip, mac: opts.mac, noNet: opts.noNet, ports: opts.ports, netIn: opts.netIn, netOut: opts.netOut });
      r.add(() => host.networks.release(name), `the addresses of ${name}`);
      sw.lap('network-plan');
      signal?.throwIfAborted();
      const idMap = this.ctx.idMapOf(record);
      // Its directory is new, or the create stops here: only then is removing it an undo.
      await makeDirectory(layout.dir, name);
      r.add(() => fsp.rm(layout.dir, { recursive: true, force: true }), `the files of ${name}`);
      await storage.enclose(layout, idMap);
      if (limits.disk) {
        const volume = this.ctx.volumeOf(record);
        await host.pool.create(volume, limits.disk);
        r.add(() => host.pool.remove(volume), `the disk of ${name}`);
        await host.pool.activate(volume);
        r.add(() => host.pool.deactivate(volume), `the mount of ${name}'s disk`);
      }
      await storage.prepare(layout, idMap, layers);
      const files = containerNetFiles(hostname, host.networks.adapters(name), hostNameservers());
      await writeIdentity(layout, hostname, idMap?.hostBase ?? 0, files);
      for (const app of apps) {
        signal?.throwIfAborted();
        await this.ctx.apps.attach(record, app, false, { force: opts.force }, () => undefined);
      }
      signal?.throwIfAborted();
      store.addEvent('container-created', name, `created from template ${opts.template}`);
      sw.lap('files');
      sw.done();
      r.success();
      return record;
    } finally {
      await r.fail();
      reservation?.release();
    }
  }

  /**
   * Makes `plan.name` from `src`: its template, limits, networks (new addresses and MACs; published
   * ports stay with the source, whose host ports they are), application templates at their
   * versions, and its own files, moved into the new container's id range. A running source is
   * frozen while its files are copied. All or nothing.
   */
  async clone(src: string, plan: CreatePlan): Promise<ContainerRecord> {
    const { ctx } = this;
    const c = ctx.record(src);
    if (c.scratch) throw new FailedPrecondition(`container ${src} is a capture's throw-away container: it cannot be cloned`);
    const apps = ctx.store.containerApps(src);
    return this.createFilled(plan, apps, ctx.idMapOf(c) ?? null, ['container-cloned', `cloned from ${src}`], (area) =>
      ctx.frozen(src, c.state === 'running', async () => {
        // Instant where both disks are of a snapshotting driver (btrfs): the clone's disk is a snapshot of the source's.
        const clone = ctx.record(plan.name);
        if (c.volume && clone.volume && (await ctx.host.pool.cloneFrom(ctx.volumeOf(clone), ctx.volumeOf(c)))) return;
        await run(['cp', '-a', '--reflink=auto', ctx.storage.layout(src).privateArea, area], { context: `copying the files of ${src}` });
      }));
  }

  /**
   * A new container whose own files `fill` puts in place (the private area's path is given, absent)
   * instead of starting empty: a clone, a restore. `apps` are attached as they are (their files are
   * in what `fill` brings); ids owned in `from` (a range based at 0: the container's own view) move
   * into the new container's. Destroyed again when a step fails.
   */
  async createFilled(plan: CreatePlan, apps: Array<Omit<ContainerAppRecord, 'container'>>, from: IdMap | null, event: [kind: string, message: string], fill: (area: string) => Promise<void>): Promise<ContainerRecord> {
    const { ctx } = this;
    const { store, storage, host } = ctx;
    const record = await this.create(plan);
    try {
      for (const a of apps) store.insertContainerApp({ ...a, container: plan.name });
      const layout = storage.layout(plan.name);
      await fsp.rm(layout.privateArea, { recursive: true, force: true });
      await fill(layout.privateArea);
      const to = ctx.idMapOf(record);
      // A range at 0 is the container's own view (a backup's): as wide as the new range.
      if (from && to && from.hostBase !== to.hostBase) await moveIds(layout.privateArea, from.hostBase === 0 ? { hostBase: 0, size: to.size } : from, to);
      await writeIdentity(layout, plan.hostname, to?.hostBase ?? 0, containerNetFiles(plan.hostname, host.networks.adapters(plan.name), hostNameservers()));
      store.addEvent(event[0], plan.name, event[1]);
      return ctx.record(plan.name);
    } catch (err) {
      await this.destroy(plan.name, true).catch(() => undefined);
      throw err;
    }
  }

  /**
   * Gives a stopped container another name: its records (see Store.renameContainer), its directory,
   * its disk and snapshots; a hostname that was its name follows. Back as it was when a step fails.
   */
  async rename(from: string, to: string): Promise<void> {
    const { ctx } = this;
    const { store, storage, host, runc } = ctx;
    const c = ctx.record(from);
    validateName('container', to);
    if (store.getContainer(to)) throw new AlreadyExists(`container ${to} already exists: pick another name`);
    if (c.scratch) throw new FailedPrecondition(`container ${from} is a capture's throw-away container: it cannot be renamed`);
    if (c.state === 'running') throw new FailedPrecondition(`container ${from} is running: stop it first to rename it`);
    // A stopped container has no runtime state, unless a crash left some: runc knows it by name.
    if (await runc.state(ctx.id(from))) await runc.delete(ctx.id(from), true);
    const fromDir = storage.layout(from).dir;
    const toDir = storage.layout(to).dir;
    if (await fsp.stat(toDir).catch(() => null)) throw new Conflict(`something is already at ${toDir}, where the files of container ${to} go: move it away and try again`);
    const r = new Reverter();
    try {
      await fsp.rename(fromDir, toDir);
      r.add(() => fsp.rename(toDir, fromDir), `the directory of ${from}`);
      if (c.volume) {
        const { driver } = ctx.volumeOf(c);
        await host.pool.rename({ driver, volume: from }, to);
        r.add(() => host.pool.rename({ driver, volume: to }, from), `the disk of ${from}`);
      }
      store.renameContainer(from, to, (network) => host.networks.hostIfname(to, network));
      r.add(() => store.renameContainer(to, from, (network) => host.networks.hostIfname(from, network)), `the records of ${from}`);
      if (c.hostname === from) {
        const record = ctx.record(to);
        await writeIdentity(storage.layout(to), to, ctx.idMapOf(record)?.hostBase ?? 0, containerNetFiles(to, host.networks.adapters(to), hostNameservers()));
      }
      store.addEvent('container-renamed', to, `renamed from ${from}`);
      r.success();
    } finally {
      await r.fail();
    }
  }

  async start(name: string): Promise<void> {
    const { runc } = this.ctx;
    const c = this.ctx.record(name);
    // Only a container recorded running can be (the records are reconciled at daemon start),
    // so the common path spares a runc call.
    if (c.state === 'running') {
      const state = await runc.state(this.ctx.id(name));
      if (state?.status === 'running') throw new FailedPrecondition(`container ${name} is already running: use 'strata restart ${name}' to restart it`);
      if (state) await runc.delete(this.ctx.id(name), true);
    }
    await this.startRecord(c);
  }

  private async startRecord(c: ContainerRecord): Promise<void> {
    const { ctx } = this;
    const { host, storage, runc, templates } = ctx;
    const sw = stopwatch(`start ${c.name}`);
    const template = templates.get(c.template);
    if (c.tenant) {
      host.quota?.checkActive(c.tenant);
      await ctx.applyTenantCeilings(c.tenant);
    }
    // The private area must be there (a disk-limited one is a volume) before copies leave it.
    if (c.volume) await host.pool.activate(ctx.volumeOf(c));
    await ctx.apps.restoreLive(c);
    let layers = ctx.templateLayers(c);
    const layout = storage.layout(c.name);
    const idMap = ctx.idMapOf(c);
    if (idMap && host.rootUnreachable) throw new FailedPrecondition(host.rootUnreachable);
    if (idMap && !host.idmapped) {
      if (layers.hostUsr) throw new NotSupported(`this kernel cannot idmap mounts, which a host-linked template needs for ${c.name}: recreate it with --privileged, or from another template`);
      layers = { rootfs: await templates.shiftedRootfs(c.template, idMap.hostBase), preShifted: true };
    }
    const mounts = storage.mounts(layout, idMap, layers);
    const r = new Reverter();
    try {
      await storage.deactivate(mounts, layout);
      sw.lap('clean');
      // Each step cleans up after itself when it fails half-way; its undo is registered once it is
      // done. The root is mounted (by the resident helper) while the spec is written.
      const mounting = storage.activate(mounts);
      mounting.catch(() => undefined);
      r.add(async () => { if (await mounting.then(() => true, () => false)) await storage.deactivate(mounts, layout); }, `the root mounts of ${c.name}`);
      const env = Array.isArray(template.meta.env) ? (template.meta.env as string[]) : undefined;
      if (host.lxcfs) await host.lxcfs.ensure();
      const spec = buildSpec({
        hostname: c.hostname, rootfs: layout.rootfs, args: ctx.scratchInit.get(c.name) ?? template.init, env, idMap,
        cgroupsPath: ctx.cgroupPath(c.name),
        resources: toOciResources(c.limits as Limits, await ctx.ioDevice(c), host.cgroups.version, { swapAccounting: host.capacity.swapAccounting }),
        extraMounts: host.lxcfs?.specMounts() ?? [],
        annotations: { 'org.strata.root': ctx.paths.root, 'org.strata.container': c.name },
      });
      await runc.writeBundle(layout.bundle, spec);
      sw.lap('spec');
      await mounting;
      sw.lap('mount');
      const pid = await runc.create(ctx.id(c.name), layout.bundle, layout.consoleLog);
      r.add(() => runc.delete(ctx.id(c.name), true), `the runtime state of ${c.name}`);
      sw.lap('runc-create');
      // Its mount namespace has its own copy of the root now: the host's goes (storage/index.ts),
      // in the helper while the daemon goes on.
      const handover = storage.leaveToContainer(mounts);
      handover.catch(() => undefined);
      // Its own cgroup subtree is the container root's (systemd makes its slices there); limits stay above.
      if (idMap) await host.cgroups.delegate(ctx.cgroupPath(c.name), idMap.hostBase);
      sw.lap('delegate');
      // Created: root, mounts and namespaces are the container's, its init has not run yet.
      await this.recomputeDerived(c, runningRoot(pid));
      // Created, not started: the network is up before the init runs.
      await host.networks.attach(c.name, pid, c.hostname);
      r.add(() => host.networks.detach(c.name), `the network adapters of ${c.name}`);
      sw.lap('network');
      await handover;
      sw.lap('handover');
      await runc.start(ctx.id(c.name), pid);
      sw.lap('runc-start');
      ctx.store.updateContainerState(c.name, { state: 'running', pid, startedAt: new Date().toISOString(), stoppedAt: null });
      this.usage.started(c.name);
      ctx.store.addEvent('container-started', c.name, `started, init pid ${pid}`);
      sw.lap('record');
      sw.done();
      r.success();
    } finally {
      await r.fail();
    }
  }

  async stop(name: string, timeoutSeconds: number): Promise<void> {
    const c = this.ctx.record(name);
    const state = await this.ctx.runc.state(this.ctx.id(name));
    if (state?.status !== 'running') {
      if (c.state === 'running') await this.cleanupStopped(c, 'found stopped');
      throw new FailedPrecondition(`container ${name} is not running`);
    }
    await this.stopRecord(c, state.pid, timeoutSeconds);
  }

  private async stopRecord(c: ContainerRecord, pid: number, timeoutSeconds: number): Promise<void> {
    const { runc } = this.ctx;
    const template = this.ctx.templates.get(c.template);
    await runc.kill(this.ctx.id(c.name), template.stopSignal);
    if (!(await waitForExit(pid, timeoutSeconds * 1000))) {
      await runc.kill(this.ctx.id(c.name), 'SIGKILL');
      await waitForExit(pid, 10_000);
    }
    // The monitor's word on how it ended usually arrives with the exit; not waited for.
    await this.cleanupStopped(c, 'stopped', this.deaths.get(pid) ?? null, false);
  }

  async restart(name: string, timeoutSeconds: number): Promise<void> {
    const c = this.ctx.record(name);
    const state = await this.ctx.runc.state(this.ctx.id(name));
    if (state?.status === 'running') await this.stopRecord(c, state.pid, timeoutSeconds);
    else if (state) await this.ctx.runc.delete(this.ctx.id(name), true);
    await this.startRecord(this.ctx.record(name));
  }

  /**
   * Notes that the monitor reaped an init (deaths come live and from its file, so more than once).
   * Returns the container recorded running with that pid, whose lock the caller takes for
   * `initDied`; null when the death is old news (a pid alive again belongs to another process).
   */
  async deathIsNews(death: InitDeath): Promise<string | null> {
    this.deaths.set(death.pid, death);
    setTimeout(() => this.deaths.delete(death.pid), 60_000).unref();
    const recorded = this.ctx.store.runningWithPid(death.pid);
    if (!recorded || (await isAlive(death.pid))) return null;
    return recorded.name;
  }

  /**
   * The container's init ended by itself (a crash, poweroff, a command that ended): it is cleaned
   * up as on a stop and says how it ended. An init ended by SIGHUP asked for a reboot (reboot(2)
   * in a pid namespace): the container starts again, like a machine.
   */
  async initDied(name: string, death: InitDeath): Promise<void> {
    const c = this.ctx.store.getContainer(name);
    if (!c || c.state !== 'running' || c.pid !== death.pid) return; // a stop or restart got there first
    await this.endedByItself(c, death);
  }

  /** Cleans up a container whose init ended by itself; returns how it ended, in words. */
  async endedByItself(c: ContainerRecord, death: InitDeath | null, restartOnReboot = true): Promise<string> {
    const signal = death?.signal != null ? signalName(death.signal) : null;
    const how = !death ? 'its init is gone' : signal ? `its init was killed by ${signal}` : `its init exited with status ${death.status}`;
    const reboot = death?.signal === osConstants.signals.SIGHUP;
    await this.cleanupStopped(c, reboot ? `rebooted itself (${how})` : `stopped by itself: ${how}`, death, true);
    if (!reboot) return how;
    if (!restartOnReboot) {
      this.reboots.push(c.name);
      return `${how} (a reboot: it starts again)`;
    }
    try {
      await this.startRecord(this.ctx.record(c.name));
    } catch (err) {
      this.ctx.store.addEvent('container-start-failed', c.name, `after a reboot from inside: ${(err as Error).message}`);
    }
    return how;
  }

  /** The containers that rebooted themselves while the daemon was down, once (reconcile found them). */
  takeReboots(): string[] {
    return this.reboots.splice(0);
  }

  /** After the init is gone: runtime state, mounts and cgroups go; the record says stopped and how it ended. */
  async cleanupStopped(c: ContainerRecord, how: string, death: InitDeath | null = null, byItself = false): Promise<void> {
    const { ctx } = this;
    // The cgroup dies with runc delete: keep what this run used first.
    await this.usage.ended(c.name);
    await ctx.host.networks.detach(c.name, true);
    await ctx.runc.delete(ctx.id(c.name), true);
    const layout = ctx.storage.layout(c.name);
    await ctx.runc.closeConsole(layout.consoleLog);
    await ctx.storage.deactivate(ctx.storage.mounts(layout, ctx.idMapOf(c), ctx.templateLayers(c)), layout);
    await removeCgroupParent(ctx.paths.cgroupParent);
    const at = new Date().toISOString();
    ctx.store.updateContainerState(c.name, { state: 'stopped', pid: null, stoppedAt: at });
    const exit: LastExit = { status: death?.status ?? null, signal: death?.signal != null ? signalName(death.signal) : null, at, byItself };
    ctx.store.setLastExit(c.name, exit);
    ctx.store.addEvent(byItself ? 'container-exited' : 'container-stopped', c.name, how);
  }

  async destroy(name: string, force: boolean): Promise<void> {
    const { ctx } = this;
    const { host, runc, storage, store } = ctx;
    const sw = stopwatch(`destroy ${name}`);
    const c = ctx.record(name);
    // A container recorded running whose init is alive in its own cgroup is known without asking runc.
    const state = (await ctx.knownRunning(c)) ?? (await runc.state(ctx.id(name)));
    sw.lap('state');
    if (state?.status === 'running') {
      if (!force) throw new FailedPrecondition(`container ${name} is running: stop it first, or use 'strata destroy ${name} --force'`);
      // runc state just named the init: SIGKILL it directly (what runc kill would do, one exec less).
      try { process.kill(state.pid, 'SIGKILL'); } catch { /* already gone */ }
      await waitForExit(state.pid, 10_000);
      sw.lap('kill');
    }
    const layout = storage.layout(name);
    // The network and the disk are independent once the init is gone: take both down at once.
    await Promise.all([
      host.networks.release(name, true).then(() => sw.lap('network')),
      (async () => {
        await runc.delete(ctx.id(name), true);
        await runc.closeConsole(layout.consoleLog);
        sw.lap('runc-delete');
        await storage.deactivate(storage.mounts(layout, ctx.idMapOf(c), ctx.templateLayers(c)), layout);
        if (c.volume) await host.pool.deactivate(ctx.volumeOf(c));
        sw.lap('unmount');
        // Snapshots go with it (a driver's are beside the volume, a copy's in the container's directory).
        // Kept backups too: their files are in its directory.
        ctx.backups.removeAll(name);
        for (const s of ctx.snapshots.list(name)) {
          if (s.method === 'volume') await host.pool.removeSnapshot(ctx.volumeOf(c), s.name);
          ctx.snapshots.remove(name, s.name);
        }
        ctx.snapshots.removeSchedule(name);
        await storage.remove(layout);
        if (c.volume) await host.pool.remove(ctx.volumeOf(c));
        sw.lap('remove');
      })(),
    ]);
    store.deleteContainer(name);
    ctx.scratchInit.delete(name);
    await removeCgroupParent(ctx.paths.cgroupParent);
    store.addEvent('container-destroyed', name, 'destroyed');
    sw.lap('record');
    sw.done();
  }

  /**
   * Recomputes the container's derived files (templates/merge/derived.ts) inside it, as its root,
   * when its set of application templates changed since they last were: at a start between
   * create and start, and at a live attach. A failure is reported as an event and the start goes
   * on (a stale cache is not a reason not to boot); the next start tries again.
   */
  async recomputeDerived(c: ContainerRecord, rootfs: string): Promise<void> {
    const { ctx } = this;
    const set = ctx.apps.derivedSet(c);
    if (set === (c.derivedFor ?? '')) return;
    // /bin is a symlink to usr/bin on merged-/usr systems: either place will do.
    const shells = await Promise.all(['bin/sh', 'usr/bin/sh'].map((p) => lstatInside(rootfs, p)));
    if (!shells.some((st) => st !== null && st !== 'unsafe')) {
      ctx.store.setDerivedFor(c.name, set);
      return;
    }
    const argv = ctx.runc.execArgv(ctx.id(c.name), {
      tty: false, user: { uid: 0, gid: 0 }, env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'LANG=C.UTF-8'], cwd: '/',
      args: ['/bin/sh', '-c', regenerationScript()],
    });
    const r = await run(argv, { allowFailure: true, timeoutMs: 120_000 });
    if (r.status === 0) {
      ctx.store.setDerivedFor(c.name, set);
      return;
    }
    const why = (r.stderr.trim().split('\n').pop() ?? '') || `status ${r.status}`;
    ctx.store.addEvent('derived-files-stale', c.name, `derived files (ld.so.cache …) could not be recomputed for its templates: ${why}; tried again at the next start`);
  }
}

/** The container's /etc/hostname, /etc/hosts and /etc/resolv.conf, written into its private area. */
async function writeIdentity(layout: ContainerLayout, hostname: string, owner: number, net: { hosts: string; resolvConf: string }): Promise<void> {
  const etc = join(layout.privateArea, 'etc');
  // A clone's private area has its source's /etc already.
  // Synchronous, as the storage's: small files on a local disk.
  mkdirSync(etc, { recursive: true, mode: 0o755 });
  chownSync(etc, owner, owner);
  const files: Record<string, string> = { hostname: `${hostname}\n`, hosts: net.hosts, 'resolv.conf': net.resolvConf };
  for (const [file, text] of Object.entries(files)) {
    writeFileSync(join(etc, file), text, { mode: 0o644 });
    chownSync(join(etc, file), owner, owner);
  }
}

/** Makes a new container's directory; refuses when anything is there already, which is not this create's to remove. */
async function makeDirectory(dir: string, name: string): Promise<void> {
  mkdirSync(dirname(dir), { recursive: true, mode: 0o700 });
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    throw new Conflict(`something is already at ${dir}, where the files of container ${name} go (left over from an earlier run?): move it away and try again`, { cause: err });
  }
}

/** SIGKILL for 9. */
function signalName(signal: number): string {
  return Object.entries(osConstants.signals).find(([, n]) => n === signal)?.[0] ?? `signal ${signal}`;
}
