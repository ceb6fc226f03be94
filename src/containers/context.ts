/**
 * The context every part of the orchestration shares: the services it strings together (the
 * database, templates, the runtime, the host's cgroups, pool, lxcfs and networks) and the
 * per-container lookups (record, id map, cgroup path, root layers, volume, I/O device, whether
 * it runs). Lookups only: no operation lives here and nothing here takes the per-container lock
 * (index.ts holds it).
 */
import { promises as fsp } from 'node:fs';
import type { Paths } from '../config/index.js';
import { FailedPrecondition, NotFound } from '../errors/index.js';
import type { Lxcfs } from '../resources/lxcfs.js';
import { ioDeviceOf, type CgroupDriver, type HostCapacity, type IoDevice } from '../resources/index.js';
import { isAlive, type IdMap, type OciRuntime } from '../runtime/index.js';
import { BackupRecords, SnapshotRecords, type ContainerRecord, type Store } from '../state/index.js';
import { runningRoot, Storage, type TemplateLayers } from '../storage/index.js';
import type { Pool, VolumeRef } from '../storage/pool.js';
import type { Templates } from '../templates/index.js';
import type { Networks } from '../network/index.js';
import type { QuotaBook } from '../access/index.js';
import { AppAttachments } from './apps.js';
import { idMapFor } from './ids.js';

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
  /** Tenants' plans, checked before a tenant's container is made, resized or started (none: no tenants). */
  quota?: QuotaBook;
}

/** The init of a container recorded running (null otherwise). */
const initPid = (c: ContainerRecord): number | null => (c.state === 'running' && c.pid ? c.pid : null);

export class ContainerContext {
  readonly storage: Storage;
  readonly apps: AppAttachments;
  /** Inits of capture containers (instead of their template's). */
  readonly scratchInit = new Map<string, string[]>();
  readonly snapshots: SnapshotRecords;
  /** The backups the daemon keeps for containers (their files are in the containers' directories). */
  readonly backups: BackupRecords;

  constructor(
    readonly paths: Paths,
    readonly store: Store,
    readonly templates: Templates,
    readonly runc: OciRuntime,
    readonly host: HostServices,
  ) {
    this.storage = new Storage(paths.containers);
    this.snapshots = new SnapshotRecords(store.db);
    this.backups = new BackupRecords(store.db);
    this.apps = new AppAttachments({
      store, templates, idmapped: host.idmapped, layout: (name) => this.storage.layout(name), mergedRoot: (c) => this.mergedRoot(c), idMapOf: (c) => this.idMapOf(c),
    });
  }

  record(name: string): ContainerRecord {
    const c = this.store.getContainer(name);
    if (!c) throw new NotFound(`container ${name} does not exist: see 'strata list'`);
    return c;
  }

  /**
   * The merged root of a container recorded running, through its init: the host holds no mount
   * of it while it runs (storage's leaveToContainer).
   */
  mergedRoot(c: ContainerRecord): string {
    const pid = initPid(c);
    if (!pid) throw new FailedPrecondition(`container ${c.name} is ${c.state}: its root can be reached only while it runs; start it with 'strata start ${c.name}'`);
    return runningRoot(pid);
  }

  /** Where a container's root is shown: through its init while it runs, else its layout's mount point. */
  rootPathOf(c: ContainerRecord): string {
    const pid = initPid(c);
    return pid ? runningRoot(pid) : this.storage.layout(c.name).rootfs;
  }

  /** The container's volume in the pool, with the driver recorded at create, whatever the default is now. */
  volumeOf(c: ContainerRecord): VolumeRef {
    return { driver: c.volumeDriver ?? 'loop-ext4', volume: c.name, mountpoint: this.storage.layout(c.name).privateDir };
  }

  idMapOf(c: ContainerRecord): IdMap | undefined {
    if (c.idSlot === null) return undefined;
    // Without idmapped mounts every container shares one range, so that one shifted copy of each template serves all.
    return idMapFor(this.paths.root, this.host.idmapped ? c.idSlot : 0);
  }

