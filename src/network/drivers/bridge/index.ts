/**
 * The bridge driver: a host bridge per network with the gateway address, each adapter a veth
 * whose host end is a bridge port. The host routes, NATs, publishes ports and filters (Strata's
 * rule tables on the host ends), and shapes rates there. Adapters are joined by the resident
 * helper over netlink (`join`), as the CNI `bridge` plugin with static IPAM would (adapterConf, the
 * reference the tests compare with): the plugin is two programs and five /proc/sys writes a start.
 */
import { Conflict } from '../../../errors/index.js';
import { parseSubnet } from '../../cidr.js';
import { bridgeConf, CNI_VERSION } from '../../cni.js';
import type { NetworkDriver } from '../../driver.js';
import { createBridge, linkExists } from '../../host.js';
import { hostd } from '../../../util/hostd.js';

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

  async join(net, a, where) {
    await hostd().joinBridge({
      netns: where.netns, ifname: where.ifname, port: where.port, bridge: net.bridge, mac: a.mac,
      address: a.address, gateway: net.gateway, defaultRoute: a.defaultRoute, isolated: net.isolated,
    }, `attaching ${where.ifname} to network ${net.name}`);
    // The plugin's result, in its shape: the bridge, the host end, the container's end.
    return {
      cniVersion: CNI_VERSION,
      interfaces: [{ name: net.bridge }, { name: where.port }, { name: where.ifname, mac: a.mac, sandbox: where.netns }],
      ips: [{ interface: 2, address: a.address, gateway: net.gateway }],
      routes: a.defaultRoute ? [{ dst: '0.0.0.0/0', gw: net.gateway }] : [],
      dns: {},
    };
  },
};
