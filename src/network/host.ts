/**
 * The host side of networks: bridges, routes and addresses, shared sysctls,
 * pinned network namespaces and interface counters. Thin wrappers over `ip`,
 * `bridge`, `tc`, `mount`, /proc and /sys; no records (index.ts keeps those).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
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

/**
 * Makes the bridge plugin's new host veth `from` the container's port `port`: renamed, no MAC
 * learning and no unknown-unicast flooding (a neighbour never sees frames meant for someone
 * else), port isolation on --isolated networks, and a static forwarding entry for the
 * container's own MAC. Two commands (a start pays for each): one `ip -batch`, then the entry.
 */
export async function renameAndConfigurePort(from: string, port: string, mac: string, isolated: boolean): Promise<void> {
  const ctx = `configuring bridge port ${port}`;
  const batch = from === port
    ? `link set dev ${port} type bridge_slave learning off flood off isolated ${isolated ? 'on' : 'off'}\n`
    : `link set dev ${from} down\nlink set dev ${from} name ${port}\nlink set dev ${port} up type bridge_slave learning off flood off isolated ${isolated ? 'on' : 'off'}\n`;
  await run(['ip', '-batch', '-'], { input: batch, context: ctx });
  await run(['bridge', 'fdb', 'replace', mac, 'dev', port, 'master', 'static'], { context: ctx });
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

function sameFile(a: string, b: string): boolean {
  try {
    const sa = statSync(a);
    const sb = statSync(b);
    return sa.dev === sb.dev && sa.ino === sb.ino;
  } catch {
    return false;
  }
}

/** Whether `path` is a pinned network namespace (a bind mount of an nsfs file). */
export function isPinned(path: string): boolean {
  try {
    return statSync(path).dev !== statSync(dirname(path)).dev;
  } catch {
    return false;
  }
}

/** True when the pin at `path` holds the network namespace of `pid`. */
export function pinnedTo(path: string, pid: number): boolean {
  return isPinned(path) && sameFile(path, `/proc/${pid}/ns/net`);
}

/** Bind-mounts /proc/<pid>/ns/net at `path`, so the namespace outlives its processes until unpinned. */
export async function pinNetns(path: string, pid: number): Promise<void> {
  mkdirSync(dirname(path), { recursive: true });
  if (isPinned(path)) await unpinNetns(path);
  writeFileSync(path, '');
  await run(['mount', '--bind', `/proc/${pid}/ns/net`, path], { context: `pinning the network namespace of pid ${pid}` });
}

export async function unpinNetns(path: string): Promise<void> {
  while (isPinned(path)) {
    const res = await run(['umount', path], { allowFailure: true });
    if (res.status !== 0) {
      await run(['umount', '-l', path], { context: `unpinning network namespace ${path}` });
    }
  }
  try { unlinkSync(path); } catch { /* already gone */ }
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
