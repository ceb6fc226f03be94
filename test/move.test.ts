// Integration: strata move between two daemons as two hosts. Each daemon runs in its own network
// namespace (nsenter --net), the two joined by a bridge in the host's namespace with their own
// addresses; the CLI reaches the target as a remote over TLS, like an operator's. A running
// container with a published port moves under a load of HTTP requests: its files, address, MAC
// and hostname are kept, the template it lacks is sent, the downtime is measured. kill -9 of
// either daemon at several points of a move leaves exactly one running copy once both are back.
// A live move is refused with CRIU's own reason (it does not run on this kernel).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { sleep, useDaemon, useScratchDir, type CliResult, type TestDaemon } from './harness.js';

const tag = randomBytes(2).toString('hex');
const NS = { a: `stmv${tag}a`, b: `stmv${tag}b` };
const BRIDGE = `stmv${tag}br`;
const NET = `10.252.${1 + Math.floor(Math.random() * 250)}`;
const IP = { host: `${NET}.1`, a: `${NET}.2`, b: `${NET}.3` };
const API_PORT = 18443;
const WEB_PORT = 8080;

function sh(...argv: string[]): void {
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${argv.join(' ')}: ${r.stderr}`);
}

/** Two namespaces as two hosts, each with a veth on one bridge in the host's namespace. */
function makeHosts(): void {
  sh('ip', 'link', 'add', BRIDGE, 'type', 'bridge');
  sh('ip', 'addr', 'add', `${IP.host}/24`, 'dev', BRIDGE);
  sh('ip', 'link', 'set', BRIDGE, 'up');
  for (const side of ['a', 'b'] as const) {
    const ns = NS[side];
    sh('ip', 'netns', 'add', ns);
    sh('ip', 'link', 'add', `${ns}0`, 'type', 'veth', 'peer', 'name', `${ns}1`);
    sh('ip', 'link', 'set', `${ns}0`, 'master', BRIDGE, 'up');
    sh('ip', 'link', 'set', `${ns}1`, 'netns', ns);
    sh('ip', '-n', ns, 'link', 'set', 'lo', 'up');
    sh('ip', '-n', ns, 'addr', 'add', `${IP[side]}/24`, 'dev', `${ns}1`);
    sh('ip', '-n', ns, 'link', 'set', `${ns}1`, 'up');
  }
}

function removeHosts(): void {
  for (const ns of Object.values(NS)) {
    spawnSync('ip', ['link', 'del', `${ns}0`]);
    spawnSync('ip', ['netns', 'del', ns]);
  }
  spawnSync('ip', ['link', 'del', BRIDGE]);
}

async function get(ip: string): Promise<string | null> {
  try {
    const r = await fetch(`http://${ip}:${WEB_PORT}/`, { signal: AbortSignal.timeout(800) });
    return r.ok ? (await r.text()).trim() : null;
  } catch {
    return null;
  }
}

interface View { name: string; state: string; hostname: string; adapters: Array<{ address: string; mac: string }> }
interface Moved { rounds: Array<{ bytes: number }>; templates: string[]; downtimeMs: number | null; address: string | null }

