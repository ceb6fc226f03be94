/**
 * Published ports: parsing `HOSTPORT:CTPORT[/tcp|/udp]` and finding which host
 * ports something on the host already listens on (from /proc/net, the daemon's
 * network namespace being the host's). The forwarding rules are in rules.ts.
 */
import { readFileSync } from 'node:fs';
import { InvalidArgument } from '../errors/index.js';

export type Proto = 'tcp' | 'udp';

export interface PortSpec {
  hostPort: number;
  containerPort: number;
  proto: Proto;
}

export function parsePortSpec(spec: string): PortSpec {
  const m = /^\s*(\d{1,5}):(\d{1,5})(?:\/(tcp|udp))?\s*$/i.exec(String(spec));
  const hostPort = m ? Number(m[1]) : NaN;
  const containerPort = m ? Number(m[2]) : NaN;
  if (!m || hostPort < 1 || hostPort > 65535 || containerPort < 1 || containerPort > 65535) {
    throw new InvalidArgument(
      `invalid port ${JSON.stringify(spec)}: write HOSTPORT:CTPORT[/tcp|/udp] with ports 1-65535, e.g. 8080:80/tcp`,
    );
  }
  return { hostPort, containerPort, proto: (m[3]?.toLowerCase() ?? 'tcp') as Proto };
}

export function formatPortSpec(p: PortSpec): string {
  return `${p.hostPort}:${p.containerPort}/${p.proto}`;
}

/**
 * Local ports in use in one /proc/net/{tcp,tcp6,udp,udp6} table: listening
 * sockets for TCP (state 0A), every bound socket for UDP.
 */
export function portsInProcTable(text: string, proto: Proto): Set<number> {
  const ports = new Set<number>();
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 4) continue;
    const port = parseInt(f[1].split(':')[1] ?? '', 16);
    if (!Number.isFinite(port) || port === 0) continue;
    if (proto === 'tcp' && f[3] !== '0A') continue;
    ports.add(port);
  }
  return ports;
}

/** Whether a process on the host already listens on (or, for UDP, is bound to) the port. */
export function hostPortInUse(port: number, proto: Proto): boolean {
  for (const file of [`/proc/net/${proto}`, `/proc/net/${proto}6`]) {
    let text = '';
    try { text = readFileSync(file, 'utf8'); } catch { continue; }
    if (portsInProcTable(text, proto).has(port)) return true;
  }
  return false;
}
