import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { bandwidthConf, bridgeConf, type CniResult } from './cni.js';
import { nftAddPortsScript, nftDeleteScript, nftRemovePortsScript, nftScript } from './rules.js';
import { bridgeName, cniContainerId, ifbName, tableName, vethName } from './names.js';

describe('host object names', () => {
  test('fit in IFNAMSIZ and carry the root', () => {
    assert.equal(bridgeName('1a2b3c4d5e', 7), 'stb1a2b3c4d0007');
    assert.ok(bridgeName('1a2b3c4d5e', 9999).length <= 15);
    const v = vethName('1a2b3c4d5e', 'web', 'default');
    assert.match(v, /^stv[0-9a-f]{12}$/);
    assert.notEqual(v, vethName('ffffffffff', 'web', 'default'));
    assert.notEqual(v, vethName('1a2b3c4d5e', 'web', 'other'));
    assert.equal(tableName('1a2b3c4d5e', 3), 'strata_1a2b3c4d5e_3');
    assert.match(cniContainerId('1a2b3c4d5e', 'web'), /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/);
    assert.equal(ifbName('exp', 'exp1'), 'bwpbe7ebe97f2ac', 'the bandwidth plugin 1.1.1 names its ifb this way');
  });
});

describe('CNI configurations', () => {
  test('bridge with a static address and MAC through runtimeConfig', () => {
    const c = bridgeConf({ cniName: 'strata-r-default', bridge: 'stbr0001', address: '10.77.0.5/24', gateway: '10.77.0.1', mac: '02:00:0a:4d:00:05', defaultRoute: true });
    assert.equal(c.type, 'bridge');
    assert.equal(c.cniVersion, '1.0.0');
    assert.equal(c.isGateway, true);
    assert.equal(c.ipMasq, false);
    assert.deepEqual(c.capabilities, { mac: true });
    assert.deepEqual(c.runtimeConfig, { mac: '02:00:0a:4d:00:05' });
    assert.deepEqual(c.ipam, { type: 'static', addresses: [{ address: '10.77.0.5/24', gateway: '10.77.0.1' }], routes: [{ dst: '0.0.0.0/0', gw: '10.77.0.1' }] });
    const second = bridgeConf({ cniName: 'strata-r-other', bridge: 'stbr0002', address: '10.78.0.5/24', gateway: '10.78.0.1', mac: '02:00:0a:4e:00:05', defaultRoute: false });
    assert.deepEqual((second.ipam as { routes: unknown[] }).routes, [], 'only the first adapter has the default route');
  });

  test('bandwidth: --net-in is the plugin ingress, --net-out its egress', () => {
    const prev: CniResult = { cniVersion: '1.0.0', interfaces: [{ name: 'stbr0001' }, { name: 'stvx' }, { name: 'eth0', sandbox: '/n' }] };
    const both = bandwidthConf('n', { netIn: 8e6, netOut: 2e6 }, { inBurst: 100, outBurst: 200 }, prev);
    assert.deepEqual(both.runtimeConfig, { bandwidth: { ingressRate: 8e6, ingressBurst: 100, egressRate: 2e6, egressBurst: 200 } });
    assert.deepEqual(both.prevResult, prev);
    const outOnly = bandwidthConf('n', { netIn: null, netOut: 2e6 }, { inBurst: 100, outBurst: 200 }, prev);
    assert.deepEqual(outOnly.runtimeConfig, { bandwidth: { egressRate: 2e6, egressBurst: 200 } });
  });
});

describe('nftables rules', () => {
  const net = { table: 'strata_r_1', bridge: 'stbr0001', subnet: '10.77.0.0/24', nat: true, isolated: false };
  const owner = { hostIfname: 'stvaaa', mac: '02:00:0a:4d:00:02', ip: '10.77.0.2' };

  test('replace both tables atomically and delete cleanly', () => {
    const s = nftScript(net, [], []);
    assert.match(s, /^table ip strata_r_1 \{\}\ndelete table ip strata_r_1\ntable ip strata_r_1 \{/);
    assert.match(s, /table bridge strata_r_1 \{\}\ndelete table bridge strata_r_1\n/);
    assert.equal(nftDeleteScript('strata_r_1'), 'table ip strata_r_1 {}\ndelete table ip strata_r_1\ntable bridge strata_r_1 {}\ndelete table bridge strata_r_1\n');
  });

  test('NAT only on --nat networks, published ports for host and 127.0.0.1', () => {
    const s = nftScript(net, [owner], [{ proto: 'udp', hostPort: 5353, containerPort: 53, ip: '10.77.0.2' }, { proto: 'tcp', hostPort: 8080, containerPort: 80, ip: '10.77.0.2' }]);
    assert.match(s, /ip saddr 10\.77\.0\.0\/24 ip daddr != 10\.77\.0\.0\/24 oifname != "stbr0001" masquerade/);
    assert.match(s, /oifname "stbr0001" ip saddr 127\.0\.0\.0\/8 masquerade/);
    assert.match(s, /type nat hook output priority -100;.*\n\s+fib daddr type local jump ports/);
    assert.ok(s.indexOf('udp dport 5353 dnat to 10.77.0.2:53') < s.indexOf('tcp dport 8080 dnat to 10.77.0.2:80'), 'sorted by host port');
    assert.doesNotMatch(nftScript({ ...net, nat: false }, [], []), /ip daddr != .* masquerade/);
  });

  test('isolation: same-bridge forwarding only on --isolated, other bridges always', () => {
    assert.doesNotMatch(nftScript(net, [], []), /iifname "stbr0001" oifname "stbr0001" drop/);
    const iso = nftScript({ ...net, isolated: true }, [], []);
    assert.match(iso, /iifname "stbr0001" oifname "stbr0001" drop/);
    assert.match(iso, /iifname "stbr0001" oifname "stb\*" oifname != "stbr0001" drop/);
  });

  test('anti-spoofing per port: own MAC and IP, ARP sender checked, no IPv6', () => {
    const s = nftScript(net, [owner], []);
    assert.match(s, /iifname @ports jump from_container/);
    assert.match(s, /iifname \. ether saddr != @port_macs counter drop/);
    assert.match(s, /arp saddr ether != @port_macs counter drop/);
    assert.match(s, /arp saddr ip != @port_addrs counter drop/);
    assert.match(s, /ether type ip iifname \. ip saddr != @port_addrs counter drop/);
    assert.match(s, /icmpv6 type \{ nd-router-advert, nd-redirect, nd-neighbor-advert \} counter drop/);
    assert.match(s, /ether type ip accept\n.*icmpv6.*\n\s+counter drop\n/);
    // The port's own MAC and address are elements: no chain per port.
    assert.match(s, /add element bridge strata_r_1 ports \{ "stvaaa" \}/);
    assert.match(s, /add element bridge strata_r_1 port_macs \{ "stvaaa" \. 02:00:0a:4d:00:02 \}/);
    assert.match(s, /add element bridge strata_r_1 port_addrs \{ "stvaaa" \. 10\.77\.0\.2 \}/);
    assert.doesNotMatch(s, /chain port_/);
  });

  test('a port comes and goes as the same three elements', () => {
    const add = nftAddPortsScript('strata_r_1', [owner]);
    const remove = nftRemovePortsScript('strata_r_1', [owner]);
    assert.equal(add.split('\n').filter(Boolean).length, 3);
    assert.equal(remove, add.replaceAll('add element', 'delete element'));
  });
});
