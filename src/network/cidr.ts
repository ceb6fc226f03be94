/**
 * IPv4 address and subnet arithmetic for networks and their address plans. Pure
 * functions on plain numbers and strings; no host access. IPv6 is not handled:
 * Strata networks are IPv4-only.
 */
import { InvalidArgument } from '../errors/index.js';

export interface Subnet {
  /** Network address as an unsigned 32-bit number. */
  base: number;
  prefix: number;
}

const OCTETS = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** The address as a number, or null when it is not a dotted IPv4 address. */
export function parseIp(text: string): number | null {
  const m = OCTETS.exec(text.trim());
  if (!m) return null;
  let n = 0;
  for (let i = 1; i <= 4; i++) {
    if (m[i].length > 1 && m[i].startsWith('0')) return null;
    const o = Number(m[i]);
    if (o > 255) return null;
    n = n * 256 + o;
  }
  return n;
}

export function formatIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** Parses `a.b.c.d/len` (any host bits set are an error: say the network address). */
export function parseSubnet(text: string): Subnet {
  const bad = (why: string): InvalidArgument =>
    new InvalidArgument(`invalid subnet ${JSON.stringify(text)}: ${why}`);
  if (typeof text !== 'string') throw bad('give an IPv4 CIDR such as 10.20.0.0/24');
  const [ip, len, extra] = text.trim().split('/');
  if (extra !== undefined || len === undefined || !/^\d{1,2}$/.test(len)) throw bad('give an IPv4 CIDR such as 10.20.0.0/24');
  const base = parseIp(ip);
  if (base === null) throw bad('give an IPv4 CIDR such as 10.20.0.0/24');
  const prefix = Number(len);
  if (prefix < 8 || prefix > 29) throw bad('use a prefix length between /8 and /29');
  if ((base & maskOf(prefix)) >>> 0 !== base) {
    throw bad(`host bits are set; the network address is ${formatIp((base & maskOf(prefix)) >>> 0)}/${prefix}`);
  }
  return { base, prefix };
}

export function formatSubnet(s: Subnet): string {
  return `${formatIp(s.base)}/${s.prefix}`;
}

function size(s: Subnet): number {
  return 2 ** (32 - s.prefix);
}

function broadcast(s: Subnet): number {
  return s.base + size(s) - 1;
}

export function contains(s: Subnet, ip: number): boolean {
  return ip >= s.base && ip <= broadcast(s);
}

/** True when the address is usable by a host: inside, not the network or broadcast address. */
export function isHostAddress(s: Subnet, ip: number): boolean {
  return ip > s.base && ip < broadcast(s);
}

export function overlaps(a: Subnet, b: Subnet): boolean {
  return a.base <= broadcast(b) && b.base <= broadcast(a);
}

/** First host address (the default gateway). */
export function firstHost(s: Subnet): number {
  return s.base + 1;
}

/**
 * The lowest host address not in `taken`, or null when the subnet is full.
 * Addresses are never reused while taken, so allocation is stable.
 */
export function firstFree(s: Subnet, taken: Set<number>): number | null {
  for (let ip = s.base + 1; ip < broadcast(s); ip++) if (!taken.has(ip)) return ip;
  return null;
}

/** Candidates for the default network, in order: 10.77.0.0/24 … 10.77.255.0/24, then 172.16-31.x.0/24. */
export function* defaultCandidates(): Generator<Subnet> {
  for (let c = 0; c < 256; c++) yield { base: parseIp(`10.77.${c}.0`)!, prefix: 24 };
  for (let b = 16; b < 32; b++) for (let c = 0; c < 256; c++) yield { base: parseIp(`172.${b}.${c}.0`)!, prefix: 24 };
}

/**
 * A stable, locally administered unicast MAC for an address of a data root:
 * 02:<root byte>:<4 address bytes>. Unique on a bridge because addresses are.
 */
export function macFor(rootId: string, ip: number): string {
  const rootByte = parseInt(rootId.slice(0, 2), 16) || 0;
  const bytes = [0x02, rootByte, ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255];
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}
