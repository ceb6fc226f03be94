/**
 * The host side of networks: bridges, routes and addresses, shared sysctls,
 * held network namespaces and interface counters. Thin wrappers over `ip`, `tc`,
 * the resident helper, /proc and /sys; no records
 * (index.ts keeps those).
 */
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync, type Stats } from 'node:fs';
import { dirname, join } from 'node:path';
import { FailedPrecondition } from '../errors/index.js';
import { hostd } from '../util/hostd.js';
import { run } from '../util/exec.js';
import { parseIp, type Subnet } from './cidr.js';

// Links

/**
 * Whether /sys/class/net shows this process's network namespace. Not so for a daemon put into
 * another one without a /sys of its own (`nsenter --net`, as the move tests run two "hosts"):
 * its links are then read from /proc/net/dev, which is always the reader's namespace.
 */
const sysfsIsOurs = ((): boolean => {
  // The two lists agree when they are one namespace's (tried thrice: links come and go meanwhile).
  for (let i = 0; i < 3; i++) {
    try {
      const sys = readdirSync('/sys/class/net').sort().join(' ');
      const proc = [...procLinks().keys()].sort().join(' ');
      if (sys === proc) return true;
    } catch {
      return true;
    }
  }
  return false;
})();

/** The links of this namespace with their counters, from /proc/net/dev. */
function procLinks(): Map<string, Omit<LinkStats, 'ifindex'>> {
  const links = new Map<string, Omit<LinkStats, 'ifindex'>>();
  for (const line of readFileSync('/proc/net/dev', 'utf8').split('\n').slice(2)) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const f = line.slice(colon + 1).trim().split(/\s+/).map(Number);
    links.set(line.slice(0, colon).trim(), { rxBytes: f[0], rxPackets: f[1], txBytes: f[8], txPackets: f[9] });
  }
  return links;
}

export function linkExists(name: string): boolean {
  return sysfsIsOurs ? existsSync(`/sys/class/net/${name}`) : procLinks().has(name);
}

/** The names of this namespace's links. */
export function listLinks(): string[] {
  return sysfsIsOurs ? readdirSync('/sys/class/net') : [...procLinks().keys()];
}

export async function createBridge(name: string, gatewayCidr: string): Promise<void> {
  const ctx = `creating bridge ${name}`;
  await run(['ip', 'link', 'add', name, 'type', 'bridge'], { context: ctx });
  // IPv4-only networks: no IPv6 on the bridge, so nothing a container says in IPv6 can configure the host.
  await writeSysctl(`net/ipv6/conf/${name}/disable_ipv6`, '1').catch(() => undefined);
  // Published ports answer on 127.0.0.1: locally generated packets with a loopback source may leave via this bridge.
  await writeSysctl(`net/ipv4/conf/${name}/route_localnet`, '1');
  await run(['ip', 'addr', 'add', gatewayCidr, 'dev', name], { context: ctx });
  await run(['ip', 'link', 'set', name, 'up'], { context: ctx });
}

export async function deleteLink(name: string): Promise<void> {
  if (!linkExists(name)) return;
  await run(['ip', 'link', 'del', name], { context: `deleting link ${name}`, allowFailure: true });
}

/** Removes the qdiscs the bandwidth plugin leaves on the host end after its DEL (it only deletes its ifb). */
export async function clearShaping(port: string): Promise<void> {
  if (!linkExists(port)) return;
  await run(['tc', 'qdisc', 'del', 'dev', port, 'root'], { allowFailure: true });
  await run(['tc', 'qdisc', 'del', 'dev', port, 'ingress'], { allowFailure: true });
}

// Routes and addresses

export interface HostRoute { subnet: Subnet; text: string }

/** The host's IPv4 routes and interface addresses, default routes left out. */
export async function hostRoutes(): Promise<HostRoute[]> {
  const out: HostRoute[] = [];
  const routes = JSON.parse((await run(['ip', '-4', '-j', 'route', 'show'], { context: 'reading host routes' })).stdout || '[]') as
    Array<{ dst: string; dev?: string }>;
  for (const r of routes) {
    if (r.dst === 'default') continue;
    const [ip, len] = r.dst.split('/');
    const base = parseIp(ip);
    if (base === null) continue;
    out.push({ subnet: { base, prefix: len === undefined ? 32 : Number(len) }, text: `route ${r.dst}${r.dev ? ` dev ${r.dev}` : ''}` });
  }
  const addrs = JSON.parse((await run(['ip', '-4', '-j', 'addr', 'show'], { context: 'reading host addresses' })).stdout || '[]') as
    Array<{ ifname: string; addr_info?: Array<{ local: string; prefixlen: number }> }>;
  for (const l of addrs) {
    for (const a of l.addr_info ?? []) {
      const base = parseIp(a.local);
      if (base === null || a.local.startsWith('127.')) continue;
      out.push({ subnet: { base, prefix: 32 }, text: `address ${a.local}/${a.prefixlen} on ${l.ifname}` });
    }
  }
  return out;
}

// Sysctls

async function readSysctl(key: string): Promise<string> {
  return readFileSync(join('/proc/sys', key), 'utf8').trim();
}

async function writeSysctl(key: string, value: string): Promise<void> {
  writeFileSync(join('/proc/sys', key), value);
}

/**
 * Host-wide sysctls shared by every Strata root on the host (ip_forward): the
 * first holder records the original value and sets the new one; the last holder
 * to let go restores the original. Kept in /run/strata/net-sysctls.json so that
 * two daemons with different roots agree.
 */
export class SharedSysctls {
  constructor(private readonly file: string) {}

