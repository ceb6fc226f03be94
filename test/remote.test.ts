// Integration: the API over TLS and the remote CLI. Two daemons on this machine stand for two
// hosts, each with its own data root and a TLS listener on loopback. Real clients: node's (the
// typed Client, which pins the certificate) and curl; the CLI's remotes file lives in a scratch
// directory (STRATA_CONFIG_DIR).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generate } from 'selfsigned';
import { Client } from '../src/api/client.js';
import { STRATA, useDaemon, useScratchDir, type CliResult, freePort } from './harness.js';

/** A TCP port free on loopback now. */
const ports: number[] = [];
while (ports.length < 3) { const p = freePort(); if (!ports.includes(p)) ports.push(p); }

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
    const env = { ...process.env, STRATA_CONFIG_DIR: config, STRATA_SOCKET: '', STRATA_TOKEN: '' };
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

  test('curl: the certificate verifies, no token is 401, a bad one 401, TLS 1.1 and TLS 1.2 without forward secrecy are refused', () => {
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
    // curl on OpenSSL 3 would refuse TLS 1.1 by itself (its security level): lowered, the refusal is the daemon's.
    const old = curl('--tlsv1.1', '--tls-max', '1.1', '--ciphers', 'DEFAULT@SECLEVEL=0', `${urlOf(1)}/v1/openapi.json`);
    assert.notEqual(old.status, 0, 'a TLS 1.1 client is refused');
    assert.match(old.out, /alert protocol version/, `the daemon refused the protocol: ${old.out}`);
    const staticRsa = curl('--tls-max', '1.2', '--ciphers', 'AES256-SHA', `${urlOf(1)}/v1/openapi.json`);
    assert.match(staticRsa.out, /alert handshake failure/, `TLS 1.2 without forward secrecy is refused: ${staticRsa.out}`);
    const tls12 = curl('-v', '--tls-max', '1.2', `${urlOf(1)}/v1/openapi.json`);
    assert.equal(tls12.status, 0, tls12.out);
    assert.match(tls12.out, /SSL connection using TLSv1\.2 \/ ECDHE-RSA-(AES\d+-GCM-SHA\d+|CHACHA20-POLY1305)/);
    const open = curl(`${urlOf(1)}/v1/openapi.json`);
    assert.equal(open.status, 0, 'the OpenAPI document is open');
  });

  test('remote add pins the certificate; --remote runs commands against the other host; switch, list, remove', async () => {
    const refusedAsk = await cli('remote', 'add', 'h2', urlOf(1), '--token', adminToken);
    assert.equal(refusedAsk.status, 6, refusedAsk.stderr);
    assert.match(refusedAsk.stderr, new RegExp(`SHA-256 +${fingerprint}`));
    assert.match(refusedAsk.stderr, /add --accept-certificate \(not asked: stdin is not a terminal\)/);
    assert.ok(!existsSync(join(config, 'remotes.json')), 'nothing was written');

    // Given as openssl prints it: lower case, no colons, a prefix.
    const added = await cli('remote', 'add', 'h2', urlOf(1), '--token', adminToken, '--accept-certificate', `sha256:${fingerprint.replace(/:/g, '').toLowerCase()}`);
    assert.equal(added.status, 0, added.stderr);
    assert.match(added.stdout, /remote h2 added: .* as ops \(admin\)/);
    assert.equal(statSync(join(config, 'remotes.json')).mode & 0o777, 0o600, 'the remotes file holds tokens: its owner\'s only');

    // On a terminal it asks (script(1) gives the CLI one): no keeps the file as it was, yes pins.
    const onTerminal = (answer: string, ...args: string[]): { status: number; out: string } => {
      const r = spawnSync('script', ['-qec', [process.execPath, STRATA, ...args].join(' '), '/dev/null'],
        { env: { ...process.env, STRATA_CONFIG_DIR: config, STRATA_SOCKET: '' }, input: answer, encoding: 'utf8', timeout: 30_000 });
      return { status: r.status ?? 128, out: r.stdout + r.stderr };
    };
    const file = readFileSync(join(config, 'remotes.json'), 'utf8');
    const no = onTerminal('n\n', 'remote', 'add', 'h-tty', urlOf(1), '--token', adminToken);
    assert.equal(no.status, 6, no.out);
    assert.match(no.out, new RegExp(`SHA-256 +${fingerprint}[\\s\\S]*Pin it\\? \\[y/N\\][\\s\\S]*strata: not pinned: nothing was added`));
    assert.equal(readFileSync(join(config, 'remotes.json'), 'utf8'), file, 'no: the file as it was');
    const yes = onTerminal('y\n', 'remote', 'add', 'h-tty', urlOf(1), '--token', adminToken);
    assert.equal(yes.status, 0, yes.out);
    assert.match(yes.out, /remote h-tty added/);
    assert.equal((await cli('remote', 'remove', 'h-tty')).status, 0);
    // The token from $STRATA_TOKEN, out of the process list.
    const fromEnv = spawnSync(process.execPath, [STRATA, 'remote', 'add', 'h-env', urlOf(1), '--accept-certificate', fingerprint],
      { env: { ...process.env, STRATA_CONFIG_DIR: config, STRATA_SOCKET: '', STRATA_TOKEN: adminToken }, encoding: 'utf8', input: '' });
    assert.equal(fromEnv.status, 0, fromEnv.stderr);
    assert.match(fromEnv.stdout, /remote h-env added: .* as ops \(admin\)/);
    assert.equal((await cli('remote', 'remove', 'h-env')).status, 0);

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
    // Its shell runs through the remote daemon's exec session (runc here would be the wrong host).
    const capture = onTerminal('mkdir -p /opt/rapp && echo hi > /opt/rapp/f\nexit 0\n', 'template', 'capture', 'remote-app', '--base', 'bb', '--interactive');
    assert.equal(capture.status, 0, capture.out);
    assert.match(capture.out, /template remote-app version 1: [1-9]\d* files/);
    assert.equal((await there.json<{ name: string }>('template', 'inspect', 'remote-app')).name, 'remote-app', 'captured on the other host');
    for (const args of [['template', 'export', 'bb', '-o', 'bb.tar'], ['template', 'import', 'bb.tar'], ['template', 'build', 'b2', '--from', 'rootfs:bb.tar']]) {
      const relative = await cli(...args);
      assert.equal(relative.status, 2, `${args.join(' ')}: ${relative.stderr}`);
      assert.match(relative.stderr, /^strata: bb\.tar is a path on the host of https:\/\/127\.0\.0\.1:\d+: give it absolute/, args.join(' '));
    }
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
      [['remote', 'add', 'h5', urlOf(1), '--token', adminToken, '--accept-certificate', 'AB:CD'], 2, /"AB:CD" is not a SHA-256 fingerprint/],
      [['remote', 'add', 'h5', urlOf(1), '--token', adminToken, '--accept-certificate', '00'.repeat(32)], 6, /not the 00:00:[0-9:]+ given with --accept-certificate: nothing was added/],
      [['remote', 'add', 'h6', 'https://127.0.0.1:1', '--token', adminToken, '--accept-certificate'], 7, /cannot reach the Strata daemon at https:\/\/127\.0\.0\.1:1 \(ECONNREFUSED\)/],
      [['remote', 'add', 'h8', urlOf(1), '--accept-certificate'], 2, /give the remote's API token with --token TOKEN or \$STRATA_TOKEN/],
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
    assert.match(r.stderr, new RegExp(`changed: it is ${fingerprint}, not the pinned ${other}\\. .*pin the new one: 'strata remote remove h2', then 'strata remote add h2 https://127\\.0\\.0\\.1:${ports[1]} --token …'; .*nothing was sent`));
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

describe('the daemon\'s TLS options', () => {
  const given = useDaemon({ start: false, args: [] });
  const files = useScratchDir('strata-test-tls-given-');

  test('a given certificate is served as given (nothing made in the data root); wrong options stop the start before it begins', async () => {
    const made = await generate([{ name: 'commonName', value: 'strata-test-given' }], { keySize: 2048, algorithm: 'sha256' });
    const cert = join(files, 'given.crt');
    const key = join(files, 'given.key');
    writeFileSync(cert, made.cert);
    writeFileSync(key, made.private, { mode: 0o600 });

    const refusals: Array<[string[], number, RegExp]> = [
      [['--listen', `127.0.0.1:${ports[2]}`, '--tls-cert', join(files, 'typo.crt'), '--tls-key', key], 6, /the TLS certificate .*typo\.crt does not exist/],
      [['--tls-cert', cert, '--tls-key', key], 2, /are the certificate of --listen: give --listen HOST:PORT too/],
      [['--listen', `127.0.0.1:${ports[2]}`, '--tls-cert', cert], 2, /give --tls-cert and --tls-key together/],
      [['--listen', 'nowhere'], 2, /invalid --listen "nowhere"/],
    ];
    for (const [args, status, message] of refusals) {
      // A start that wrongly went on is ended by the timeout (and its data root removed by the cleanup).
      const r = spawnSync(process.execPath, [STRATA, 'daemon', '--root', given.root, '--socket', given.socket, ...args], { encoding: 'utf8', timeout: 60_000 });
      assert.equal(r.status, status, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message, args.join(' '));
    }
    assert.ok(!existsSync(join(files, 'typo.crt')), 'a mistyped --tls-cert is not made');

    given.args.push('--listen', `127.0.0.1:${ports[2]}`, '--tls-cert', cert, '--tls-key', key);
    await given.start();
    const info = await given.json<{ tls: { fingerprint: string; certificate: string } }>('info');
    assert.equal(info.tls.fingerprint, new X509Certificate(made.cert).fingerprint256);
    assert.equal(info.tls.certificate, cert);
    assert.ok(!existsSync(given.paths.tls.cert), 'no certificate was made in the data root');
    const fetched = await new Client({ url: `https://127.0.0.1:${ports[2]}`, token: 'none', fingerprint: info.tls.fingerprint }).info().catch((err: Error & { code?: string }) => err);
    assert.ok(fetched instanceof Error && (fetched as { code?: string }).code === 'unauthenticated', `the given certificate is the one served (the pin held; the token was judged): ${String(fetched)}`);
  });
});
