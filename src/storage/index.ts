/**
 * storage: a container's disk. Its root is an overlay: the template's tree
 * (seen through an idmapped mount, so files keep their real ids on disk and
 * the container sees them in its own id range) below, the container's private
 * area above. Host-linked templates add a second overlay over the host's /usr.
 *
 *   const layout = storage.layout('web1');
 *   await storage.prepare(layout, idMap);             // private area
 *   await storage.activate(storage.mounts(layout, …)); // rootfs is mounted
 *   // runc create: the container's mount namespace holds its own copy of the root
 *   await storage.leaveToContainer(mounts);            // the host's mounts go
 *   runningRoot(pid);                                  // the root while it runs
 *   await storage.deactivate(…); await storage.remove(layout);
 *
 * It does not know runc or the database; quotas and the content store come later behind this interface.
 */
import { chmodSync, chownSync, mkdirSync, promises as fsp, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Internal } from '../errors/index.js';
import { hostd } from '../util/hostd.js';
import type { IdMap } from '../model/index.js';
import { idmapRanges, mountAll, mountedTargets, unmountTargets, type Mount } from './mounts.js';

export { type Mount, idmapRanges } from './mounts.js';

/**
 * The merged root of a running container, reached through its init (`/proc/PID/root/`): the host
 * holds no mount of it while it runs (see leaveToContainer). The trailing slash matters: the path
 * is a symlink to the kernel, and directories opened with O_NOFOLLOW (util/inroot) must follow it.
 */
export function runningRoot(pid: number): string {
  return `/proc/${pid}/root/`;
}

export interface ContainerLayout {
  dir: string;
  /** Merged root, the path runc creates the container from; mounted on the host only while it is created (runningRoot after). */
  rootfs: string;
  /** The directory holding the private area and overlay work dirs; a volume's mount point when disk-limited. */
  privateDir: string;
  /** The container's own writable layer (overlay upper). */
  privateArea: string;
  work: string;
  layers: string;
  consoleLog: string;
  bundle: string;
}

/** What a template contributes to a container's root. */
export interface TemplateLayers {
  rootfs: string;
  /** The tree already has the container's ids on disk (the fallback without idmapped mounts). */
  preShifted?: boolean;
  /** Host directory used in place at /usr (host-linked templates). */
  hostUsr?: string;
  /** Application template layers, top first, each above the template's tree. */
  apps?: AppLayer[];
}

/** An application template version as layers: its tree, and its whiteouts (when it deletes anything). */
export interface AppLayer {
  /** A short name for the mount point under the container's layers directory. */
  id: string;
  tree: string;
  wh?: string;
  /** Template uid/gid → container uid/gid, for ids remapped at attach. */
  uidMap?: ReadonlyMap<number, number>;
  gidMap?: ReadonlyMap<number, number>;
}

export class Storage {
  constructor(private readonly containersDir: string) {}

  layout(name: string): ContainerLayout {
    const dir = join(this.containersDir, name);
    return {
      dir,
      rootfs: join(dir, 'rootfs'),
      privateDir: join(dir, 'private'),
      privateArea: join(dir, 'private', 'root'),
      work: join(dir, 'private', 'work'),
      layers: join(dir, 'layers'),
      consoleLog: join(dir, 'console.log'),
      bundle: join(dir, 'bundle'),
    };
  }

  /**
   * Creates (or mends) the container's directory so that only host root and the container's
   * own root group can pass through it (0710 root:BASE), and nobody else: runc's init resolves
   * the root's path as the container's root before pivot_root, but no other host user may reach
   * the set-user-id files, file capabilities and data below (docs/security.md).
   * Like prepare's, its calls are synchronous: a few microseconds each on a local disk, where a
   * round trip through node's thread pool costs a hundred or more.
   */
  async enclose(layout: ContainerLayout, idMap: IdMap | undefined): Promise<void> {
    mkdirSync(layout.dir, { recursive: true, mode: 0o700 });
    chownSync(layout.dir, 0, idMap?.hostBase ?? 0);
    chmodSync(layout.dir, idMap ? 0o710 : 0o700);
  }

  /** Creates the private area, owned by the container's root. */
  async prepare(layout: ContainerLayout, idMap: IdMap | undefined, template: TemplateLayers): Promise<void> {
    await this.enclose(layout, idMap);
    mkdirSync(layout.privateDir, { recursive: true, mode: 0o700 });
    chmodSync(layout.privateDir, 0o700);
    const owner = idMap?.hostBase ?? 0;
    const uppers = [layout.privateArea, ...(template.hostUsr ? [join(layout.privateArea, 'usr')] : [])];
    for (const dir of uppers) {
      mkdirSync(dir, { recursive: true, mode: 0o755 });
      chownSync(dir, owner, owner);
    }
    mkdirSync(layout.work, { mode: 0o700 });
    if (template.hostUsr) mkdirSync(`${layout.work}-usr`, { mode: 0o700 });
  }

