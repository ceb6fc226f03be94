/**
 * The network driver interface: how a network's segment is made on the host and how a
 * container's adapter joins it. Each driver is one folder under drivers/ and one entry of
 * NETWORK_DRIVERS (drivers/index.ts), declares what it can do as data (NetworkCapabilities: the
 * service branches on these, never on a driver's name), and passes network.conformance.ts.
 * Addresses (Strata's own allocation, static IPAM), published ports, rates and counters stay in
 * the service, which offers each only where the network's driver declares it.
 */
import type { CniResult, PluginConf } from './cni.js';

interface NetworkCapabilities {
  /** Each adapter has a host-side end (a veth on a host bridge): rates shape it, its counters are read there, the rule tables filter it. */
  hostSideAdapter: boolean;
  /** Host ports forwarded to a member (DNAT in the network's rule tables). */
  publishPorts: boolean;
  /** Per-container inbound and outbound rates. */
  bandwidth: boolean;
  /** Outbound traffic NATed to the host's addresses. */
  nat: boolean;
  /** The host is the members' gateway and reaches them. */
  hostReachesMembers: boolean;
  /** Members can be kept from reaching each other (`--isolated`). */
  isolation: boolean;
  /** The segment is a host interface's (`--parent`): addresses are the segment's, which may be the host's own routes. */
  parent: boolean;
}

/** A network as the drivers see it. */
export interface NetworkSpec {
  name: string;
  /** CIDR. */
  subnet: string;
  gateway: string;
  isolated: boolean;
  /** The host bridge of a driver that makes one. */
  bridge: string;
  /** The host interface whose segment it joins, for drivers with `parent`. */
  parent: string | null;
}

/** One container adapter on the network. */
export interface AdapterSpec {
  /** The CNI network name (names the plugin's state). */
  cniName: string;
  /** CIDR, e.g. 10.77.0.2/24. */
  address: string;
  mac: string;
  /** The adapter carries the container's default route (its first). */
  defaultRoute: boolean;
}

export interface NetworkDriver {
  readonly name: string;
  readonly capabilities: NetworkCapabilities;
  /** What making the network needs of the host (a parent that exists…); a typed error naming the fix. */
  check(net: NetworkSpec): Promise<void>;
  /** Makes the network's host side; returns the links it made (the service journals and removes them). */
  createHost(net: NetworkSpec): Promise<string[]>;
  /** Re-makes a missing host side (daemon start, reconciliation); a line for each repair. */
  ensureHost(net: NetworkSpec): Promise<string[]>;
  /** The CNI plugin configuration that joins one adapter to the network (the reference for `join`, when the driver has one). */
  adapterConf(net: NetworkSpec, adapter: AdapterSpec): PluginConf;
  /**
   * Joins one adapter itself, without the plugin's programs: the container's end `where.ifname` in
   * the namespace at `where.netns`, the host end the port `where.port` set up as Strata's ports are.
   * Returns what the plugin's ADD would (its prevResult for the bandwidth plugin). Leaving needs no
   * plugin DEL then: the pair goes with its host end, or with the namespace. Without it, the
   * plugin of adapterConf joins and leaves; a driver with `hostSideAdapter` must have it (the
   * port's name and set-up are Strata's).
   */
  join?(net: NetworkSpec, adapter: AdapterSpec, where: { netns: string; ifname: string; port: string }): Promise<CniResult>;
}
