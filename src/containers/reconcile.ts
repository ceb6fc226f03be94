/**
 * Reconciliation: at daemon start the records are made to agree with what really runs (inits
 * gone while no daemon watched, runc containers without a record, files and disks an interrupted
 * create left, half-done attaches, capture containers), then the containers marked autostart and
 * those that rebooted themselves are started; after an lxcfs restart its files are bound again.
 * Each difference found is logged and stored as an event. Takes each container's lock (the
 * facade's, handed in) for what it changes.
 */
import { promises as fsp } from 'node:fs';
import { isAlive, type InitDeath } from '../runtime/index.js';
import type { KeyedLock } from '../util/keyed-lock.js';
import type { ContainerContext } from './context.js';
import type { Lifecycle } from './lifecycle.js';

export class Reconciler {
  constructor(private readonly ctx: ContainerContext, private readonly life: Lifecycle, private readonly lock: KeyedLock) {}

  /** Makes the records agree with what really runs; returns one line per difference found. `deaths`: how inits ended while no daemon watched (the monitor's record). */
  async reconcile(deaths: InitDeath[] = []): Promise<string[]> {
    const { ctx, life, lock } = this;
    const { store, storage, host, paths } = ctx;
    const found: string[] = [];
    const note = (subject: string | null, message: string): void => {
      found.push(subject ? `${subject}: ${message}` : message);
      store.addEvent('reconcile', subject, message);
    };
    const running = new Map((await ctx.runc.list()).map((s) => [s.id, s]));
    for (const c of store.listContainers()) {
      // Data roots of older versions left container directories open to every host user.
      await storage.enclose(storage.layout(c.name), ctx.idMapOf(c));
      // After a host reboot the volumes are not mounted; a private area must always be there.
      if (c.volume) await host.pool.activate(ctx.volumeOf(c)).catch((err: Error) => note(c.name, `its disk could not be mounted: ${err.message}`));
      const s = running.get(ctx.id(c.name));
      running.delete(ctx.id(c.name));
      const alive = s?.status === 'running' && (await isAlive(s.pid));
      if (alive && s) {
        if (c.state !== 'running' || c.pid !== s.pid) {
          note(c.name, `recorded ${c.state}, but runs with init pid ${s.pid}: marked running`);
          store.updateContainerState(c.name, { state: 'running', pid: s.pid });
        }
        // An older Strata left a running container's root mounted on the host as well: taken off,
        // the container holds its own copy.
        const layout = storage.layout(c.name);
        if (await storage.isActive(layout)) {
          await lock.run(c.name, () => storage.deactivate(storage.mounts(layout, ctx.idMapOf(c), ctx.templateLayers(c)), layout));
          note(c.name, 'runs with its root also mounted on the host (an older Strata): the host\'s mount was taken off');
        }
        continue;
      }
      const layout = storage.layout(c.name);
      const mounted = await storage.isActive(layout);
      if (c.state === 'running') {
        const death = deaths.find((d) => d.pid === c.pid) ?? null;
        const how = await lock.run(c.name, () => life.endedByItself(c, death, false));
        note(c.name, `recorded running, but ${how}: marked stopped`);
      } else if (s || mounted) {
        await lock.run(c.name, () => life.cleanupStopped(c, 'found stopped by the daemon'));
      }
    }
    for (const c of store.listContainers()) {
      if (c.scratch) continue;
      const undone = await lock.run(c.name, async () => ctx.apps.recoverInterrupted(ctx.record(c.name), await ctx.isRunning(ctx.record(c.name))))
        .catch((err: Error) => `an interrupted attach could not be undone: ${err.message}`);
      if (undone) note(c.name, undone);
    }
    for (const c of store.listContainers()) {
      if (!c.scratch) continue;
      await lock.run(c.name, () => life.destroy(c.name, true)).catch((err: Error) => note(c.name, `a capture's throw-away container could not be removed: ${err.message}`));
      note(c.name, 'a template capture was interrupted: its throw-away container was removed');
    }
    for (const id of running.keys()) note(null, `runc knows container ${id}, which has no record: left alone (remove with 'runc --root ${paths.runcRoot} delete --force ${id}')`);
    for (const dir of await fsp.readdir(paths.containers).catch(() => [] as string[])) {
      if (store.getContainer(dir)) continue;
      const layout = storage.layout(dir);
      await storage.deactivate([], layout, true);
      await fsp.rm(layout.dir, { recursive: true, force: true });
      note(dir, 'files of a container without a record (an interrupted create): removed');
    }
    for (const [driver, volume] of await host.pool.volumes()) {
      if (store.getContainer(volume)?.volumeDriver === driver) continue;
      await host.pool.remove({ driver, volume });
      note(volume, 'a disk in the pool without a container (an interrupted create): removed');
    }
    return found;
  }

  /** Starts the containers marked autostart that are not running. */
  async autostart(): Promise<string[]> {
    const started: string[] = [];
    for (const c of this.ctx.store.listContainers()) {
      if (!c.autostart || c.state === 'running') continue;
      try {
        await this.lock.run(c.name, () => this.life.start(c.name));
        started.push(c.name);
      } catch (err) {
        this.ctx.store.addEvent('autostart-failed', c.name, (err as Error).message);
      }
    }
    return started;
  }

  /** Starts the containers that rebooted themselves while the daemon was down (after reconcile, once networks are up). */
  async finishReboots(): Promise<void> {
    for (const name of this.life.takeReboots()) {
      await this.lock.run(name, () => this.life.start(name)).catch((err: Error) => this.ctx.store.addEvent('container-start-failed', name, `after a reboot from inside: ${err.message}`));
    }
  }

  /** After an lxcfs restart: its files are bound again in every running container. */
  async rebindLxcfs(): Promise<void> {
    const lxcfs = this.ctx.host.lxcfs;
    if (!lxcfs) return;
    for (const c of this.ctx.store.listContainers()) {
      if (c.state === 'running' && c.pid) await lxcfs.rebind(c.pid).catch((err: Error) => this.ctx.store.addEvent('lxcfs-rebind-failed', c.name, err.message));
    }
  }
}
