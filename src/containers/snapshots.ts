/**
 * Snapshots of a container's own files (its private area; the templates below are shared and
 * read-only, so they need no copy). Instant where the disk's driver snapshots (btrfs), else a
 * copy beside the container (`cp -a --reflink=auto`: shared extents where the file system can).
 * A running container is frozen (the cgroup freezer, `runc pause`) while it is taken, so that
 * what is on disk is one instant of it. Restore needs the container stopped and the same
 * application templates attached as when the snapshot was taken.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { AlreadyExists, FailedPrecondition, InvalidArgument, NotFound } from '../errors/index.js';
import type { SnapshotRecord, SnapshotSchedule } from '../state/index.js';
import { run } from '../util/exec.js';
import { diskUsage } from '../util/fs.js';
import { isValidName } from '../util/names.js';
import type { ContainerContext } from './context.js';

export type SnapshotView = SnapshotRecord;

/** snap-20261127-045000 (auto-… when scheduled): sorts as it was taken. */
function defaultName(now = new Date(), prefix = 'snap'): string {
  return `${prefix}-${now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15)}`;
}

/** The shortest schedule: a snapshot is no instant thing on a copy, and each is kept until pruned. */
const MIN_SCHEDULE_SECONDS = 10;
const AUTO = 'auto-';

export class Snapshots {
  constructor(private readonly ctx: ContainerContext) {}

  private dir(container: string, name: string): string {
    return join(this.ctx.storage.layout(container).dir, 'snapshots', name);
  }

  list(container: string): SnapshotView[] {
    this.ctx.record(container);
    return this.ctx.snapshots.list(container);
  }

  private get(container: string, name: string): SnapshotRecord {
    const s = this.ctx.snapshots.get(container, name);
    if (!s) throw new NotFound(`container ${container} has no snapshot ${name}: see 'strata snapshot list ${container}'`);
    return s;
  }

  /** Takes a snapshot (the caller holds the container's lock). */
  async create(container: string, name = defaultName()): Promise<SnapshotView> {
    const { ctx } = this;
    const c = ctx.record(container);
    if (!isValidName(name)) throw new InvalidArgument(`snapshot name ${JSON.stringify(name)} is not valid: use up to 63 lower-case letters, digits and '-', not starting or ending with '-'`);
    if (ctx.snapshots.get(container, name)) throw new AlreadyExists(`container ${container} already has a snapshot ${name}: pick another name, or remove it first`);
    const layout = ctx.storage.layout(container);
    const byVolume = c.volume && ctx.host.pool.snapshots(ctx.volumeOf(c));
    const target = this.dir(container, name);
    const running = c.state === 'running';
    // Counted in the tenant's disk at what its files take now (an upper bound on btrfs, whose snapshot shares blocks).
    if (c.tenant) ctx.host.quota?.checkSnapshot(c.tenant, await diskUsage(layout.privateArea));
    if (!byVolume) await fsp.mkdir(target, { recursive: true, mode: 0o700 });
    let frozenMs: number | null = null;
    try {
      const ms = await ctx.frozen(container, running, async () => {
        const t0 = performance.now();
        if (byVolume) await ctx.host.pool.snapshot(ctx.volumeOf(c), name);
        else await run(['cp', '-a', '--reflink=auto', layout.privateArea, join(target, 'root')], { context: `copying the files of ${container}` });
        return performance.now() - t0;
      });
      if (running) frozenMs = ms;
    } catch (err) {
      await fsp.rm(target, { recursive: true, force: true });
      throw err;
    }
    const record: SnapshotRecord = {
      container, name, method: byVolume ? 'volume' : 'copy',
      apps: ctx.store.containerApps(container).map((a) => ({ template: a.template, version: a.version })),
      sizeBytes: await diskUsage(byVolume ? layout.privateArea : join(target, 'root')), frozenMs, createdAt: new Date().toISOString(),
    };
    ctx.snapshots.insert(record);
    ctx.store.addEvent('snapshot-created', container, `snapshot ${name} taken (${record.method}${frozenMs !== null ? `, frozen ${frozenMs.toFixed(0)} ms` : ''})`);
    return record;
  }

