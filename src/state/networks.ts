/**
 * The networks' records (migrations 003 and 008): networks, each container's network plan, its
 * adapters with their stable addresses and traffic counters, published ports, and the journal of
 * host changes each network made. The network service holds no SQL: every statement is here,
 * prepared once.
 */
import type Database from 'better-sqlite3';
import { preparedOnce, type Prepared } from './statements.js';

export interface NetRow { name: string; idx: number; subnet: string; gateway: string; nat: number; isolated: number; bridge: string; driver: string; parent: string | null; created_at: string }
export interface ContRow {
  container: string; no_net: number; net_in: number | null; net_out: number | null; netns: string | null;
  /** bits/s no rate exceeds while its tenant is throttled (over its traffic quota); null: none. */
  rate_cap: number | null;
  rx_bytes: number; tx_bytes: number; rx_packets: number; tx_packets: number;
}
export interface AdRow {
  container: string; network: string; ifname: string; ip: number; address: string; mac: string; host_ifname: string; attached: number;
  cni_result: string | null; seen_ifindex: number | null;
  seen_rx_bytes: number; seen_tx_bytes: number; seen_rx_packets: number; seen_tx_packets: number;
}
/** An adapter without its plugin's result (the JSON that only attach and detach read): what the bulk reads of list and stats need. */
export type AdBrief = Omit<AdRow, 'cni_result'>;
const AD_BRIEF = 'container, network, ifname, ip, address, mac, host_ifname, attached, seen_ifindex, seen_rx_bytes, seen_tx_bytes, seen_rx_packets, seen_tx_packets';
export interface PortRow { container: string; proto: 'tcp' | 'udp'; host_port: number; container_port: number }
export interface ChangeRow { id: number; network: string; kind: 'link' | 'nft-tables' | 'sysctl'; name: string; detail: string }
export interface Seen { ifindex: number; rx: number; tx: number; rxp: number; txp: number }

/** Adapters in their order inside the container: eth0, eth1, … eth10. */
const BY_IFNUM = 'CAST(substr(ifname, 4) AS INTEGER)';

export class NetworkRecords {
  private readonly q: Prepared;

  constructor(private readonly db: Database.Database) {
    this.q = preparedOnce(db);
  }

  /** Runs `work` in one transaction. */
  transaction<T>(work: () => T): T {
    return this.db.transaction(work)();
  }

  // Networks

  networks(): NetRow[] { return this.q('SELECT * FROM networks ORDER BY name').all() as NetRow[]; }
  network(name: string): NetRow | undefined { return this.q('SELECT * FROM networks WHERE name = ?').get(name) as NetRow | undefined; }
  insertNetwork(row: NetRow): void {
    this.q('INSERT INTO networks (name, idx, subnet, gateway, nat, isolated, bridge, driver, parent, created_at) VALUES (@name, @idx, @subnet, @gateway, @nat, @isolated, @bridge, @driver, @parent, @created_at)').run(row);
  }
  deleteNetwork(name: string): void { this.q('DELETE FROM networks WHERE name = ?').run(name); }

  hostChanges(network: string): ChangeRow[] { return this.q('SELECT * FROM net_host_changes WHERE network = ? ORDER BY id DESC').all(network) as ChangeRow[]; }
  addHostChange(network: string, kind: ChangeRow['kind'], name: string, detail: string): void {
    this.q('INSERT INTO net_host_changes (network, kind, name, detail, created_at) VALUES (?, ?, ?, ?, ?)').run(network, kind, name, detail, new Date().toISOString());
  }
  deleteHostChange(id: number): void { this.q('DELETE FROM net_host_changes WHERE id = ?').run(id); }

  // Container plans

  containers(): ContRow[] { return this.q('SELECT * FROM net_containers ORDER BY container').all() as ContRow[]; }
  container(container: string): ContRow | undefined { return this.q('SELECT * FROM net_containers WHERE container = ?').get(container) as ContRow | undefined; }
  /** A plan; `noNet`: loopback only. */
  insertContainer(container: string, noNet: boolean, netIn: number | null = null, netOut: number | null = null): void {
    this.q('INSERT INTO net_containers (container, no_net, net_in, net_out) VALUES (?, ?, ?, ?)').run(container, noNet ? 1 : 0, netIn, netOut);
  }
  deleteContainer(container: string): void { this.q('DELETE FROM net_containers WHERE container = ?').run(container); }
  setNetns(container: string, netns: string | null): void { this.q('UPDATE net_containers SET netns = ? WHERE container = ?').run(netns, container); }
  setRates(container: string, netIn: number | null, netOut: number | null): void {
    this.q('UPDATE net_containers SET net_in = ?, net_out = ? WHERE container = ?').run(netIn, netOut, container);
  }
  setRateCap(container: string, cap: number | null): void { this.q('UPDATE net_containers SET rate_cap = ? WHERE container = ?').run(cap, container); }
  ratedContainers(): ContRow[] { return this.q('SELECT * FROM net_containers WHERE net_in IS NOT NULL OR net_out IS NOT NULL OR rate_cap IS NOT NULL').all() as ContRow[]; }
  /** Adds an adapter's last seen counters to the container's totals. */
  addTotals(a: AdBrief): void {
    this.q(`UPDATE net_containers SET rx_bytes = rx_bytes + ?, tx_bytes = tx_bytes + ?, rx_packets = rx_packets + ?, tx_packets = tx_packets + ?
      WHERE container = ?`).run(a.seen_rx_bytes, a.seen_tx_bytes, a.seen_rx_packets, a.seen_tx_packets, a.container);
  }

