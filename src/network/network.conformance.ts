/**
 * What every network driver must do, on the real kernel with real CNI plugins: make a network,
 * join two containers' network namespaces to it with addresses from its subnet so that they reach
 * each other (and the segment's gateway when the test provides one), refuse what its capabilities
 * say it cannot do with a typed error, and leave nothing behind when the containers are released
 * and the network removed. The containers are stand-ins (`unshare --net` running sleep), not runc.
 * Each driver's integration test calls `networkConformance` with what the driver needs
 * (drivers.integration.test.ts).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StrataError } from '../errors/index.js';
import { Store } from '../state/index.js';
import { NETWORK_DRIVERS } from './drivers/index.js';
import { Networks, type CreateNetworkRequest } from './index.js';

const sh = (cmd: string, args: string[]): string => execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
const pings = (pid: number, to: string): boolean => {
  try { sh('nsenter', ['-t', String(pid), '-n', 'busybox', 'ping', '-c', '1', '-W', '2', to]); return true; } catch { return false; }
};

export interface ConformanceSetup {
  /** Extra fields of the create request (a macvlan parent). */
  request: Partial<CreateNetworkRequest>;
  /** The /24 the network gets (a segment's own, for a parent's). */
  subnet: string;
  /** An address on the segment that answers ping, other than the members (the host's bridge, a router). */
  gateway?: string;
  /** Host links the driver must not leave behind: their names start with these. */
  linkPrefixes: string[];
}

async function fails(work: Promise<unknown>, code: string, re: RegExp): Promise<void> {
  await assert.rejects(work, (err: unknown) => {
    assert.ok(err instanceof StrataError, String(err));
    assert.equal(err.code, code, err.message);
    assert.match(err.message, re);
    return true;
  });
}

