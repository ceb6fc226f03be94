// Integration: networking through the CLI — addresses, reachability, published ports (live),
// bandwidth, counters across restarts, bad input, and a host left as it was found.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { spawnSync } from 'node:child_process';
import { sleep, untilLinks, useDaemon, freePort } from './harness.js';

interface Adapter { network: string; ifname: string; address: string; gateway: string; mac: string }
interface View { name: string; state: string; adapters: Adapter[]; ports: Array<{ hostPort: number; containerPort: number; proto: string }>; netIn: string | null; netOut: string | null }
interface Net { name: string; subnet: string; gateway: string; bridge: string; containers: string[] }
interface Stats { netRxBytes: number; netTxBytes: number; netRxPackets: number; netTxPackets: number }

const ip = (cidr: string): string => cidr.split('/')[0];

/** A free TCP port on the host, from a range tests use. */
function httpGet(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', timeout: 3000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => { body += d.toString(); });
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}

const sysctls = ['net/ipv4/ip_forward', 'net/bridge/bridge-nf-call-iptables'];
const readSysctls = (): string[] => sysctls.map((s) => { try { return readFileSync(`/proc/sys/${s}`, 'utf8').trim(); } catch { return '-'; } });

describe('networking', () => {
  const d = useDaemon({ template: 'bb' });
  const sysctlsBefore = readSysctls();
  const linksBefore = spawnSync('ip', ['-o', 'link']).stdout.toString().split('\n').map((l) => l.split(':')[1]?.trim()).filter(Boolean).sort();
  before(async () => {
    await d.ok('create', 'n1', '--template', 'bb');
    await d.ok('create', 'n2', '--template', 'bb');
    await d.ok('start', 'n1');
    await d.ok('start', 'n2');
  });

  test('a default network exists on a private subnet that no host route covers', async () => {
    const nets = await d.json<Net[]>('network', 'list');
    const def = nets.find((n) => n.name === 'default');
    assert.ok(def, 'default network');
    assert.match(def.subnet, /^(10\.|172\.(1[6-9]|2\d|3[01])\.|192\.168\.)/);
    assert.match(spawnSync('ip', ['-o', 'link', 'show', def.bridge]).stdout.toString(), new RegExp(def.bridge));
  });

  test('each container has its adapter, address, route, hosts and resolv.conf; inspect shows them', async () => {
    const v = await d.json<View>('inspect', 'n1');
    assert.equal(v.adapters.length, 1);
    const a = v.adapters[0];
    assert.equal(a.network, 'default');
    assert.match(a.mac, /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
    const addr = await d.ok('exec', 'n1', '--', 'ip', '-o', '-4', 'addr', 'show', 'eth0');
    assert.match(addr, new RegExp(a.address.replace(/\./g, '\\.')));
    assert.match(await d.ok('exec', 'n1', '--', 'ip', 'link', 'show', 'lo'), /UP/);
    assert.match(await d.ok('exec', 'n1', '--', 'ip', 'route'), new RegExp(`default via ${a.gateway.replace(/\./g, '\\.')}`));
    assert.match(await d.ok('exec', 'n1', '--', 'cat', '/etc/hosts'), new RegExp(`${ip(a.address).replace(/\./g, '\\.')}\\s+n1`));
    assert.match(await d.ok('exec', 'n1', '--', 'cat', '/etc/resolv.conf'), /nameserver/);
  });

  test('two containers on one network reach each other and the gateway', async () => {
    const a = (await d.json<View>('inspect', 'n1')).adapters[0];
    const b = (await d.json<View>('inspect', 'n2')).adapters[0];
    assert.notEqual(a.address, b.address);
    await d.ok('exec', 'n2', '--', 'ping', '-c', '1', '-W', '2', ip(a.address));
    await d.ok('exec', 'n1', '--', 'ping', '-c', '1', '-W', '2', a.gateway);
  });

  test('addresses are stable across container and daemon restarts', async () => {
    const before = (await d.json<View>('inspect', 'n1')).adapters[0];
    await d.ok('restart', 'n1');
    await d.stop();
    await d.start();
    const after = (await d.json<View>('inspect', 'n1')).adapters[0];
    assert.deepEqual(after, before);
    assert.match(await d.ok('exec', 'n1', '--', 'ip', '-o', '-4', 'addr', 'show', 'eth0'), new RegExp(before.address.replace(/\./g, '\\.')));
  });

  test('a published port answers on 127.0.0.1 at once; add and remove live', async () => {
    await d.ok('exec', 'n1', '--', 'sh', '-c', 'mkdir -p /www && echo hello-from-n1 > /www/index.html && httpd -p 80 -h /www');
    const port = freePort();
    await d.ok('port', 'add', 'n1', `${port}:80/tcp`);
    assert.equal((await httpGet(port)).trim(), 'hello-from-n1');
    const list = await d.json<Array<{ hostPort: number; containerPort: number }>>('port', 'list', 'n1');
    assert.deepEqual(list.map((p) => [p.hostPort, p.containerPort]), [[port, 80]]);
    const dup = await d.cli('port', 'add', 'n2', `${port}:80`);
    assert.notEqual(dup.status, 0);
    assert.match(dup.stderr, new RegExp(`${port}`));
    await d.ok('port', 'rm', 'n1', `${port}/tcp`);
    await assert.rejects(httpGet(port));
  });

  test('--port on create, and a host port something else listens on is refused', async () => {
    const port = freePort();
    await d.ok('create', 'n3', '--template', 'bb', '--port', `${port}:80`);
    await d.ok('start', 'n3');
    await d.ok('exec', 'n3', '--', 'sh', '-c', 'mkdir -p /www && echo n3 > /www/index.html && httpd -p 80 -h /www');
    assert.equal((await httpGet(port)).trim(), 'n3');
    const busy = d.socket; // the daemon's own socket is no TCP port; use a real listener:
    void busy;
    const server = (await import('node:net')).createServer().listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const taken = (server.address() as { port: number }).port;
    const r = await d.cli('create', 'n4', '--template', 'bb', '--port', `${taken}:80`);
    server.close();
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, new RegExp(`${taken}`));
    assert.ok(!(await d.json<View[]>('list')).some((c) => c.name === 'n4'), 'nothing created');
    await d.ok('destroy', 'n3', '--force');
  });

  test('bandwidth limits are set at create and changed live', async () => {
    await d.ok('create', 'bw', '--template', 'bb', '--net-in', '8mbit', '--net-out', '4mbit');
    await d.ok('start', 'bw');
    let v = await d.json<View>('inspect', 'bw');
    assert.equal(v.netIn, '8mbit');
    assert.equal(v.netOut, '4mbit');
    await d.ok('set', 'bw', '--net-out', '2mbit');
    v = await d.json<View>('inspect', 'bw');
    assert.equal(v.netOut, '2mbit');
    await d.ok('set', 'bw', '--net-in', 'none');
    assert.equal((await d.json<View>('inspect', 'bw')).netIn, null);
    const bad = await d.cli('set', 'bw', '--net-out', 'fast');
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /rate/);
    await d.ok('destroy', 'bw', '--force');
  });

  test('traffic counters grow and survive container and daemon restarts', async () => {
    const a = (await d.json<View>('inspect', 'n1')).adapters[0];
    await d.ok('exec', 'n2', '--', 'ping', '-c', '5', '-i', '0.2', '-s', '1000', ip(a.address));
    const s1 = await d.json<Stats>('stats', 'n1');
    assert.ok(s1.netRxBytes > 5000 && s1.netTxBytes > 5000, JSON.stringify(s1));
    await d.ok('restart', 'n1');
    const s2 = await d.json<Stats>('stats', 'n1');
    assert.ok(s2.netRxBytes >= s1.netRxBytes && s2.netTxPackets >= s1.netTxPackets, 'no counter went backwards');
    await d.kill9();
    await d.start();
    await d.ok('exec', 'n2', '--', 'ping', '-c', '3', '-i', '0.2', ip(a.address));
    await sleep(200);
    const s3 = await d.json<Stats>('stats', 'n1');
    assert.ok(s3.netRxBytes > s2.netRxBytes, `${s2.netRxBytes} → ${s3.netRxBytes}`);
  });

  test('networks: create, --ip, isolation between networks, bad input, rm refused while in use', async () => {
    const nets = await d.json<Net[]>('network', 'list');
    const used = nets.map((n) => n.subnet);
    let subnet = '';
    for (let i = 200; i < 250 && !subnet; i++) if (!used.some((u) => u.startsWith(`10.${i}.`))) subnet = `10.${i}.7.0/24`;
    await d.ok('network', 'create', 'other', '--subnet', subnet, '--isolated');
    const base = subnet.split('.').slice(0, 3).join('.');
    await d.ok('create', 'o1', '--template', 'bb', '--net', 'other', '--ip', `${base}.50`);
    await d.ok('start', 'o1');
    const o1 = await d.json<View>('inspect', 'o1');
    assert.equal(o1.adapters[0].address, `${base}.50/24`);
    const n1 = (await d.json<View>('inspect', 'n1')).adapters[0];
    const cross = await d.cli('exec', 'o1', '--', 'ping', '-c', '1', '-W', '1', ip(n1.address));
    assert.notEqual(cross.status, 0, 'containers on different networks cannot reach each other');
    for (const [args, message] of [
      [['network', 'create', 'bad1', '--subnet', '10.1.2.3/99'], /subnet|CIDR/i],
      [['network', 'create', 'bad2', '--subnet', subnet], /overlap/i],
      [['create', 'o2', '--template', 'bb', '--net', 'other', '--ip', `${base}.50`], /already used/],
      [['create', 'o3', '--template', 'bb', '--net', 'other', '--ip', '192.0.2.9'], /not a free host address/],
      [['create', 'o4', '--template', 'bb', '--net', 'nosuch'], /network nosuch does not exist/],
      [['network', 'rm', 'other'], /in use|used by/i],
    ] as Array<[string[], RegExp]>) {
      const before = await d.ok('list', '--json');
      const r = await d.cli(...args);
      assert.notEqual(r.status, 0, args.join(' '));
      assert.match(r.stderr, message, args.join(' '));
      assert.equal(await d.ok('list', '--json'), before);
    }
    // On two networks: an adapter on each, the default route through the first only.
    await d.ok('create', 'both', '--template', 'bb', '--net', 'default', '--net', 'other');
    await d.ok('start', 'both');
    const both = await d.json<View>('inspect', 'both');
    assert.deepEqual(both.adapters.map((a) => [a.network, a.ifname]), [['default', 'eth0'], ['other', 'eth1']]);
    const routes = await d.ok('exec', 'both', '--', 'ip', 'route');
    assert.equal(routes.match(/^default/gm)?.length, 1, routes);
    assert.match(routes, /^default via \S+ dev eth0/m);
    await d.ok('exec', 'both', '--', 'ping', '-c', '1', '-W', '2', `${base}.1`);
    const isolated = await d.cli('exec', 'both', '--', 'ping', '-c', '1', '-W', '1', `${base}.50`);
    assert.notEqual(isolated.status, 0, 'on the isolated network, o1 stays out of reach');
    const conflict = await d.cli('create', 'nn', '--template', 'bb', '--no-net', '--net', 'other');
    assert.equal(conflict.status, 2);
    assert.match(conflict.stderr, /--no-net cannot be combined with --net/);
    await d.ok('destroy', 'both', '--force');
    await d.ok('destroy', 'o1', '--force');
    await d.ok('network', 'rm', 'other');
  });

  test('--no-net: only loopback', async () => {
    await d.ok('create', 'lonely', '--template', 'bb', '--no-net');
    await d.ok('start', 'lonely');
    const links = await d.ok('exec', 'lonely', '--', 'ip', '-o', 'link');
    assert.deepEqual(links.trim().split('\n').map((l) => l.split(':')[1].trim()), ['lo']);
    assert.match(links, /lo: <LOOPBACK,UP/, 'loopback is up');
    assert.deepEqual((await d.json<View>('inspect', 'lonely')).adapters, []);
    await d.ok('destroy', 'lonely', '--force');
  });

  test('after destroy and network rm, the host\'s links, rules and sysctls are as before', async () => {
    for (const c of await d.json<View[]>('list')) await d.ok('destroy', c.name, '--force');
    for (const n of await d.json<Net[]>('network', 'list')) await d.ok('network', 'rm', n.name);
    assert.deepEqual(d.leftovers({ networks: true }), []);
    const ours = (): string[] => spawnSync('ip', ['-o', 'link']).stdout.toString().split('\n').map((l) => l.split(':')[1]?.trim()).filter(Boolean).sort().filter((l) => /^(stb|stv|bwp)/.test(l));
    const expected = linksBefore.filter((l) => /^(stb|stv|bwp)/.test(l));
    assert.deepEqual(await untilLinks(ours, expected), expected);
    assert.deepEqual(readSysctls(), sysctlsBefore);
  });
});