describe('move between two hosts (daemons in network namespaces joined by a bridge)', () => {
  before(makeHosts);
  const env = { STRATA_MOVE_LEASE_MS: '4000', STRATA_METER_INTERVAL_MS: '500' };
  const a = useDaemon({ template: 'bb', wrap: ['nsenter', `--net=/run/netns/${NS.a}`], args: ['--listen', `${IP.a}:${API_PORT}`], env: { ...env } });
  const b = useDaemon({ template: 'bb', wrap: ['nsenter', `--net=/run/netns/${NS.b}`], args: ['--listen', `${IP.b}:${API_PORT}`], env: { ...env } });
  const config = useScratchDir('strata-test-move-remotes-');
  const saved = process.env.STRATA_CONFIG_DIR;
  after(() => {
    if (saved === undefined) delete process.env.STRATA_CONFIG_DIR; else process.env.STRATA_CONFIG_DIR = saved;
    removeHosts();
  });

  before(async () => {
    process.env.STRATA_CONFIG_DIR = config;
    for (const [d, name] of [[b, 'hb'], [a, 'ha']] as const) {
      await d.ok('user', 'create', 'mover', '--role', 'admin');
      const token = (await d.ok('token', 'create', '--user', 'mover')).trim();
      const ip = d === a ? IP.a : IP.b;
      await a.ok('remote', 'add', name, `https://${ip}:${API_PORT}`, '--token', token, '--accept-certificate');
    }
  });

  /** Where `ct` runs now: the daemons that have it running. */
  const runningOn = async (ct: string): Promise<string[]> => {
    const where: string[] = [];
    for (const [d, name] of [[a, 'a'], [b, 'b']] as const) {
      const r = await d.cli('inspect', ct, '--json');
      if (r.status === 0 && (JSON.parse(r.stdout) as View).state === 'running') where.push(name);
    }
    return where;
  };

  const scratchOf = (d: TestDaemon): string[] => (existsSync(join(d.root, 'scratch')) ? readdirSync(join(d.root, 'scratch')) : []);

  test('a running container moves under load: files, address, MAC and hostname kept; the template it lacks sent; downtime measured', { timeout: 5 * 60_000 }, async () => {
    await a.ok('create', 'mv1', '--template', 'bb', '--port', `${WEB_PORT}:80`, '--memory', '64M');
    await a.ok('start', 'mv1');
    await a.ok('exec', 'mv1', '--', 'sh', '-c',
      "mkdir -p /www /etc/rc.d && echo hello-from-mv1 > /www/index.html && printf '#!/bin/sh\\nhttpd -p 80 -h /www\\n' > /etc/rc.d/S50httpd && chmod 755 /etc/rc.d/S50httpd && head -c 12000000 /dev/urandom > /data.bin && httpd -p 80 -h /www");
    const before = await a.json<View>('inspect', 'mv1');
    const sum = await a.ok('exec', 'mv1', '--', 'md5sum', '/data.bin');
    for (let i = 0; i < 50 && (await get(IP.a)) === null; i++) await sleep(100);
    assert.equal(await get(IP.a), 'hello-from-mv1', 'it answers on host a before');

    // The load: a request to each host every 50 ms, from the host's namespace.
    const answered: Array<{ at: number; host: 'a' | 'b' }> = [];
    let loading = true;
    const load = (async () => {
      while (loading) {
        const [ra, rb] = await Promise.all([get(IP.a), get(IP.b)]);
        if (ra === 'hello-from-mv1') answered.push({ at: Date.now(), host: 'a' });
        if (rb === 'hello-from-mv1') answered.push({ at: Date.now(), host: 'b' });
        await sleep(50);
      }
    })();
    const moved = await a.json<Moved>('move', 'mv1', '--to', 'hb');
    for (let i = 0; i < 100 && !answered.some((x) => x.host === 'b'); i++) await sleep(100);
    loading = false;
    await load;

    assert.ok(moved.rounds.length >= 3, `synced while running, then once stopped (${moved.rounds.map((r) => r.bytes).join(', ')} bytes)`);
    assert.ok(moved.rounds.at(-1)!.bytes < moved.rounds[0].bytes / 4, 'the last sync carries only the changes');
    assert.deepEqual(moved.templates, ['bb'], 'host b has its own bb, another digest: this one is sent');
    assert.ok(moved.downtimeMs !== null && moved.downtimeMs > 0);
    const lastA = Math.max(...answered.filter((x) => x.host === 'a').map((x) => x.at));
    const firstB = Math.min(...answered.filter((x) => x.host === 'b').map((x) => x.at));
    const inside = async (): Promise<string> => JSON.stringify([await b.cli('exec', 'mv1', '--', 'ps'), await b.cli('exec', 'mv1', '--', 'wget', '-qO-', 'http://127.0.0.1/'), await b.cli('inspect', 'mv1')]);
    assert.ok(Number.isFinite(lastA) && Number.isFinite(firstB) && firstB > lastA, `answered on a, then on b: ${lastA} ${firstB} ${await inside()}`);
    console.log(`figure: move of a running busybox container with 12 MB of its own files under load: ${moved.rounds.length} syncs (${moved.rounds.map((r) => r.bytes).join(', ')} bytes), downtime ${moved.downtimeMs} ms as measured by the move, ${firstB - lastA} ms between the last answer on a and the first on b (requests every 50 ms)`);

    const after = await b.json<View>('inspect', 'mv1');
    assert.equal(after.state, 'running');
    assert.equal(after.hostname, 'mv1');
    assert.equal(after.adapters[0].address, before.adapters[0].address, 'the same address');
    assert.equal(after.adapters[0].mac, before.adapters[0].mac, 'the same MAC');
    assert.equal(await b.ok('exec', 'mv1', '--', 'md5sum', '/data.bin'), sum, 'the same files');
    assert.match((await a.cli('inspect', 'mv1')).stderr, /container mv1 does not exist/, 'gone from the source');
    assert.deepEqual(scratchOf(a), []);
    assert.deepEqual(scratchOf(b), []);
    assert.deepEqual(a.leftovers(), []);
  });

  test('a stopped container moves without a downtime and stays stopped; nothing to send twice; bad requests', async () => {
    await a.ok('create', 'mv2', '--template', 'bb', '--no-net');
    const moved = await a.json<Moved>('move', 'mv2', '--to', 'hb');
    assert.equal(moved.downtimeMs, null);
    assert.deepEqual(moved.templates, [], 'host b has this bb now');
    assert.equal(moved.rounds.length, 1);
    assert.equal((await b.json<View>('inspect', 'mv2')).state, 'created');
    // An idle running one, for the figure beside the one under load.
    await a.ok('create', 'mv3', '--template', 'bb', '--no-net');
    await a.ok('start', 'mv3');
    const idle = await a.json<Moved>('move', 'mv3', '--to', 'hb');
    assert.equal((await b.json<View>('inspect', 'mv3')).state, 'running');
    console.log(`figure: move of an idle running busybox container: ${idle.rounds.length} syncs (${idle.rounds.map((r) => r.bytes).join(', ')} bytes), downtime ${idle.downtimeMs} ms`);
    await b.ok('destroy', 'mv3', '--force');

    await a.ok('create', 'mv2', '--template', 'bb', '--no-net');
    const taken = await a.cli('move', 'mv2', '--to', 'hb');
    assert.notEqual(taken.status, 0);
    assert.match(taken.stderr, /container mv2 already exists on this host: destroy or rename it here first/);
    assert.equal((await a.json<View>('inspect', 'mv2')).state, 'created', 'the source is untouched');
    const live = await a.cli('move', 'mv2', '--to', 'hb', '--live');
    // npm test installs criu; it does not run on this kernel, and the refusal quotes why.
    assert.match(live.stderr, /a live move needs CRIU, and 'criu check' fails on this kernel \(.+\): move without --live \(a short stop\)/);
    const unknown = await a.cli('move', 'mv2', '--to', 'nowhere');
    assert.match(unknown.stderr, /there is no remote nowhere/);
    await a.ok('destroy', 'mv2');
    await b.ok('destroy', 'mv2');
  });

  /**
   * Starts a move of `ct` from a that holds at `phase` (its event loop waits there, so a answers
   * nothing meanwhile), and returns once a is there (it says so with a file).
   */
  const moveHeldAt = async (ct: string, phase: 'syncing' | 'finishing' | 'committing'): Promise<{ move: Promise<CliResult> }> => {
    a.env.STRATA_TEST_MOVE_HOLD = `${phase}:15000`;
    await a.stop();
    await a.start();
    delete a.env.STRATA_TEST_MOVE_HOLD;
    const move = a.cli('move', ct, '--to', 'hb');
    const held = join(a.root, 'scratch', `held-${phase}`);
    for (let i = 0; i < 300 && !existsSync(held); i++) await sleep(100);
    assert.ok(existsSync(held), `the move reached ${phase}`);
    // Wrapped: an async function returning a promise would wait for it.
    return { move };
  };

  const exactlyOne = async (ct: string, where: string): Promise<void> => {
    for (let i = 0; i < 200; i++) {
      const on = await runningOn(ct);
      if (on.length === 1 && on[0] === where) break;
      await sleep(200);
    }
    assert.deepEqual(await runningOn(ct), [where], `${ct} runs on ${where} only`);
    const other = where === 'a' ? b : a;
    assert.match((await other.cli('inspect', ct)).stderr, /does not exist/, `no copy of ${ct} left on the other`);
  };

  test('kill -9 of the source while it syncs: the container runs on at the source, nothing on the target', { timeout: 3 * 60_000 }, async () => {
    await a.ok('create', 'k1', '--template', 'bb', '--no-net');
    await a.ok('start', 'k1');
    const { move } = await moveHeldAt('k1', 'syncing');
    await a.kill9();
    const r = await move;
    assert.notEqual(r.status, 0, JSON.stringify(r));
    await a.start();
    await exactlyOne('k1', 'a');
    await a.ok('destroy', 'k1', '--force');
  });

  test('kill -9 of the source after the target started it, before the commit: the target keeps it', { timeout: 3 * 60_000 }, async () => {
    await a.ok('create', 'k2', '--template', 'bb', '--no-net');
    await a.ok('start', 'k2');
    const { move } = await moveHeldAt('k2', 'committing');
    await a.kill9();
    await move;
    await a.start();
    await exactlyOne('k2', 'b');
    await b.ok('destroy', 'k2', '--force');
  });

  test('kill -9 of the target before the finish: the source runs it again once the target is back', { timeout: 3 * 60_000 }, async () => {
    await a.ok('create', 'k3', '--template', 'bb', '--no-net');
    await a.ok('start', 'k3');
    const { move } = await moveHeldAt('k3', 'finishing');
    await b.kill9();
    const r = await move;
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /moving k3 to https:\/\/.* failed: .*k3 stays stopped here until the target answers|k3 is left here, running/);
    await b.start();
    await exactlyOne('k3', 'a');
    await a.ok('destroy', 'k3', '--force');
  });

  test('kill -9 of the target after it started the container, before the commit: its copy goes, the source runs it', { timeout: 3 * 60_000 }, async () => {
    await a.ok('create', 'k4', '--template', 'bb', '--no-net');
    await a.ok('start', 'k4');
    const { move } = await moveHeldAt('k4', 'committing');
    await b.kill9();
    const r = await move;
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /k4 stays stopped here until the target answers/);
    assert.deepEqual(await runningOn('k4'), [], 'while b is down, its orphan runs there unseen and a waits');
    await b.start();
    await exactlyOne('k4', 'a');
    await a.ok('destroy', 'k4', '--force');
    assert.deepEqual(scratchOf(a), []);
    assert.deepEqual(scratchOf(b), []);
  });
});
