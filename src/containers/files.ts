/**
 * Files copied in and out of a running container (`strata cp`), as tar streams. Paths are resolved
 * inside the container's merged root as chroot would (util/inroot.ts): no symlink in the container
 * leads outside it. Owners are mapped between the container's view and the host: container id k
 * is host id hostBase+k; an archive's id outside the container's range becomes its nobody (65534).
 *
 * What it is not: a way into a stopped container. Its root is mounted only while it runs, and
 * mounting it for a copy would race a start; a copy of a stopped one is refused with the fix.
 * A copy holds the container's lock, so a stop waits for it to end.
 */
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { FailedPrecondition } from '../errors/index.js';
import type { IdMap } from '../model/index.js';
import type { KeyedLock } from '../util/keyed-lock.js';
import { extractTo, packPath, type Extracted, type IdMapper } from '../util/tar-tree.js';
import type { ContainerContext } from './context.js';

/** The container's nobody: where an owner outside its id range goes. */
const NOBODY = 65534;

/** Host owners → the container's view (ids outside its range show as nobody, as the kernel shows them inside). */
function idsOut(idMap: IdMap | undefined): IdMapper {
  if (!idMap) return (u, g) => [u, g];
  const one = (id: number): number => (id >= idMap.hostBase && id < idMap.hostBase + idMap.size ? id - idMap.hostBase : NOBODY);
  return (u, g) => [one(u), one(g)];
}

/** The container's owners (from an archive) → host owners in its range; ids outside the range become its nobody. */
function idsIn(idMap: IdMap | undefined): IdMapper {
  if (!idMap) return (u, g) => [u, g];
  const nobody = Math.min(NOBODY, idMap.size - 1);
  const one = (id: number): number => idMap.hostBase + (id >= 0 && id < idMap.size ? id : nobody);
  return (u, g) => [one(u), one(g)];
}

export class ContainerFiles {
  constructor(private readonly ctx: ContainerContext, private readonly lock: KeyedLock) {}

  /**
   * A tar of what `path` names in running container `name` (a file, a directory with everything
   * below it, or a symlink as a symlink). Refusals (no container, not running, no such path) are
   * thrown before the stream is answered.
   */
  read(name: string, path: string): Promise<Readable> {
    return new Promise((resolve, reject) => {
      void this.lock.run(name, async () => {
        try {
          const { root, idMap } = await this.runningRoot(name, 'read');
          const packed = await packPath(root, path, { where: `container ${name}`, ids: idsOut(idMap) });
          resolve(packed.stream);
          // The lock is held until the stream has been sent (or the client went away).
          await Promise.all([packed.done.catch(() => undefined), finished(packed.stream).catch(() => undefined)]);
        } catch (err) {
          reject(err);
        }
      });
    });
  }

  /** Extracts a tar at `path` in running container `name`: into it when a directory, else as it (docs/cli.md). */
  write(name: string, path: string, archive: NodeJS.ReadableStream): Promise<Extracted> {
    return this.lock.run(name, async () => {
      const { root, idMap } = await this.runningRoot(name, 'write');
      return extractTo(root, path, archive, { where: `container ${name}`, ids: idsIn(idMap) });
    });
  }

  private async runningRoot(name: string, verb: string): Promise<{ root: string; idMap: IdMap | undefined }> {
    const c = this.ctx.record(name);
    if (!(await this.ctx.isRunning(c))) {
      throw new FailedPrecondition(`container ${name} is ${c.state}: strata cp can ${verb} the files of a running container only (its root is mounted while it runs); start it with 'strata start ${name}' first`);
    }
    return { root: this.ctx.mergedRoot(c), idMap: this.ctx.idMapOf(c) };
  }
}
