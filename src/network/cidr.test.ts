import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { contains, defaultCandidates, firstFree, formatIp, formatSubnet, isHostAddress, macFor, overlaps, parseIp, parseSubnet } from './cidr.js';
import { InvalidArgument } from '../errors/index.js';

describe('cidr', () => {
  test('parses and formats addresses', () => {
    assert.equal(parseIp('10.1.2.3'), 0x0a010203);
    assert.equal(formatIp(0x0a010203), '10.1.2.3');
    assert.equal(formatIp(parseIp('255.255.255.255')!), '255.255.255.255');
    for (const bad of ['10.1.2', '10.1.2.256', '01.1.1.1', 'a.b.c.d', '1.2.3.4.5', '']) assert.equal(parseIp(bad), null, bad);
  });

  test('parses subnets and refuses bad ones with the fix', () => {
    assert.deepEqual(parseSubnet('10.20.0.0/16'), { base: 0x0a140000, prefix: 16 });
    assert.equal(formatSubnet(parseSubnet('192.168.7.0/24')), '192.168.7.0/24');
    assert.throws(() => parseSubnet('10.20.0.1/24'), (e: Error) => e instanceof InvalidArgument && /network address is 10.20.0.0\/24/.test(e.message));
    assert.throws(() => parseSubnet('10.20.0.0/31'), /between \/8 and \/29/);
    assert.throws(() => parseSubnet('10.20.0.0'), /IPv4 CIDR/);
    assert.throws(() => parseSubnet('fd00::/64'), /IPv4 CIDR/);
    assert.throws(() => parseSubnet('10.20.0.0/24/1'), /IPv4 CIDR/);
  });

  test('overlap, containment and host addresses', () => {
    const a = parseSubnet('10.0.0.0/16');
    assert.ok(overlaps(a, parseSubnet('10.0.5.0/24')));
    assert.ok(overlaps(parseSubnet('10.0.5.0/24'), a));
    assert.ok(!overlaps(a, parseSubnet('10.1.0.0/24')));
    assert.ok(contains(a, parseIp('10.0.255.255')!));
    const s = parseSubnet('10.9.0.0/24');
    assert.ok(!isHostAddress(s, parseIp('10.9.0.0')!));
    assert.ok(!isHostAddress(s, parseIp('10.9.0.255')!));
    assert.ok(isHostAddress(s, parseIp('10.9.0.254')!));
  });

  test('allocates the lowest free host address and reports a full subnet', () => {
    const s = parseSubnet('10.9.0.0/29');
    const taken = new Set([parseIp('10.9.0.1')!, parseIp('10.9.0.2')!]);
    assert.equal(formatIp(firstFree(s, taken)!), '10.9.0.3');
    for (let i = 3; i <= 6; i++) taken.add(parseIp(`10.9.0.${i}`)!);
    assert.equal(firstFree(s, taken), null);
  });

  test('default candidates are private /24s, 10.77 first', () => {
    const it = defaultCandidates();
    assert.equal(formatSubnet(it.next().value!), '10.77.0.0/24');
    const all = [...defaultCandidates()];
    assert.equal(all.length, 256 + 16 * 256);
    assert.equal(formatSubnet(all[256]), '172.16.0.0/24');
  });

  test('MACs are stable, locally administered and unicast', () => {
    const mac = macFor('1a2b3c', parseIp('10.77.0.2')!);
    assert.equal(mac, '02:1a:0a:4d:00:02');
    assert.equal(mac, macFor('1a2b3c', parseIp('10.77.0.2')!));
    assert.equal(parseInt(mac.slice(0, 2), 16) & 0x03, 0x02);
  });
});
