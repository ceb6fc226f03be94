/**
 * The nftables rules of one network, rendered from records (pure) and applied
 * atomically. Each network owns two tables and nothing else:
 *
 *   table ip strata_<root>_<n>      NAT (outbound masquerade on --nat networks),
 *                                   published ports (DNAT, also for 127.0.0.1 and
 *                                   hairpin), forward filter (isolation between
 *                                   networks, and between containers of an
 *                                   --isolated network when routed via the gateway)
 *   table bridge strata_<root>_<n>  anti-spoofing per container port: only the
 *                                   container's own MAC and IPv4 address, ARP only
 *                                   with its own sender MAC/IP, no IPv6 at all
 *                                   (so no router advertisements, redirects or
 *                                   neighbour spoofing), no other ethertypes
 *
 * A change re-renders both tables and swaps them in one nft transaction; removing
 * the network deletes them. Nothing here touches another table.
 */
import { hostd } from '../util/hostd.js';
import type { Proto } from './ports.js';

export interface RuleNetwork {
  table: string;
  bridge: string;
  subnet: string;
  nat: boolean;
  isolated: boolean;
}
export interface RulePort { proto: Proto; hostPort: number; containerPort: number; ip: string }
export interface RulePortOwner { hostIfname: string; mac: string; ip: string }

const q = (s: string): string => JSON.stringify(s);

export function nftScript(n: RuleNetwork, owners: RulePortOwner[], ports: RulePort[]): string {
  const br = q(n.bridge);
  const dnat = ports
    .slice()
    .sort((a, b) => a.hostPort - b.hostPort || a.proto.localeCompare(b.proto))
    .map((p) => `    ${p.proto} dport ${p.hostPort} dnat to ${p.ip}:${p.containerPort}`);
  const post = [
    `    oifname ${br} ip saddr 127.0.0.0/8 masquerade`,
    `    oifname ${br} ct status dnat ip saddr ${n.subnet} masquerade`,
  ];
  if (n.nat) post.push(`    ip saddr ${n.subnet} ip daddr != ${n.subnet} oifname != ${br} masquerade`);
  const fwd: string[] = [];
  if (n.isolated) fwd.push(`    iifname ${br} oifname ${br} drop`);
  fwd.push(`    iifname ${br} oifname "stb*" oifname != ${br} drop`);
  fwd.push(`    oifname ${br} iifname "stb*" iifname != ${br} drop`);

  const lines = [
    `table ip ${n.table} {}`,
    `delete table ip ${n.table}`,
    `table ip ${n.table} {`,
    `  chain prerouting {`,
    `    type nat hook prerouting priority dstnat; policy accept;`,
    `    fib daddr type local jump ports`,
    `  }`,
    `  chain output {`,
    `    type nat hook output priority -100; policy accept;`,
    `    fib daddr type local jump ports`,
    `  }`,
    `  chain ports {`,
    ...dnat,
    `  }`,
    `  chain postrouting {`,
    `    type nat hook postrouting priority srcnat; policy accept;`,
    ...post,
    `  }`,
    `  chain forward {`,
    `    type filter hook forward priority filter; policy accept;`,
    ...fwd,
    `  }`,
    `}`,
    `table bridge ${n.table} {}`,
    `delete table bridge ${n.table}`,
    `table bridge ${n.table} {`,
    // Port → its chain: adding or removing one container touches one element and one chain.
    `  map ports {`,
    `    type ifname : verdict;`,
    `  }`,
    `  chain prerouting {`,
    `    type filter hook prerouting priority -200; policy accept;`,
    `    iifname vmap @ports`,
    `  }`,
    `}`,
  ];
  for (const o of owners) lines.push(portChain(n.table, o));
  return lines.join('\n') + '\n';
}

/** The anti-spoofing chain of one container port and its element in the ports map. */
function portChain(table: string, o: RulePortOwner): string {
  return [
    `add chain bridge ${table} port_${o.hostIfname}`,
    `add rule bridge ${table} port_${o.hostIfname} ether saddr != ${o.mac} counter drop`,
    `add rule bridge ${table} port_${o.hostIfname} ether type arp arp saddr ether != ${o.mac} counter drop`,
    `add rule bridge ${table} port_${o.hostIfname} ether type arp arp saddr ip != ${o.ip} counter drop`,
    `add rule bridge ${table} port_${o.hostIfname} ether type arp accept`,
    `add rule bridge ${table} port_${o.hostIfname} ether type ip ip saddr != ${o.ip} counter drop`,
    `add rule bridge ${table} port_${o.hostIfname} ether type ip accept`,
    `add rule bridge ${table} port_${o.hostIfname} icmpv6 type { nd-router-advert, nd-redirect, nd-neighbor-advert } counter drop`,
    `add rule bridge ${table} port_${o.hostIfname} counter drop`,
    `add element bridge ${table} ports { ${q(o.hostIfname)} : jump port_${o.hostIfname} }`,
  ].join('\n');
}

/** Adds container ports' rules to a network's tables (as nftScript would have them). */
export function nftAddPortsScript(table: string, owners: RulePortOwner[]): string {
  return owners.map((o) => portChain(table, o)).join('\n') + '\n';
}

/** Removes container ports' rules from a network's tables. */
export function nftRemovePortsScript(table: string, hostIfnames: string[]): string {
  return hostIfnames.flatMap((i) => [`delete element bridge ${table} ports { ${q(i)} }`, `delete chain bridge ${table} port_${i}`]).join('\n') + '\n';
}

export function nftDeleteScript(table: string): string {
  return [`table ip ${table} {}`, `delete table ip ${table}`, `table bridge ${table} {}`, `delete table bridge ${table}`].join('\n') + '\n';
}

export async function applyScript(script: string, context: string): Promise<void> {
  await hostd().nft(script, context);
}

/** Names of all nft tables on the host as `family name`. */
export async function listTables(): Promise<string[]> {
  const out = await hostd().nft('list tables\n', 'listing nftables tables');
  return out.split('\n').map((l) => l.trim()).filter((l) => l.startsWith('table ')).map((l) => l.slice(6));
}
