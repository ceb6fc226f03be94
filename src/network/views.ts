/** What the network service shows: its views and the requests it takes (plain data). */
import type { AdBrief, ContRow, PortRow } from '../state/index.js';
import { formatPortSpec, type Proto } from './ports.js';
import { formatRate } from './rates.js';

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

export interface BandwidthView {
  netIn: string | null;
  netOut: string | null;
  /** The rate every direction is held to while the container's tenant is over its traffic quota, or null. */
  throttled: string | null;
}

export interface CreateNetworkRequest { name: string; subnet: string; gateway?: string; nat?: boolean; isolated?: boolean; driver?: string; parent?: string }
export interface PlanRequest { nets?: string[]; ip?: string; /** The first network's MAC (a moved container keeps its own). */ mac?: string; noNet?: boolean; ports?: string[]; netIn?: string; netOut?: string }


export function adapterView(a: AdBrief, gateway: string | undefined): AdapterView {
  return { network: a.network, ifname: a.ifname, address: a.address, gateway: gateway ?? '', mac: a.mac, hostIfname: a.host_ifname, attached: a.attached === 1 };
}

/** A published port; `address` is the container's first adapter's (CIDR), where it answers. */
export function portView(p: PortRow, address: string | undefined): PortView {
  return {
    container: p.container, hostPort: p.host_port, containerPort: p.container_port, proto: p.proto,
    address: address ? address.split('/')[0] : null,
    spec: formatPortSpec({ hostPort: p.host_port, containerPort: p.container_port, proto: p.proto }),
  };
}

export function bandwidthView(c: ContRow | undefined): BandwidthView {
  return { netIn: c?.net_in ? formatRate(c.net_in) : null, netOut: c?.net_out ? formatRate(c.net_out) : null, throttled: c?.rate_cap ? formatRate(c.rate_cap) : null };
}
