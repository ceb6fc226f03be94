/**
 * The macvlan driver: containers directly on a host interface's segment (`--parent`), each
 * adapter a macvlan child of it with its own MAC and an address of the segment, as hosting
 * providers give customers their own addresses. No host-side end: the host does not route, NAT,
 * shape or filter their traffic, and (a macvlan property) cannot reach them through the parent.
 * Members reach each other (mode bridge) unless the network is isolated (mode private).
 */
import { FailedPrecondition } from '../../../errors/index.js';
import { CNI_VERSION, fixedAddress } from '../../cni.js';
import type { NetworkDriver, NetworkSpec } from '../../driver.js';
import { linkExists } from '../../host.js';

function parentOf(net: NetworkSpec): string {
  if (!net.parent || !linkExists(net.parent)) {
    throw new FailedPrecondition(`network ${net.name}: its parent interface ${net.parent ?? '(none)'} does not exist on this host: give an existing interface with --parent (see \`ip link\`)`);
  }
  return net.parent;
}

export const macvlanDriver: NetworkDriver = {
  name: 'macvlan',
  capabilities: { hostSideAdapter: false, publishPorts: false, bandwidth: false, nat: false, hostReachesMembers: false, isolation: true, parent: true },

  async check(net) {
    parentOf(net);
  },

  async createHost() {
    return [];
  },

  async ensureHost(net) {
    parentOf(net);
    return [];
  },

  adapterConf(net, a) {
    return {
      cniVersion: CNI_VERSION,
      name: a.cniName,
      type: 'macvlan',
      master: parentOf(net),
      mode: net.isolated ? 'private' : 'bridge',
      ...fixedAddress({ address: a.address, gateway: net.gateway, mac: a.mac, defaultRoute: a.defaultRoute }),
    };
  },
};
