/** Networks: made (through their driver, every host change journalled), the default one found a free /24, removed by undoing the journal. */
import { AlreadyExists, Conflict, FailedPrecondition, InvalidArgument } from '../errors/index.js';
import type { NetRow } from '../state/index.js';
import { validateName } from '../util/names.js';
import { Reverter } from '../util/reverter.js';
import { contains, defaultCandidates, firstHost, formatIp, formatSubnet, isHostAddress, overlaps, parseIp, parseSubnet, type Subnet } from './cidr.js';
import { IP_FORWARD, specOf, type NetContext } from './context.js';
import { DEFAULT_NETWORK_DRIVER, networkDriver } from './drivers/index.js';
import { hostNameservers } from './files.js';
import { deleteLink, hostRoutes } from './host.js';
import { bridgeName, MAX_NETWORKS, tableName } from './names.js';
import { applyScript, nftDeleteScript } from './rules.js';
import { applyRules } from './tables.js';
import type { CreateNetworkRequest, NetworkView } from './views.js';

export async function createNetwork(ctx: NetContext, req: CreateNetworkRequest): Promise<NetworkView> {
  const name = validateName('network', req.name);
  const driver = networkDriver(req.driver ?? DEFAULT_NETWORK_DRIVER);
  const caps = driver.capabilities;
  if (caps.parent && !req.parent) throw new InvalidArgument(`a ${driver.name} network joins a host interface's segment: give it with --parent IFACE`);
  if (!caps.parent && req.parent) throw new InvalidArgument(`--parent is for drivers that join a host interface's segment (macvlan); a ${driver.name} network makes its own`);
  if (!caps.nat && req.nat === true) throw new InvalidArgument(`the ${driver.name} driver cannot NAT: its members use the segment's own router; drop --nat`);
  if (!caps.isolation && req.isolated) throw new InvalidArgument(`the ${driver.name} driver cannot isolate its members: drop --isolated`);
  if (ctx.net(name)) {
    throw new AlreadyExists(`network ${name} already exists: pick another name, or remove it first with \`strata network rm ${name}\``);
  }
  const subnet = parseSubnet(req.subnet);
  const subnetText = formatSubnet(subnet);
  let gateway = firstHost(subnet);
  if (req.gateway !== undefined) {
    const gw = parseIp(String(req.gateway));
    if (gw === null) throw new InvalidArgument(`invalid gateway ${JSON.stringify(req.gateway)}: give an IPv4 address inside ${subnetText}`);
    if (!isHostAddress(subnet, gw)) {
      throw new InvalidArgument(`gateway ${req.gateway} is not a host address of ${subnetText}: give an address inside the subnet, not its first or last`);
    }
    gateway = gw;
  }
  await checkSubnetFree(ctx, subnet, !caps.parent);
  const used = new Set(ctx.records.networks().map((r) => r.idx));
  let idx = 1;
  while (used.has(idx)) idx++;
  if (idx >= MAX_NETWORKS) throw new FailedPrecondition(`this data root has ${MAX_NETWORKS - 1} networks, the most it can name: remove unused ones first`);
  const bridge = bridgeName(ctx.rootId, idx);
  const row: NetRow = {
    name, idx, subnet: subnetText, gateway: formatIp(gateway), nat: req.nat === false || !caps.nat ? 0 : 1, isolated: req.isolated ? 1 : 0,
    bridge, driver: driver.name, parent: req.parent ?? null, created_at: new Date().toISOString(),
  };
  await driver.check(specOf(row));
  const r = new Reverter();
  try {
    ctx.records.insertNetwork(row);
    r.add(() => ctx.records.deleteNetwork(name));

    // The links a driver makes are journalled before they exist, so a crash half-way is undone too.
    if (caps.hostSideAdapter) {
      ctx.journal(name, 'link', bridge);
      r.add(() => deleteLink(bridge));
    }
    for (const link of await driver.createHost(specOf(row))) if (link !== bridge) ctx.journal(name, 'link', link);
    if (!caps.hostSideAdapter) {
      r.success();
      return ctx.view(row);
    }

    const holder = `${ctx.rootId}/${name}`;
    r.add(() => ctx.sysctls.release(IP_FORWARD, holder));
    const before = await ctx.sysctls.acquire(IP_FORWARD, holder, '1');
    ctx.journal(name, 'sysctl', IP_FORWARD, before);

    const table = tableName(ctx.rootId, idx);
    ctx.journal(name, 'nft-tables', table);
    r.add(() => applyScript(nftDeleteScript(table), `removing nftables tables ${table}`));
    await applyRules(ctx, row);
    r.success();
  } finally {
    await r.fail();
  }
  return ctx.view(row);
}

/** `hostRoutes`: also refuse the host's own routes (not for a segment the host may itself be on). */
async function checkSubnetFree(ctx: NetContext, subnet: Subnet, hostRoutesToo = true): Promise<void> {
  const text = formatSubnet(subnet);
  for (const n of ctx.records.networks()) {
    if (overlaps(subnet, parseSubnet(n.subnet))) {
      throw new Conflict(`subnet ${text} overlaps network ${n.name} (${n.subnet}): choose a subnet that overlaps no other network`);
    }
  }
  for (const route of hostRoutesToo ? await hostRoutes() : []) {
    if (overlaps(subnet, route.subnet)) {
      throw new Conflict(`subnet ${text} overlaps the host's ${route.text}: choose a subnet the host does not use`);
    }
  }
}

export async function ensureDefaultNetwork(ctx: NetContext): Promise<NetworkView> {
  const existing = ctx.net('default');
  if (existing) return ctx.view(existing);
  const mine = ctx.records.networks().map((r) => parseSubnet(r.subnet));
  const routes = (await hostRoutes()).map((r) => r.subnet);
  const servers = hostNameservers().map(parseIp).filter((n): n is number => n !== null);
  for (const cand of defaultCandidates()) {
    if (mine.some((s) => overlaps(s, cand)) || routes.some((s) => overlaps(s, cand)) || servers.some((ip) => contains(cand, ip))) continue;
    return createNetwork(ctx, { name: 'default', subnet: formatSubnet(cand), nat: true });
  }
  throw new FailedPrecondition('no free /24 for the default network in 10.77.0.0/16 or 172.16.0.0/12: create it with `strata network create default --subnet CIDR`');
}

export async function removeNetwork(ctx: NetContext, name: string): Promise<void> {
  const net = ctx.mustNet(name);
  const users = ctx.containersOn(name);
  if (users.length > 0) {
    throw new Conflict(`network ${name} is in use by ${users.join(', ')}: destroy those containers (or recreate them on another network) first`);
  }
  const changes = ctx.records.hostChanges(name);
  const failures: unknown[] = [];
  for (const c of changes) {
    try {
      if (c.kind === 'link') await deleteLink(c.name);
      else if (c.kind === 'nft-tables') await applyScript(nftDeleteScript(c.name), `removing nftables tables ${c.name}`);
      else if (c.kind === 'sysctl') await ctx.sysctls.release(c.name, `${ctx.rootId}/${name}`);
      ctx.records.deleteHostChange(c.id);
    } catch (err) {
      failures.push(err);
    }
  }
  if (failures.length > 0) {
    const first = failures[0];
    throw first instanceof Error ? first : new Error(String(first));
  }
  ctx.records.deleteNetwork(net.name);
}