  /** Puts a snapshot's files back as the container's own (stopped; same application templates). */
  async restore(container: string, name: string): Promise<SnapshotView> {
    const { ctx } = this;
    const c = ctx.record(container);
    const s = this.get(container, name);
    if (c.state === 'running') throw new FailedPrecondition(`container ${container} is running: stop it before restoring snapshot ${name}`);
    const apps = ctx.store.containerApps(container).map((a) => `${a.template}@${a.version}`).join(', ');
    const then = s.apps.map((a) => `${a.template}@${a.version}`).join(', ');
    if (apps !== then) {
      throw new FailedPrecondition(`snapshot ${name} of ${container} was taken with the application templates [${then}] and it has [${apps}] now: attach or detach to match, then restore`);
    }
    if (s.method === 'volume') {
      await ctx.host.pool.restoreSnapshot(ctx.volumeOf(c), name);
    } else {
      const area = ctx.storage.layout(container).privateArea;
      const aside = `${area}.replaced`;
      await fsp.rm(aside, { recursive: true, force: true });
      await fsp.rename(area, aside);
      try {
        await run(['cp', '-a', '--reflink=auto', join(this.dir(container, name), 'root'), area], { context: `restoring the files of ${container}` });
      } catch (err) {
        await fsp.rm(area, { recursive: true, force: true });
        await fsp.rename(aside, area);
        throw err;
      }
      await fsp.rm(aside, { recursive: true, force: true });
    }
    ctx.store.addEvent('snapshot-restored', container, `snapshot ${name} restored`);
    return s;
  }

  async remove(container: string, name: string): Promise<void> {
    const { ctx } = this;
    const c = ctx.record(container);
    const s = this.get(container, name);
    if (s.method === 'volume') await ctx.host.pool.removeSnapshot(ctx.volumeOf(c), name);
    else await fsp.rm(this.dir(container, name), { recursive: true, force: true });
    ctx.snapshots.remove(container, name);
    ctx.store.addEvent('snapshot-removed', container, `snapshot ${name} removed`);
  }

  /** Snapshots every `everySeconds`, the newest `keep` scheduled ones kept (others are never pruned). */
  setSchedule(container: string, everySeconds: number, keep: number): SnapshotSchedule {
    this.ctx.record(container);
    if (!Number.isInteger(everySeconds) || everySeconds < MIN_SCHEDULE_SECONDS) throw new InvalidArgument(`a snapshot schedule needs an interval of ${MIN_SCHEDULE_SECONDS}s or more`);
    if (!Number.isInteger(keep) || keep < 1) throw new InvalidArgument(`--keep must be a whole number of snapshots, 1 or more, not ${JSON.stringify(keep)}`);
    const s: SnapshotSchedule = { container, everySeconds, keep, lastAt: new Date().toISOString() };
    this.ctx.snapshots.setSchedule(s);
    return this.ctx.snapshots.schedule(container)!;
  }

  schedule(container: string): SnapshotSchedule | null {
    this.ctx.record(container);
    return this.ctx.snapshots.schedule(container);
  }

  removeSchedule(container: string): void {
    this.ctx.record(container);
    this.ctx.snapshots.removeSchedule(container);
  }

  /** The schedules due at `now` (the daemon takes each under the container's lock). */
  due(now: number): SnapshotSchedule[] {
    return this.ctx.snapshots.schedules().filter((s) => !s.lastAt || now - Date.parse(s.lastAt) >= s.everySeconds * 1000);
  }

  /** Takes a scheduled snapshot and prunes the scheduled ones beyond `keep`, oldest first. */
  async runScheduled(s: SnapshotSchedule, now = new Date()): Promise<void> {
    // Recorded first: a snapshot that fails is tried again at the next interval, not at every tick.
    this.ctx.snapshots.scheduleRan(s.container, now.toISOString());
    await this.create(s.container, defaultName(now, 'auto'));
    const auto = this.ctx.snapshots.list(s.container).filter((x) => x.name.startsWith(AUTO));
    for (const old of auto.slice(0, Math.max(0, auto.length - s.keep))) await this.remove(s.container, old.name);
  }

  /** Every snapshot of a container goes with it (destroy). */
  async removeAll(container: string): Promise<void> {
    for (const s of this.ctx.snapshots.list(container)) await this.remove(container, s.name);
  }
}
