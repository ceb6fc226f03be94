/** Removal of a data root's cgroup parent once runc has removed the containers' own cgroups. */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';

const CGROUP_ROOT = '/sys/fs/cgroup';

/** Removes `parent` from every hierarchy (v1 controllers and v2) where it is empty; busy ones stay. */
export async function removeCgroupParent(parent: string): Promise<void> {
  const dirs = [join(CGROUP_ROOT, parent)];
  for (const entry of await fsp.readdir(CGROUP_ROOT).catch(() => [] as string[])) dirs.push(join(CGROUP_ROOT, entry, parent));
  await Promise.all(dirs.map((d) => fsp.rmdir(d).catch(() => undefined)));
}
