/**
 * Networks on the real kernel: real bridges, veths, CNI plugins and nftables,
 * with fake containers (a `sleep` in its own network namespace, made by
 * `unshare --net`) instead of runc. Needs root, containernetworking-plugins,
 * nftables and busybox. All traffic stays inside this machine (namespaces,
 * bridges and the host's own addresses). Leaves nothing behind: the last test
 * compares the host's links, rules, sysctls and mounts with a snapshot taken
 * before the first.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile, execFileSync, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, mkdtempSync, mkdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync, chmodSync, readdirSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Store } from '../state/index.js';
import { Networks, containerNetFiles } from './index.js';
import { StrataError } from '../errors/index.js';
import { cniContainerId, cniNetworkName, ifbName, tableName, vethName } from './names.js';
import { SharedSysctls } from './host.js';
import { mountPoints, mountTable } from '../../test/harness.js';

const sh = (cmd: string, args: string[], input?: string): string =>
  execFileSync(cmd, args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'], timeout: 30_000 });
const tryRun = (cmd: string, args: string[]): boolean => {
  try { sh(cmd, args); return true; } catch { return false; }
};
/** Runs a command in the fake container's network namespace. */
const inNs = (pid: number, args: string[]): string => sh('nsenter', ['-t', String(pid), '-n', ...args]);
/** The same without blocking the event loop (the test's own servers must keep serving meanwhile). */
const inNsAsync = async (pid: number, args: string[]): Promise<string> =>
  (await promisify(execFile)('nsenter', ['-t', String(pid), '-n', ...args], { encoding: 'utf8', timeout: 30_000 })).stdout;
const canPing = (pid: number, to: string, from?: string): boolean =>
  tryRun('nsenter', ['-t', String(pid), '-n', 'busybox', 'ping', '-c', '1', '-W', '1', ...(from ? ['-I', from] : []), to]);

const rootId = randomBytes(5).toString('hex');
const runDir = `/run/strata/${rootId}`;
const work = mkdtempSync(join(tmpdir(), 'strata-net-'));
const octet = 100 + (randomBytes(1)[0] % 140);
const subnetA = `10.${octet}.1.0/24`;
const subnetIso = `10.${octet}.2.0/24`;
const subnetB = `10.${octet}.3.0/24`;
const ip = (subnet: string, host: number): string => subnet.replace(/\.0\/24$/, `.${host}`);

const kids: ChildProcess[] = [];
const servers: Server[] = [];
/** Accepted connections: a peer whose namespace is gone never resets them, so they are destroyed by hand. */
const sockets: Socket[] = [];
let store: Store;
let nets: Networks;

/** A fake container: a process in a new network namespace with lo up (as runc leaves it). */
async function until(what: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!what()) {
    if (Date.now() > deadline) assert.fail(`not so within ${ms} ms: ${what.toString()}`);
    await sleep(20);
  }
}

async function fakeContainer(): Promise<number> {
  const p = spawn('unshare', ['--net', 'sh', '-c', 'ip link set lo up && exec sleep 600'], { stdio: 'ignore' });
  kids.push(p);
  const pid = p.pid!;
  const mine = sh('readlink', ['/proc/self/ns/net']).trim();
  for (let i = 0; i < 100; i++) {
    try {
      if (sh('readlink', [`/proc/${pid}/ns/net`]).trim() !== mine && /UP/.test(sh('nsenter', ['-t', String(pid), '-n', 'ip', '-o', 'link', 'show', 'lo']))) return pid;
    } catch { /* not yet */ }
    await sleep(20);
  }
  throw new Error('unshare did not make a network namespace');
}

function background(args: string[]): ChildProcess {
  const p = spawn(args[0], args.slice(1), { stdio: 'ignore' });
  kids.push(p);
  return p;
}

function kill(p: ChildProcess): void {
  if (p.exitCode === null && p.signalCode === null && p.pid) {
    try { process.kill(p.pid, 'SIGKILL'); } catch { /* gone */ }
  }
}

interface HostSnapshot { links: string[]; nft: string; iptables: string; sysctls: Record<string, string>; mounts: string[] }

/**
 * The host objects this test could have made or changed. Other roots' objects are
 * left out, so that a concurrent run of another daemon or test does not count.
 */
