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
import { constants as osConstants } from 'node:os';
import { buildSpec, isAlive, waitForExit, type IdMap, type InitDeath, type OciRuntime } from '../runtime/index.js';
import type { ContainerRecord, LastExit, Store } from '../state/index.js';
import { Storage, type ContainerLayout, type TemplateLayers } from '../storage/index.js';
import type { Templates } from '../templates/index.js';
import { KeyedLock } from '../util/keyed-lock.js';
import { validateName } from '../util/names.js';
import { Reverter } from '../util/reverter.js';
import { stopwatch } from '../util/profile.js';
import { run } from '../util/exec.js';
import { lstatInside } from '../templates/app/index.js';
import { regenerationScript } from '../templates/merge/index.js';
import { idMapFor } from './ids.js';
import { AppAttachments, type AttachOptions, type AttachReport } from './apps.js';
import { removeCgroupParent } from './cgroups.js';
import { describeLimits, formatSize, ioDeviceOf, mergeLimits, parseLimits, toOciResources, type CgroupDriver, type CgroupUsage, type HostCapacity, type IoDevice, type Limits } from '../resources/index.js';
import type { Lxcfs } from '../resources/lxcfs.js';
import type { Pool, VolumeDriver } from '../storage/pool.js';
import { containerNetFiles, hostNameservers, type AdapterView, type Networks, type PortView } from '../network/index.js';

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
}

/** What list() reads once for all containers instead of per container. */
interface ListBulk {
  net: ReturnType<Networks['summaries']>;
  apps: ReturnType<Store['allContainerApps']>;
}

/** Keys of `set` that are network rates, not cgroup limits. */
const NET_RATE_KEYS = ['netIn', 'netOut'] as const;

/** What the orchestration needs of the host, found once at daemon start. */
export interface HostServices {
  idmapped: boolean;
  /** CPUs, memory and swap accounting of the host, read once at daemon start. */
  capacity: HostCapacity;
  cgroups: CgroupDriver;
  pool: Pool;
  lxcfs: Lxcfs | null;
  networks: Networks;
  /** Why container ids cannot reach the data root (a parent directory shut to them), if so. */
  rootUnreachable?: string | null;
}

export interface ContainerStats {
  name: string;
  state: ContainerRecord['state'];
  cpuSeconds: number;
  cpuPercent: number | null;
  memoryBytes: number | null;
  memoryLimitBytes: number | null;
  memoryPeakBytes: number | null;
  pids: number | null;
  pidsLimit: number | null;
  ioReadBytes: number;
  ioWriteBytes: number;
  ioReadOps: number;
  ioWriteOps: number;
  diskUsedBytes: number | null;
  diskLimitBytes: number | null;
  oomKills: number;
  netRxBytes: number;
  netTxBytes: number;
  netRxPackets: number;
  netTxPackets: number;
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
  limits: Limits;
  /** One per network: its name, the address (CIDR), gateway and MAC. */
  adapters: Array<Pick<AdapterView, 'network' | 'ifname' | 'address' | 'gateway' | 'mac'>>;
  ports: PortView[];
  /** Attached application templates, bottom (first attached) to top. */
  apps: Array<{ template: string; version: number; position: number; live: boolean; attachedAt: string }>;
  netIn: string | null;
  netOut: string | null;
  createdAt: string;
  startedAt: string | null;
  stoppedAt: string | null;
  /** How its init last ended (status or signal, when, and whether by itself); null before it first did. */
  lastExit: LastExit | null;
}

export interface ExecRequest {
  tty?: boolean;
  user?: string;
  env?: string[];
  cwd?: string;
  args: string[];
}

