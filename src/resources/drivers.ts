/**
 * The cgroup drivers by name, and which one this host needs. The interface is cgroup.ts; each
 * driver is one file beside it and one entry here, and passes cgroup.conformance.ts.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CgroupDriver } from './cgroup.js';
import { CgroupV1 } from './v1.js';
import { CgroupV2 } from './v2.js';

const CGROUP_DRIVERS: Readonly<Record<'v1' | 'v2', (root: string) => CgroupDriver>> = {
  v1: (root) => new CgroupV1(root),
  v2: (root) => new CgroupV2(root),
};

/** cgroup v2 when `<root>/cgroup.controllers` exists and lists memory; else v1 (also the v1/v2 hybrid). */
export function detectCgroupDriver(root = '/sys/fs/cgroup'): CgroupDriver {
  const file = join(root, 'cgroup.controllers');
  if (existsSync(file)) {
    let controllers: string[] = [];
    try { controllers = readFileSync(file, 'utf8').trim().split(/\s+/); } catch { /* unreadable: not usable as v2 */ }
    if (controllers.includes('memory')) return CGROUP_DRIVERS.v2(root);
  }
  return CGROUP_DRIVERS.v1(root);
}