function snapshot(): HostSnapshot {
  const ours = new Set<string>([`stvo${rootId.slice(0, 8)}`]);
  for (const c of ['a', 'b', 'c', 'd', 'e', 'f', 'g']) {
    for (const n of ['front', 'iso', 'back', 'default']) {
      ours.add(vethName(rootId, c, n));
      ours.add(ifbName(cniNetworkName(rootId, n), cniContainerId(rootId, c)));
    }
  }
  const sysctlKeys = ['net/ipv4/conf/all/route_localnet', 'net/ipv4/conf/default/route_localnet',
    'net/ipv6/conf/all/forwarding', 'net/ipv4/conf/all/rp_filter', 'net/bridge/bridge-nf-call-iptables', 'net/bridge/bridge-nf-call-arptables'];
  // ip_forward (and its mirror conf/all/forwarding) is shared by all roots: compare it only while no other root holds it.
  const others = new SharedSysctls('/run/strata/net-sysctls.json').holders('net/ipv4/ip_forward').filter((h) => !h.startsWith(`${rootId}/`));
  if (others.length === 0) sysctlKeys.unshift('net/ipv4/ip_forward', 'net/ipv4/conf/all/forwarding');
  const blocks = sh('nft', ['list', 'ruleset']).replace(/counter packets \d+ bytes \d+/g, 'counter').split(/^(?=table )/m);
  return {
    links: readdirSync('/sys/class/net').filter((l) => l.startsWith(`stb${rootId.slice(0, 8)}`) || l.startsWith('veth') || ours.has(l)).sort(),
    nft: blocks.filter((b) => !/^table \w+ strata_/.test(b) || b.startsWith(`table ip strata_${rootId}_`) || b.startsWith(`table bridge strata_${rootId}_`)).join(''),
    iptables: sh('iptables-save', []).split('\n').filter((l) => !l.startsWith('#')).join('\n'),
    sysctls: Object.fromEntries(sysctlKeys.map((k) => { try { return [k, readFileSync(`/proc/sys/${k}`, 'utf8').trim()]; } catch { return [k, '-']; } })),
    mounts: mountTable().map((m) => `${m.root} ${m.mountPoint}`).filter((m) => m.includes(rootId)),
  };
}

/** The host as before: same links, rules and mounts, and the same value of every sysctl both snapshots could compare. */
function assertSameHost(now: HostSnapshot, then: HostSnapshot): void {
  assert.deepEqual(now.links, then.links);
  assert.equal(now.nft, then.nft);
  assert.equal(now.iptables, then.iptables);
  assert.deepEqual(now.mounts, then.mounts);
  for (const k of Object.keys(now.sysctls)) if (k in then.sysctls) assert.equal(now.sysctls[k], then.sysctls[k], k);
}

