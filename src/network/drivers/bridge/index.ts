/**
 * The bridge driver: a host bridge per network with the gateway address, each adapter a veth
 * whose host end is a bridge port (CNI `bridge` plugin, static IPAM). The host routes, NATs,
 * publishes ports and filters (Strata's rule tables on the host ends), and shapes rates there.
 */
import { Conflict } from '../../../errors/index.js';
import { parseSubnet } from '../../cidr.js';
import { bridgeConf } from '../../cni.js';
import type { NetworkDriver } from '../../driver.js';
import { createBridge, linkExists } from '../../host.js';

export const bridgeDriver: NetworkDriver = {
  name: 'bridge',
  capabilities: { hostSideAdapter: true, publishPorts: true, bandwidth: true, nat: true, hostReachesMembers: true, isolation: true, parent: false },

  async check(net) {
    if (linkExists(net.bridge)) {
      throw new Conflict(`a link named ${net.bridge} already exists on the host (left over from an earlier run?): remove it with \`ip link del ${net.bridge}\` and try again`);
    }
  },

  async createHost(net) {
    await createBridge(net.bridge, `${net.gateway}/${parseSubnet(net.subnet).prefix}`);
    return [net.bridge];
  },

  async ensureHost(net) {
    if (linkExists(net.bridge)) return [];
    await createBridge(net.bridge, `${net.gateway}/${parseSubnet(net.subnet).prefix}`);
    return [`network ${net.name}: bridge ${net.bridge} was missing, re-created`];
  },

  adapterConf(net, a) {
    return bridgeConf({ cniName: a.cniName, bridge: net.bridge, address: a.address, gateway: net.gateway, mac: a.mac, defaultRoute: a.defaultRoute });
  },
};
