/**
 * Where one daemon keeps things. Every host object a daemon creates is named
 * from its data root (through `rootId`), so that two daemons with different
 * roots never touch each other's runtime state, cgroups, mounts or sockets.
 */
import { createHash } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const VERSION = '0.1.0';
export const DEFAULT_ROOT = '/var/lib/strata';
const DEFAULT_SOCKET = '/run/strata/strata.sock';

export interface Paths {
  root: string;
  rootId: string;
  db: string;
  templates: string;
  containers: string;
  /** The content store: every template file once, by digest. */
  store: string;
  /** The storage pool: size-limited private areas. */
  pool: string;
  /** Runtime state that must not survive a host reboot (tmpfs). */
  run: string;
  runcRoot: string;
  monitorSocket: string;
  /** Cgroup parent of all containers of this root, under each controller. */
  cgroupParent: string;
  /** The TLS listener's certificate and key (made at its first start unless given). */
  tls: { cert: string; key: string };
  helpers: { idmount: string; monitor: string; hostd: string };
}

const projectTop = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** Where `npm run build` puts the native helper `name` (native/<name>.c). */
export function nativeHelper(name: 'strata-idmount' | 'strata-monitor' | 'strata-hostd'): string {
  return join(projectTop, 'native', 'build', name);
}

export function pathsFor(rootDir: string): Paths {
  const root = resolve(rootDir);
  const rootId = createHash('sha256').update(root).digest('hex').slice(0, 10);
  const run = `/run/strata/${rootId}`;
  return {
    root,
    rootId,
    db: join(root, 'strata.db'),
    templates: join(root, 'templates'),
    containers: join(root, 'containers'),
    pool: join(root, 'pool'),
    store: join(root, 'store'),
    run,
    runcRoot: join(run, 'runc'),
    monitorSocket: join(run, 'monitor.sock'),
    cgroupParent: `strata-${rootId}`,
    tls: { cert: join(root, 'tls', 'server.crt'), key: join(root, 'tls', 'server.key') },
    helpers: {
      idmount: nativeHelper('strata-idmount'),
      monitor: nativeHelper('strata-monitor'),
      hostd: nativeHelper('strata-hostd'),
    },
  };
}

export function resolveRoot(flag?: string): string {
  return flag ?? process.env.STRATA_ROOT ?? DEFAULT_ROOT;
}

export function resolveSocket(flag?: string): string {
  return flag || process.env.STRATA_SOCKET || DEFAULT_SOCKET;
}
