/**
 * Who may reach what under a data root (docs/security.md). Template trees and the content store
 * keep files with their real owners, set-user-id bits and file capabilities; container roots hold
 * their customers' data. So only host root passes below the data root, with one exception: a
 * container's own root ids pass through the data root and `containers/` (traverse, not list) to
 * the container's directory, which lets in only them (0710 root:BASE, see storage.enclose), since
 * runc's init resolves the container's root path as the container's root before pivot_root.
 *
 * Set at every daemon start, so data roots made by older versions are mended too.
 */
import { promises as fsp } from 'node:fs';
import { dirname } from 'node:path';
import type { Paths } from '../config/index.js';
import { run } from '../util/exec.js';

/** Directory modes, owner root:root. */
function dataRootModes(paths: Paths): Array<[string, number]> {
  return [
    [paths.root, 0o711],
    [paths.containers, 0o711],
    [paths.templates, 0o700],
    [paths.store, 0o700],
    [paths.pool, 0o700],
  ];
}

export async function secureDataRoot(paths: Paths): Promise<void> {
  for (const [dir, mode] of dataRootModes(paths)) {
    await fsp.mkdir(dir, { recursive: true, mode });
    await fsp.chown(dir, 0, 0);
    await fsp.chmod(dir, mode);
  }
  await fsp.mkdir(paths.run, { recursive: true, mode: 0o700 });
  await fsp.chmod(paths.run, 0o700);
  // SQLite gives its -wal and -shm files the database file's mode: make that 0600 before opening.
  await (await fsp.open(paths.db, 'a', 0o600)).close();
  for (const file of [paths.db, `${paths.db}-wal`, `${paths.db}-shm`, `${paths.db}-journal`]) {
    await fsp.chmod(file, 0o600).catch((err: NodeJS.ErrnoException) => { if (err.code !== 'ENOENT') throw err; });
  }
}

/**
 * Why a container's ids cannot reach `paths.containers`, in one sentence, or null when they can.
 * Tried for real as host id `probeId` (one of the container ranges): modes and ACLs both count.
 */
export async function containersUnreachable(paths: Paths, probeId: number): Promise<string | null> {
  const as = ['setpriv', `--reuid=${probeId}`, `--regid=${probeId}`, '--clear-groups', '--', 'test', '-x'];
  if ((await run([...as, paths.containers], { allowFailure: true })).status === 0) return null;
  let blocking = paths.containers;
  for (let dir = dirname(paths.containers); dir !== '/'; dir = dirname(dir)) {
    if ((await run([...as, dir], { allowFailure: true })).status !== 0) blocking = dir;
  }
  return `unprivileged containers cannot start under the data root ${paths.root}: its parent directory ${blocking} does not let other users pass `
    + `(container ids must traverse it): run 'chmod o+x ${blocking}', or choose a data root elsewhere with --root`;
}
