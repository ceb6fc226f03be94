/**
 * containers: the orchestration that strings the other modules together.
 * create = record → private area; start = mounts → spec → runc; stop and
 * destroy undo them. Each multi-step operation reads as a Reverter sequence,
 * and every operation on one container is serialized by name.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, NotSupported } from '../errors/index.js';
import type { Paths } from '../config/index.js';
import { buildSpec, isAlive, Runc, waitForExit, type IdMap } from '../runtime/index.js';
import type { ContainerRecord, Store } from '../state/index.js';
import { Storage, type ContainerLayout, type TemplateLayers } from '../storage/index.js';
import type { Templates } from '../templates/index.js';
import { KeyedLock } from '../util/keyed-lock.js';
import { validateName } from '../util/names.js';
import { Reverter } from '../util/reverter.js';
import { idMapFor } from './ids.js';
import { removeCgroupParent } from './cgroups.js';

export interface CreateOptions {
  name: string;
  template: string;
  hostname?: string;
  privileged?: boolean;
  autostart?: boolean;
}

export interface ContainerView {
  name: string;
  state: ContainerRecord['state'];
  pid: number | null;
  template: string;
  hostname: string;
  privileged: boolean;
  autostart: boolean;
  rootfs: string;
  privateArea: string;
  consoleLog: string;
  idMap: IdMap | null;
  createdAt: string;
  startedAt: string | null;
  stoppedAt: string | null;
}

export interface ExecRequest {
  tty?: boolean;
  user?: string;
  env?: string[];
  cwd?: string;
  args: string[];
}

/** Console logs are trimmed to their newest half when they pass this size. */
export const CONSOLE_LOG_CAP = 1 << 20;

