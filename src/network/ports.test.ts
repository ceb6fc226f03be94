import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { formatPortSpec, parsePortSpec, portsInProcTable } from './ports.js';

describe('published ports', () => {
  test('parses HOSTPORT:CTPORT[/proto]', () => {
    assert.deepEqual(parsePortSpec('8080:80'), { hostPort: 8080, containerPort: 80, proto: 'tcp' });
    assert.deepEqual(parsePortSpec('5353:53/UDP'), { hostPort: 5353, containerPort: 53, proto: 'udp' });
    assert.equal(formatPortSpec(parsePortSpec(' 1:65535/tcp ')), '1:65535/tcp');
  });

  test('refuses bad specs with the expected form', () => {
    for (const bad of ['80', '0:80', '70000:80', '80:80/sctp', 'a:b', '80:80:80']) {
      assert.throws(() => parsePortSpec(bad), /HOSTPORT:CTPORT\[\/tcp\|\/udp\]/, bad);
    }
  });

  test('reads listening TCP and bound UDP ports from /proc/net tables', () => {
    const tcp = [
      '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
      '   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1',
      '   1: 0100007F:0050 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 2 1',
    ].join('\n');
    assert.deepEqual([...portsInProcTable(tcp, 'tcp')], [8080]);
    const udp = [
      '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops',
      '  1: 00000000:14E9 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 3 2 0 0',
    ].join('\n');
    assert.deepEqual([...portsInProcTable(udp, 'udp')], [5353]);
  });
});
