/**
 * `strata cp`: files between this host and a running container, as tar streams through the API
 * (so also with --remote). Host files are packed and unpacked here (util/tar-tree.ts); the daemon
 * does the container's side.
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { InvalidArgument } from '../../errors/index.js';
import { isValidName } from '../../util/names.js';
import { clientOf, verb } from '../context.js';

type Place = { container: string; path: string } | { host: string };

const HERE = 'this host';

/** `CONTAINER:PATH` (a relative PATH is from the container's root), or a host path, or `-`. */
function placeOf(arg: string): Place {
  const m = /^([^/:]+):(.*)$/.exec(arg);
  if (!m || !isValidName(m[1])) return { host: arg };
  const path = m[2].startsWith('/') ? m[2] : `/${m[2]}`;
  return { container: m[1], path };
}

/** An absolute host path, keeping a trailing `/` (the destination must then be a directory). */
const hostPath = (p: string): string => resolve(p) + (p.endsWith('/') && p !== '/' ? '/' : '');

export function register(program: Command): void {
  verb(program, 'cp', 'copy files between this host and a running container (a file or a directory; - is a tar on stdin/stdout)')
    .argument('<src>', 'HOSTPATH, CONTAINER:PATH or -')
    .argument('<dest>', 'CONTAINER:PATH, HOSTPATH or -')
    .addHelpText('after', '\nInto a directory that exists, SRC is copied under its own name; otherwise it is copied as DEST (whose directory must exist).\n'
      + 'Symlinks are copied as symlinks. Paths in the container are resolved inside its root: its symlinks never lead out.')
    .action(async (src: string, dest: string, _o: unknown, cmd: Command) => {
      const from = placeOf(src);
      const to = placeOf(dest);
      const client = clientOf(cmd);
      if ('host' in from && 'container' in to) {
        if (from.host === '-') {
          await client.containers.writeFiles(to.container, to.path, process.stdin);
          return;
        }
        const { packPath } = await import('../../util/tar-tree.js');
        const packed = await packPath('/', hostPath(from.host), { where: HERE });
        await client.containers.writeFiles(to.container, to.path, packed.stream);
        await packed.done;
        for (const s of packed.skipped) process.stderr.write(`strata: skipped ${s}: not a file, directory or symlink\n`);
        return;
      }
      if ('container' in from && 'host' in to) {
        const tar = await client.containers.readFiles(from.container, from.path);
        if (to.host === '-') await (await import('node:stream/promises')).pipeline(tar, process.stdout);
        else await (await import('../../util/tar-tree.js')).extractTo('/', hostPath(to.host), tar, { where: HERE, followLast: true });
        return;
      }
      throw new InvalidArgument(`strata cp copies between this host and a container: give one side as CONTAINER:PATH and the other as a host path (or -), not ${src} and ${dest}`);
    });
}
