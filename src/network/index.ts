/**
 * network: virtual adapters for containers through CNI. A network is a bridge
 * with an IPv4 subnet, a NAT/port/filter rule table and anti-spoofing rules; a
 * container gets a veth on each of its networks, with an address Strata
 * allocates itself (SQLite, stable across restarts) and hands to the standard
 * `bridge` plugin through the `static` IPAM (runc brings lo up itself) and
 * `bandwidth` shapes both directions. Published ports, isolation and
 * anti-spoofing are Strata's own nftables tables, one pair per network (see
 * rules.ts); every host change a network makes is journalled and undone when it
 * is removed.
 *
 * It is not the orchestration: it never starts processes or writes container
 * files; the caller gives it a pid and writes `containerNetFiles` itself.
 *
 * Lifecycle, as the orchestration drives it:
 *
 *   await nets.ensureDefault();                              // daemon set-up
 *   await nets.plan('web', { nets: ['default'], ports: ['8080:80'], netOut: '10mbit' }); // create
 *   const adapters = await nets.attach('web', pid, 'web');   // start: pins the netns, CNI ADD
 *   const files = containerNetFiles('web', adapters, hostNameservers());
 *   await nets.addPort('web', '8443:443');                   // live
 *   nets.counters('web');                                    // stats, cumulative
 *   await nets.detach('web');                                // stop: CNI DEL, counters folded
 *   await nets.release('web');                               // destroy: address and ports freed
 */
import type Database from 'better-sqlite3';
import { NetworkRecords, type AdRow, type ChangeRow, type ContRow, type NetRow, type PortRow } from '../state/index.js';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { AlreadyExists, Conflict, FailedPrecondition, InvalidArgument, NotFound, ToolError } from '../errors/index.js';
import { KeyedLock } from '../util/keyed-lock.js';
import { validateName } from '../util/names.js';
import { Reverter } from '../util/reverter.js';
import { stopwatch } from '../util/profile.js';
import {
  contains, defaultCandidates, firstFree, firstHost, formatIp, formatSubnet, isHostAddress, macFor, overlaps, parseIp, parseSubnet,
  type Subnet,
} from './cidr.js';
import { bandwidthConf, hostInterface, invoke, renameHostInterface, type CniResult, type CniRuntime, type PluginConf } from './cni.js';
import { hostNameservers } from './files.js';
import {
  clearShaping, deleteLink, hostRoutes, isPinned, linkExists, linkStats, pinNetns, pinnedTo, renameAndConfigurePort,
  SharedSysctls, unpinNetns,
} from './host.js';
import { bridgeName, cniContainerId, cniNetworkName, ifbName, MAX_NETWORKS, tableName, vethName } from './names.js';
import { formatPortSpec, hostPortInUse, parsePortSpec, type PortSpec, type Proto } from './ports.js';
import { burstFor, formatRate, parseRate } from './rates.js';
import { applyScript, listTables, nftAddPortsScript, nftDeleteScript, nftRemovePortsScript, nftScript } from './rules.js';
import type { NetworkDriver, NetworkSpec } from './driver.js';
import { DEFAULT_NETWORK_DRIVER, networkDriver } from './drivers/index.js';

export { containerNetFiles, hostNameservers } from './files.js';

export interface NetworkView {
  name: string;
  subnet: string;
  gateway: string;
  nat: boolean;
  isolated: boolean;
  /** The host bridge ('' for a driver that makes none). */
  bridge: string;
  /** What makes the network (NETWORK_DRIVERS), and the host interface whose segment it joins (macvlan). */
  driver: string;
  parent: string | null;
  /** Containers with an address on this network. */
  containers: string[];
  createdAt: string;
}

export interface AdapterView {
  network: string;
  ifname: string;
  /** CIDR, e.g. 10.77.0.2/24 */
  address: string;
  gateway: string;
  mac: string;
  /** The host end of the veth. */
  hostIfname: string;
  attached: boolean;
}

export interface PortView {
  container: string;
  hostPort: number;
  containerPort: number;
  proto: Proto;
  /** Where the port forwards to: the container's address on its first network. */
  address: string | null;
  spec: string;
}

export interface TrafficCounters { rxBytes: number; txBytes: number; rxPackets: number; txPackets: number }

export interface BandwidthView { netIn: string | null; netOut: string | null }

export interface CreateNetworkRequest { name: string; subnet: string; gateway?: string; nat?: boolean; isolated?: boolean; driver?: string; parent?: string }
export interface PlanRequest { nets?: string[]; ip?: string; noNet?: boolean; ports?: string[]; netIn?: string; netOut?: string }

const IP_FORWARD = 'net/ipv4/ip_forward';

