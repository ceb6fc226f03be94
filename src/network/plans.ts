/** A container's network plan, made at create: its networks and stable addresses, published ports and rates (records only). */
import { AlreadyExists, Conflict, FailedPrecondition, InvalidArgument, NotFound } from '../errors/index.js';
import type { NetRow } from '../state/index.js';
import { validateName } from '../util/names.js';
import { firstFree, formatIp, isHostAddress, macFor, parseIp, parseSubnet } from './cidr.js';
import { driverOf, type NetContext } from './context.js';
import type { NetworkDriver } from './driver.js';
import { vethName } from './names.js';
import { ensureDefaultNetwork } from './networks.js';
import { parsePortSpec, type PortSpec } from './ports.js';
import { checkPortFree } from './publish.js';
import { parseRate } from './rates.js';
import type { PlanRequest } from './views.js';

export async function planContainer(ctx: NetContext, container: string, req: PlanRequest): Promise<void> {
  validateName('container', container);
  if (ctx.cont(container)) {
    throw new AlreadyExists(`container ${container} already has network adapters: release them (destroy the container) first`);
  }
  if (req.noNet) {
    if (req.nets?.length || req.ip || req.ports?.length || req.netIn || req.netOut) {
      throw new InvalidArgument('--no-net cannot be combined with --net, --ip, --port, --net-in or --net-out: drop one or the other');
    }
    ctx.records.insertContainer(container, true);
    return;
  }
  const names = req.nets && req.nets.length > 0 ? req.nets : ['default'];
  if (new Set(names).size !== names.length) throw new InvalidArgument(`network listed twice in ${names.join(', ')}: give each --net once`);
  const nets: NetRow[] = [];
  for (const n of names) {
    let net = ctx.net(n);
    if (!net && n === 'default' && !req.nets?.length) {
      await ensureDefaultNetwork(ctx);
      net = ctx.net(n);
    }
    if (!net) throw new NotFound(`network ${n} does not exist: create it with \`strata network create ${n} --subnet CIDR\` or pick one from \`strata network list\``);
    nets.push(net);
  }
  let staticIp: number | null = null;
  if (req.ip !== undefined && req.ip !== '') {
    staticIp = parseIp(String(req.ip));
    const first = nets[0];
    const subnet = parseSubnet(first.subnet);
    if (staticIp === null) throw new InvalidArgument(`invalid address ${JSON.stringify(req.ip)}: give an IPv4 address inside ${first.subnet}`);
    if (!isHostAddress(subnet, staticIp) || formatIp(staticIp) === first.gateway) {
      throw new InvalidArgument(`address ${req.ip} is not a free host address of network ${first.name} (${first.subnet}, gateway ${first.gateway}): choose another address inside the subnet`);
    }
    const owner = ctx.records.ipOwner(first.name, staticIp);
    if (owner) throw new Conflict(`address ${req.ip} on network ${first.name} is already used by container ${owner}: choose another address or omit --ip`);
  }
  if (req.mac !== undefined && !/^[0-9a-f][02468ace](:[0-9a-f]{2}){5}$/.test(req.mac)) {
    throw new InvalidArgument(`invalid MAC address ${JSON.stringify(req.mac)}: give a unicast one as six lower-case hex pairs, e.g. 02:00:0a:4d:00:02`);
  }
  const ports: PortSpec[] = [];
  for (const spec of req.ports ?? []) {
    const p = parsePortSpec(spec);
    if (ports.some((q) => q.hostPort === p.hostPort && q.proto === p.proto)) {
      throw new InvalidArgument(`host port ${p.hostPort}/${p.proto} is given twice: publish each host port once`);
    }
    checkPortFree(ctx, p);
    ports.push(p);
  }
  const cannot = (what: string, can: (d: NetworkDriver) => boolean, which: NetRow[]): void => {
    const net = which.find((n) => !can(driverOf(n)));
    if (net) throw new InvalidArgument(`network ${net.name} uses the ${net.driver} driver, which cannot ${what}: use a bridge network for it, or reach the container at its own address`);
  };
  if (ports.length) cannot('publish ports', (d) => d.capabilities.publishPorts, nets.slice(0, 1));
  if (req.netIn || req.netOut) cannot('limit rates (--net-in, --net-out)', (d) => d.capabilities.bandwidth, nets);
  const netIn = req.netIn ? parseRate(req.netIn, 'inbound rate (--net-in)') : null;
  const netOut = req.netOut ? parseRate(req.netOut, 'outbound rate (--net-out)') : null;

  ctx.records.transaction(() => {
    ctx.records.insertContainer(container, false, netIn, netOut);
    nets.forEach((net, i) => {
      const subnet = parseSubnet(net.subnet);
      let ip = i === 0 ? staticIp : null;
      if (ip === null) {
        const taken = new Set(ctx.records.ipsOn(net.name));
        taken.add(parseIp(net.gateway)!);
        ip = firstFree(subnet, taken);
        if (ip === null) throw new FailedPrecondition(`network ${net.name} (${net.subnet}) has no free address left: use another network or a larger subnet`);
      }
      ctx.records.insertAdapter({
        container, network: net.name, ifname: `eth${i}`, ip, address: `${formatIp(ip)}/${subnet.prefix}`, mac: (i === 0 && req.mac) || macFor(ctx.rootId, ip), host_ifname: vethName(ctx.rootId, container, net.name),
      });
    });
    for (const p of ports) {
      ctx.records.insertPort({ container, proto: p.proto, host_port: p.hostPort, container_port: p.containerPort });
    }
  });
}