const HOSTNAME = /^(?=.{1,253}$)[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;

export class Containers {
  private readonly lock = new KeyedLock();
  /** How recently reaped inits ended (pid → death), for a minute: a stop records it. */
  private readonly deaths = new Map<number, InitDeath>();
  /** Containers that rebooted themselves while no daemon watched: started by finishReboots. */
  private readonly reboots: string[] = [];
  readonly storage: Storage;
  readonly runc: OciRuntime;
  private readonly apps: AppAttachments;
  /** Inits of capture containers (instead of their template's). */
  private readonly scratchInit = new Map<string, string[]>();

  constructor(
    private readonly paths: Paths,
    private readonly store: Store,
    private readonly templates: Templates,
    runc: OciRuntime,
    private readonly host: HostServices,
  ) {
    this.storage = new Storage(paths.containers, paths.helpers.idmount);
    this.runc = runc;
    this.apps = new AppAttachments({
      store, templates, idmapped: host.idmapped, layout: (name) => this.storage.layout(name), idMapOf: (c) => this.idMapOf(c),
    });
  }

  // Views

  private record(name: string): ContainerRecord {
    const c = this.store.getContainer(name);
    if (!c) throw new NotFound(`container ${name} does not exist: see 'strata list'`);
    return c;
  }

  /** The driver that holds the container's volume: the one recorded at create, whatever the default is now. */
  private volumeOf(c: ContainerRecord): VolumeDriver {
    return this.host.pool.driverNamed(c.volumeDriver ?? 'loop-ext4');
  }

  private idMapOf(c: ContainerRecord): IdMap | undefined {
    if (c.idSlot === null) return undefined;
    // Without idmapped mounts every container shares one range, so that one shifted copy of each template serves all.
    return idMapFor(this.paths.root, this.host.idmapped ? c.idSlot : 0);
  }

  view(c: ContainerRecord, bulk?: ListBulk): ContainerView {
    const l = this.storage.layout(c.name);
    const net = bulk ? bulk.net.get(c.name) : { adapters: this.host.networks.adapters(c.name), ports: this.host.networks.listPorts(c.name), bandwidth: this.host.networks.bandwidth(c.name) };
    const apps = bulk ? (bulk.apps.get(c.name) ?? []) : this.store.containerApps(c.name);
    return {
      name: c.name, state: c.state, pid: c.pid, template: c.template, hostname: c.hostname,
      privileged: c.privileged, autostart: c.autostart, rootfs: l.rootfs, privateArea: l.privateArea,
      consoleLog: l.consoleLog, idMap: this.idMapOf(c) ?? null, limits: c.limits as Limits,
      adapters: (net?.adapters ?? []).map((a) => ({ network: a.network, ifname: a.ifname, address: a.address, gateway: a.gateway, mac: a.mac })),
      ports: net?.ports ?? [],
      apps: apps.map((a) => ({ template: a.template, version: a.version, position: a.position, live: a.live, attachedAt: a.attachedAt })),
      ...(net?.bandwidth ?? { netIn: null, netOut: null }),
      createdAt: c.createdAt, startedAt: c.startedAt, stoppedAt: c.stoppedAt, lastExit: c.lastExit ?? null,
    };
  }

  inspect(name: string): ContainerView {
    return this.view(this.record(name));
  }

  /** What the `strata list` table shows, straight from the records: cheap for thousands. */
  listBrief(): Array<Pick<ContainerView, 'name' | 'state' | 'pid' | 'template' | 'hostname' | 'startedAt'>> {
    return this.store.listContainers().map((c) => ({ name: c.name, state: c.state, pid: c.pid, template: c.template, hostname: c.hostname, startedAt: c.startedAt }));
  }

  list(): ContainerView[] {
    const bulk: ListBulk = { net: this.host.networks.summaries(), apps: this.store.allContainerApps() };
    return this.store.listContainers().map((c) => this.view(c, bulk));
  }

  /** What the OS template contributes to a root. */
  private osLayers(template: string): TemplateLayers {
    const t = this.templates.get(template);
    const hostUsr = typeof t.meta.hostUsr === 'string' ? t.meta.hostUsr : undefined;
    return { rootfs: this.templates.rootfsOf(template), hostUsr };
  }

  private templateLayers(c: ContainerRecord): TemplateLayers {
    return { ...this.osLayers(c.template), apps: this.apps.layers(c) };
  }

  /** The runc id: the name, since each data root has its own runc state directory. */
  private id(name: string): string {
    return name;
  }

  /** The container's cgroup, relative to each hierarchy's root. */
  private cgroupPath(name: string): string {
    return `/${this.paths.cgroupParent}/${name}`;
  }

  /** The block device that holds the container's data: its volume's loop device, else the data root's disk. */
  private async ioDevice(c: ContainerRecord): Promise<IoDevice | undefined> {
    if (c.volume) return (await this.volumeOf(c).device(c.name)) ?? undefined;
    return ioDeviceOf(this.paths.root);
  }

  // Limits and usage

  /** Changes limits; on a running container live, without a restart. All or nothing. */
  set(name: string, given: Record<string, string | number>): Promise<ContainerView> {
    const raw = { ...given };
    const rates: { netIn?: string | null; netOut?: string | null } = {};
    for (const key of NET_RATE_KEYS) {
      if (raw[key] === undefined) continue;
      const v = String(raw[key]);
      rates[key] = /^(none|max|unlimited)$/i.test(v) ? null : v;
      delete raw[key];
    }
    const change = parseLimits(raw, this.host.capacity);
    if (Object.values(change).every((v) => v === undefined) && !Object.keys(rates).length) {
      throw new InvalidArgument('nothing to change: give at least one limit, e.g. --memory 512M or --cpus 1');
    }
    return this.lock.run(name, async () => {
      const c = this.record(name);
      const before = c.limits as Limits;
      const after = stripUnset(mergeLimits(before, change));
      const layout = this.storage.layout(name);
      if (change.disk !== undefined) {
        if (!c.volume) throw new FailedPrecondition(`container ${name} was created without --disk, so its private area has no size limit to change: recreate it with --disk SIZE`);
        if (change.disk === null) throw new InvalidArgument('a disk limit cannot be removed, only changed: give a size such as --disk 20G');
        const usage = await this.volumeOf(c).usage(name, layout.privateDir);
        if (usage && change.disk < usage.usedBytes) {
          throw new FailedPrecondition(`cannot shrink the disk of ${name} to ${formatSize(change.disk)}: it holds ${formatSize(usage.usedBytes)}; free space inside first or choose a larger size`);
        }
        await this.host.pool.checkSize(change.disk);
      }
      const r = new Reverter();
      try {
        if (c.state === 'running') {
          const cgroupChange: Limits = { ...change, disk: undefined };
          const device = await this.ioDevice(c);
          r.add(() => this.host.cgroups.apply(this.cgroupPath(name), undoOf(before, cgroupChange), device));
          await this.host.cgroups.apply(this.cgroupPath(name), cgroupChange, device);
        }
        if (change.disk !== undefined && change.disk !== null) await this.resizeDisk(c, change.disk);
        if (Object.keys(rates).length) {
          const before = this.host.networks.bandwidth(name);
          await this.host.networks.setBandwidth(name, rates);
          r.add(() => this.host.networks.setBandwidth(name, before));
        }
        this.store.setLimits(name, after as Record<string, unknown>);
        const changed = [describeLimits(change), ...Object.entries(rates).map(([k, v]) => `${k} ${v ?? 'unlimited'}`)];
        this.store.addEvent('limits-changed', name, changed.filter((t) => t !== 'no limits').join(', '));
        r.success();
      } finally {
        await r.fail();
      }
      return this.view(this.record(name));
    });
  }

  /** Resizes a container's volume: online while it runs (grow only), offline otherwise. */
  private async resizeDisk(c: ContainerRecord, size: number): Promise<void> {
    const driver = this.volumeOf(c);
    const { privateDir } = this.storage.layout(c.name);
    if (c.state === 'running') return driver.resize(c.name, privateDir, size);
    await driver.deactivate(privateDir);
    try {
      await driver.resize(c.name, privateDir, size);
    } finally {
      await driver.activate(c.name, privateDir);
    }
  }

  /** The newest usage sample of each running container, and the CPU % measured up to it. */
  private readonly samples = new Map<string, { at: number; cpuNs: number; percent?: number }>();
  /** OOM kills of each running container already recorded as events. */
  private readonly oomSeen = new Map<string, number>();

  private foldUsage(name: string, u: CgroupUsage): void {
    this.store.addUsage(name, {
      cpuNs: u.cpuUsageNs, ioReadBytes: u.ioReadBytes, ioWriteBytes: u.ioWriteBytes, ioReadOps: u.ioReadOps,
      ioWriteOps: u.ioWriteOps, oomKills: u.oomKills, memoryPeak: u.memoryPeakBytes ?? u.memoryBytes,
    });
  }

  /** Usage now plus the sums of earlier runs; CPU % over the time since the previous sample. */
  async stats(name: string): Promise<ContainerStats> {
    const c = this.record(name);
    const totals = this.store.usageTotals(name);
    const live = c.state === 'running' ? await this.host.cgroups.read(this.cgroupPath(name)).catch(() => null) : null;
    let cpuPercent: number | null = null;
    if (live) cpuPercent = await this.cpuPercent(name, live);
    const layout = this.storage.layout(name);
    const disk = c.volume ? await this.volumeOf(c).usage(name, layout.privateDir) : null;
    const limits = c.limits as Limits;
    return {
      name, state: c.state,
      cpuSeconds: (totals.cpuNs + (live?.cpuUsageNs ?? 0)) / 1e9,
      cpuPercent,
      memoryBytes: live?.memoryBytes ?? null,
      memoryLimitBytes: live?.memoryLimitBytes ?? limits.memory ?? null,
      memoryPeakBytes: Math.max(totals.memoryPeak, live?.memoryPeakBytes ?? 0) || null,
      pids: live?.pids ?? null,
      pidsLimit: live?.pidsLimit ?? limits.pids ?? null,
      ioReadBytes: totals.ioReadBytes + (live?.ioReadBytes ?? 0),
      ioWriteBytes: totals.ioWriteBytes + (live?.ioWriteBytes ?? 0),
      ioReadOps: totals.ioReadOps + (live?.ioReadOps ?? 0),
      ioWriteOps: totals.ioWriteOps + (live?.ioWriteOps ?? 0),
      diskUsedBytes: disk?.usedBytes ?? null,
      diskLimitBytes: disk?.limitBytes ?? null,
      oomKills: totals.oomKills + (live?.oomKills ?? 0),
      ...netCounters(this.host.networks.counters(name)),
    };
  }

  private async cpuPercent(name: string, live: CgroupUsage): Promise<number | null> {
    let prev = this.samples.get(name);
    let now: { at: number; cpuNs: number; percent?: number } = { at: performance.now(), cpuNs: live.cpuUsageNs };
    // Asked again within 100 ms: the figure measured up to the last sample is the best there is.
    if (prev && now.at - prev.at < 100 && prev.percent !== undefined) return prev.percent;
    if (!prev || now.at - prev.at < 100) {
      // No usable sample: take a short one now.
      prev = now;
      await new Promise((r) => setTimeout(r, 200));
      const again = await this.host.cgroups.read(this.cgroupPath(name)).catch(() => null);
      if (!again) return null;
      now = { at: performance.now(), cpuNs: again.cpuUsageNs };
    }
    now.percent = Math.max(0, ((now.cpuNs - prev.cpuNs) / 1e6 / (now.at - prev.at)) * 100);
    this.samples.set(name, now);
    return now.percent;
  }

  /** After an lxcfs restart: its files are bound again in every running container. */
  async rebindLxcfs(): Promise<void> {
    const lxcfs = this.host.lxcfs;
    if (!lxcfs) return;
    for (const c of this.store.listContainers()) {
      if (c.state === 'running' && c.pid) await lxcfs.rebind(c.pid).catch((err: Error) => this.store.addEvent('lxcfs-rebind-failed', c.name, err.message));
    }
  }

  /** Periodic: records OOM kills as events and keeps CPU samples fresh. */
  async sample(): Promise<void> {
    for (const c of this.store.listContainers()) {
      if (c.state !== 'running') continue;
      const u = await this.host.cgroups.read(this.cgroupPath(c.name)).catch(() => null);
      if (!u) continue;
      // After a daemon restart the first sample is the baseline: kills before it were not seen live.
      const seen = this.oomSeen.get(c.name) ?? u.oomKills;
      if (u.oomKills > seen) {
        this.store.addEvent('oom-kill', c.name, `${u.oomKills - seen} process(es) killed at the memory limit; the container runs on`);
      }
      this.oomSeen.set(c.name, u.oomKills);
      const prev = this.samples.get(c.name);
      const at = performance.now();
      const percent = prev && at > prev.at ? Math.max(0, ((u.cpuUsageNs - prev.cpuNs) / 1e6 / (at - prev.at)) * 100) : undefined;
      this.samples.set(c.name, { at, cpuNs: u.cpuUsageNs, percent });
    }
  }

  /** Host processes of the containers (all, or one), with the pid each has inside. */
  async processes(name?: string): Promise<Array<{ container: string; pid: number; cpid: number; user: string; command: string }>> {
    const list = name ? [this.record(name)] : this.store.listContainers().filter((c) => c.state === 'running');
    const out: Array<{ container: string; pid: number; cpid: number; user: string; command: string }> = [];
    for (const c of list) {
      if (c.state !== 'running') continue;
      const users = new Map<number, string>();
      for (const u of await readPasswd(this.storage.layout(c.name).rootfs)) if (!users.has(u.uid)) users.set(u.uid, u.name);
      const base = this.idMapOf(c)?.hostBase ?? 0;
      for (const pid of await this.host.cgroups.procs(this.cgroupPath(c.name)).catch(() => [] as number[])) {
        const status = await fsp.readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
        const cmdline = await fsp.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
        if (!status) continue;
        const nspid = /^NSpid:\s+(.+)$/m.exec(status)?.[1].trim().split(/\s+/).map(Number) ?? [pid];
        const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1] ?? 0) - base;
        const comm = /^Name:\s+(.+)$/m.exec(status)?.[1] ?? '?';
        out.push({ container: c.name, pid, cpid: nspid[nspid.length - 1], user: users.get(uid) ?? String(uid), command: cmdline.split('\0').filter(Boolean).join(' ') || `[${comm}]` });
      }
    }
    return out.sort((a, b) => a.container.localeCompare(b.container) || a.cpid - b.cpid);
  }

  // Lifecycle

  create(opts: CreateOptions, signal?: AbortSignal): Promise<ContainerView> {
    const name = validateName('container', opts.name);
    const hostname = opts.hostname ?? name;
    if (!HOSTNAME.test(hostname)) throw new InvalidArgument(`invalid hostname ${JSON.stringify(hostname)}: use DNS labels of a-z, 0-9 and '-' separated by dots`);
    if (typeof opts.template !== 'string' || !opts.template) throw new InvalidArgument('a template is required: add --template NAME (see \'strata template list\')');
    this.templates.getOs(opts.template);
    const apps = opts.apps ?? [];
    if (!Array.isArray(apps) || apps.some((a) => typeof a !== 'string')) throw new InvalidArgument('--app takes template names: see \'strata template list\'');
    if (new Set(apps).size !== apps.length) throw new InvalidArgument('an application template is given twice with --app: give each once');
    for (const a of apps) this.templates.apps.get(a);
    const limits = stripUnset(parseLimits(opts.limits ?? {}, this.host.capacity));
    return this.lock.run(name, async () => {
      const sw = stopwatch(`create ${name}`);
      if (this.store.getContainer(name)) throw new AlreadyExists(`container ${name} already exists: pick another name or destroy it first`);
      const layers = this.osLayers(opts.template);
      const layout = this.storage.layout(name);
      const r = new Reverter();
      try {
        if (limits.disk) await this.host.pool.checkSize(limits.disk);
        const record = this.store.insertContainer({
          name, template: opts.template, hostname, privileged: !!opts.privileged, autostart: !!opts.autostart,
          state: 'created', pid: null, createdAt: new Date().toISOString(), startedAt: null, stoppedAt: null,
          limits: limits as Record<string, unknown>, volume: !!limits.disk, volumeDriver: limits.disk ? this.host.pool.driver.name : null, scratch: !!opts.scratch,
        });
        r.add(() => this.store.deleteContainer(name), `the record of ${name}`);
        if (opts.scratch) {
          this.scratchInit.set(name, opts.scratch.init);
          r.add(() => this.scratchInit.delete(name));
        }
        sw.lap('record');
        await this.host.networks.plan(name, { nets: opts.nets, ip: opts.ip, noNet: opts.noNet, ports: opts.ports, netIn: opts.netIn, netOut: opts.netOut });
        r.add(() => this.host.networks.release(name), `the addresses of ${name}`);
        sw.lap('network-plan');
        signal?.throwIfAborted();
        const idMap = this.idMapOf(record);
        r.add(() => fsp.rm(layout.dir, { recursive: true, force: true }), `the files of ${name}`);
        await this.storage.enclose(layout, idMap);
        if (limits.disk) {
          const volumes = this.volumeOf(record);
          await volumes.create(name, limits.disk);
          r.add(() => volumes.remove(name), `the disk of ${name}`);
          await volumes.activate(name, layout.privateDir);
          r.add(() => volumes.deactivate(layout.privateDir), `the mount of ${name}'s disk`);
        }
        await this.storage.prepare(layout, idMap, layers);
        const files = containerNetFiles(hostname, this.host.networks.adapters(name), hostNameservers());
        await writeIdentity(layout, hostname, idMap?.hostBase ?? 0, files);
        for (const app of apps) {
          signal?.throwIfAborted();
          await this.apps.attach(record, app, false, { force: opts.force }, () => undefined);
        }
        signal?.throwIfAborted();
        this.store.addEvent('container-created', name, `created from template ${opts.template}`);
        sw.lap('files');
        sw.done();
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
    const sw = stopwatch(`start ${c.name}`);
    const template = this.templates.get(c.template);
    // The private area must be there (a disk-limited one is a volume) before copies leave it.
    if (c.volume) await this.volumeOf(c).activate(c.name, this.storage.layout(c.name).privateDir);
    await this.apps.restoreLive(c);
    let layers = this.templateLayers(c);
    const layout = this.storage.layout(c.name);
    const idMap = this.idMapOf(c);
    if (idMap && this.host.rootUnreachable) throw new FailedPrecondition(this.host.rootUnreachable);
    if (idMap && !this.host.idmapped) {
      if (layers.hostUsr) throw new NotSupported(`this kernel cannot idmap mounts, which a host-linked template needs for ${c.name}: recreate it with --privileged, or from another template`);
      layers = { rootfs: await this.templates.shiftedRootfs(c.template, idMap.hostBase), preShifted: true };
    }
    const mounts = this.storage.mounts(layout, idMap, layers);
    const r = new Reverter();
    try {
      await this.storage.deactivate(mounts, layout);
      sw.lap('clean');
      r.add(() => this.storage.deactivate(mounts, layout), `the root mounts of ${c.name}`);
      await this.storage.activate(mounts);
      sw.lap('mount');
      const env = Array.isArray(template.meta.env) ? (template.meta.env as string[]) : undefined;
      if (this.host.lxcfs) await this.host.lxcfs.ensure();
      const spec = buildSpec({
        hostname: c.hostname, rootfs: layout.rootfs, args: this.scratchInit.get(c.name) ?? template.init, env, idMap,
        cgroupsPath: this.cgroupPath(c.name),
        resources: toOciResources(c.limits as Limits, await this.ioDevice(c), this.host.cgroups.version, { swapAccounting: this.host.capacity.swapAccounting }),
        extraMounts: this.host.lxcfs?.specMounts() ?? [],
        annotations: { 'org.strata.root': this.paths.root, 'org.strata.container': c.name },
      });
      await this.runc.writeBundle(layout.bundle, spec);
      sw.lap('spec');
      r.add(() => this.runc.delete(this.id(c.name), true), `the runtime state of ${c.name}`);
      const pid = await this.runc.create(this.id(c.name), layout.bundle, layout.consoleLog);
      // Its own cgroup subtree is the container root's (systemd makes its slices there); limits stay above.
      if (idMap) await this.host.cgroups.delegate(this.cgroupPath(c.name), idMap.hostBase);
      sw.lap('runc-create');
      // Created: root, mounts and namespaces are the container's, its init has not run yet.
      await this.recomputeDerived(c);
      // Created, not started: the network is up before the init runs.
      r.add(() => this.host.networks.detach(c.name), `the network adapters of ${c.name}`);
      await this.host.networks.attach(c.name, pid, c.hostname);
      sw.lap('network');
      await this.runc.start(this.id(c.name));
      sw.lap('runc-start');
      this.store.updateContainerState(c.name, { state: 'running', pid, startedAt: new Date().toISOString(), stoppedAt: null });
      // A fresh cgroup: every OOM kill from now on is new.
      this.samples.set(c.name, { at: performance.now(), cpuNs: 0 });
      this.oomSeen.set(c.name, 0);
      this.store.addEvent('container-started', c.name, `started, init pid ${pid}`);
      sw.lap('record');
      sw.done();
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
    // The monitor's word on how it ended usually arrives with the exit; not waited for.
    await this.cleanupStopped(c, 'stopped', this.deaths.get(pid) ?? null, false);
  }

  /**
   * The monitor reaped a container's init. A container recorded running with that pid stopped
   * by itself (a crash, poweroff, a command that ended): it is cleaned up as on a stop and says
   * how it ended. An init ended by SIGHUP asked for a reboot (reboot(2) in a pid namespace):
   * the container starts again, like a machine. Idempotent: deaths come live and from the file.
   */
  async initDied(death: InitDeath): Promise<void> {
    this.deaths.set(death.pid, death);
    setTimeout(() => this.deaths.delete(death.pid), 60_000).unref();
    const recorded = this.store.runningWithPid(death.pid);
    // A pid alive again belongs to another process: this death is old news.
    if (!recorded || (await isAlive(death.pid))) return;
    const name = recorded.name;
    await this.lock.run(name, async () => {
      const c = this.store.getContainer(name);
      if (!c || c.state !== 'running' || c.pid !== death.pid) return; // a stop or restart got there first
      await this.endedByItself(c, death);
    });
  }

  /** Cleans up a container whose init ended by itself; returns how it ended, in words. */
  private async endedByItself(c: ContainerRecord, death: InitDeath | null, restartOnReboot = true): Promise<string> {
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
      await this.startLocked(this.record(c.name));
    } catch (err) {
      this.store.addEvent('container-start-failed', c.name, `after a reboot from inside: ${(err as Error).message}`);
    }
    return how;
  }

  /** Starts the containers that rebooted themselves while the daemon was down (after reconcile, once networks are up). */
  async finishReboots(): Promise<void> {
    for (const name of this.reboots.splice(0)) {
      await this.start(name).catch((err: Error) => this.store.addEvent('container-start-failed', name, `after a reboot from inside: ${err.message}`));
    }
  }

  /** After the init is gone: runtime state, mounts and cgroups go; the record says stopped and how it ended. */
  private async cleanupStopped(c: ContainerRecord, how: string, death: InitDeath | null = null, byItself = false): Promise<void> {
    // The cgroup dies with runc delete: keep what this run used first.
    const usage = await this.host.cgroups.read(this.cgroupPath(c.name)).catch(() => null);
    if (usage) this.foldUsage(c.name, usage);
    this.samples.delete(c.name);
    this.oomSeen.delete(c.name);
    await this.host.networks.detach(c.name);
    await this.runc.delete(this.id(c.name), true);
    const layout = this.storage.layout(c.name);
    await this.runc.closeConsole(layout.consoleLog);
    await this.storage.deactivate(this.storage.mounts(layout, this.idMapOf(c), this.templateLayers(c)), layout);
    await removeCgroupParent(this.paths.cgroupParent);
    const at = new Date().toISOString();
    this.store.updateContainerState(c.name, { state: 'stopped', pid: null, stoppedAt: at });
    const exit: LastExit = { status: death?.status ?? null, signal: death?.signal != null ? signalName(death.signal) : null, at, byItself };
    this.store.setLastExit(c.name, exit);
    this.store.addEvent(byItself ? 'container-exited' : 'container-stopped', c.name, how);
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
      const sw = stopwatch(`destroy ${name}`);
      const c = this.record(name);
      // A container recorded running whose init is alive in its own cgroup is known without asking runc.
      const state = (await this.knownRunning(c)) ?? (await this.runc.state(this.id(name)));
      sw.lap('state');
      if (state?.status === 'running') {
        if (!force) throw new FailedPrecondition(`container ${name} is running: stop it first, or use 'strata destroy ${name} --force'`);
        // runc state just named the init: SIGKILL it directly (what runc kill would do, one exec less).
        try { process.kill(state.pid, 'SIGKILL'); } catch { /* already gone */ }
        await waitForExit(state.pid, 10_000);
        sw.lap('kill');
      }
      const layout = this.storage.layout(name);
      // The network and the disk are independent once the init is gone: take both down at once.
      await Promise.all([
        this.host.networks.release(name).then(() => sw.lap('network')),
        (async () => {
          await this.runc.delete(this.id(name), true);
          await this.runc.closeConsole(layout.consoleLog);
          sw.lap('runc-delete');
          await this.storage.deactivate(this.storage.mounts(layout, this.idMapOf(c), this.templateLayers(c)), layout);
          if (c.volume) await this.volumeOf(c).deactivate(layout.privateDir);
          sw.lap('unmount');
          await this.storage.remove(layout);
          if (c.volume) await this.volumeOf(c).remove(name);
          sw.lap('remove');
        })(),
      ]);
      this.store.deleteContainer(name);
      this.scratchInit.delete(name);
      await removeCgroupParent(this.paths.cgroupParent);
      this.store.addEvent('container-destroyed', name, 'destroyed');
      sw.lap('record');
      sw.done();
    });
  }

  /** The running state of a container recorded running, read from /proc instead of runc; null when unsure. */
  private async knownRunning(c: ContainerRecord): Promise<{ status: 'running'; pid: number } | null> {
    if (c.state !== 'running' || !c.pid || !(await isAlive(c.pid))) return null;
    const cgroup = await fsp.readFile(`/proc/${c.pid}/cgroup`, 'utf8').catch(() => '');
    return cgroup.includes(this.cgroupPath(c.name)) ? { status: 'running', pid: c.pid } : null;
  }

  // Application templates

  private async isRunning(c: ContainerRecord): Promise<boolean> {
    if (c.state !== 'running') return false;
    return ((await this.knownRunning(c)) ?? (await this.runc.state(this.id(c.name))))?.status === 'running';
  }

  /** Attaches an application template: a layer when stopped, copied in at once when running. */
  attach(name: string, template: string, opts: AttachOptions, progress: (m: string) => void = () => undefined): Promise<AttachReport> {
    return this.lock.run(name, async () => {
      const c = this.record(name);
      const running = await this.isRunning(c);
      const report = await this.apps.attach(c, template, running, opts, progress);
      if (running) {
        progress('recomputing derived files (ld.so.cache …)');
        await this.recomputeDerived(this.record(name));
      }
      return report;
    });
  }

  /**
   * Recomputes the container's derived files (templates/merge/derived.ts) inside it, as its root,
   * when its set of application templates changed since they last were: at a start between
   * create and start, and at a live attach. A failure is reported as an event and the start goes
   * on (a stale cache is not a reason not to boot); the next start tries again.
   */
  private async recomputeDerived(c: ContainerRecord): Promise<void> {
    const set = this.apps.derivedSet(c);
    if (set === (c.derivedFor ?? '')) return;
    const rootfs = this.storage.layout(c.name).rootfs;
    // /bin is a symlink to usr/bin on merged-/usr systems: either place will do.
    const shells = await Promise.all(['bin/sh', 'usr/bin/sh'].map((p) => lstatInside(rootfs, p)));
    if (!shells.some((st) => st !== null && st !== 'unsafe')) {
      this.store.setDerivedFor(c.name, set);
      return;
    }
    const argv = this.runc.execArgv(this.id(c.name), {
      tty: false, user: { uid: 0, gid: 0 }, env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'LANG=C.UTF-8'], cwd: '/',
      args: ['/bin/sh', '-c', regenerationScript()],
    });
    const r = await run(argv, { allowFailure: true, timeoutMs: 120_000 });
    if (r.status === 0) {
      this.store.setDerivedFor(c.name, set);
      return;
    }
    const why = (r.stderr.trim().split('\n').pop() ?? '') || `status ${r.status}`;
    this.store.addEvent('derived-files-stale', c.name, `derived files (ld.so.cache …) could not be recomputed for its templates: ${why}; tried again at the next start`);
  }

  detach(name: string, template: string): Promise<{ conflicts: string[] }> {
    return this.lock.run(name, async () => {
      const c = this.record(name);
      if (await this.isRunning(c)) throw new FailedPrecondition(`container ${name} is running: stop it first ('strata stop ${name}'), then detach ${template}`);
      return this.apps.detach(c, template);
    });
  }

  upgrade(name: string, template: string, force = false): Promise<{ from: number; to: number; conflicts: string[]; remaps: string[] }> {
    return this.lock.run(name, async () => {
      const c = this.record(name);
      if (await this.isRunning(c)) throw new FailedPrecondition(`container ${name} is running: stop it first ('strata stop ${name}'), then upgrade ${template}`);
      return this.apps.upgrade(c, template, force);
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
    // A user whose home does not exist (nobody: /nonexistent) starts in /, as login does.
    const cwd = req.cwd ?? ((await fsp.stat(join(layout.rootfs, user.home)).catch(() => null))?.isDirectory() ? user.home : '/');
    return this.runc.execArgv(this.id(name), { tty: !!req.tty, user: { uid: user.uid, gid: user.gid }, env, cwd, args: req.args });
  }

  /** A login shell of root with a terminal. */
  async enterPlan(name: string): Promise<string[]> {
    const c = this.record(name);
    const rootfs = this.storage.layout(c.name).rootfs;
    const user = await resolveUser(rootfs, 'root').catch(() => ({ shell: '/bin/sh' }));
    const shell = user.shell && user.shell !== '/usr/sbin/nologin' ? user.shell : '/bin/sh';
    return this.execPlan(name, { tty: true, args: [shell, '-l'] });
  }

  /** Where a client attaches to a running container's console (the monitor holds it; root only). */
  async consolePlan(name: string): Promise<{ monitorSocket: string; consoleLog: string }> {
    const c = this.record(name);
    if (!(await this.isRunning(c))) throw new FailedPrecondition(`container ${name} is not running: start it with 'strata start ${name}'; 'strata logs ${name}' shows what its console printed`);
    return { monitorSocket: this.paths.monitorSocket, consoleLog: this.storage.layout(c.name).consoleLog };
  }

  async logs(name: string): Promise<string> {
    const layout = this.storage.layout(this.record(name).name);
    return fsp.readFile(layout.consoleLog, 'utf8').catch(() => '');
  }

  logPath(name: string): string {
    return this.storage.layout(this.record(name).name).consoleLog;
  }

  // Reconciliation

  /** Makes the records agree with what really runs; returns one line per difference found. */
  poolView(): Promise<import('../storage/pool.js').PoolView> {
    return this.host.pool.view((volume) => this.storage.layout(volume).privateDir);
  }

  /** `deaths`: how inits ended while no daemon watched (the monitor's record). */
  async reconcile(deaths: InitDeath[] = []): Promise<string[]> {
    const found: string[] = [];
    const note = (subject: string | null, message: string): void => {
      found.push(subject ? `${subject}: ${message}` : message);
      this.store.addEvent('reconcile', subject, message);
    };
    const running = new Map((await this.runc.list()).map((s) => [s.id, s]));
    for (const c of this.store.listContainers()) {
      // Data roots of older versions left container directories open to every host user.
      await this.storage.enclose(this.storage.layout(c.name), this.idMapOf(c));
      // After a host reboot the volumes are not mounted; a private area must always be there.
      if (c.volume) await this.volumeOf(c).activate(c.name, this.storage.layout(c.name).privateDir).catch((err: Error) => note(c.name, `its disk could not be mounted: ${err.message}`));
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
      if (c.state === 'running') {
        const death = deaths.find((d) => d.pid === c.pid) ?? null;
        const how = await this.lock.run(c.name, () => this.endedByItself(c, death, false));
        note(c.name, `recorded running, but ${how}: marked stopped`);
      } else if (s || mounted) {
        await this.lock.run(c.name, () => this.cleanupStopped(c, 'found stopped by the daemon'));
      }
    }
    for (const c of this.store.listContainers()) {
      if (c.scratch) continue;
      const undone = await this.lock.run(c.name, async () => this.apps.recoverInterrupted(this.record(c.name), await this.isRunning(this.record(c.name))))
        .catch((err: Error) => `an interrupted attach could not be undone: ${err.message}`);
      if (undone) note(c.name, undone);
    }
    for (const c of this.store.listContainers()) {
      if (!c.scratch) continue;
      await this.destroy(c.name, true).catch((err: Error) => note(c.name, `a capture's throw-away container could not be removed: ${err.message}`));
      note(c.name, 'a template capture was interrupted: its throw-away container was removed');
    }
    for (const id of running.keys()) note(null, `runc knows container ${id}, which has no record: left alone (remove with 'runc --root ${this.paths.runcRoot} delete --force ${id}')`);
    for (const dir of await fsp.readdir(this.paths.containers).catch(() => [] as string[])) {
      if (this.store.getContainer(dir)) continue;
      const layout = this.storage.layout(dir);
      await this.storage.deactivate([], layout, true);
      await fsp.rm(layout.dir, { recursive: true, force: true });
      note(dir, 'files of a container without a record (an interrupted create): removed');
    }
    for (const [driver, volume] of await this.host.pool.volumes()) {
      if (this.store.getContainer(volume)?.volumeDriver === driver) continue;
      await this.host.pool.driverNamed(driver).remove(volume);
      note(volume, 'a disk in the pool without a container (an interrupted create): removed');
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

/** The container's /etc/hostname, /etc/hosts and /etc/resolv.conf, written into its private area. */
async function writeIdentity(layout: ContainerLayout, hostname: string, owner: number, net: { hosts: string; resolvConf: string }): Promise<void> {
  const etc = join(layout.privateArea, 'etc');
  await fsp.mkdir(etc, { mode: 0o755 });
  await fsp.chown(etc, owner, owner);
  const files: Record<string, string> = { hostname: `${hostname}\n`, hosts: net.hosts, 'resolv.conf': net.resolvConf };
  for (const [file, text] of Object.entries(files)) {
    await fsp.writeFile(join(etc, file), text, { mode: 0o644 });
    await fsp.chown(join(etc, file), owner, owner);
  }
}

interface UserEntry { name: string; uid: number; gid: number; home: string; shell: string }

/** Resolves a user name or uid[:gid] against the container's own /etc/passwd. */
/** The users of the container's own /etc/passwd (none when it cannot be read). */
async function readPasswd(rootfs: string): Promise<UserEntry[]> {
  const passwd = await fsp.readFile(join(rootfs, 'etc/passwd'), 'utf8').catch(() => '');
  return passwd.split('\n').map((l) => l.split(':')).filter((f) => f.length >= 7)
    .map((f) => ({ name: f[0], uid: Number(f[2]), gid: Number(f[3]), home: f[5] || '/', shell: f[6] }));
}

async function resolveUser(rootfs: string, user: string): Promise<UserEntry> {
  const entries = await readPasswd(rootfs);
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

/** Limits without the unset (undefined) entries, as stored. */
function stripUnset(l: Limits): Limits {
  return Object.fromEntries(Object.entries(l).filter(([, v]) => v !== undefined && v !== null)) as Limits;
}

/** The change that puts back what `change` replaced. */
function undoOf(before: Limits, change: Limits): Limits {
  const undo: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(change)) if (v !== undefined) undo[k] = (before as Record<string, unknown>)[k] ?? null;
  return undo as Limits;
}


function netCounters(c: { rxBytes: number; txBytes: number; rxPackets: number; txPackets: number }): Pick<ContainerStats, 'netRxBytes' | 'netTxBytes' | 'netRxPackets' | 'netTxPackets'> {
  return { netRxBytes: c.rxBytes, netTxBytes: c.txBytes, netRxPackets: c.rxPackets, netTxPackets: c.txPackets };
}

/** SIGKILL for 9. */
function signalName(signal: number): string {
  return Object.entries(osConstants.signals).find(([, n]) => n === signal)?.[0] ?? `signal ${signal}`;
}