function specOf(n: NetRow): NetworkSpec {
  return { name: n.name, subnet: n.subnet, gateway: n.gateway, isolated: n.isolated === 1, bridge: n.bridge, parent: n.parent };
}

function driverOf(n: NetRow): NetworkDriver {
  return networkDriver(n.driver);
}

function adapterView(a: AdRow, gateway: string | undefined): AdapterView {
  return { network: a.network, ifname: a.ifname, address: a.address, gateway: gateway ?? '', mac: a.mac, hostIfname: a.host_ifname, attached: a.attached === 1 };
}

/** A published port; `address` is the container's first adapter's (CIDR), where it answers. */
function portView(p: PortRow, address: string | undefined): PortView {
  return {
    container: p.container, hostPort: p.host_port, containerPort: p.container_port, proto: p.proto,
    address: address ? address.split('/')[0] : null,
    spec: formatPortSpec({ hostPort: p.host_port, containerPort: p.container_port, proto: p.proto }),
  };
}

function bandwidthView(c: ContRow | undefined): BandwidthView {
  return { netIn: c?.net_in ? formatRate(c.net_in) : null, netOut: c?.net_out ? formatRate(c.net_out) : null };
}

export class Networks {
  private readonly records: NetworkRecords;
  private readonly rootId: string;
  private readonly runDir: string;
  private readonly cniPath: string;
  private readonly sysctls: SharedSysctls;
  private readonly lock = new KeyedLock();

  constructor(db: Database.Database, opts: { rootId: string; runDir: string; cniPath?: string }) {
    this.records = new NetworkRecords(db);
    this.rootId = opts.rootId;
    this.runDir = opts.runDir;
    this.cniPath = opts.cniPath ?? '/usr/lib/cni';
    this.sysctls = new SharedSysctls(join(dirname(opts.runDir), 'net-sysctls.json'));
  }

  /** All changes run one at a time: they share bridges and rule tables. */
  private serial<T>(work: () => Promise<T>): Promise<T> {
    return this.lock.run('network', work);
  }

  // Networks

  create(req: CreateNetworkRequest): Promise<NetworkView> {
    return this.serial(() => this.createNetwork(req));
  }

  list(): NetworkView[] {
    return this.records.networks().map((n) => this.view(n));
  }

  inspect(name: string): NetworkView {
    return this.view(this.mustNet(name));
  }

  remove(name: string): Promise<void> {
    return this.serial(() => this.removeNetwork(name));
  }

  ensureDefault(): Promise<NetworkView> {
    return this.serial(() => this.ensureDefaultNetwork());
  }