export function networkConformance(driver: string, setup: () => Promise<ConformanceSetup>): void {
  describe(`network driver ${driver}: conformance`, () => {
    const rootId = randomBytes(5).toString('hex');
    const runDir = `/run/strata/${rootId}`;
    const work = mkdtempSync(join(tmpdir(), 'strata-netconf-'));
    const kids: ChildProcess[] = [];
    let store: Store | undefined;
    let nets!: Networks;
    let s: ConformanceSetup;
    const caps = NETWORK_DRIVERS[driver].capabilities;
    const ours = (): string[] => readdirSync('/sys/class/net').filter((l) => s.linkPrefixes.some((p) => l.startsWith(p)) || l.startsWith(`stb${rootId.slice(0, 8)}`)).sort();
    let linksBefore: string[] = [];

    async function fakeContainer(): Promise<number> {
      const p = spawn('unshare', ['--net', 'sh', '-c', 'ip link set lo up && exec sleep 600'], { stdio: 'ignore' });
      kids.push(p);
      const self = sh('readlink', ['/proc/self/ns/net']).trim();
      for (let i = 0; i < 100; i++) {
        try { if (sh('readlink', [`/proc/${p.pid}/ns/net`]).trim() !== self) return p.pid!; } catch { /* not yet */ }
        await new Promise((r) => setTimeout(r, 20));
      }
      throw new Error('unshare did not make a network namespace');
    }

    before(async () => {
      s = await setup();
      linksBefore = ours();
      store = new Store(join(work, 'strata.db'));
      nets = new Networks(store.db, { rootId, runDir });
    });

    after(async () => {
      try {
        for (const k of kids) if (k.exitCode === null && k.pid) { try { process.kill(k.pid, 'SIGKILL'); } catch { /* gone */ } }
        // Set-up may have failed before the service existed.
        if (store) {
          for (const c of ['m1', 'm2', 'm3']) await nets.release(c).catch(() => undefined);
          for (const n of nets.list()) await nets.remove(n.name).catch(() => undefined);
        }
        try { store?.close(); } catch { /* closed */ }
        for (const m of readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(`${runDir}/netns/`))) {
          try { sh('umount', [m.split(' ')[4]]); } catch { /* gone */ }
        }
      } finally {
        rmSync(runDir, { recursive: true, force: true });
        rmSync(work, { recursive: true, force: true });
      }
    });

    test('a driver with a host end per adapter joins by itself (Strata names and sets up its ports)', () => {
      assert.ok(!caps.hostSideAdapter || typeof NETWORK_DRIVERS[driver].join === 'function', `${driver} declares hostSideAdapter without join`);
    });

    test('a network is made and described with its driver', async () => {
      const n = await nets.create({ name: 'conf', subnet: s.subnet, ...s.request, driver });
      assert.equal(n.driver, driver);
      assert.equal(n.subnet, s.subnet);
      assert.equal(n.parent, s.request.parent ?? null);
      assert.equal(n.bridge === '', !caps.hostSideAdapter, 'a bridge is named exactly when the driver makes one');
      assert.deepEqual(nets.inspect('conf'), n);
    });

    test('two members get addresses of the subnet and reach each other (and the gateway)', async () => {
      const pids: number[] = [];
      for (const c of ['m1', 'm2']) {
        await nets.plan(c, { nets: ['conf'] });
        const pid = await fakeContainer();
        const [a] = await nets.attach(c, pid, c);
        assert.equal(a.network, 'conf');
        assert.ok(a.address.startsWith(s.subnet.replace(/0\/24$/, '')), `${a.address} is in ${s.subnet}`);
        assert.match(sh('nsenter', ['-t', String(pid), '-n', 'ip', '-o', '-4', 'addr', 'show', 'eth0']), new RegExp(a.address.replace(/\./g, '\\.')));
        pids.push(pid);
      }
      const [a1, a2] = [nets.adapters('m1')[0], nets.adapters('m2')[0]];
      assert.notEqual(a1.address, a2.address);
      assert.ok(pings(pids[0], a2.address.split('/')[0]), 'm1 reaches m2');
      assert.ok(pings(pids[1], a1.address.split('/')[0]), 'm2 reaches m1');
      if (s.gateway) assert.ok(pings(pids[0], s.gateway), `m1 reaches the gateway ${s.gateway}`);
      assert.deepEqual(nets.inspect('conf').containers, ['m1', 'm2']);
    });

    test('what the driver cannot do is refused with the reason, and nothing is recorded', async () => {
      if (!caps.publishPorts) {
        await fails(nets.plan('m3', { nets: ['conf'], ports: ['18080:80'] }), 'invalid_argument', /cannot publish ports/);
        await fails(nets.addPort('m1', '18080:80'), 'invalid_argument', /cannot publish ports/);
        assert.deepEqual(nets.listPorts('m1'), []);
      }
      if (!caps.bandwidth) {
        await fails(nets.plan('m3', { nets: ['conf'], netOut: '10mbit' }), 'invalid_argument', /cannot limit rates/);
        await fails(nets.setBandwidth('m1', { netOut: '10mbit' }), 'invalid_argument', /cannot limit rates/);
      }
      if (!caps.nat) await fails(nets.create({ name: 'nat', subnet: s.subnet.replace(/\.\d+\.0\/24$/, '.250.0/24'), ...s.request, driver, nat: true }), 'invalid_argument', /cannot NAT/);
      if (!caps.parent) await fails(nets.create({ name: 'par', subnet: '10.251.0.0/24', driver, parent: 'lo' }), 'invalid_argument', /--parent/);
      await fails(nets.create({ name: 'bad', subnet: s.subnet, ...s.request, driver: 'nosuch' }), 'invalid_argument', /unknown network driver "nosuch": use one of bridge, macvlan/);
      assert.deepEqual(nets.list().map((n) => n.name), ['conf']);
      assert.equal(nets.adapters('m3').length, 0);
    });

    test('released members and the removed network leave no link behind', async () => {
      for (const c of ['m1', 'm2']) await nets.release(c);
      await nets.remove('conf');
      assert.deepEqual(nets.list(), []);
      assert.deepEqual(ours(), linksBefore);
      if (s.request.parent) {
        const children = sh('ip', ['-o', 'link', 'show', 'type', 'macvlan']).split('\n').filter((l) => l.includes(`@${s.request.parent}:`));
        assert.deepEqual(children, [], 'no macvlan child left on the parent');
      }
    });
  });
}
