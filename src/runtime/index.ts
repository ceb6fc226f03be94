/**
 * runtime: OCI spec building, the OCI runtimes by name and the monitor. Storage hands it a root
 * path; it hands back pids. A runtime is one folder (`runc/`, `crun/`) and one entry of RUNTIMES; the
 * daemon picks one by configuration (`strata daemon --runtime NAME`) with `openRuntime`.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { FailedPrecondition, InvalidArgument } from '../errors/index.js';
import { crun } from './crun/index.js';
import { runc } from './runc/index.js';
import type { CgroupLayout, OciRuntime, RuntimeOptions } from './runtime.js';

export { buildSpec, type IdMap } from './spec.js';
export { Monitor, type InitDeath } from './monitor.js';
export { isAlive, waitForExit } from '../util/process.js';
export type { CgroupLayout, OciRuntime, RuntimeOptions } from './runtime.js';

export const RUNTIMES: Readonly<Record<string, (opts: RuntimeOptions) => OciRuntime>> = { runc, crun };

export const DEFAULT_RUNTIME = 'runc';

/** The host's cgroup layout, as runtimes declare theirs (RuntimeCapabilities.cgroupLayouts). */
export function cgroupLayout(root = '/sys/fs/cgroup'): CgroupLayout {
  if (existsSync(join(root, 'cgroup.controllers'))) return 'v2';
  return existsSync(join(root, 'unified', 'cgroup.controllers')) ? 'hybrid' : 'v1';
}

const LAYOUT_WORDS: Record<CgroupLayout, string> = { v1: 'cgroup v1', hybrid: 'the hybrid cgroup v1/v2 layout', v2: 'cgroup v2' };

/**
 * The runtime called `name` (default runc) for this host, not yet checked for its binary
 * (`version()`): an unknown name is InvalidArgument listing the known ones; a runtime whose
 * capabilities exclude the host's cgroup layout is FailedPrecondition naming one that fits.
 */
export function openRuntime(name: string | undefined, opts: RuntimeOptions, layout: CgroupLayout = cgroupLayout(), registry = RUNTIMES): OciRuntime {
  const chosen = name || DEFAULT_RUNTIME;
  const make = Object.hasOwn(registry, chosen) ? registry[chosen] : undefined;
  if (!make) throw new InvalidArgument(`unknown runtime ${JSON.stringify(chosen)}: use one of ${Object.keys(registry).join(', ')}`);
  const runtime = make(opts);
  if (!runtime.capabilities.cgroupLayouts.includes(layout)) {
    const fits = Object.entries(registry).filter(([, m]) => m(opts).capabilities.cgroupLayouts.includes(layout)).map(([n]) => n);
    const fix = fits.length ? `start the daemon with --runtime ${fits[0]} (or STRATA_RUNTIME=${fits[0]})` : 'no runtime Strata knows runs on it';
    throw new FailedPrecondition(`the runtime ${chosen} runs on ${runtime.capabilities.cgroupLayouts.map((l) => LAYOUT_WORDS[l]).join(' or ')} only, and this host has ${LAYOUT_WORDS[layout]}: ${fix}`);
  }
  return runtime;
}
