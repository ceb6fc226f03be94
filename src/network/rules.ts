/**
 * The nftables rules of one network, rendered from records (pure) and applied
 * atomically. Each network owns two tables and nothing else:
 *
 *   table ip strata_<root>_<n>      NAT (outbound masquerade on --nat networks),
 *                                   published ports (DNAT, also for 127.0.0.1 and
 *                                   hairpin), forward filter (isolation between
 *                                   networks, and between containers of an
 *                                   --isolated network when routed via the gateway)
 *   table bridge strata_<root>_<n>  anti-spoofing of container ports: only the
 *                                   container's own MAC and IPv4 address, ARP only
 *                                   with its own sender MAC/IP, no IPv6 at all
 *                                   (so no router advertisements, redirects or
 *                                   neighbour spoofing), no other ethertypes. One
 *                                   chain for all ports; what each port may use
 *                                   are elements of three sets keyed by its name
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
    // A port's own MAC and address are set elements, not a chain of its own: adding a container
    // adds three elements, which the kernel checks without validating any chain, and a change
    // costs the same with 1 or 1000 ports (a chain per port made both grow with the ports).
    `  set ports {`,
    `    type ifname;`,
    `  }`,
    `  set port_macs {`,
    `    type ifname . ether_addr;`,
    `  }`,
    `  set port_addrs {`,
    `    type ifname . ipv4_addr;`,
    `  }`,
    `  chain prerouting {`,
    `    type filter hook prerouting priority -200; policy accept;`,
    `    iifname @ports jump from_container`,
    `  }`,
    `  chain from_container {`,
    `    iifname . ether saddr != @port_macs counter drop`,
    `    ether type arp iifname . arp saddr ether != @port_macs counter drop`,
    `    ether type arp iifname . arp saddr ip != @port_addrs counter drop`,
    `    ether type arp accept`,
    `    ether type ip iifname . ip saddr != @port_addrs counter drop`,
    `    ether type ip accept`,
    `    icmpv6 type { nd-router-advert, nd-redirect, nd-neighbor-advert } counter drop`,
    `    counter drop`,
    `  }`,
    `}`,
  ];
  return lines.join('\n') + '\n' + nftAddPortsScript(n.table, owners);
}

/** The set elements that let one container port use its own MAC and address. */
function portElements(table: string, o: RulePortOwner): string[] {
  return [
    `element bridge ${table} ports { ${q(o.hostIfname)} }`,
    `element bridge ${table} port_macs { ${q(o.hostIfname)} . ${o.mac} }`,
    `element bridge ${table} port_addrs { ${q(o.hostIfname)} . ${o.ip} }`,
  ];
}

/** Adds container ports' rules to a network's tables (as nftScript would have them). */
export function nftAddPortsScript(table: string, owners: RulePortOwner[]): string {
  return owners.flatMap((o) => portElements(table, o).map((e) => `add ${e}`)).join('\n') + '\n';
}

/** Removes container ports' rules from a network's tables. */
export function nftRemovePortsScript(table: string, owners: RulePortOwner[]): string {
  return owners.flatMap((o) => portElements(table, o).map((e) => `delete ${e}`)).join('\n') + '\n';
}

export function nftDeleteScript(table: string): string {
  return [`table ip ${table} {}`, `delete table ip ${table}`, `table bridge ${table} {}`, `delete table bridge ${table}`].join('\n') + '\n';
}

export async function applyScript(script: string, context: string): Promise<void> {
  await hostd().nft(script, context);
}

/**
 * Whether a network's bridge table has this layout (one chain for all ports and their sets); an
 * older Strata's has a chain per port, which the set elements of an attach do not fit.
 */
export async function hasPortSets(table: string): Promise<boolean> {
  return hostd().nft(`list chain bridge ${table} from_container\n`, `reading nftables table bridge ${table}`).then(() => true, () => false);
}

/** Names of all nft tables on the host as `family name`. */
export async function listTables(): Promise<string[]> {
  const out = await hostd().nft('list tables\n', 'listing nftables tables');
  return out.split('\n').map((l) => l.trim()).filter((l) => l.startsWith('table ')).map((l) => l.slice(6));
}
