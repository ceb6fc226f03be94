import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { containerNetFiles, isLoopbackAddress, parseNameservers, usableNameservers } from './files.js';

describe('container network files', () => {
  const adapters = [
    { network: 'default', ifname: 'eth0', address: '10.77.0.5/24' },
    { network: 'back', ifname: 'eth1', address: '10.78.0.9/24' },
  ];

  test('hosts names the container on its first address, others per network', () => {
    const { hosts } = containerNetFiles('web', adapters, []);
    assert.match(hosts, /^127\.0\.0\.1\tlocalhost$/m);
    assert.match(hosts, /^10\.77\.0\.5\tweb$/m);
    assert.match(hosts, /^10\.78\.0\.9\tweb-back$/m);
    assert.ok(hosts.endsWith('\n'));
  });

  test('without adapters the name points at 127.0.1.1', () => {
    assert.match(containerNetFiles('solo', [], []).hosts, /^127\.0\.1\.1\tsolo$/m);
  });

  test('resolv.conf keeps the host name servers but not loopback ones', () => {
    const { resolvConf } = containerNetFiles('web', adapters, ['127.0.0.53', '10.255.255.53', '::1', '9.9.9.9', '1.1.1.1', '8.8.8.8']);
    assert.deepEqual(parseNameservers(resolvConf), ['10.255.255.53', '9.9.9.9', '1.1.1.1']);
    const none = containerNetFiles('web', adapters, ['127.0.0.53']).resolvConf;
    assert.deepEqual(parseNameservers(none), []);
    assert.match(none, /no name server reachable/);
  });

  test('loopback detection and resolv.conf parsing', () => {
    assert.ok(isLoopbackAddress('127.0.0.53'));
    assert.ok(isLoopbackAddress('::1'));
    assert.ok(!isLoopbackAddress('10.0.0.1'));
    assert.deepEqual(usableNameservers(['', '127.1.1.1']), []);
    assert.deepEqual(parseNameservers('# c\nnameserver 10.0.0.2\n  nameserver fe80::1%eth0\nsearch x\n'), ['10.0.0.2', 'fe80::1']);
  });
});
