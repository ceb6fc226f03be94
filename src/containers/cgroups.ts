/** Removal of a data root's cgroup parent once runc has removed the containers' own cgroups. */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';

const CGROUP_ROOT = '/sys/fs/cgroup';

/** Removes `parent` (and its empty tenant groups) from every hierarchy (v1 controllers and v2) where it is empty; busy ones stay. */
export async function removeCgroupParent(parent: string): Promise<void> {
  const dirs = [join(CGROUP_ROOT, parent)];
  for (const entry of await fsp.readdir(CGROUP_ROOT).catch(() => [] as string[])) dirs.push(join(CGROUP_ROOT, entry, parent));
  await Promise.all(dirs.map(async (d) => {
    // Tenants' groups (tenant.NAME) go with the parent when no container is left in them.
    for (const e of await fsp.readdir(d).catch(() => [] as string[])) if (e.startsWith('tenant.')) await fsp.rmdir(join(d, e)).catch(() => undefined);
    await fsp.rmdir(d).catch(() => undefined);
  }));
}