async function failsWith(p: Promise<unknown> | (() => unknown), code: string, re: RegExp): Promise<void> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    assert.ok(err instanceof StrataError, `expected a StrataError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.match(err.message, re);
    assert.match(err.message, /: /, 'the message names the problem and the fix');
    return;
  }
  assert.fail(`expected a ${code} error`);
}

/** Bytes per second received in a window after a warm-up: the receiver's view, which is what a limit shapes. */
const receiverScript = (host: string, port: number, warm: number, window: number): string => `
const s = require('net').connect(${port}, '${host}');
let n = 0, t0 = 0, done = false;
s.on('data', (d) => { const now = Date.now(); if (!t0) t0 = now;
  if (now - t0 >= ${warm} && !done) { n += d.length; if (now - t0 >= ${warm + window}) { done = true; console.log(n / ((now - t0 - ${warm}) / 1000)); s.destroy(); } } });
`;

const senderScript = (host: string, port: number, seconds: number): string => `
const s = require('net').connect(${port}, '${host}');
const buf = Buffer.alloc(65536);
const end = Date.now() + ${seconds * 1000};
const pump = () => { while (Date.now() < end) { if (!s.write(buf)) return s.once('drain', pump); } s.destroy(); };
s.on('connect', pump); s.on('error', () => {});
`;

describe('networks on real namespaces', { concurrency: false }, () => {
  let before0: HostSnapshot;
  let pidA = 0, pidB = 0, pidC = 0, pidD = 0, pidE = 0;

  before(() => {
    before0 = snapshot();
    store = new Store(join(work, 'strata.db'));
    nets = new Networks(store.db, { rootId, runDir });
  });

  after(async () => {
    for (const s of sockets) s.destroy();
    for (const s of servers) s.close();
    for (const k of kids) kill(k);
    // Best-effort cleanup even when a test failed half-way.
    for (const c of ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6']) await nets.release(c).catch(() => undefined);
    for (const n of nets.list()) await nets.remove(n.name).catch(() => undefined);
    try { store.close(); } catch { /* closed */ }
    for (const l of readdirSync('/sys/class/net').filter((x) => x.startsWith(`stb${rootId.slice(0, 8)}`))) tryRun('ip', ['link', 'del', l]);
    for (const t of sh('nft', ['list', 'tables']).split('\n').filter((l) => l.includes(`strata_${rootId}_`))) tryRun('nft', ['delete', ...t.trim().split(' ').slice(1)]);
    for (const m of mountPoints().filter((p) => p.startsWith(`${runDir}/netns/`))) tryRun('umount', [m]);
    rmSync(runDir, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  });

  test('two containers on one network reach each other and the gateway', async () => {
    const n = await nets.create({ name: 'front', subnet: subnetA });
    assert.equal(n.gateway, ip(subnetA, 1));
    assert.ok(n.bridge.startsWith(`stb${rootId.slice(0, 8)}`) && n.bridge.length <= 15);
    await nets.plan('a', { nets: ['front'] });
    await nets.plan('b', { nets: ['front'], ip: ip(subnetA, 50) });
    pidA = await fakeContainer();
    pidB = await fakeContainer();
    const [ad] = await nets.attach('a', pidA, 'a');
    await nets.attach('b', pidB, 'b');
    assert.equal(ad.address, `${ip(subnetA, 2)}/24`);
    assert.equal(nets.adapters('b')[0].address, `${ip(subnetA, 50)}/24`);
    assert.match(ad.mac, /^02:/);

    assert.match(inNs(pidA, ['ip', '-o', 'link', 'show', 'lo']), /UP/, 'lo stays up (runc brings it up; no loopback plugin)');
    const eth0 = inNs(pidA, ['ip', '-o', 'addr', 'show', 'eth0']);
    assert.match(eth0, new RegExp(`inet ${ip(subnetA, 2).replace(/\./g, '\\.')}/24`));
    assert.match(inNs(pidA, ['ip', 'link', 'show', 'eth0']), new RegExp(ad.mac));
    assert.match(inNs(pidA, ['ip', 'route']), new RegExp(`default via ${ip(subnetA, 1).replace(/\./g, '\\.')} dev eth0`));

    assert.ok(canPing(pidA, ip(subnetA, 50)), 'a reaches b');
    assert.ok(canPing(pidB, ip(subnetA, 2)), 'b reaches a');
    assert.ok(canPing(pidA, ip(subnetA, 1)), 'a reaches the gateway');

    const files = containerNetFiles('a', nets.adapters('a'), ['127.0.0.53', '10.255.255.53']);
    assert.match(files.hosts, new RegExp(`${ip(subnetA, 2).replace(/\./g, '\\.')}\\ta`));
    assert.equal(files.resolvConf.match(/nameserver/g)?.length, 1);
    assert.deepEqual(nets.inspect('front').containers, ['a', 'b']);
    assert.deepEqual(mountPoints().filter((m) => m.startsWith(runDir)), [], 'namespaces are held without a mount');
  });

  test('addresses are stable: a restart (detach, new namespace, attach) keeps address and MAC', async () => {
    const before1 = nets.adapters('a')[0];
    await nets.detach('a');
    await nets.detach('a'); // idempotent
    assert.equal(nets.adapters('a')[0].attached, false);
    kill(kids.find((k) => k.pid === pidA)!);
    pidA = await fakeContainer();
    const again = new Networks(store.db, { rootId, runDir }); // as after a daemon restart
    const [after1] = await again.attach('a', pidA, 'a');
    assert.equal(after1.address, before1.address);
    assert.equal(after1.mac, before1.mac);
    assert.ok(canPing(pidA, ip(subnetA, 50)));
    const same = await nets.attach('a', pidA, 'a'); // attaching twice to the same namespace changes nothing
    assert.equal(same[0].hostIfname, after1.hostIfname);
  });

  test('attaches and releases of several containers at once: each gets its port and its own rules', async () => {
    const names = ['p1', 'p2', 'p3', 'p4', 'p5', 'p6'];
    for (const n of names) await nets.plan(n, { nets: ['front'] });
    const pids = await Promise.all(names.map(() => fakeContainer()));
    await Promise.all(names.map((n, i) => nets.attach(n, pids[i], n)));
    const table = tableName(rootId, Number(nets.inspect('front').bridge.slice(-4)));
    const macs = sh('nft', ['list', 'set', 'bridge', table, 'port_macs']);
    const addrs = sh('nft', ['list', 'set', 'bridge', table, 'port_addrs']);
    for (const [i, n] of names.entries()) {
      const a = nets.adapters(n)[0];
      assert.equal(a.attached, true);
      assert.match(macs, new RegExp(`"${a.hostIfname}" \\. ${a.mac}`), `${n} may use its MAC`);
      assert.match(addrs, new RegExp(`"${a.hostIfname}" \\. ${a.address.split('/')[0].replaceAll('.', '\\.')}`), `${n} may use its address`);
      assert.ok(canPing(pids[i], ip(subnetA, 1)), `${n} reaches the gateway`);
    }
    assert.ok(canPing(pids[0], nets.adapters('p6')[0].address.split('/')[0]), 'p1 reaches p6');
    const ports = names.map((n) => nets.adapters(n)[0].hostIfname);
    for (const pid of pids) kill(kids.find((k) => k.pid === pid)!);
    await Promise.all(names.map((n) => nets.release(n, true)));
    const after = sh('nft', ['list', 'set', 'bridge', table, 'ports']);
    for (const n of names) assert.equal(nets.adapters(n).length, 0, `${n} released`);
    const left = after.match(/"stv\w+"/g) ?? [];
    assert.ok(left.length <= 2, `at most the ports of a and b are left: ${left.join(' ')}`);
    const sets = ['ports', 'port_macs', 'port_addrs'].map((set) => sh('nft', ['list', 'set', 'bridge', table, set])).join('');
    for (const port of ports) assert.ok(!sets.includes(`"${port}"`), `${port}'s elements went with it`);
  });

  test('a detach once the processes ended leaves the veth to the kernel; one held elsewhere is replaced at the next attach', async () => {
    const port = nets.adapters('b')[0].hostIfname;
    // Another process keeps b's namespace (an admin's shell in it): its veth outlives the detach.
    const holder = spawn('nsenter', [`--net=/proc/${pidB}/ns/net`, 'sleep', '600'], { stdio: 'ignore' });
    kids.push(holder);
    await until(() => sh('readlink', [`/proc/${holder.pid}/ns/net`]).trim() === sh('readlink', [`/proc/${pidB}/ns/net`]).trim());
    kill(kids.find((k) => k.pid === pidB)!);
    await nets.detach('b', true);
    assert.equal(nets.adapters('b')[0].attached, false);
    assert.ok(existsSync(`/sys/class/net/${port}`), 'held elsewhere, the namespace and its veth stay');
    pidB = await fakeContainer();
    await nets.attach('b', pidB, 'b');
    assert.ok(canPing(pidA, ip(subnetA, 50)), 'a reaches b again, through the new port');
    // Without a holder the kernel removes the namespace and both ends of the veth by itself.
    kill(holder);
    const before1 = nets.adapters('b')[0];
    kill(kids.find((k) => k.pid === pidB)!);
    await nets.detach('b', true);
    await until(() => !existsSync(`/sys/class/net/${port}`));
    pidB = await fakeContainer();
    const [again] = await nets.attach('b', pidB, 'b');
    assert.equal(again.address, before1.address);
    assert.ok(canPing(pidA, ip(subnetA, 50)));
  });

  test('published ports answer from the host, 127.0.0.1 included; live add and remove', async () => {
    const www = join(work, 'www');
    mkdirSync(www, { recursive: true });
    writeFileSync(join(www, 'index.html'), 'hello from a\n');
    background(['nsenter', '-t', String(pidA), '-n', 'busybox', 'httpd', '-f', '-p', '80', '-h', www]);
    await sleep(300);
    const hostPort = 20000 + (randomBytes(2).readUInt16BE() % 20000);
    const get = (host: string, port: number): string | null => {
      try { return sh('curl', ['-sf', '-m', '2', `http://${host}:${port}/index.html`]); } catch { return null; }
    };
    assert.equal(get('127.0.0.1', hostPort), null, 'nothing answers before the port is published');
    const view = await nets.addPort('a', `${hostPort}:80`);
    assert.deepEqual({ ...view }, { container: 'a', hostPort, containerPort: 80, proto: 'tcp', address: ip(subnetA, 2), spec: `${hostPort}:80/tcp` });
    assert.equal(get('127.0.0.1', hostPort), 'hello from a\n', 'answers on 127.0.0.1');
    const hostAddr = (JSON.parse(sh('ip', ['-4', '-j', 'addr', 'show'])) as Array<{ addr_info: Array<{ local: string }> }>)
      .flatMap((l) => l.addr_info.map((a) => a.local)).find((a) => !a.startsWith('127.') && !a.startsWith('10.'));
    if (hostAddr) assert.equal(get(hostAddr, hostPort), 'hello from a\n', `answers on the host address ${hostAddr}`);
    assert.equal(get(ip(subnetA, 1), hostPort), 'hello from a\n', 'answers on the gateway address');
    // from the neighbour, through the host (hairpin)
    assert.match(inNs(pidB, ['curl', '-sf', '-m', '2', `http://${ip(subnetA, 1)}:${hostPort}/index.html`]), /hello from a/);

    await failsWith(nets.addPort('b', `${hostPort}:8080`), 'conflict', /already published for container a/);
    const busy = createServer();
    servers.push(busy);
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    const busyPort = (busy.address() as { port: number }).port;
    await failsWith(nets.addPort('b', `${busyPort}:80`), 'conflict', /in use by a process on the host/);
    await failsWith(nets.addPort('b', 'x:80'), 'invalid_argument', /HOSTPORT:CTPORT/);
    assert.deepEqual(nets.listPorts('b'), []);

    assert.deepEqual(nets.listPorts('a').map((p) => p.spec), [`${hostPort}:80/tcp`]);
    await nets.removePort('a', `${hostPort}:80/tcp`);
    assert.equal(get('127.0.0.1', hostPort), null, 'gone after removal');
    await failsWith(nets.removePort('a', `${hostPort}`), 'not_found', /publishes no port/);
    await nets.addPort('a', `${hostPort}:80`);
    assert.equal(get('127.0.0.1', hostPort), 'hello from a\n');
    await nets.removePort('a', `${hostPort}`);
  });

  test('an isolated network: gateway yes, neighbours no, not even routed through the gateway', async () => {
    await nets.create({ name: 'iso', subnet: subnetIso, isolated: true });
    await nets.plan('c', { nets: ['iso'] });
    await nets.plan('d', { nets: ['iso'] });
    pidC = await fakeContainer();
    pidD = await fakeContainer();
    await nets.attach('c', pidC, 'c');
    await nets.attach('d', pidD, 'd');
    assert.ok(canPing(pidC, ip(subnetIso, 1)), 'c reaches the gateway');
    assert.ok(canPing(pidD, ip(subnetIso, 1)), 'd reaches the gateway');
    assert.ok(!canPing(pidC, ip(subnetIso, 3)), 'c does not reach d');
    // Send to d through the gateway's MAC: the host would route it back into the bridge.
    const gwMac = readFileSync(`/sys/class/net/${nets.inspect('iso').bridge}/address`, 'utf8').trim();
    inNs(pidC, ['ip', 'neigh', 'replace', ip(subnetIso, 3), 'lladdr', gwMac, 'dev', 'eth0']);
    assert.ok(!canPing(pidC, ip(subnetIso, 3)), 'not routed through the gateway either');
  });

  test('containers on different networks cannot reach each other', async () => {
    await nets.create({ name: 'back', subnet: subnetB, nat: false });
    await nets.plan('e', { nets: ['back'] });
    pidE = await fakeContainer();
    await nets.attach('e', pidE, 'e');
    assert.ok(canPing(pidE, ip(subnetB, 1)), 'e reaches its gateway');
    assert.ok(!canPing(pidE, ip(subnetA, 2)), 'e does not reach a on another network');
    assert.ok(!canPing(pidA, ip(subnetB, 2)), 'a does not reach e on another network');
    assert.ok(!canPing(pidC, ip(subnetB, 2)), 'c does not reach e on another network');
  });

  test('outbound traffic is NATed on --nat networks and not on --no-nat ones', async () => {
    // A stand-in for "the outside": a namespace behind a veth of the host, on a /30 of its own.
    const pidO = await fakeContainer();
    const link = `stvo${rootId.slice(0, 8)}`;
    const hostSide = `10.${octet}.250.1`;
    const outside = `10.${octet}.250.2`;
    try {
      sh('ip', ['link', 'add', link, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', String(pidO)]);
      sh('ip', ['addr', 'add', `${hostSide}/30`, 'dev', link]);
      sh('ip', ['link', 'set', link, 'up']);
      inNs(pidO, ['ip', 'addr', 'add', `${outside}/30`, 'dev', 'eth0']);
      inNs(pidO, ['ip', 'link', 'set', 'eth0', 'up']);
      inNs(pidO, ['ip', 'route', 'add', 'default', 'via', hostSide]);
      background(['nsenter', '-t', String(pidO), '-n', 'node', '-e', "require('net').createServer((s) => s.end(s.remoteAddress)).listen(7777, '0.0.0.0')"]);
      await sleep(500);
      const whoAmI = (pid: number): Promise<string> => inNsAsync(pid, ['node', '-e',
        `const s = require('net').connect(7777, '${outside}'); let o = ''; s.on('data', (d) => o += d); s.on('end', () => console.log(o)); s.setTimeout(3000, () => { console.log('timeout'); process.exit(0); });`]);
      assert.equal((await whoAmI(pidA)).trim(), hostSide, 'a on a --nat network appears as the host');
      assert.equal((await whoAmI(pidE)).trim(), ip(subnetB, 2), 'e on a --no-nat network keeps its address');
    } finally {
      tryRun('ip', ['link', 'del', link]);
    }
  });

  test('spoofed addresses, MACs, ARP and IPv6 from a container are dropped', async () => {
    // The counters are the network's (one chain for all ports); nothing else sends spoofed frames here.
    const table = tableName(rootId, Number(nets.inspect('front').bridge.slice(-4)));
    const counter = (re: RegExp): number => {
      const text = sh('nft', ['list', 'chain', 'bridge', table, 'from_container']);
      const line = text.split('\n').find((l) => re.test(l)) ?? '';
      return Number(/packets (\d+)/.exec(line)?.[1] ?? 'NaN');
    };
    // Another IPv4 source address
    const spoofIp = ip(subnetA, 99);
    inNs(pidA, ['ip', 'addr', 'add', `${spoofIp}/24`, 'dev', 'eth0']);
    const ipDrops = counter(/ip saddr !=/);
    assert.ok(!canPing(pidA, ip(subnetA, 50), spoofIp), 'ping from a spoofed source gets no answer');
    assert.ok(counter(/ip saddr !=/) > ipDrops, 'dropped by the anti-spoofing rule');
    inNs(pidA, ['ip', 'addr', 'del', `${spoofIp}/24`, 'dev', 'eth0']);
    assert.ok(canPing(pidA, ip(subnetA, 50)), 'the real address still works');

    // ARP claiming the gateway's address (poisoning b's neighbour table)
    const arpDrops = counter(/arp saddr ip !=/);
    inNs(pidA, ['ip', 'addr', 'add', `${ip(subnetA, 1)}/32`, 'dev', 'eth0']);
    tryRun('nsenter', ['-t', String(pidA), '-n', 'busybox', 'arping', '-U', '-c', '2', '-I', 'eth0', '-s', ip(subnetA, 1), ip(subnetA, 1)]);
    inNs(pidA, ['ip', 'addr', 'del', `${ip(subnetA, 1)}/32`, 'dev', 'eth0']);
    assert.ok(counter(/arp saddr ip !=/) > arpDrops, 'ARP with a foreign sender address dropped');
    const neigh = inNs(pidB, ['ip', 'neigh', 'show', ip(subnetA, 1)]);
    assert.doesNotMatch(neigh, new RegExp(nets.adapters('a')[0].mac), 'b still knows the real gateway');

    // Another MAC
    const realMac = nets.adapters('a')[0].mac;
    const macDrops = counter(/ether saddr !=/);
    inNs(pidA, ['ip', 'link', 'set', 'eth0', 'address', '02:99:99:99:99:99']);
    assert.ok(!canPing(pidA, ip(subnetA, 50)), 'frames from a spoofed MAC do not get through');
    assert.ok(counter(/ether saddr !=/) > macDrops);
    inNs(pidA, ['ip', 'link', 'set', 'eth0', 'address', realMac]);
    assert.ok(canPing(pidA, ip(subnetA, 50)), 'the real MAC works again');

    // IPv6 (router advertisements, neighbour advertisements, anything): dropped at the port. The
    // adapter gets no IPv6 address of its own; a container that gives itself one is still dropped.
    assert.doesNotMatch(inNs(pidA, ['ip', '-6', 'addr', 'show', 'dev', 'eth0']), /inet6/, 'no IPv6 address is made');
    const v6Drops = counter(/^\s*counter packets \d+ bytes \d+ drop/);
    inNs(pidA, ['ip', '-6', 'addr', 'add', 'fe80::99/64', 'dev', 'eth0', 'nodad']);
    tryRun('nsenter', ['-t', String(pidA), '-n', 'busybox', 'ping6', '-c', '2', '-W', '1', '-I', 'eth0', 'ff02::1']);
    inNs(pidA, ['ip', '-6', 'addr', 'del', 'fe80::99/64', 'dev', 'eth0']);
    assert.ok(counter(/^\s*counter packets \d+ bytes \d+ drop/) > v6Drops, 'IPv6 from a container dropped');
  });

  test('rate limits in both directions, set live, measured with a bulk transfer', async () => {
    const gw = ip(subnetA, 1);
    await nets.setBandwidth('a', { netIn: '8mbit', netOut: '8mbit' });
    assert.deepEqual(nets.bandwidth('a'), { netIn: '8mbit', netOut: '8mbit', throttled: null });
    // --net-in: the host sends as fast as it can, the container receives.
    const sink = createServer((s) => { sockets.push(s); const buf = Buffer.alloc(65536); const pump = (): void => { while (s.write(buf)); s.once('drain', pump); }; s.on('error', () => undefined); pump(); });
    servers.push(sink);
    await new Promise<void>((r) => sink.listen(0, gw, r));
    const inRate = Number((await inNsAsync(pidA, ['node', '-e', receiverScript(gw, (sink.address() as { port: number }).port, 700, 3000)])).trim()) * 8;
    sink.close();
    for (const s of sockets) s.destroy();
    // --net-out: the container sends as fast as it can, the host receives.
    let outRate = 0;
    const recv = createServer((s) => {
      sockets.push(s);
      let n = 0; let t0 = 0;
      s.on('data', (d) => {
        const now = Date.now(); if (!t0) t0 = now;
        if (now - t0 >= 700) { n += d.length; outRate = (n * 8) / ((now - t0 - 700) / 1000); }
      });
      s.on('error', () => undefined);
    });
    servers.push(recv);
    await new Promise<void>((r) => recv.listen(0, gw, r));
    await inNsAsync(pidA, ['node', '-e', senderScript(gw, (recv.address() as { port: number }).port, 4)]);
    await sleep(200);
    recv.close();
    console.log(`# measured with 8mbit limits: in ${(inRate / 1e6).toFixed(2)} mbit/s, out ${(outRate / 1e6).toFixed(2)} mbit/s`);
    assert.ok(Math.abs(inRate - 8e6) <= 1.6e6, `inbound ${inRate} bit/s within 20% of 8mbit`);
    assert.ok(Math.abs(outRate - 8e6) <= 1.6e6, `outbound ${outRate} bit/s within 20% of 8mbit`);

    // A different rate live, then none.
    await nets.setBandwidth('a', { netOut: '4mbit' });
    assert.deepEqual(nets.bandwidth('a'), { netIn: '8mbit', netOut: '4mbit', throttled: null });
    await failsWith(nets.setBandwidth('a', { netIn: 'fast' }), 'invalid_argument', /invalid inbound rate/);
    assert.deepEqual(nets.bandwidth('a'), { netIn: '8mbit', netOut: '4mbit', throttled: null });
    // Throttled (its tenant over its traffic): every rate held to the cap, its own rates kept apart and back after.
    const port = nets.adapters('a')[0].hostIfname;
    await nets.throttle('a', 1_000_000);
    assert.deepEqual(nets.bandwidth('a'), { netIn: '8mbit', netOut: '4mbit', throttled: '1mbit' });
    assert.match(sh('tc', ['qdisc', 'show', 'dev', port]), /tbf .*rate 1Mbit/);
    await nets.throttle('a', null);
    assert.match(sh('tc', ['qdisc', 'show', 'dev', port]), /tbf .*rate 8Mbit/);
    await nets.setBandwidth('a', { netIn: null, netOut: null });
    assert.doesNotMatch(sh('tc', ['qdisc', 'show', 'dev', port]), /tbf|ingress/);
    assert.deepEqual(snapshot().links.filter((l) => l.startsWith('bwp')), [], 'the ifb devices are gone');
  });

  test('counters grow, never go back, and survive detach, restart and a new daemon', async () => {
    const c0 = nets.counters('a');
    assert.ok(c0.rxBytes > 3e6 && c0.txBytes > 3e6, `bulk traffic counted: ${JSON.stringify(c0)}`);
    canPing(pidA, ip(subnetA, 1));
    const c1 = nets.counters('a');
    assert.ok(c1.txPackets > c0.txPackets && c1.rxPackets > c0.rxPackets);
    await nets.sync();
    await nets.detach('a');
    const c2 = nets.counters('a');
    assert.ok(c2.rxBytes >= c1.rxBytes && c2.txBytes >= c1.txBytes);
    pidA = await fakeContainer();
    await nets.attach('a', pidA, 'a');
    const fresh = nets.counters('a');
    for (const k of ['rxBytes', 'txBytes', 'rxPackets', 'txPackets'] as const) assert.ok(fresh[k] >= c2[k] && fresh[k] < c2[k] + 10_000, `a fresh veth starts from the folded totals (${k})`);
    canPing(pidA, ip(subnetA, 1));
    const c3 = nets.counters('a');
    assert.ok(c3.txPackets > c2.txPackets);
    // The daemon restarts: a new Store and Networks on the same database.
    store.close();
    store = new Store(join(work, 'strata.db'));
    nets = new Networks(store.db, { rootId, runDir });
    const lines = await nets.reconcile(new Set(['a', 'b', 'c', 'd', 'e']));
    assert.deepEqual(lines, []);
    const c4 = nets.counters('a');
    for (const k of ['rxBytes', 'txBytes', 'rxPackets', 'txPackets'] as const) assert.ok(c4[k] >= c3[k], k);
    assert.ok(canPing(pidA, ip(subnetA, 50)), 'still connected after the restart');
  });

  test('sync re-applies missing rules; reconcile detaches containers that are not running', async () => {
    const back = nets.inspect('back');
    const table = tableName(rootId, Number(back.bridge.slice(-4)));
    sh('nft', ['delete', 'table', 'ip', table]);
    await nets.sync();
    assert.match(sh('nft', ['list', 'tables']), new RegExp(`table ip ${table}\n`));
    // An older Strata's bridge table (a chain per port behind a verdict map) is re-rendered whole.
    const portE = nets.adapters('e')[0].hostIfname;
    sh('nft', ['-f', '-'], [
      `delete table bridge ${table}`,
      `table bridge ${table} {`,
      `  map ports { type ifname : verdict; }`,
      `  chain prerouting { type filter hook prerouting priority -200; policy accept; iifname vmap @ports; }`,
      `  chain port_${portE} { counter drop; }`,
      `}`,
      `add element bridge ${table} ports { "${portE}" : jump port_${portE} }`,
    ].join('\n') + '\n');
    assert.deepEqual(await nets.reconcile(new Set(['a', 'b', 'c', 'd', 'e'])),
      [`network back: nftables tables ${table} had an older Strata's layout (a chain per port), re-applied`]);
    assert.match(sh('nft', ['list', 'set', 'bridge', table, 'port_macs']), new RegExp(`"${portE}" \\. ${nets.adapters('e')[0].mac}`));
    assert.doesNotMatch(sh('nft', ['list', 'table', 'bridge', table]), /chain port_/);
    assert.ok(canPing(pidE, ip(subnetB, 1)), 'e still reaches its gateway');
    const before1 = nets.counters('e');
    kill(kids.find((k) => k.pid === pidE)!); // its init died: the pinned namespace still lets CNI DEL run
    await sleep(100);
    const lines = await nets.reconcile(new Set(['a', 'b', 'c', 'd']));
    assert.deepEqual(lines, ['container e is not running: its network adapters were detached']);
    assert.equal(nets.adapters('e')[0].attached, false);
    assert.ok(!readdirSync('/sys/class/net').includes(nets.adapters('e')[0].hostIfname));
    const after1 = nets.counters('e');
    assert.ok(after1.txPackets >= before1.txPackets && after1.rxBytes >= before1.rxBytes);
    assert.deepEqual(await nets.reconcile(new Set(['a', 'b', 'c', 'd'])), []);
  });

  test('bad input: one clear error and nothing changed', async () => {
    const host0 = snapshot();
    const nets0 = JSON.stringify(nets.list());
    await failsWith(nets.create({ name: 'dup', subnet: `10.${octet}.1.128/25` }), 'conflict', /overlaps network front/);
    await failsWith(nets.create({ name: 'bad', subnet: '10.1.2.3/24' }), 'invalid_argument', /network address is 10\.1\.2\.0\/24/);
    await failsWith(nets.create({ name: 'bad', subnet: 'nonsense' }), 'invalid_argument', /IPv4 CIDR/);
    await failsWith(nets.create({ name: 'Bad_Name', subnet: '10.1.2.0/24' }), 'invalid_argument', /invalid network name/);
    await failsWith(nets.create({ name: 'front', subnet: '10.1.2.0/24' }), 'already_exists', /already exists/);
    await failsWith(nets.create({ name: 'gw', subnet: `10.${octet}.9.0/24`, gateway: `10.${octet}.8.1` }), 'invalid_argument', /not a host address/);
    const hostRoute = (JSON.parse(sh('ip', ['-4', '-j', 'route', 'show'])) as Array<{ dst: string }>).find((r) => r.dst !== 'default' && /\/(8|9|1\d|2[0-4])$/.test(r.dst) && !r.dst.startsWith(`10.${octet}.`));
    if (hostRoute) await failsWith(nets.create({ name: 'clash', subnet: hostRoute.dst }), 'conflict', /overlaps the host's route/);
    await failsWith(nets.plan('f', { nets: ['front'], ip: `10.${octet}.3.7` }), 'invalid_argument', /not a free host address of network front/);
    await failsWith(nets.plan('f', { nets: ['front'], ip: ip(subnetA, 1) }), 'invalid_argument', /not a free host address/);
    await failsWith(nets.plan('f', { nets: ['front'], ip: ip(subnetA, 50) }), 'conflict', /already used by container b/);
    await failsWith(nets.plan('f', { nets: ['nowhere'] }), 'not_found', /network nowhere does not exist/);
    await failsWith(nets.plan('f', { nets: ['front'], netIn: '10 lightyears' }), 'invalid_argument', /invalid inbound rate/);
    await failsWith(nets.plan('f', { nets: ['front'], netOut: '1bit' }), 'invalid_argument', /between 8kbit/);
    await failsWith(nets.plan('f', { nets: ['front'], ports: ['80:80', '80:81'] }), 'invalid_argument', /given twice/);
    await failsWith(nets.plan('f', { noNet: true, ports: ['80:80'] }), 'invalid_argument', /--no-net cannot be combined/);
    const busy = servers.find((s) => s.listening)!;
    if (busy) await failsWith(nets.plan('f', { nets: ['front'], ports: [`${(busy.address() as { port: number }).port}:80`] }), 'conflict', /in use by a process/);
    await failsWith(nets.remove('front'), 'conflict', /in use by a, b/);
    await failsWith(nets.remove('nowhere'), 'not_found', /does not exist/);
    await failsWith(nets.plan('a', {}), 'already_exists', /already has network adapters/);
    assert.equal(JSON.stringify(nets.list()), nets0);
    assert.deepEqual(nets.adapters('f'), []);
    assertSameHost(snapshot(), host0);
  });

  test('a failure half-way through attaching leaves no veth, rule, pin or lease behind', async () => {
    // A CNI path whose bandwidth plugin fails on ADD, like a broken plugin would.
    const cni = join(work, 'cni');
    mkdirSync(cni, { recursive: true });
    for (const p of ['bridge', 'static', 'loopback']) symlinkSync(`/usr/lib/cni/${p}`, join(cni, p));
    writeFileSync(join(cni, 'bandwidth'), '#!/bin/sh\ncat >/dev/null\n[ "$CNI_COMMAND" = ADD ] || exit 0\necho \'{"cniVersion":"1.0.0","code":999,"msg":"injected failure","details":"for the test"}\'\nexit 1\n');
    chmodSync(join(cni, 'bandwidth'), 0o755);
    const broken = new Networks(store.db, { rootId, runDir, cniPath: cni });
    await broken.plan('g', { nets: ['front'], netOut: '1mbit', ports: ['31999:80'] });
    const host0 = snapshot();
    const pidG = await fakeContainer();
    await assert.rejects(broken.attach('g', pidG, 'g'), (err: Error) => /injected failure: for the test/.test(err.message) && /CNI bandwidth ADD/.test(err.message));
    assertSameHost(snapshot(), host0);
    assert.equal(broken.adapters('g')[0].attached, false);
    assert.doesNotMatch(inNs(pidG, ['ip', '-o', 'link']), /eth0/);
    // The lease and the port are the plan's, kept until release, which frees them.
    await broken.release('g');
    assert.deepEqual(broken.adapters('g'), []);
    assert.deepEqual(broken.listPorts('g'), []);
  });

  test('ensureDefault picks a free private subnet that collides with no host route', async () => {
    const routes = sh('ip', ['-4', 'route', 'show']);
    const def = await nets.ensureDefault();
    assert.equal(def.name, 'default');
    assert.match(def.subnet, /^(10\.77|172\.(1[6-9]|2\d|3[01]))\.\d+\.0\/24$/);
    assert.ok(!routes.includes(def.subnet), `${def.subnet} was not in the host's routes`);
    assert.deepEqual(await nets.ensureDefault(), def, 'idempotent');
    await nets.plan('f', {});
    assert.equal(nets.adapters('f')[0].network, 'default');
    await nets.release('f');
    await nets.remove('default');
  });

  test('after release and network rm the host is exactly as before', async () => {
    for (const c of ['a', 'b', 'c', 'd', 'e']) await nets.release(c);
    for (const k of kids) kill(k);
    for (const n of ['front', 'iso', 'back']) await nets.remove(n);
    assert.deepEqual(nets.list(), []);
    assertSameHost(snapshot(), before0);
    // Namespaces are held by open descriptors, not mounts: none is left open, none was mounted.
    assert.ok(!existsSync(join(runDir, 'netns')));
    const held = readdirSync('/proc/self/fd').map((fd) => { try { return readlinkSync(`/proc/self/fd/${fd}`); } catch { return ''; } }).filter((l) => l.startsWith('net:['));
    assert.deepEqual(held, []);
  });
});
