/** Applying a network's nftables tables (rules.ts writes them): whole, or one container's elements at a time. */
import type { AdRow, NetRow } from '../state/index.js';
import { driverOf, type NetContext } from './context.js';
import { tableName } from './names.js';
import { applyScript, nftAddPortsScript, nftRemovePortsScript, nftScript, type RulePortOwner } from './rules.js';

const ownerOf = (a: AdRow): RulePortOwner => ({ hostIfname: a.host_ifname, mac: a.mac, ip: a.address.split('/')[0] });

/**
 * Adds (attach) or removes (detach) the anti-spoofing elements of a container's adapters: three
 * set elements per port, so a start costs the same with 1 or 1000 containers on the network.
 * False when it could not (the caller renders the tables whole, which is always right).
 */
export async function portRules(ctx: NetContext, how: 'add' | 'remove', rows: AdRow[], nets: Map<string, NetRow>): Promise<boolean> {
  for (const net of nets.values()) {
    const mine = rows.filter((a) => a.network === net.name);
    const table = tableName(ctx.rootId, net.idx);
    const owners = mine.map(ownerOf);
    const script = how === 'add' ? nftAddPortsScript(table, owners) : nftRemovePortsScript(table, owners);
    const ok = await applyScript(script, `${how === 'add' ? 'adding rules to' : 'removing rules from'} network ${net.name}`).then(() => true, () => false);
    if (!ok) return false;
  }
  return true;
}

export async function applyRules(ctx: NetContext, net: NetRow): Promise<void> {
  if (!driverOf(net).capabilities.hostSideAdapter) return; // no host side to filter, forward or NAT
  const owners = ctx.records.attachedOn(net.name).map(ownerOf);
  const ports = ctx.records.publishedOn(net.name)
    .map((p) => ({ proto: p.proto, hostPort: p.host_port, containerPort: p.container_port, ip: p.address.split('/')[0] }));
  const table = tableName(ctx.rootId, net.idx);
  const script = nftScript({ table, bridge: net.bridge, subnet: net.subnet, nat: net.nat === 1, isolated: net.isolated === 1 }, owners, ports);
  await applyScript(script, `applying the rules of network ${net.name} (nftables tables ${table})`);
}
