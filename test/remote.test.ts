// Integration: the API over TLS and the remote CLI. Two daemons on this machine stand for two
// hosts, each with its own data root and a TLS listener on loopback. Real clients: node's (the
// typed Client, which pins the certificate) and curl; the CLI's remotes file lives in a scratch
// directory (STRATA_CONFIG_DIR).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Client } from '../src/api/client.js';
import { STRATA, useDaemon, useScratchDir, type CliResult } from './harness.js';

/** A TCP port free on loopback now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

const ports = await Promise.all([freePort(), freePort()]);

describe('the API over TLS, and the remote CLI', () => {
  const here = useDaemon({ template: 'bb', args: ['--listen', `127.0.0.1:${ports[0]}`] });
  const there = useDaemon({ template: 'bb', args: ['--listen', `127.0.0.1:${ports[1]}`] });
  const config = useScratchDir('strata-test-remotes-');
  const urlOf = (i: number): string => `https://127.0.0.1:${ports[i]}`;
  let adminToken = '';
  let fingerprint = '';
  const saved = process.env.STRATA_CONFIG_DIR;

  /** The CLI as an operator's laptop runs it: no socket in its environment, the remotes file in `config`. */
  const cli = (...args: string[]): Promise<CliResult> => {
    const env = { ...process.env, STRATA_CONFIG_DIR: config, STRATA_SOCKET: '' };
    return new Promise((resolve) => {
      const r = spawnSync(process.execPath, [STRATA, ...args], { env, encoding: 'utf8', input: '' });
      resolve({ status: r.status ?? 128, stdout: r.stdout, stderr: r.stderr });
    });
  };

  before(async () => {
    process.env.STRATA_CONFIG_DIR = config;
    await there.ok('create', 'only-there', '--template', 'bb', '--no-net');
    await here.ok('create', 'only-here', '--template', 'bb', '--no-net');
    await there.ok('user', 'create', 'ops', '--role', 'admin');
    adminToken = (await there.ok('token', 'create', '--user', 'ops')).trim();
    fingerprint = ((await there.json<{ tls: { fingerprint: string } }>('info')).tls).fingerprint;
  });
  after(() => { if (saved === undefined) delete process.env.STRATA_CONFIG_DIR; else process.env.STRATA_CONFIG_DIR = saved; });

  test('the daemon made a certificate in its data root, logged its fingerprint, and info names both', async () => {
    const info = await there.json<{ tls: { listen: string[]; fingerprint: string; certificate: string } }>('info');
    assert.deepEqual(info.tls.listen, [`127.0.0.1:${ports[1]}`]);
    assert.match(info.tls.fingerprint, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    assert.ok(there.log.includes(info.tls.fingerprint), 'the fingerprint is in the daemon log');
    assert.equal(statSync(there.paths.tls.key).mode & 0o777, 0o600, 'the key is root\'s only');
  });

  test('node\'s client with the pinned fingerprint works; another fingerprint is refused before the token is sent', async () => {
    const me = await new Client({ url: urlOf(1), token: adminToken, fingerprint }).me();
    assert.equal(me.user, 'ops');
    assert.equal(me.source.replace('::ffff:', ''), '127.0.0.1', 'the caller came over the network');
    const wrong = `${fingerprint.slice(0, -2)}${fingerprint.endsWith('00') ? '11' : '00'}`;
    await assert.rejects(new Client({ url: urlOf(1), token: adminToken, fingerprint: wrong }).me(), /the certificate of https:\/\/127\.0\.0\.1:\d+ changed: it is [0-9A-F:]+, not the pinned/);
  });

  test('curl: the certificate verifies, no token is 401, a bad one 401, TLS 1.1 is refused', () => {
    const curl = (...args: string[]): { status: number; out: string } => {
      const r = spawnSync('curl', ['-sS', '--cacert', there.paths.tls.cert, ...args], { encoding: 'utf8' });
      return { status: r.status ?? 1, out: r.stdout + r.stderr };
    };
    const ok = curl('-H', `Authorization: Bearer ${adminToken}`, `${urlOf(1)}/v1/containers?brief=true`);
    assert.equal(ok.status, 0, ok.out);
    assert.deepEqual((JSON.parse(ok.out) as Array<{ name: string }>).map((c) => c.name), ['only-there']);
    const none = curl('-w', '\n%{http_code}', `${urlOf(1)}/v1/containers`);
    assert.match(none.out, /"code":"unauthenticated".*needs a token over the network[\s\S]*\n401$/);
    const bad = curl('-w', '\n%{http_code}', '-H', 'Authorization: Bearer strata_0000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', `${urlOf(1)}/v1/me`);
    assert.match(bad.out, /not valid[\s\S]*\n401$/);
    const old = curl('--tlsv1.1', '--tls-max', '1.1', `${urlOf(1)}/v1/openapi.json`);
    assert.notEqual(old.status, 0, 'a TLS 1.1 client is refused');
    const open = curl(`${urlOf(1)}/v1/openapi.json`);
    assert.equal(open.status, 0, 'the OpenAPI document is open');
  });

  test('remote add pins the certificate; --remote runs commands against the other host; switch, list, remove', async () => {
    const refusedAsk = await cli('remote', 'add', 'h2', urlOf(1), '--token', adminToken);
    assert.equal(refusedAsk.status, 6, refusedAsk.stderr);
    assert.match(refusedAsk.stderr, new RegExp(`SHA-256 +${fingerprint}`));
    assert.match(refusedAsk.stderr, /add --accept-certificate \(not asked: stdin is not a terminal\)/);
    assert.ok(!existsSync(join(config, 'remotes.json')), 'nothing was written');

    const added = await cli('remote', 'add', 'h2', urlOf(1), '--token', adminToken, '--accept-certificate', fingerprint);
    assert.equal(added.status, 0, added.stderr);
    assert.match(added.stdout, /remote h2 added: .* as ops \(admin\)/);
    assert.equal(statSync(join(config, 'remotes.json')).mode & 0o777, 0o600, 'the remotes file holds tokens: its owner\'s only');

    const list = await cli('--remote', 'h2', 'list');
    assert.match(list.stdout, /only-there/);
    assert.doesNotMatch(list.stdout, /only-here/);
    const created = await cli('--remote', 'h2', 'create', 'made-remotely', '--template', 'bb', '--no-net');
    assert.equal(created.status, 0, created.stderr);
    assert.equal((await there.json<{ name: string }>('inspect', 'made-remotely')).name, 'made-remotely', 'it was made on the other host');

    assert.equal((await cli('remote', 'switch', 'h2')).status, 0);
    assert.match((await cli('list')).stdout, /made-remotely/, 'the current remote is the default');
    const remotes = JSON.parse((await cli('remote', 'list', '--json')).stdout) as Array<{ name: string; current: boolean; fingerprint: string | null }>;
    assert.deepEqual(remotes.map((r) => [r.name, r.current]), [['local', false], ['h2', true]]);
    assert.ok(!JSON.stringify(remotes).includes(adminToken), 'list never prints tokens');
    // exec goes to the remote daemon's session (sessions.test.ts has the rest): there, this one is not running.
    const exec = await cli('exec', 'made-remotely', '--', 'true');
    assert.equal(exec.status, 6, exec.stderr);
    assert.match(exec.stderr, /container made-remotely is not running/);
    assert.equal((await cli('remote', 'switch', 'local')).status, 0);
    assert.equal((await cli('--remote', 'h2', 'destroy', 'made-remotely')).status, 0);
  });

  test('bad inputs get one sentence and a non-zero status, and leave the remotes file as it was', async () => {
    const before = readFileSync(join(config, 'remotes.json'), 'utf8');
    const cases: Array<[string[], number, RegExp]> = [
      [['remote', 'add', 'h3', `http://127.0.0.1:${ports[1]}`, '--token', adminToken, '--accept-certificate'], 2, /served over TLS only: give https:\/\//],
      [['remote', 'add', 'h2', urlOf(1), '--token', adminToken, '--accept-certificate'], 4, /remote h2 already exists/],
      [['remote', 'add', 'local', urlOf(1), '--token', adminToken, '--accept-certificate'], 2, /'local' is the built-in name/],
      [['remote', 'add', 'h4', urlOf(1), '--token', 'strata_0000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', '--accept-certificate'], 12, /the API token is not valid/],
      [['remote', 'add', 'h5', urlOf(1), '--token', adminToken, '--accept-certificate', 'AB:CD'], 6, /not the AB:CD given with --accept-certificate/],
      [['--remote', 'nowhere', 'list'], 3, /there is no remote nowhere/],
      [['remote', 'switch', 'nowhere'], 3, /there is no remote nowhere/],
    ];
    for (const [args, status, message] of cases) {
      const r = await cli(...args);
      assert.equal(r.status, status, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr.trim().split('\n').pop() ?? '', new RegExp(`^strata: .*${message.source}`), args.join(' '));
      assert.equal(readFileSync(join(config, 'remotes.json'), 'utf8'), before, `${args.join(' ')} left the file as it was`);
    }
  });

  test('a changed certificate is refused with the fix; remove forgets the remote', async () => {
    const file = join(config, 'remotes.json');
    const text = readFileSync(file, 'utf8');
    const other = `${fingerprint.startsWith('00') ? '11' : '00'}${fingerprint.slice(2)}`;
    spawnSync('sh', ['-c', `sed -i 's/${fingerprint}/${other}/' ${file}`]);
    const r = await cli('--remote', 'h2', 'list');
    assert.equal(r.status, 11);
    assert.match(r.stderr, /changed: .*run 'strata remote add' for it again/);
    spawnSync('sh', ['-c', `cat > ${file}`], { input: text });
    assert.equal((await cli('remote', 'remove', 'h2')).status, 0);
    assert.match((await cli('--remote', 'h2', 'list')).stderr, /there is no remote h2/);
  });

  test('a tenant\'s token over the network sees only its tenant', async () => {
    await there.ok('tenant', 'create', 'tr');
    await there.ok('user', 'create', 'cust', '--role', 'operator', '--tenant', 'tr');
    const token = (await there.ok('token', 'create', '--user', 'cust')).trim();
    const customer = new Client({ url: urlOf(1), token, fingerprint });
    await customer.containers.create({ name: 'cust1', template: 'bb', noNet: true });
    assert.deepEqual((await customer.containers.listBrief()).map((c) => c.name), ['cust1']);
    await assert.rejects(customer.containers.inspect('only-there'), /container only-there is not one of tenant tr's/);
    await there.ok('destroy', 'cust1');
  });
});
