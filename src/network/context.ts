/**
 * What the network service's files share: the records, the data root's names, the shared
 * sysctls, and the per-network and per-container lookups. The service's facade (index.ts) takes
 * the one lock; the files it delegates to assume it is held.
 */
import type Database from 'better-sqlite3';
import { dirname, join } from 'node:path';
import { NotFound } from '../errors/index.js';
import { NetworkRecords, type AdRow, type ChangeRow, type ContRow, type NetRow } from '../state/index.js';
import type { CniRuntime, PluginConf } from './cni.js';
import type { AdapterSpec, NetworkDriver, NetworkSpec } from './driver.js';
import { networkDriver } from './drivers/index.js';
import { SharedSysctls } from './host.js';
import { cniContainerId, cniNetworkName } from './names.js';
import type { NetworkView } from './views.js';

export const IP_FORWARD = 'net/ipv4/ip_forward';

export function specOf(n: NetRow): NetworkSpec {
  return { name: n.name, subnet: n.subnet, gateway: n.gateway, isolated: n.isolated === 1, bridge: n.bridge, parent: n.parent };
}

export function driverOf(n: NetRow): NetworkDriver {
  return networkDriver(n.driver);
}

export class NetContext {
  readonly records: NetworkRecords;
  readonly rootId: string;
  readonly runDir: string;
  readonly cniPath: string;
  readonly sysctls: SharedSysctls;

  constructor(db: Database.Database, opts: { rootId: string; runDir: string; cniPath?: string }) {
    this.records = new NetworkRecords(db);
    this.rootId = opts.rootId;
    this.runDir = opts.runDir;
    this.cniPath = opts.cniPath ?? '/usr/lib/cni';
    this.sysctls = new SharedSysctls(join(dirname(opts.runDir), 'net-sysctls.json'));
  }

  nsPath(container: string): string {
    return join(this.runDir, 'netns', container);
  }

  runtime(container: string, netns: string, ifname: string): CniRuntime {
    return { containerId: cniContainerId(this.rootId, container), netns, ifname, cniPath: this.cniPath };
  }

  adapterSpecOf(a: AdRow, net: NetRow): AdapterSpec {
    return { cniName: cniNetworkName(this.rootId, net.name), address: a.address, mac: a.mac, defaultRoute: a.ifname === 'eth0' };
  }

  adapterConfOf(a: AdRow, net: NetRow): PluginConf {
    return driverOf(net).adapterConf(specOf(net), this.adapterSpecOf(a, net));
  }

  hasPorts(container: string): boolean {
    return this.records.hasPorts(container);
  }

  net(name: string): NetRow | undefined {
    return this.records.network(name);
  }

  mustNet(name: string): NetRow {
    const n = this.net(name);
    if (!n) throw new NotFound(`network ${name} does not exist: see \`strata network list\``);
    return n;
  }

  cont(container: string): ContRow | undefined {
    return this.records.container(container);
  }

  mustCont(container: string): ContRow {
    const c = this.cont(container);
    if (!c) throw new NotFound(`container ${container} has no network plan: create it first`);
    return c;
  }

  adapterRows(container: string): AdRow[] {
    return this.records.adaptersOf(container);
  }

  containersOn(network: string): string[] {
    return this.records.containersOn(network);
  }

  journal(network: string, kind: ChangeRow['kind'], name: string, detail = ''): void {
    this.records.addHostChange(network, kind, name, detail);
  }

  view(n: NetRow): NetworkView {
    return {
      name: n.name, subnet: n.subnet, gateway: n.gateway, nat: n.nat === 1, isolated: n.isolated === 1,
      bridge: driverOf(n).capabilities.hostSideAdapter ? n.bridge : '', driver: n.driver, parent: n.parent,
      containers: this.containersOn(n.name), createdAt: n.created_at,
    };
  }
}
