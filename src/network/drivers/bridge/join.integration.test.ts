// The bridge driver's own join (strata-hostd over netlink) against its reference, the CNI bridge
// plugin with static IPAM as Strata ran it before: two stand-in containers (`unshare --net`
// sleeping), one joined each way to one bridge, must end up alike: the container's link, address,
// routes and arp_notify, and the host port's flags and forwarding entry. One difference is meant:
// the plugin's container end gets an IPv6 link-local address (it turns duplicate detection off
// through /proc/sys), the helper's gets none (the networks are IPv4 and IPv6 from containers is
// dropped). The "host" is a network namespace of the helper's own; nothing on the host changes.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { nativeHelper } from '../../../config/index.js';
import { StrataError } from '../../../errors/index.js';
import { HostHelper } from '../../../util/hostd.js';
import { bridgeConf } from '../../cni.js';
import { bridgeDriver } from './index.js';

const sh = (cmd: string, args: string[]): string => execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const json = <T>(text: string): T => JSON.parse(text) as T;
type Link = { flags: string[]; mtu: number; operstate: string; address: string; link_type: string; master?: string; linkinfo?: { info_slave_data?: Record<string, unknown> } };
type Addr = { addr_info: Array<{ family: string; local: string; prefixlen: number; broadcast?: string; scope: string }> };
type Route = { dst: string; gateway?: string; dev: string; protocol?: string; scope?: string; prefsrc?: string; flags: string[] };