  // Adapters

  adapters(): AdBrief[] { return this.q(`SELECT ${AD_BRIEF} FROM net_adapters ORDER BY container, ${BY_IFNUM}`).all() as AdBrief[]; }
  adaptersOf(container: string): AdRow[] { return this.q(`SELECT * FROM net_adapters WHERE container = ? ORDER BY ${BY_IFNUM}`).all(container) as AdRow[]; }
  adapter(container: string, network: string): AdRow | undefined {
    return this.q('SELECT * FROM net_adapters WHERE container = ? AND network = ?').get(container, network) as AdRow | undefined;
  }
  attachedAdapters(): AdBrief[] { return this.q(`SELECT ${AD_BRIEF} FROM net_adapters WHERE attached = 1`).all() as AdBrief[]; }
  attachedOn(network: string): AdRow[] { return this.q('SELECT * FROM net_adapters WHERE network = ? AND attached = 1 ORDER BY host_ifname').all(network) as AdRow[]; }
  containersOn(network: string): string[] {
    return (this.q('SELECT container FROM net_adapters WHERE network = ? ORDER BY container').all(network) as Array<{ container: string }>).map((r) => r.container);
  }
  /** Who has address `ip` (as a number) on `network`. */
  ipOwner(network: string, ip: number): string | undefined {
    return (this.q('SELECT container FROM net_adapters WHERE network = ? AND ip = ?').get(network, ip) as { container: string } | undefined)?.container;
  }
  ipsOn(network: string): number[] { return (this.q('SELECT ip FROM net_adapters WHERE network = ?').all(network) as Array<{ ip: number }>).map((r) => r.ip); }
  insertAdapter(a: Pick<AdRow, 'container' | 'network' | 'ifname' | 'ip' | 'address' | 'mac' | 'host_ifname'>): void {
    this.q('INSERT INTO net_adapters (container, network, ifname, ip, address, mac, host_ifname) VALUES (@container, @network, @ifname, @ip, @address, @mac, @host_ifname)').run(a);
  }
  /** Attached now, with the plugin's result; counting starts from zero on the host end `ifindex` (null: no host end). */
  markAttached(container: string, network: string, cniResult: string, ifindex: number | null): void {
    this.q(`UPDATE net_adapters SET attached = 1, cni_result = ?, seen_ifindex = ?, seen_rx_bytes = 0, seen_tx_bytes = 0,
      seen_rx_packets = 0, seen_tx_packets = 0 WHERE container = ? AND network = ?`).run(cniResult, ifindex, container, network);
  }
  markDetached(container: string): void { this.q('UPDATE net_adapters SET attached = 0, seen_ifindex = NULL WHERE container = ?').run(container); }
  /** Detached, its counters already folded into the totals. */
  resetAdapter(container: string, network: string): void {
    this.q(`UPDATE net_adapters SET attached = 0, seen_ifindex = NULL, seen_rx_bytes = 0, seen_tx_bytes = 0, seen_rx_packets = 0,
      seen_tx_packets = 0 WHERE container = ? AND network = ?`).run(container, network);
  }
  setSeen(container: string, network: string, s: Seen): void {
    this.q(`UPDATE net_adapters SET seen_ifindex = ?, seen_rx_bytes = ?, seen_tx_bytes = ?, seen_rx_packets = ?, seen_tx_packets = ?
      WHERE container = ? AND network = ?`).run(s.ifindex, s.rx, s.tx, s.rxp, s.txp, container, network);
  }

  // Published ports

  ports(): PortRow[] { return this.q('SELECT * FROM net_ports ORDER BY container, host_port, proto').all() as PortRow[]; }
  portsOf(container: string): PortRow[] { return this.q('SELECT * FROM net_ports WHERE container = ? ORDER BY host_port, proto').all(container) as PortRow[]; }
  port(container: string, proto: PortRow['proto'], hostPort: number): PortRow | undefined {
    return this.q('SELECT * FROM net_ports WHERE container = ? AND proto = ? AND host_port = ?').get(container, proto, hostPort) as PortRow | undefined;
  }
  portOwner(proto: PortRow['proto'], hostPort: number): string | undefined {
    return (this.q('SELECT container FROM net_ports WHERE proto = ? AND host_port = ?').get(proto, hostPort) as { container: string } | undefined)?.container;
  }
  hasPorts(container: string): boolean { return (this.q('SELECT COUNT(*) AS n FROM net_ports WHERE container = ?').get(container) as { n: number }).n > 0; }
  insertPort(p: PortRow): void {
    this.q('INSERT INTO net_ports (container, proto, host_port, container_port) VALUES (@container, @proto, @host_port, @container_port)').run(p);
  }
  deletePort(proto: PortRow['proto'], hostPort: number): void { this.q('DELETE FROM net_ports WHERE proto = ? AND host_port = ?').run(proto, hostPort); }
  /** The ports published to the containers attached to `network` through their first adapter, with that adapter's address. */
  publishedOn(network: string): Array<PortRow & { address: string }> {
    return this.q(`SELECT p.*, a.address FROM net_ports p JOIN net_adapters a ON a.container = p.container AND a.ifname = 'eth0'
      WHERE a.network = ? AND a.attached = 1`).all(network) as Array<PortRow & { address: string }>;
  }
}