const HOSTNAME = /^(?=.{1,253}$)[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;

export class Containers {
  private readonly lock = new KeyedLock();
  readonly storage: Storage;
  readonly runc: Runc;

  constructor(
    private readonly paths: Paths,
    private readonly store: Store,
    private readonly templates: Templates,
    runc: Runc,
    private readonly host: { idmapped: boolean } = { idmapped: true },
  ) {
    this.storage = new Storage(paths.containers, paths.helpers.idmount);
    this.runc = runc;
  }

  // Views

  private record(name: string): ContainerRecord {
    const c = this.store.getContainer(name);
    if (!c) throw new NotFound(`container ${name} does not exist: see 'strata list'`);
    return c;
  }

  private idMapOf(c: ContainerRecord): IdMap | undefined {
    return c.idSlot === null ? undefined : idMapFor(this.paths.root, c.idSlot);
  }

  view(c: ContainerRecord): ContainerView {
    const l = this.storage.layout(c.name);
    return {
      name: c.name, state: c.state, pid: c.pid, template: c.template, hostname: c.hostname,
      privileged: c.privileged, autostart: c.autostart, rootfs: l.rootfs, privateArea: l.privateArea,
      consoleLog: l.consoleLog, idMap: this.idMapOf(c) ?? null,
      createdAt: c.createdAt, startedAt: c.startedAt, stoppedAt: c.stoppedAt,
    };
  }

  inspect(name: string): ContainerView {
    return this.view(this.record(name));
  }

  list(): ContainerView[] {
    return this.store.listContainers().map((c) => this.view(c));
  }

  private templateLayers(template: string): TemplateLayers {
    const t = this.templates.get(template);
    const hostUsr = typeof t.meta.hostUsr === 'string' ? t.meta.hostUsr : undefined;
    return { rootfs: this.templates.rootfsOf(template), hostUsr };
  }

  /** The runc id: the name, since each data root has its own runc state directory. */
  private id(name: string): string {
    return name;
  }

  // Lifecycle

  create(opts: CreateOptions, signal?: AbortSignal): Promise<ContainerView> {
    const name = validateName('container', opts.name);
    const hostname = opts.hostname ?? name;
    if (!HOSTNAME.test(hostname)) throw new InvalidArgument(`invalid hostname ${JSON.stringify(hostname)}: use DNS labels of a-z, 0-9 and '-' separated by dots`);
    if (typeof opts.template !== 'string' || !opts.template) throw new InvalidArgument('a template is required: add --template NAME (see \'strata template list\')');
    this.templates.get(opts.template);
    return this.lock.run(name, async () => {
      if (this.store.getContainer(name)) throw new AlreadyExists(`container ${name} already exists: pick another name or destroy it first`);
      const layers = this.templateLayers(opts.template);
      const layout = this.storage.layout(name);
      const r = new Reverter();
      try {
        const record = this.store.insertContainer({
          name, template: opts.template, hostname, privileged: !!opts.privileged, autostart: !!opts.autostart,
          state: 'created', pid: null, createdAt: new Date().toISOString(), startedAt: null, stoppedAt: null,
        });
        r.add(() => this.store.deleteContainer(name));
        signal?.throwIfAborted();
        const idMap = this.idMapOf(record);
        r.add(() => fsp.rm(layout.dir, { recursive: true, force: true }));
        await this.storage.prepare(layout, idMap, layers);
        await writeIdentity(layout, hostname, idMap?.hostBase ?? 0);
        signal?.throwIfAborted();
        this.store.addEvent('container-created', name, `created from template ${opts.template}`);
        r.success();
        return this.view(record);
      } finally {
        await r.fail();
      }
    });
  }

  start(name: string): Promise<ContainerView> {
    return this.lock.run(name, async () => {
      const c = this.record(name);
      // Only a container recorded running can be (the records are reconciled at daemon start),
      // so the common path spares a runc call.
      if (c.state === 'running') {
        const state = await this.runc.state(this.id(name));
        if (state?.status === 'running') throw new FailedPrecondition(`container ${name} is already running: use 'strata restart ${name}' to restart it`);
        if (state) await this.runc.delete(this.id(name), true);
      }
      await this.startLocked(c);
      return this.view(this.record(name));
    });
  }

  private async startLocked(c: ContainerRecord): Promise<void> {
    const template = this.templates.get(c.template);
    const layers = this.templateLayers(c.template);
    const layout = this.storage.layout(c.name);
    const idMap = this.idMapOf(c);
    if (idMap && !this.host.idmapped) {
      throw new NotSupported(`this kernel cannot idmap mounts, which unprivileged containers need: recreate ${c.name} with --privileged, or use a kernel of 5.19 or later`);
    }
    const mounts = this.storage.mounts(layout, idMap, layers);
    const r = new Reverter();
    try {
      await this.storage.deactivate(mounts, layout);
      r.add(() => this.storage.deactivate(mounts, layout));
      await this.storage.activate(mounts);
      const env = Array.isArray(template.meta.env) ? (template.meta.env as string[]) : undefined;
      const spec = buildSpec({
        hostname: c.hostname, rootfs: layout.rootfs, args: template.init, env, idMap,
        cgroupsPath: `${this.paths.cgroupParent}/${c.name}`,
        annotations: { 'org.strata.root': this.paths.root, 'org.strata.container': c.name },
      });
      await this.runc.writeBundle(layout.bundle, spec);
      r.add(() => this.runc.delete(this.id(c.name), true));
      const pid = await this.runc.start(this.id(c.name), layout.bundle, layout.consoleLog);
      this.store.updateContainerState(c.name, { state: 'running', pid, startedAt: new Date().toISOString(), stoppedAt: null });
      this.store.addEvent('container-started', c.name, `started, init pid ${pid}`);
      r.success();
    } finally {
      await r.fail();
    }
  }

  stop(name: string, timeoutSeconds = 10): Promise<ContainerView> {
    if (!Number.isFinite(timeoutSeconds) || timeoutSeconds < 0) throw new InvalidArgument(`invalid stop timeout ${timeoutSeconds}: use a number of seconds, 0 or more`);
    return this.lock.run(name, async () => {
      const c = this.record(name);
      const state = await this.runc.state(this.id(name));
      if (state?.status !== 'running') {
        if (c.state === 'running') await this.cleanupStopped(c, 'found stopped');
        throw new FailedPrecondition(`container ${name} is not running`);
      }
      await this.stopLocked(c, state.pid, timeoutSeconds);
      return this.view(this.record(name));
    });
  }

  private async stopLocked(c: ContainerRecord, pid: number, timeoutSeconds: number): Promise<void> {
    const template = this.templates.get(c.template);
    await this.runc.kill(this.id(c.name), template.stopSignal);
    if (!(await waitForExit(pid, timeoutSeconds * 1000))) {
      await this.runc.kill(this.id(c.name), 'SIGKILL');
      await waitForExit(pid, 10_000);
    }
    await this.cleanupStopped(c, 'stopped');
  }

  /** After the init is gone: runtime state, mounts and cgroups go; the record says stopped. */
  private async cleanupStopped(c: ContainerRecord, how: string): Promise<void> {
    await this.runc.delete(this.id(c.name), true);
    const layout = this.storage.layout(c.name);
    await this.storage.deactivate(this.storage.mounts(layout, this.idMapOf(c), this.templateLayers(c.template)), layout);
    await removeCgroupParent(this.paths.cgroupParent);
    this.store.updateContainerState(c.name, { state: 'stopped', pid: null, stoppedAt: new Date().toISOString() });
    this.store.addEvent('container-stopped', c.name, how);
  }

  restart(name: string, timeoutSeconds = 10): Promise<ContainerView> {
    return this.lock.run(name, async () => {
      const c = this.record(name);
      const state = await this.runc.state(this.id(name));
      if (state?.status === 'running') await this.stopLocked(c, state.pid, timeoutSeconds);
      else if (state) await this.runc.delete(this.id(name), true);
      await this.startLocked(this.record(name));
      return this.view(this.record(name));
    });
  }

  destroy(name: string, force = false): Promise<void> {
    return this.lock.run(name, async () => {
      const c = this.record(name);
      const state = await this.runc.state(this.id(name));
      if (state?.status === 'running') {
        if (!force) throw new FailedPrecondition(`container ${name} is running: stop it first, or use 'strata destroy ${name} --force'`);
        await this.runc.kill(this.id(name), 'SIGKILL');
        await waitForExit(state.pid, 10_000);
      }
      await this.runc.delete(this.id(name), true);
      const layout = this.storage.layout(name);
      await this.storage.deactivate(this.storage.mounts(layout, this.idMapOf(c), this.templateLayers(c.template)), layout);
      await this.storage.remove(layout);
      this.store.deleteContainer(name);
      await removeCgroupParent(this.paths.cgroupParent);
      this.store.addEvent('container-destroyed', name, 'destroyed');
    });
  }

  // Processes inside

  /** Checks the request and returns the runc argv that runs it; the caller runs it with its own terminal. */
  async execPlan(name: string, req: ExecRequest): Promise<string[]> {
    const c = this.record(name);
    if (!Array.isArray(req.args) || req.args.length === 0) throw new InvalidArgument('no command given: add -- CMD [ARG...]');
    const state = await this.runc.state(this.id(name));
    if (state?.status !== 'running') throw new FailedPrecondition(`container ${name} is not running: start it with 'strata start ${name}'`);
    const layout = this.storage.layout(c.name);
    const user = await resolveUser(layout.rootfs, req.user ?? 'root');
    for (const e of req.env ?? []) if (!/^[A-Za-z_][A-Za-z0-9_]*=/.test(e)) throw new InvalidArgument(`invalid environment entry ${JSON.stringify(e)}: use KEY=VALUE`);
    const env = [
      'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      `HOME=${user.home}`, `USER=${user.name}`, `LOGNAME=${user.name}`,
      ...(req.tty ? ['TERM=xterm'] : []),
      ...(req.env ?? []),
    ];
    return this.runc.execArgv(this.id(name), { tty: !!req.tty, user: { uid: user.uid, gid: user.gid }, env, cwd: req.cwd ?? user.home, args: req.args });
  }

  /** A login shell of root with a terminal. */
  async enterPlan(name: string): Promise<string[]> {
    const c = this.record(name);
    const rootfs = this.storage.layout(c.name).rootfs;
    const user = await resolveUser(rootfs, 'root').catch(() => ({ shell: '/bin/sh' }));
    const shell = user.shell && user.shell !== '/usr/sbin/nologin' ? user.shell : '/bin/sh';
    return this.execPlan(name, { tty: true, args: [shell, '-l'] });
  }

  async logs(name: string): Promise<string> {
    const layout = this.storage.layout(this.record(name).name);
    return fsp.readFile(layout.consoleLog, 'utf8').catch(() => '');
  }

  logPath(name: string): string {
    return this.storage.layout(this.record(name).name).consoleLog;
  }

  /** Keeps every console log under CONSOLE_LOG_CAP by dropping its oldest half (copy-truncate). */
  async trimLogs(): Promise<void> {
    for (const c of this.store.listContainers()) {
      const file = this.storage.layout(c.name).consoleLog;
      const st = await fsp.stat(file).catch(() => null);
      if (!st || st.size <= CONSOLE_LOG_CAP) continue;
      const fh = await fsp.open(file, 'r+');
      try {
        const keep = Buffer.alloc(CONSOLE_LOG_CAP / 2);
        const { bytesRead } = await fh.read(keep, 0, keep.length, st.size - keep.length);
        await fh.truncate(0);
        await fh.write(keep.subarray(0, bytesRead), 0, bytesRead, 0);
      } finally {
        await fh.close();
      }
    }
  }

  // Reconciliation

  /** Makes the records agree with what really runs; returns one line per difference found. */
  async reconcile(): Promise<string[]> {
    const found: string[] = [];
    const note = (subject: string | null, message: string): void => {
      found.push(subject ? `${subject}: ${message}` : message);
      this.store.addEvent('reconcile', subject, message);
    };
    const running = new Map((await this.runc.list()).map((s) => [s.id, s]));
    for (const c of this.store.listContainers()) {
      const s = running.get(this.id(c.name));
      running.delete(this.id(c.name));
      const alive = s?.status === 'running' && (await isAlive(s.pid));
      if (alive && s) {
        if (c.state !== 'running' || c.pid !== s.pid) {
          note(c.name, `recorded ${c.state}, but runs with init pid ${s.pid}: marked running`);
          this.store.updateContainerState(c.name, { state: 'running', pid: s.pid });
        }
        if (!(await this.storage.isActive(this.storage.layout(c.name)))) note(c.name, 'runs, but its root is not mounted on the host');
        continue;
      }
      const layout = this.storage.layout(c.name);
      const mounted = await this.storage.isActive(layout);
      if (c.state === 'running' || s || mounted) {
        await this.lock.run(c.name, () => this.cleanupStopped(c, 'found stopped by the daemon'));
        if (c.state === 'running') note(c.name, 'recorded running, but its init is gone: marked stopped');
      }
    }
    for (const id of running.keys()) note(null, `runc knows container ${id}, which has no record: left alone (remove with 'runc --root ${this.paths.runcRoot} delete --force ${id}')`);
    for (const dir of await fsp.readdir(this.paths.containers).catch(() => [] as string[])) {
      if (this.store.getContainer(dir)) continue;
      const layout = this.storage.layout(dir);
      await this.storage.deactivate([], layout);
      await fsp.rm(layout.dir, { recursive: true, force: true });
      note(dir, 'files of a container without a record (an interrupted create): removed');
    }
    return found;
  }

  /** Starts the containers marked autostart that are not running. */
  async autostart(): Promise<string[]> {
    const started: string[] = [];
    for (const c of this.store.listContainers()) {
      if (!c.autostart || c.state === 'running') continue;
      try {
        await this.start(c.name);
        started.push(c.name);
      } catch (err) {
        this.store.addEvent('autostart-failed', c.name, (err as Error).message);
      }
    }
    return started;
  }
}

/** The container's /etc/hostname and /etc/hosts, written into its private area. */
async function writeIdentity(layout: ContainerLayout, hostname: string, owner: number): Promise<void> {
  const etc = join(layout.privateArea, 'etc');
  await fsp.mkdir(etc, { mode: 0o755 });
  await fsp.chown(etc, owner, owner);
  const files: Record<string, string> = {
    hostname: `${hostname}\n`,
    hosts: `127.0.0.1\tlocalhost\n127.0.1.1\t${hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n`,
  };
  for (const [file, text] of Object.entries(files)) {
    await fsp.writeFile(join(etc, file), text, { mode: 0o644 });
    await fsp.chown(join(etc, file), owner, owner);
  }
}

interface UserEntry { name: string; uid: number; gid: number; home: string; shell: string }

/** Resolves a user name or uid[:gid] against the container's own /etc/passwd. */
async function resolveUser(rootfs: string, user: string): Promise<UserEntry> {
  const passwd = await fsp.readFile(join(rootfs, 'etc/passwd'), 'utf8').catch(() => '');
  const entries = passwd.split('\n').map((l) => l.split(':')).filter((f) => f.length >= 7)
    .map((f) => ({ name: f[0], uid: Number(f[2]), gid: Number(f[3]), home: f[5] || '/', shell: f[6] }));
  const numeric = /^(\d+)(?::(\d+))?$/.exec(user);
  if (numeric) {
    const uid = Number(numeric[1]);
    const known = entries.find((e) => e.uid === uid);
    return { name: known?.name ?? String(uid), uid, gid: numeric[2] ? Number(numeric[2]) : known?.gid ?? uid, home: known?.home ?? '/', shell: known?.shell ?? '/bin/sh' };
  }
  const entry = entries.find((e) => e.name === user);
  if (!entry) throw new NotFound(`user ${user} does not exist in the container: use a name from its /etc/passwd or a numeric uid`);
  return entry;
}