describe('bridge driver: its own join matches the CNI bridge plugin', () => {
  const helper = new HostHelper(nativeHelper('strata-hostd'), ['unshare', '--net']);
  const kids: ChildProcess[] = [];
  let hostPid = 0;
  const onHost = (cmd: string, args: string[]): string => sh('nsenter', [`--net=/proc/${hostPid}/ns/net`, cmd, ...args]);
  const inside = (pid: number, args: string[]): string => sh('nsenter', ['-t', String(pid), '-n', ...args]);
  const net = { name: 'ref', subnet: '10.99.0.0/24', gateway: '10.99.0.1', isolated: false, bridge: 'stbref0', parent: null };
  const stray = async (): Promise<number> => {
    const kid = spawn('unshare', ['--net', 'sleep', '600'], { stdio: 'ignore' });
    kids.push(kid);
    for (let i = 0; i < 100 && sh('readlink', [`/proc/${kid.pid}/ns/net`]) === sh('readlink', ['/proc/self/ns/net']); i++) await new Promise((r) => setTimeout(r, 20));
    return kid.pid!;
  };
  let byPlugin = 0;
  let byHelper = 0;

  before(async () => {
    hostPid = await helper.ping();
    onHost('ip', ['link', 'add', net.bridge, 'type', 'bridge']);
    onHost('ip', ['addr', 'add', '10.99.0.1/24', 'dev', net.bridge]);
    onHost('ip', ['link', 'set', net.bridge, 'up']);
    byPlugin = await stray();
    byHelper = await stray();
    // The reference: the plugin's ADD, run in the helper's namespace as the daemon ran it on the host,
    // then the port renamed and set up as the attach did after it.
    const conf = bridgeConf({ cniName: 'ref', bridge: net.bridge, address: '10.99.0.2/24', gateway: net.gateway, mac: '02:42:0a:63:00:02', defaultRoute: true });
    const res = spawnSync('nsenter', [`--net=/proc/${hostPid}/ns/net`, '/usr/lib/cni/bridge'], {
      input: JSON.stringify(conf), encoding: 'utf8',
      env: { PATH: process.env.PATH, CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'ref-plugin', CNI_NETNS: `/proc/${byPlugin}/ns/net`, CNI_IFNAME: 'eth0', CNI_PATH: '/usr/lib/cni' },
    });
    assert.equal(res.status, 0, res.stdout + res.stderr);
    const hostEnd = json<{ interfaces: Array<{ name: string; sandbox?: string }> }>(res.stdout).interfaces.find((i) => !i.sandbox && i.name !== net.bridge)!.name;
    await helper.configurePort(hostEnd, 'stpref1', '02:42:0a:63:00:02', false);
    await helper.joinBridge({ netns: `/proc/${byHelper}/ns/net`, ifname: 'eth0', port: 'stpref2', bridge: net.bridge, mac: '02:42:0a:63:00:03', address: '10.99.0.3/24', gateway: net.gateway, defaultRoute: true, isolated: false });
  });
  after(() => {
    for (const k of kids) k.kill('SIGKILL');
    helper.stop(); // its namespace, with the bridge and ports in it, ends with it
  });

  test('the container end: link, IPv4 address, routes and arp_notify alike; no IPv6 address from the helper', () => {
    const link = (pid: number): Partial<Link> => {
      const l = json<Link[]>(inside(pid, ['ip', '-j', 'link', 'show', 'dev', 'eth0']))[0];
      return { flags: l.flags, mtu: l.mtu, operstate: l.operstate, link_type: l.link_type };
    };
    assert.deepEqual(link(byHelper), link(byPlugin));
    assert.equal(json<Link[]>(inside(byHelper, ['ip', '-j', 'link', 'show', 'dev', 'eth0']))[0].address, '02:42:0a:63:00:03');
    const v4 = (pid: number): unknown => json<Addr[]>(inside(pid, ['ip', '-4', '-j', 'addr', 'show', 'dev', 'eth0']))[0].addr_info
      .map((a) => ({ prefixlen: a.prefixlen, broadcast: a.broadcast, scope: a.scope }));
    assert.deepEqual(v4(byHelper), v4(byPlugin));
    assert.match(inside(byHelper, ['ip', '-4', 'addr', 'show', 'dev', 'eth0']), /inet 10\.99\.0\.3\/24 brd 10\.99\.0\.255 scope global eth0/);
    const routes = (pid: number): unknown => json<Route[]>(inside(pid, ['ip', '-4', '-j', 'route', 'show']))
      .map((r) => ({ dst: r.dst, gateway: r.gateway, dev: r.dev, protocol: r.protocol, scope: r.scope, flags: r.flags }));
    assert.deepEqual(routes(byHelper), routes(byPlugin));
    assert.match(inside(byHelper, ['ip', 'route', 'show', 'default']), /^default via 10\.99\.0\.1 dev eth0/);
    const arpNotify = (pid: number): string => inside(pid, ['cat', '/proc/sys/net/ipv4/conf/eth0/arp_notify']).trim();
    assert.equal(arpNotify(byPlugin), '1');
    assert.equal(arpNotify(byHelper), '1');
    const v6 = (pid: number): string[] => json<Addr[]>(inside(pid, ['ip', '-6', '-j', 'addr', 'show', 'dev', 'eth0'])).flatMap((l) => l.addr_info.map((a) => a.scope));
    assert.deepEqual(v6(byHelper), []);
    assert.ok(v6(byPlugin).every((scope) => scope === 'link'), 'the plugin makes only a link-local address');
  });

  test('the host end: a port of the bridge with the same flags and forwarding entry', () => {
    const port = (name: string): unknown => {
      const l = json<Link[]>(onHost('ip', ['-d', '-j', 'link', 'show', 'dev', name]))[0];
      const s = l.linkinfo!.info_slave_data!;
      return { flags: l.flags, master: l.master, learning: s.learning, flood: s.flood, isolated: s.isolated, hairpin: s.hairpin, state: s.state };
    };
    assert.deepEqual(port('stpref2'), port('stpref1'));
    assert.deepEqual(port('stpref2'), { flags: ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'], master: net.bridge, learning: false, flood: false, isolated: false, hairpin: false, state: 'forwarding' });
    assert.match(onHost('bridge', ['fdb', 'show', 'dev', 'stpref2']), /^02:42:0a:63:00:03 master stbref0 static$/m);
    assert.equal(onHost('ip', ['-6', 'addr', 'show', 'dev', 'stpref2']).trim(), '');
  });

  test('both reach the gateway and each other', () => {
    inside(byHelper, ['busybox', 'ping', '-c', '1', '-W', '2', net.gateway]);
    inside(byHelper, ['busybox', 'ping', '-c', '1', '-W', '2', '10.99.0.2']);
    inside(byPlugin, ['busybox', 'ping', '-c', '1', '-W', '2', '10.99.0.3']);
  });

  test('errors name the problem, with the attach\'s context through the driver, and leave nothing behind', async () => {
    // The driver goes through this process's helper, on the host: here only what it returns is
    // checked against a namespace that refuses (a missing bridge), so the host is not changed.
    const pid = await stray();
    await assert.rejects(bridgeDriver.join!({ ...net, bridge: 'stbnone0' }, { cniName: 'x', address: '10.99.0.4/24', mac: '02:42:0a:63:00:04', defaultRoute: true }, { netns: `/proc/${pid}/ns/net`, ifname: 'eth0', port: 'stpnone0' }),
      (err: unknown) => err instanceof StrataError && /attaching eth0 to network ref: strata-hostd: attaching stpnone0: no bridge stbnone0/.test(err.message));
    const fails = async (join: Partial<Parameters<HostHelper['joinBridge']>[0]>, re: RegExp): Promise<void> => {
      await assert.rejects(helper.joinBridge({ netns: `/proc/${pid}/ns/net`, ifname: 'eth0', port: 'stpref3', bridge: net.bridge, mac: '02:42:0a:63:00:04', address: '10.99.0.4/24', gateway: net.gateway, defaultRoute: true, isolated: true, ...join }),
        (err: unknown) => err instanceof StrataError && re.test(err.message));
    };
    await fails({ port: 'stpref2' }, /a link named stpref2 already exists/);
    await fails({ mac: 'nope' }, /nope is not a MAC address/);
    await fails({ address: '10.99.0.4' }, /10\.99\.0\.4 is not an IPv4 address with its prefix length/);
    await fails({ netns: '/proc/0/ns/net' }, /opening the network namespace \/proc\/0\/ns\/net/);
    await fails({ netns: `/proc/${byHelper}/ns/net` }, /already has a link named eth0/);
    // Half-way: the second adapter's default route exists already. The veth is taken away again.
    await fails({ netns: `/proc/${byHelper}/ns/net`, ifname: 'eth1' }, /configuring eth1 .*adding the default route: File exists/);
    assert.doesNotMatch(inside(byHelper, ['ip', 'link']), /eth1/);
    assert.doesNotMatch(onHost('ip', ['link']), /stpref3/);
    assert.doesNotMatch(inside(pid, ['ip', 'link']), /eth0/);
  });
});