  /** The mounts that make up the container's root, in the order to mount them. */
  mounts(layout: ContainerLayout, idMap: IdMap | undefined, template: TemplateLayers): Mount[] {
    const mounts: Mount[] = [];
    const lowers: string[] = [];
    for (const app of template.apps ?? []) {
      const remapped = (app.uidMap?.size ?? 0) + (app.gidMap?.size ?? 0) > 0;
      if (idMap || remapped) {
        const target = join(layout.layers, app.id);
        const base = idMap ?? { hostBase: 0, size: 65536 };
        mounts.push({
          kind: 'idmap', source: app.tree, target, ...base,
          ...(remapped ? { uidMap: idmapRanges(base.hostBase, base.size, app.uidMap ?? new Map()), gidMap: idmapRanges(base.hostBase, base.size, app.gidMap ?? new Map()) } : {}),
        });
        lowers.push(target);
      } else {
        lowers.push(app.tree);
      }
      // Whiteouts and opaque markers need no id mapping: the tree above holds every directory's metadata.
      if (app.wh) lowers.push(app.wh);
    }
    let lower = template.rootfs;
    if (idMap && !template.preShifted) {
      lower = join(layout.layers, '0');
      mounts.push({ kind: 'idmap', source: template.rootfs, target: lower, ...idMap });
    }
    lowers.push(lower);
    mounts.push({ kind: 'overlay', lower: lowers, upper: layout.privateArea, work: layout.work, target: layout.rootfs });
    if (template.hostUsr) {
      let usr = template.hostUsr;
      if (idMap) {
        usr = join(layout.layers, 'usr');
        mounts.push({ kind: 'idmap', source: template.hostUsr, target: usr, ...idMap });
      }
      mounts.push({ kind: 'overlay', lower: [usr], upper: join(layout.privateArea, 'usr'), work: `${layout.work}-usr`, target: join(layout.rootfs, 'usr') });
    }
    return mounts;
  }

  activate(mounts: Mount[]): Promise<void> {
    return mountAll(mounts);
  }

  /**
   * Takes the root's mounts off the host once the container is created: its mount namespace holds
   * its own copy (the spec's root propagation is rprivate, so nothing of this reaches it). The
   * host's mount table then does not grow with running containers, and every later container
   * create copies and reads a table of the host's own size (docs/performance.md). The root goes
   * away with the container's namespace when its last process ends.
   */
  async leaveToContainer(mounts: Mount[]): Promise<void> {
    // activate mounted every overlay (the idmapped layers went at once): /usr's before the root.
    const targets = mounts.filter((m) => m.kind === 'overlay').reverse().map((m) => m.target);
    await hostd().unmount(targets, `handing ${targets[targets.length - 1]} over to its container`);
  }

  /**
   * Unmounts the container's root, and anything left mounted below its directory except its
   * private area's volume (which stays for the container's life), unless `everything`.
   */
  async deactivate(mounts: Mount[], layout: ContainerLayout, everything = false): Promise<void> {
    // The container's own mounts (in reverse order), then a layer left mounted by a start that
    // failed half-way: each path asked whether it is a mount point, as the mount table grows with
    // the containers (every start and stop asks).
    const own = [...mounts].reverse().map((m) => m.target);
    if (!everything) {
      let strayLayers: string[] = [];
      try {
        strayLayers = readdirSync(layout.layers).map((l) => join(layout.layers, l)).filter((l) => !own.includes(l));
      } catch { /* no layers directory */ }
      const candidates = [...own, ...strayLayers];
      const points = await hostd().mountPoints(candidates);
      if (points) {
        await unmountTargets(candidates, points);
        return;
      }
    }
    // Everything (before the directory is removed), or a kernel that cannot tell mount points
    // apart (before 5.8): one read of the mount table, and anything below the container's
    // directory goes, deepest first.
    const mounted = mountedTargets();
    const ownMounted = own.filter((t) => mounted.has(t));
    const stray = [...mounted]
      .filter((t) => t.startsWith(`${layout.dir}/`) && (everything || t !== layout.privateDir) && !ownMounted.includes(t))
      .sort().reverse();
    await unmountTargets([...ownMounted, ...stray], mounted);
  }

  async isActive(layout: ContainerLayout): Promise<boolean> {
    return mountedTargets().has(layout.rootfs);
  }

  /** Removes everything of the container on disk. Refuses while anything is mounted below it. */
  async remove(layout: ContainerLayout): Promise<void> {
    const busy = [...mountedTargets()].filter((t) => t === layout.dir || t.startsWith(`${layout.dir}/`));
    if (busy.length) throw new Internal(`cannot remove ${layout.dir}: still mounted at ${busy.join(', ')}`);
    await fsp.rm(layout.dir, { recursive: true, force: true });
  }
}