  /** What the OS template contributes to a root. */
  osLayers(template: string): TemplateLayers {
    const t = this.templates.get(template);
    const hostUsr = typeof t.meta.hostUsr === 'string' ? t.meta.hostUsr : undefined;
    return { rootfs: this.templates.rootfsOf(template), hostUsr };
  }

  /** The OS template's layers and the attached application templates' above them. */
  templateLayers(c: ContainerRecord): TemplateLayers {
    return { ...this.osLayers(c.template), apps: this.apps.layers(c) };
  }

  /**
   * Runs `work` with the container frozen (the cgroup freezer, `runc pause`) when it is running,
   * and thaws it after, whatever happens: its files are one instant of it meanwhile. The caller
   * holds the container's lock.
   */
  async frozen<T>(name: string, running: boolean, work: () => Promise<T>): Promise<T> {
    if (running) await this.runc.pause(this.id(name));
    try {
      return await work();
    } finally {
      if (running) await this.runc.resume(this.id(name));
    }
  }

  /** The runc id: the name, since each data root has its own runc state directory. */
  id(name: string): string {
    return name;
  }

  /**
   * The container's cgroup, relative to each hierarchy's root: a tenant's containers are below
   * the tenant's cgroup (`tenant.NAME`: '.' is in no container name), whose ceilings are its plan.
   */
  cgroupPath(name: string): string {
    return this.cgroupPathOf({ name, tenant: this.store.getContainer(name)?.tenant ?? null });
  }

  /** The cgroup of a container whose record is in hand (no query). */
  cgroupPathOf(c: Pick<ContainerRecord, 'name' | 'tenant'>): string {
    return c.tenant ? `${this.tenantCgroup(c.tenant)}/${c.name}` : `/${this.paths.cgroupParent}/${c.name}`;
  }

  tenantCgroup(tenant: string): string {
    return `/${this.paths.cgroupParent}/tenant.${tenant}`;
  }

  /** Makes the tenant's cgroup and sets its plan's CPU, memory and process ceilings (absent: none). */
  async applyTenantCeilings(tenant: string): Promise<void> {
    const plan = this.host.quota?.plan(tenant) ?? {};
    const path = this.tenantCgroup(tenant);
    await this.host.cgroups.makeGroup(path);
    await this.host.cgroups.apply(path, { cpus: plan.cpus ?? null, memory: plan.memory ?? null, pids: plan.pids ?? null });
  }

  /** The block device that holds the container's data: its volume's device, else the data root's disk. */
  async ioDevice(c: ContainerRecord): Promise<IoDevice | undefined> {
    if (c.volume) return (await this.host.pool.device(this.volumeOf(c))) ?? undefined;
    // The data root's disk does not change under a running daemon: looked up once.
    this.rootDevice ??= ioDeviceOf(this.paths.root).catch((err: unknown) => { this.rootDevice = undefined; throw err; });
    return this.rootDevice;
  }

  private rootDevice: Promise<IoDevice | undefined> | undefined;

  /** The running state of a container recorded running, read from /proc instead of runc; null when unsure. */
  async knownRunning(c: ContainerRecord): Promise<{ status: 'running'; pid: number } | null> {
    if (c.state !== 'running' || !c.pid || !(await isAlive(c.pid))) return null;
    const cgroup = await fsp.readFile(`/proc/${c.pid}/cgroup`, 'utf8').catch(() => '');
    return cgroup.includes(this.cgroupPath(c.name)) ? { status: 'running', pid: c.pid } : null;
  }

  async isRunning(c: ContainerRecord): Promise<boolean> {
    if (c.state !== 'running') return false;
    return ((await this.knownRunning(c)) ?? (await this.runc.state(this.id(c.name))))?.status === 'running';
  }
}