  private async createNetwork(req: CreateNetworkRequest): Promise<NetworkView> {
    const name = validateName('network', req.name);
    const driver = networkDriver(req.driver ?? DEFAULT_NETWORK_DRIVER);
    const caps = driver.capabilities;
    if (caps.parent && !req.parent) throw new InvalidArgument(`a ${driver.name} network joins a host interface's segment: give it with --parent IFACE`);
    if (!caps.parent && req.parent) throw new InvalidArgument(`--parent is for drivers that join a host interface's segment (macvlan); a ${driver.name} network makes its own`);
    if (!caps.nat && req.nat === true) throw new InvalidArgument(`the ${driver.name} driver cannot NAT: its members use the segment's own router; drop --nat`);
    if (!caps.isolation && req.isolated) throw new InvalidArgument(`the ${driver.name} driver cannot isolate its members: drop --isolated`);
    if (this.net(name)) {
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
    await this.checkSubnetFree(subnet, !caps.parent);
    const used = new Set(this.records.networks().map((r) => r.idx));
    let idx = 1;
    while (used.has(idx)) idx++;
    if (idx >= MAX_NETWORKS) throw new FailedPrecondition(`this data root has ${MAX_NETWORKS - 1} networks, the most it can name: remove unused ones first`);
    const bridge = bridgeName(this.rootId, idx);
    const row: NetRow = {
      name, idx, subnet: subnetText, gateway: formatIp(gateway), nat: req.nat === false || !caps.nat ? 0 : 1, isolated: req.isolated ? 1 : 0,
      bridge, driver: driver.name, parent: req.parent ?? null, created_at: new Date().toISOString(),
    };
    await driver.check(specOf(row));
    const r = new Reverter();
    try {
      this.records.insertNetwork(row);
      r.add(() => this.records.deleteNetwork(name));

      // The links a driver makes are journalled before they exist, so a crash half-way is undone too.
      if (caps.hostSideAdapter) {
        this.journal(name, 'link', bridge);
        r.add(() => deleteLink(bridge));
      }
      for (const link of await driver.createHost(specOf(row))) if (link !== bridge) this.journal(name, 'link', link);
      if (!caps.hostSideAdapter) {
        r.success();
        return this.view(row);
      }

      const holder = `${this.rootId}/${name}`;
      r.add(() => this.sysctls.release(IP_FORWARD, holder));
      const before = await this.sysctls.acquire(IP_FORWARD, holder, '1');
      this.journal(name, 'sysctl', IP_FORWARD, before);

      const table = tableName(this.rootId, idx);
      this.journal(name, 'nft-tables', table);
      r.add(() => applyScript(nftDeleteScript(table), `removing nftables tables ${table}`));
      await this.applyRules(row);
      r.success();
    } finally {
      await r.fail();
    }
    return this.view(row);
  }

  /** `hostRoutes`: also refuse the host's own routes (not for a segment the host may itself be on). */
  private async checkSubnetFree(subnet: Subnet, hostRoutesToo = true): Promise<void> {
    const text = formatSubnet(subnet);
    for (const n of this.records.networks()) {
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

  private async ensureDefaultNetwork(): Promise<NetworkView> {
    const existing = this.net('default');
    if (existing) return this.view(existing);
    const mine = this.records.networks().map((r) => parseSubnet(r.subnet));
    const routes = (await hostRoutes()).map((r) => r.subnet);
    const servers = hostNameservers().map(parseIp).filter((n): n is number => n !== null);
    for (const cand of defaultCandidates()) {
      if (mine.some((s) => overlaps(s, cand)) || routes.some((s) => overlaps(s, cand)) || servers.some((ip) => contains(cand, ip))) continue;
      return this.createNetwork({ name: 'default', subnet: formatSubnet(cand), nat: true });
    }
    throw new FailedPrecondition('no free /24 for the default network in 10.77.0.0/16 or 172.16.0.0/12: create it with `strata network create default --subnet CIDR`');
  }

  private async removeNetwork(name: string): Promise<void> {
    const net = this.mustNet(name);
    const users = this.containersOn(name);
    if (users.length > 0) {
      throw new Conflict(`network ${name} is in use by ${users.join(', ')}: destroy those containers (or recreate them on another network) first`);
    }
    const changes = this.records.hostChanges(name);
    const failures: unknown[] = [];
    for (const c of changes) {
      try {
        if (c.kind === 'link') await deleteLink(c.name);
        else if (c.kind === 'nft-tables') await applyScript(nftDeleteScript(c.name), `removing nftables tables ${c.name}`);
        else if (c.kind === 'sysctl') await this.sysctls.release(c.name, `${this.rootId}/${name}`);
        this.records.deleteHostChange(c.id);
      } catch (err) {
        failures.push(err);
      }
    }
    if (failures.length > 0) {
      const first = failures[0];
      throw first instanceof Error ? first : new Error(String(first));
    }
    this.records.deleteNetwork(net.name);
  }

  // Container plans

  plan(container: string, req: PlanRequest): Promise<void> {
    // Without a default network to make first, a plan is database work only and never awaits:
    // it runs whole at once (atomic in this process) instead of queueing behind other
    // containers' attaches.
    if (req.noNet || req.nets?.length || this.net('default')) return this.planContainer(container, req);
    return this.serial(() => this.planContainer(container, req));
  }

  private async planContainer(container: string, req: PlanRequest): Promise<void> {
    validateName('container', container);
    if (this.cont(container)) {
      throw new AlreadyExists(`container ${container} already has network adapters: release them (destroy the container) first`);
    }
    if (req.noNet) {
      if (req.nets?.length || req.ip || req.ports?.length || req.netIn || req.netOut) {
        throw new InvalidArgument('--no-net cannot be combined with --net, --ip, --port, --net-in or --net-out: drop one or the other');
      }
      this.records.insertContainer(container, true);
      return;
    }
    const names = req.nets && req.nets.length > 0 ? req.nets : ['default'];
    if (new Set(names).size !== names.length) throw new InvalidArgument(`network listed twice in ${names.join(', ')}: give each --net once`);
    const nets: NetRow[] = [];
    for (const n of names) {
      let net = this.net(n);
      if (!net && n === 'default' && !req.nets?.length) {
        await this.ensureDefaultNetwork();
        net = this.net(n);
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
      const owner = this.records.ipOwner(first.name, staticIp);
      if (owner) throw new Conflict(`address ${req.ip} on network ${first.name} is already used by container ${owner}: choose another address or omit --ip`);
    }
    const ports: PortSpec[] = [];
    for (const spec of req.ports ?? []) {
      const p = parsePortSpec(spec);
      if (ports.some((q) => q.hostPort === p.hostPort && q.proto === p.proto)) {
        throw new InvalidArgument(`host port ${p.hostPort}/${p.proto} is given twice: publish each host port once`);
      }
      this.checkPortFree(p);
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

    this.records.transaction(() => {
      this.records.insertContainer(container, false, netIn, netOut);
      nets.forEach((net, i) => {
        const subnet = parseSubnet(net.subnet);
        let ip = i === 0 ? staticIp : null;
        if (ip === null) {
          const taken = new Set(this.records.ipsOn(net.name));
          taken.add(parseIp(net.gateway)!);
          ip = firstFree(subnet, taken);
          if (ip === null) throw new FailedPrecondition(`network ${net.name} (${net.subnet}) has no free address left: use another network or a larger subnet`);
        }
        this.records.insertAdapter({
          container, network: net.name, ifname: `eth${i}`, ip, address: `${formatIp(ip)}/${subnet.prefix}`, mac: macFor(this.rootId, ip), host_ifname: vethName(this.rootId, container, net.name),
        });
      });
      for (const p of ports) {
        this.records.insertPort({ container, proto: p.proto, host_port: p.hostPort, container_port: p.containerPort });
      }
    });
  }

  // Attach and detach

  attach(container: string, pid: number, hostname: string): Promise<AdapterView[]> {
    void hostname; // the hostname goes into /etc/hosts through containerNetFiles; CNI does not need it
    return this.serial(() => this.attachContainer(container, pid));
  }

  detach(container: string): Promise<void> {
    return this.serial(() => this.detachContainer(container));
  }

  release(container: string): Promise<void> {
    return this.serial(async () => {
      await this.detachContainer(container);
      this.records.deleteContainer(container);
    });
  }

  private nsPath(container: string): string {
    return join(this.runDir, 'netns', container);
  }

  private runtime(container: string, netns: string, ifname: string): CniRuntime {
    return { containerId: cniContainerId(this.rootId, container), netns, ifname, cniPath: this.cniPath };
  }

  private adapterConfOf(a: AdRow, net: NetRow): PluginConf {
    return driverOf(net).adapterConf(specOf(net), { cniName: cniNetworkName(this.rootId, net.name), address: a.address, mac: a.mac, defaultRoute: a.ifname === 'eth0' });
  }

  private async attachContainer(container: string, pid: number): Promise<AdapterView[]> {
    let c = this.cont(container);
    if (!c) {
      // A container created before it had a network plan: its own namespace with loopback only.
      this.records.insertContainer(container, true);
      c = this.cont(container)!;
    }
    const ns = this.nsPath(container);
    const rows = this.adapterRows(container);
    // --no-net: nothing to attach. The runtime brings up loopback in every new network namespace.
    if (rows.length === 0 && !c.netns) return [];
    if (c.netns && pinnedTo(ns, pid) && rows.every((a) => a.attached && linkExists(a.host_ifname))) return this.adapters(container);
    if (c.netns || rows.some((a) => a.attached) || isPinned(ns)) await this.detachContainer(container);

    const r = new Reverter();
    const sw = stopwatch(`network attach ${container}`);
    try {
      // Pinning the namespace and adding the anti-spoofing rules do not depend on the veth: they run
      // while the bridge plugin works (the plugin is handed the init's own namespace path). All of it
      // is done before the init starts, so no frame leaves the container unchecked.
      const pinning = pinNetns(ns, pid);
      pinning.catch(() => undefined);
      r.add(async () => { await pinning.catch(() => undefined); await unpinNetns(ns); });
      const nets = new Map(rows.map((a) => [a.network, this.mustNet(a.network)]));
      const filtered = new Map([...nets].filter(([, n]) => driverOf(n).capabilities.hostSideAdapter));
      const filteredRows = rows.filter((a) => filtered.has(a.network));
      const ruling = this.hasPorts(container) ? Promise.resolve(false) : this.portRules('add', filteredRows, filtered);
      ruling.catch(() => undefined);
      r.add(async () => {
        if (!(await ruling.catch(() => false))) return;
        if (!(await this.portRules('remove', filteredRows, filtered))) for (const net of filtered.values()) await this.applyRules(net);
      });
      const liveNs = `/proc/${pid}/ns/net`;
      r.add(() => this.records.setNetns(container, null));

      // No loopback plugin: runc brings lo up in every new network namespace itself.
      for (const a of rows) {
        const net = nets.get(a.network)!;
        const driver = driverOf(net);
        await driver.ensureHost(specOf(net));
        const rt = this.runtime(container, ns, a.ifname);
        const conf = this.adapterConfOf(a, net);
        r.add(async () => {
          await pinning.catch(() => undefined);
          await invoke('DEL', conf, rt).catch(() => undefined);
          await deleteLink(a.host_ifname);
        });
        sw.lap('bridge-check');
        let result = (await invoke('ADD', conf, { ...rt, netns: liveNs }))!;
        sw.lap('cni-add');
        if (!driver.capabilities.hostSideAdapter) {
          // Nothing on the host side: no port to configure, no rates, no counters there.
          this.records.markAttached(container, a.network, JSON.stringify(result), null);
          continue;
        }
        const host = hostInterface(result, net.bridge);
        if (!host) throw new ToolError(['bridge', 'ADD'], 0, 'the result names no host-side interface', `attaching ${container} to ${net.name}`);
        r.add(() => deleteLink(host.name));
        await renameAndConfigurePort(host.name, a.host_ifname, a.mac, net.isolated === 1);
        if (host.name !== a.host_ifname) result = renameHostInterface(result, host.name, a.host_ifname);
        sw.lap('port');
        r.add(() => this.unshape(c!, a, net, result, rt));
        await this.shape(c, a, net, result, { ...rt, netns: liveNs });
        this.records.markAttached(container, a.network, JSON.stringify(result), linkStats(a.host_ifname)?.ifindex ?? null);
      }
      r.add(async () => {
        this.records.markDetached(container);
        for (const net of filtered.values()) await this.applyRules(net);
      });
      sw.lap('shape+db');
      await pinning;
      this.records.setNetns(container, ns);
      if (!(await ruling.catch(() => false))) for (const net of filtered.values()) await this.applyRules(net);
      sw.lap('pin+nft');
      sw.done();
      r.success();
    } finally {
      await r.fail();
    }
    return this.adapters(container);
  }

  private async detachContainer(container: string): Promise<void> {
    const c = this.cont(container);
    if (!c) return;
    const ns = c.netns ?? this.nsPath(container);
    const netns = isPinned(ns) ? ns : '';
    const failures: unknown[] = [];
    const touched = new Map<string, NetRow>();
    const attached = this.adapterRows(container).filter((x) => x.attached);
    const hostSide = attached.filter((a) => driverOf(this.mustNet(a.network)).capabilities.hostSideAdapter);
    // Its rules go while the plugin works (the container's processes are gone by now); with
    // published ports the tables are rendered whole afterwards instead.
    const unruling = !this.hasPorts(container) && hostSide.length > 0
      ? this.portRules('remove', hostSide, new Map(hostSide.map((a) => [a.network, this.mustNet(a.network)])))
      : Promise.resolve(false);
    unruling.catch(() => undefined);
    for (const a of attached) {
      const net = this.mustNet(a.network);
      if (driverOf(net).capabilities.hostSideAdapter) touched.set(net.name, net);
      this.observe(a);
      const rt = this.runtime(container, netns, a.ifname);
      const result = a.cni_result ? (JSON.parse(a.cni_result) as CniResult) : undefined;
      await this.unshape(c, a, net, result, rt).catch((err: unknown) => failures.push(err));
      await invoke('DEL', { ...this.adapterConfOf(a, net), ...(result ? { prevResult: result } : {}) }, rt).catch((err: unknown) => failures.push(err));
      await deleteLink(a.host_ifname);
      this.foldAndDetach(container, a.network);
    }
    await unpinNetns(ns);
    this.records.setNetns(container, null);
    // Published ports, or the small change failed: render the tables whole, now without it.
    if (!(await unruling.catch(() => false))) for (const net of touched.values()) await this.applyRules(net);
    const left = this.adapterRows(container).filter((a) => linkExists(a.host_ifname));
    if (left.length > 0 && failures.length > 0) {
      const first = failures[0];
      throw first instanceof Error ? first : new Error(String(first));
    }
  }

  // Bandwidth

  private async shape(c: ContRow, a: AdRow, net: NetRow, result: CniResult | undefined, rt: CniRuntime): Promise<void> {
    if ((!c.net_in && !c.net_out) || !result || !linkExists(a.host_ifname)) return;
    const conf = bandwidthConf(cniNetworkName(this.rootId, net.name), { netIn: c.net_in, netOut: c.net_out },
      { inBurst: burstFor(c.net_in ?? 0), outBurst: burstFor(c.net_out ?? 0) }, result);
    await invoke('ADD', conf, rt);
  }

  private async unshape(c: ContRow, a: AdRow, net: NetRow, result: CniResult | undefined, rt: CniRuntime): Promise<void> {
    if (c.net_out && result) {
      const conf = bandwidthConf(cniNetworkName(this.rootId, net.name), { netIn: c.net_in, netOut: c.net_out },
        { inBurst: burstFor(c.net_in ?? 0), outBurst: burstFor(c.net_out ?? 0) }, result);
      await invoke('DEL', conf, rt);
    }
    // Rates removed live were cleared then; without rates there is nothing to clear.
    if (c.net_in || c.net_out) await clearShaping(a.host_ifname);
    await deleteLink(ifbName(cniNetworkName(this.rootId, net.name), rt.containerId));
  }

  setBandwidth(container: string, rates: { netIn?: string | null; netOut?: string | null }): Promise<void> {
    return this.serial(async () => {
      const c = this.mustCont(container);
      const pick = (v: string | null | undefined, cur: number | null, what: string): number | null =>
        v === undefined ? cur : v === null || v === '' ? null : parseRate(v, what);
      const next: ContRow = { ...c, net_in: pick(rates.netIn, c.net_in, 'inbound rate (--net-in)'), net_out: pick(rates.netOut, c.net_out, 'outbound rate (--net-out)') };
      if (c.no_net && (next.net_in || next.net_out)) {
        throw new FailedPrecondition(`container ${container} has no network adapter (--no-net): bandwidth limits need one`);
      }
      const unshaped = (next.net_in || next.net_out) ? this.adapterRows(container).map((a) => this.mustNet(a.network)).find((n) => !driverOf(n).capabilities.bandwidth) : undefined;
      if (unshaped) throw new InvalidArgument(`network ${unshaped.name} uses the ${unshaped.driver} driver, which cannot limit rates: rates need a bridge network`);
      const live = this.adapterRows(container).filter((a) => a.attached);
      const reshape = async (from: ContRow, to: ContRow): Promise<void> => {
        for (const a of live) {
          const net = this.mustNet(a.network);
          const result = a.cni_result ? (JSON.parse(a.cni_result) as CniResult) : undefined;
          const rt = this.runtime(container, c.netns ?? '', a.ifname);
          await this.unshape(from, a, net, result, rt);
          await this.shape(to, a, net, result, rt);
        }
      };
      try {
        await reshape(c, next);
      } catch (err) {
        await reshape(next, c).catch(() => undefined);
        throw err;
      }
      this.records.setRates(container, next.net_in, next.net_out);
    });
  }

  bandwidth(container: string): BandwidthView {
    return bandwidthView(this.cont(container));
  }

  // Published ports

  private checkPortFree(p: PortSpec): void {
    const owner = this.records.portOwner(p.proto, p.hostPort);
    if (owner) throw new Conflict(`host port ${p.hostPort}/${p.proto} is already published for container ${owner}: choose another host port`);
    if (hostPortInUse(p.hostPort, p.proto)) {
      throw new Conflict(`host port ${p.hostPort}/${p.proto} is already in use by a process on the host: choose another host port`);
    }
  }

  addPort(container: string, spec: string): Promise<PortView> {
    return this.serial(async () => {
      this.mustCont(container);
      const p = parsePortSpec(spec);
      const primary = this.adapterRows(container)[0];
      if (!primary) throw new FailedPrecondition(`container ${container} has no network adapter: ports need a container created with a network`);
      const first = this.mustNet(primary.network);
      if (!driverOf(first).capabilities.publishPorts) {
        throw new InvalidArgument(`network ${first.name} uses the ${first.driver} driver, which cannot publish ports: reach ${container} at its own address ${primary.address.split('/')[0]}, or give it a bridge network first`);
      }
      this.checkPortFree(p);
      this.records.insertPort({ container, proto: p.proto, host_port: p.hostPort, container_port: p.containerPort });
      const net = this.mustNet(primary.network);
      try {
        await this.applyRules(net);
      } catch (err) {
        this.records.deletePort(p.proto, p.hostPort);
        await this.applyRules(net).catch(() => undefined);
        throw err;
      }
      return this.listPorts(container).find((v) => v.hostPort === p.hostPort && v.proto === p.proto)!;
    });
  }

  removePort(container: string, spec: string): Promise<void> {
    return this.serial(async () => {
      this.mustCont(container);
      const m = /^\s*(\d{1,5})(?::(\d{1,5}))?(?:\/(tcp|udp))?\s*$/i.exec(String(spec));
      if (!m) throw new InvalidArgument(`invalid port ${JSON.stringify(spec)}: write HOSTPORT[:CTPORT][/tcp|/udp], e.g. 8080:80/tcp`);
      const proto = (m[3]?.toLowerCase() ?? 'tcp') as Proto;
      const row = this.records.port(container, proto, Number(m[1]));
      if (!row || (m[2] !== undefined && row.container_port !== Number(m[2]))) {
        throw new NotFound(`container ${container} publishes no port ${spec}: see \`strata port list ${container}\``);
      }
      this.records.deletePort(proto, row.host_port);
      const primary = this.adapterRows(container)[0];
      if (primary) {
        try {
          await this.applyRules(this.mustNet(primary.network));
        } catch (err) {
          this.records.insertPort(row);
          throw err;
        }
      }
    });
  }

  listPorts(container: string): PortView[] {
    const primary = this.adapterRows(container)[0];
    return this.records.portsOf(container).map((p) => portView(p, primary?.address));
  }

  // Rules

  private hasPorts(container: string): boolean {
    return this.records.hasPorts(container);
  }

  /**
   * Adds (attach) or removes (detach) the anti-spoofing chains of a container's adapters: one
   * chain and one map element per port, so a start costs the same with 1 or 1000 containers on
   * the network. False when it could not (the caller renders the tables whole, which is always right).
   */
  private async portRules(how: 'add' | 'remove', rows: AdRow[], nets: Map<string, NetRow>): Promise<boolean> {
    for (const net of nets.values()) {
      const mine = rows.filter((a) => a.network === net.name);
      const table = tableName(this.rootId, net.idx);
      const script = how === 'add'
        ? nftAddPortsScript(table, mine.map((a) => ({ hostIfname: a.host_ifname, mac: a.mac, ip: a.address.split('/')[0] })))
        : nftRemovePortsScript(table, mine.map((a) => a.host_ifname));
      const ok = await applyScript(script, `${how === 'add' ? 'adding rules to' : 'removing rules from'} network ${net.name}`).then(() => true, () => false);
      if (!ok) return false;
    }
    return true;
  }

  private async applyRules(net: NetRow): Promise<void> {
    if (!driverOf(net).capabilities.hostSideAdapter) return; // no host side to filter, forward or NAT
    const owners = this.records.attachedOn(net.name)
      .map((a) => ({ hostIfname: a.host_ifname, mac: a.mac, ip: a.address.split('/')[0] }));
    const ports = this.records.publishedOn(net.name)
      .map((p) => ({ proto: p.proto, hostPort: p.host_port, containerPort: p.container_port, ip: p.address.split('/')[0] }));
    const table = tableName(this.rootId, net.idx);
    const script = nftScript({ table, bridge: net.bridge, subnet: net.subnet, nat: net.nat === 1, isolated: net.isolated === 1 }, owners, ports);
    await applyScript(script, `applying the rules of network ${net.name} (nftables tables ${table})`);
  }

  // Adapters and counters

  /**
   * adapters, listPorts and bandwidth of every container at once (a few queries in all, not a few
   * per container): what `strata list` needs for a thousand containers.
   */
  summaries(): Map<string, { adapters: AdapterView[]; ports: PortView[]; bandwidth: BandwidthView }> {
    const out = new Map<string, { adapters: AdapterView[]; ports: PortView[]; bandwidth: BandwidthView }>();
    const entry = (container: string): { adapters: AdapterView[]; ports: PortView[]; bandwidth: BandwidthView } => {
      let e = out.get(container);
      if (!e) { e = { adapters: [], ports: [], bandwidth: { netIn: null, netOut: null } }; out.set(container, e); }
      return e;
    };
    const gateways = new Map(this.records.networks().map((n) => [n.name, n.gateway]));
    for (const a of this.records.adapters()) {
      entry(a.container).adapters.push(adapterView(a, gateways.get(a.network)));
    }
    for (const p of this.records.ports()) {
      const e = entry(p.container);
      e.ports.push(portView(p, e.adapters[0]?.address));
    }
    for (const c of this.records.ratedContainers()) {
      entry(c.container).bandwidth = bandwidthView(c);
    }
    return out;
  }

  adapters(container: string): AdapterView[] {
    return this.adapterRows(container).map((a) => adapterView(a, this.net(a.network)?.gateway));
  }

  /** Reads the live veth counters into the record; a new veth lifetime (ifindex changed, or counters fell) folds the old one first. */
  private observe(a: AdRow): void {
    if (!a.attached) return;
    const live = linkStats(a.host_ifname);
    if (!live) return;
    // The host end receives what the container sends, and sends what it receives.
    const now = { rx: live.txBytes, tx: live.rxBytes, rxp: live.txPackets, txp: live.rxPackets };
    const reset = a.seen_ifindex !== live.ifindex || now.rx < a.seen_rx_bytes || now.tx < a.seen_tx_bytes ||
      now.rxp < a.seen_rx_packets || now.txp < a.seen_tx_packets;
    this.records.transaction(() => {
      if (reset) this.records.addTotals(a);
      this.records.setSeen(a.container, a.network, { ifindex: live.ifindex, ...now });
    });
  }

  private foldAndDetach(container: string, network: string): void {
    this.records.transaction(() => {
      const a = this.records.adapter(container, network);
      if (a) this.records.addTotals(a);
      this.records.resetAdapter(container, network);
    });
  }

  counters(container: string): TrafficCounters {
    for (const a of this.adapterRows(container)) this.observe(a);
    const c = this.cont(container);
    if (!c) return { rxBytes: 0, txBytes: 0, rxPackets: 0, txPackets: 0 };
    const sum = { rxBytes: c.rx_bytes, txBytes: c.tx_bytes, rxPackets: c.rx_packets, txPackets: c.tx_packets };
    for (const a of this.adapterRows(container)) {
      sum.rxBytes += a.seen_rx_bytes; sum.txBytes += a.seen_tx_bytes; sum.rxPackets += a.seen_rx_packets; sum.txPackets += a.seen_tx_packets;
    }
    return sum;
  }

  // Periodic work and daemon start

  sync(): Promise<void> {
    return this.serial(async () => {
      for (const a of this.records.attachedAdapters()) this.observe(a);
      await this.repairNetworks();
    });
  }

  /** Re-creates missing bridges and re-applies missing rule tables; returns what it did. */
  private async repairNetworks(): Promise<string[]> {
    const lines: string[] = [];
    const tables = new Set(await listTables());
    for (const net of this.records.networks()) {
      const driver = driverOf(net);
      lines.push(...(await driver.ensureHost(specOf(net)).catch((err: Error) => [`network ${net.name}: ${err.message}`])));
      if (!driver.capabilities.hostSideAdapter) continue;
      const holder = `${this.rootId}/${net.name}`;
      if (!this.sysctls.holders(IP_FORWARD).includes(holder)) {
        await this.sysctls.acquire(IP_FORWARD, holder, '1');
        lines.push(`network ${net.name}: ip_forward hold was missing, re-taken`);
      }
      const t = tableName(this.rootId, net.idx);
      if (!tables.has(`ip ${t}`) || !tables.has(`bridge ${t}`)) {
        await this.applyRules(net);
        lines.push(`network ${net.name}: nftables tables ${t} were missing, re-applied`);
      }
    }
    return lines;
  }

  reconcile(runningContainers: Set<string>): Promise<string[]> {
    return this.serial(async () => {
      const lines: string[] = [];
      for (const c of this.records.containers()) {
        const rows = this.adapterRows(c.container);
        const attached = rows.filter((a) => a.attached);
        if (!runningContainers.has(c.container)) {
          if (attached.length > 0 || c.netns || isPinned(this.nsPath(c.container))) {
            await this.detachContainer(c.container);
            lines.push(`container ${c.container} is not running: its network adapters were detached`);
          }
          continue;
        }
        for (const a of attached) {
          if (!driverOf(this.mustNet(a.network)).capabilities.hostSideAdapter) continue;
          if (!linkExists(a.host_ifname)) {
            this.foldAndDetach(c.container, a.network);
            lines.push(`container ${c.container}: adapter ${a.ifname} on ${a.network} has lost its host link ${a.host_ifname}; restart the container to re-attach it`);
          } else {
            this.observe(a);
          }
        }
      }
      lines.push(...(await this.repairNetworks()));
      // Host objects named for this root that no record explains.
      const known = new Set(this.records.networks().map((r) => r.bridge));
      const prefix = bridgeName(this.rootId, 0).slice(0, -4);
      for (const link of readdirSync('/sys/class/net')) {
        if (link.startsWith(prefix) && !known.has(link)) {
          await deleteLink(link);
          lines.push(`bridge ${link} belongs to no network of this root: removed`);
        }
      }
      const idxs = new Set(this.records.networks().map((r) => tableName(this.rootId, r.idx)));
      for (const t of await listTables()) {
        const name = t.split(' ')[1] ?? '';
        if (name.startsWith(`strata_${this.rootId}_`) && !idxs.has(name)) {
          await applyScript(`delete table ${t}\n`, `removing stray nftables table ${t}`);
          lines.push(`nftables table ${t} belongs to no network of this root: removed`);
        }
      }
      return lines;
    });
  }

  // Records

  private net(name: string): NetRow | undefined {
    return this.records.network(name);
  }

  private mustNet(name: string): NetRow {
    const n = this.net(name);
    if (!n) throw new NotFound(`network ${name} does not exist: see \`strata network list\``);
    return n;
  }

  private cont(container: string): ContRow | undefined {
    return this.records.container(container);
  }

  private mustCont(container: string): ContRow {
    const c = this.cont(container);
    if (!c) throw new NotFound(`container ${container} has no network plan: create it first`);
    return c;
  }

  private adapterRows(container: string): AdRow[] {
    return this.records.adaptersOf(container);
  }

  private containersOn(network: string): string[] {
    return this.records.containersOn(network);
  }

  private journal(network: string, kind: ChangeRow['kind'], name: string, detail = ''): void {
    this.records.addHostChange(network, kind, name, detail);
  }

  private view(n: NetRow): NetworkView {
    return {
      name: n.name, subnet: n.subnet, gateway: n.gateway, nat: n.nat === 1, isolated: n.isolated === 1,
      bridge: driverOf(n).capabilities.hostSideAdapter ? n.bridge : '', driver: n.driver, parent: n.parent,
      containers: this.containersOn(n.name), createdAt: n.created_at,
    };
  }
}