  private load(): Record<string, { original: string; value: string; holders: string[] }> {
    try {
      return JSON.parse(readFileSync(this.file, 'utf8')) as Record<string, { original: string; value: string; holders: string[] }>;
    } catch {
      return {};
    }
  }

  private save(data: Record<string, unknown>): void {
    mkdirSync(dirname(this.file), { recursive: true });
    if (Object.keys(data).length === 0) {
      try { unlinkSync(this.file); } catch { /* already gone */ }
      return;
    }
    const tmp = `${this.file}.tmp-${process.pid}`;
    writeFileSync(tmp, JSON.stringify(data, null, 2));
    renameSync(tmp, this.file);
  }

  /** Returns the value before Strata touched it. */
  async acquire(key: string, holder: string, value: string): Promise<string> {
    const data = this.load();
    let entry = data[key];
    if (!entry) entry = data[key] = { original: await readSysctl(key), value, holders: [] };
    if (!entry.holders.includes(holder)) entry.holders.push(holder);
    if ((await readSysctl(key)) !== value) await writeSysctl(key, value);
    this.save(data);
    return entry.original;
  }

  async release(key: string, holder: string): Promise<void> {
    const data = this.load();
    const entry = data[key];
    if (!entry) return;
    entry.holders = entry.holders.filter((h) => h !== holder);
    if (entry.holders.length === 0) {
      await writeSysctl(key, entry.original);
      delete data[key];
    }
    this.save(data);
  }

  holders(key: string): string[] {
    return this.load()[key]?.holders ?? [];
  }
}

// Network namespaces

/**
 * The network namespaces this process holds open, by key (a container's pin name). Held, a
 * namespace outlives its processes until let go, so a CNI DEL can still enter it after the
 * container's init died; a plugin or the helper gets it as /proc/<daemon>/fd/<n>. No mount: the
 * host's mount table, which every `runc create` copies, does not grow with running containers.
 * A daemon that restarts holds them again for its running containers (reconcile).
 */
const pins = new Map<string, number>();

function isMountPoint(path: string): boolean {
  try {
    return statSync(path).dev !== statSync(dirname(path)).dev;
  } catch {
    return false;
  }
}

/** Whether the namespace under `key` is held (or bind-mounted there by an older Strata). */
export function isPinned(key: string): boolean {
  return pins.has(key) || isMountPoint(key);
}

/** The path that enters the namespace held under `key`, or '' when none is. */
export function pinPath(key: string): string {
  const fd = pins.get(key);
  if (fd !== undefined) return `/proc/${process.pid}/fd/${fd}`;
  return isMountPoint(key) ? key : '';
}

const sameNamespace = (a: Stats, b: Stats): boolean => a.dev === b.dev && a.ino === b.ino;

/** True when `key` holds the network namespace of `pid`. */
export function pinnedTo(key: string, pid: number): boolean {
  const held = pinPath(key);
  if (!held) return false;
  try {
    return sameNamespace(statSync(held), statSync(`/proc/${pid}/ns/net`));
  } catch {
    return false;
  }
}

/**
 * Holds the network namespace of `pid` under `key` (instead of what it held before). Never the
 * daemon's own: a CNI DEL in it would take a host interface down (a stale pid, reused).
 */
export async function pinNetns(key: string, pid: number): Promise<void> {
  const fd = openSync(`/proc/${pid}/ns/net`, 'r');
  if (sameNamespace(fstatSync(fd), statSync('/proc/self/ns/net'))) {
    closeSync(fd);
    throw new FailedPrecondition(`process ${pid} is in the daemon's own network namespace, not a container's: its namespace is not held`);
  }
  await unpinNetns(key);
  pins.set(key, fd);
}

/** Lets go of the namespace held under `key`, if any. */
export async function unpinNetns(key: string): Promise<void> {
  const fd = pins.get(key);
  if (fd !== undefined) {
    pins.delete(key);
    closeSync(fd);
  }
  // An older Strata pinned by a bind mount at the key's path.
  if (isMountPoint(key)) await hostd().unmount([key], `unpinning network namespace ${key}`);
  if (existsSync(key)) unlinkSync(key);
}

// Counters

export interface LinkStats { ifindex: number; rxBytes: number; txBytes: number; rxPackets: number; txPackets: number }

/**
 * Counters of many links at once: /proc/net/dev read once, and only the ifindex from sysfs (its
 * statistics files cost five reads a link, which a thousand containers' stats notice).
 */
export function linkStatsOfAll(): (name: string) => LinkStats | null {
  const all = procLinks();
  return (name) => {
    const s = all.get(name);
    if (!s || !sysfsIsOurs) return s ? { ifindex: 0, ...s } : null;
    try {
      return { ifindex: Number(readFileSync(`/sys/class/net/${name}/ifindex`, 'utf8')), ...s };
    } catch {
      return null;
    }
  };
}

/** Counters of a host link as the host sees them, or null when it does not exist. */
export function linkStats(name: string): LinkStats | null {
  if (!sysfsIsOurs) {
    // No ifindex there: a new lifetime of the link shows only by its counters falling.
    const s = procLinks().get(name);
    return s ? { ifindex: 0, ...s } : null;
  }
  const dir = `/sys/class/net/${name}`;
  try {
    const read = (f: string): number => Number(readFileSync(join(dir, f), 'utf8').trim());
    return {
      ifindex: read('ifindex'),
      rxBytes: read('statistics/rx_bytes'),
      txBytes: read('statistics/tx_bytes'),
      rxPackets: read('statistics/rx_packets'),
      txPackets: read('statistics/tx_packets'),
    };
  } catch {
    return null;
  }
}
