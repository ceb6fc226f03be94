// Unit: the TLS listener on loopback with a bare Fastify app (no daemon): the certificate made
// once and reused, a wrong key named, protocols and suites refused by the server (each refusal
// beside a control that shows this host's client could have used them), WebSocket upgrades
// reaching the app, and a close that answers requests under way and ends followed streams.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request, createServer as createHttpsServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { connect, type ConnectionOptions } from 'node:tls';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import Fastify from 'fastify';
import websocket from '@fastify/websocket';
import WebSocket from 'ws';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { endOpenStreams, endsWithServer, type App } from '../api/http.js';
import { isRemote } from '../api/transport.js';
import { closeWithTls, ensureCertificate, parseListen, readCertificate, serveTls } from './tls.js';

const scratchDirs: string[] = [];
/** A scratch directory, removed after the file's tests even when one was cancelled mid-way (its finally never ran). */
function scratch(): string {
  const dir = mkdtempSync('/tmp/strata-test-tls-');
  scratchDirs.push(dir);
  return dir;
}
after(() => { for (const dir of scratchDirs) rmSync(dir, { recursive: true, force: true }); });

test('parseListen takes HOST:PORT, [V6]:PORT and :PORT, and refuses the rest by name', () => {
  assert.deepEqual(parseListen('127.0.0.1:8443'), { host: '127.0.0.1', port: 8443 });
  assert.deepEqual(parseListen('[::1]:8443'), { host: '::1', port: 8443 });
  assert.deepEqual(parseListen(':8443'), { host: '0.0.0.0', port: 8443 });
  for (const bad of ['8443', '127.0.0.1', '127.0.0.1:0', '127.0.0.1:70000', '::1:8443', 'host:port']) {
    assert.throws(() => parseListen(bad), /invalid --listen .*give HOST:PORT/, bad);
  }
});

test('a certificate is made once (key 0600, names and addresses of the host and the listener) and reused; a foreign key is named', async () => {
  const dir = scratch();
  try {
    const files = { cert: join(dir, 'tls', 'server.crt'), key: join(dir, 'tls', 'server.key') };
    const log: string[] = [];
    const made = await ensureCertificate(files, [{ host: '127.0.0.2', port: 1 }, { host: 'api.strata-test.example', port: 1 }], (l) => log.push(l));
    assert.equal(statSync(files.key).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, 'tls')).mode & 0o777, 0o700);
    const x509 = new X509Certificate(readFileSync(files.cert));
    assert.equal(made.fingerprint, x509.fingerprint256);
    for (const name of ['DNS:localhost', 'DNS:api.strata-test.example', 'IP Address:127.0.0.1', 'IP Address:127.0.0.2', 'IP Address:0:0:0:0:0:0:0:1']) {
      assert.ok(x509.subjectAltName?.split(', ').includes(name), `${name} in ${x509.subjectAltName}`);
    }
    assert.equal(log.filter((l) => l.startsWith('made a TLS certificate')).length, 1);

    const again = await ensureCertificate(files, [], (l) => log.push(l));
    assert.equal(again.fingerprint, made.fingerprint, 'the second start keeps the certificate (pinned clients go on working)');
    assert.equal(log.filter((l) => l.startsWith('made a TLS certificate')).length, 1);

    const other = { cert: join(dir, 'other.crt'), key: join(dir, 'other.key') };
    await ensureCertificate(other, [], () => {});
    writeFileSync(files.key, readFileSync(other.key));
    await assert.rejects(ensureCertificate(files, [], () => {}), /server\.key is not the private key of .*server\.crt: give the certificate and its own key/);
    writeFileSync(files.key, 'not a key');
    await assert.rejects(ensureCertificate(files, [], () => {}), /server\.key is not a PEM private key/);

    // Given files are read, never made: a mistyped path is named.
    assert.equal((await readCertificate(other, () => {})).fingerprint, new X509Certificate(readFileSync(other.cert)).fingerprint256);
    const typo = { cert: join(dir, 'typo.crt'), key: other.key };
    await assert.rejects(readCertificate(typo, () => {}), /the TLS certificate .*typo\.crt does not exist: give existing files with --tls-cert and --tls-key/);
    assert.ok(!existsSync(typo.cert), 'nothing was made at the given path');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A bare app as the daemon's: a quick route, a slow one, a followed stream, a WebSocket route. */
async function bareApp(): Promise<App> {
  const app = Fastify({ logger: false }).withTypeProvider<TypeBoxTypeProvider>();
  await app.register(websocket);
  app.addHook('preClose', (done) => { endOpenStreams(app); done(); });
  app.get('/v1/ping', async () => ({ pong: true }));
  app.get('/v1/transport', async (req) => ({ remote: isRemote(req) }));
  app.get('/v1/slow', async () => { await new Promise((r) => setTimeout(r, 400)); return { slow: 'done' }; });
  app.get('/v1/follow', (_req, reply) => {
    const out = new PassThrough();
    out.write('data: first\n\n');
    endsWithServer(app, () => out.end());
    return reply.type('text/event-stream').send(out);
  });
  app.get('/v1/echo', { websocket: true }, (socket) => { socket.on('message', (m: Buffer) => socket.send(`echo ${m.toString()}`)); });
  await app.ready();
  return app;
}

/** A TLS handshake with `opts`: the protocol and suite it agreed, or the error. */
function handshake(port: number, opts: ConnectionOptions): Promise<{ protocol: string | null; cipher: string } | Error> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...opts }, () => {
      resolve({ protocol: s.getProtocol(), cipher: s.getCipher().name });
      s.destroy();
    });
    s.on('error', (err) => resolve(err));
  });
}

/** A TLS server that takes every protocol and suite this host's OpenSSL has: the control. */
async function looseServer(cert: { cert: string; key: string }): Promise<Server> {
  const s = createHttpsServer({ ...cert, minVersion: 'TLSv1', ciphers: 'ALL@SECLEVEL=0' }, (_q, r) => r.end());
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  return s;
}

function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, rejectUnauthorized: false, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

test('the listener: TLS 1.3 by default, TLS 1.2 only with forward-secret AEAD suites, never TLS 1.1; WebSocket upgrades reach the app', async () => {
  const dir = scratch();
  const app = await bareApp();
  let servers: Server[] = [];
  const loose: Server[] = [];
  try {
    const creds = await ensureCertificate({ cert: join(dir, 'c.pem'), key: join(dir, 'k.pem') }, [], () => {});
    servers = await serveTls(app, [{ host: '127.0.0.1', port: 0 }], creds);
    const port = (servers[0].address() as AddressInfo).port;
    const control = await looseServer(creds);
    loose.push(control);
    const controlPort = (control.address() as AddressInfo).port;

    assert.deepEqual(await get(port, '/v1/ping'), { status: 200, body: '{"pong":true}' });
    assert.deepEqual(await get(port, '/v1/transport'), { status: 200, body: '{"remote":true}' }, 'isRemote: the TLS listener');
    assert.equal((await app.inject({ url: '/v1/transport' })).body, '{"remote":false}', 'isRemote: not the TLS listener');
    const modern = await handshake(port, {});
    assert.ok(!(modern instanceof Error), String(modern));
    assert.equal(modern.protocol, 'TLSv1.3');
    const tls12 = await handshake(port, { maxVersion: 'TLSv1.2' });
    assert.ok(!(tls12 instanceof Error), String(tls12));
    assert.match(tls12.cipher, /^ECDHE-RSA-AES\d+-GCM-SHA\d+$/);

    // What an old client offers: the control takes it, so the refusal is the listener's own.
    const old: ConnectionOptions = { minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' };
    const oldControl = await handshake(controlPort, old);
    assert.ok(!(oldControl instanceof Error), `this host's client can speak TLS 1.1 (${String(oldControl)})`);
    const oldRefused = await handshake(port, old);
    assert.ok(oldRefused instanceof Error, 'TLS 1.1 is refused');
    assert.match(oldRefused.message, /protocol version|unsupported protocol/i);
    for (const suite of ['AES256-SHA', 'AES128-GCM-SHA256', 'ECDHE-RSA-AES256-SHA']) {
      const weak: ConnectionOptions = { maxVersion: 'TLSv1.2', ciphers: `${suite}@SECLEVEL=0` };
      const weakControl = await handshake(controlPort, weak);
      assert.ok(!(weakControl instanceof Error) && weakControl.cipher === suite, `the control agrees ${suite} (${String(weakControl)})`);
      const refused = await handshake(port, weak);
      assert.ok(refused instanceof Error, `${suite} (no forward secrecy, or CBC with SHA-1) is refused`);
      assert.match(refused.message, /handshake failure|no shared cipher/i);
    }

    const ws = new WebSocket(`wss://127.0.0.1:${port}/v1/echo`, { rejectUnauthorized: false });
    const answer = await new Promise<string>((resolve, reject) => {
      ws.on('open', () => ws.send('hello'));
      ws.on('message', (m: Buffer) => resolve(m.toString()));
      ws.on('error', reject);
    });
    ws.close();
    assert.equal(answer, 'echo hello', 'an upgrade over TLS reaches the app\'s WebSocket route');
  } finally {
    for (const s of loose) s.close();
    await closeWithTls(app, servers);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an upgrade nobody takes is closed, not left hanging', async () => {
  const dir = scratch();
  const app = Fastify({ logger: false }).withTypeProvider<TypeBoxTypeProvider>();
  await app.ready();
  let servers: Server[] = [];
  try {
    const creds = await ensureCertificate({ cert: join(dir, 'c.pem'), key: join(dir, 'k.pem') }, [], () => {});
    servers = await serveTls(app, [{ host: '127.0.0.1', port: 0 }], creds);
    const port = (servers[0].address() as AddressInfo).port;
    const ws = new WebSocket(`wss://127.0.0.1:${port}/v1/anything`, { rejectUnauthorized: false, handshakeTimeout: 3000 });
    const error = await new Promise<Error>((resolve) => { ws.on('error', resolve); ws.on('open', () => resolve(new Error('opened'))); });
    assert.match(error.message, /socket hang up|ECONNRESET/, 'the client learns at once that nobody took it');
  } finally {
    await closeWithTls(app, servers);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('closing answers a request under way, ends a followed stream cleanly, then takes no connection', async () => {
  const dir = scratch();
  const app = await bareApp();
  let servers: Server[] = [];
  try {
    const creds = await ensureCertificate({ cert: join(dir, 'c.pem'), key: join(dir, 'k.pem') }, [], () => {});
    servers = await serveTls(app, [{ host: '127.0.0.1', port: 0 }], creds);
    const port = (servers[0].address() as AddressInfo).port;
    const follow = get(port, '/v1/follow');
    const slow = get(port, '/v1/slow');
    await new Promise((r) => setTimeout(r, 100));
    await closeWithTls(app, servers);
    assert.deepEqual(await slow, { status: 200, body: '{"slow":"done"}' }, 'the request under way was answered');
    assert.deepEqual(await follow, { status: 200, body: 'data: first\n\n' }, 'the followed stream ended, it was not cut');
    await assert.rejects(get(port, '/v1/ping'), /ECONNREFUSED/);
  } finally {
    await closeWithTls(app, servers).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a WebSocket whose client never answers the close does not hold the stop', async () => {
  const dir = scratch();
  const app = await bareApp();
  let servers: Server[] = [];
  try {
    const creds = await ensureCertificate({ cert: join(dir, 'c.pem'), key: join(dir, 'k.pem') }, [], () => {});
    servers = await serveTls(app, [{ host: '127.0.0.1', port: 0 }], creds);
    const port = (servers[0].address() as AddressInfo).port;
    // A client that upgrades and then never answers (its close frame included).
    const mute = connect({ host: '127.0.0.1', port, rejectUnauthorized: false });
    await new Promise<void>((resolve, reject) => {
      mute.once('secureConnect', () => mute.write('GET /v1/echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
        + 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n'));
      mute.once('data', (d: Buffer) => { if (/^HTTP\/1\.1 101/.test(d.toString())) resolve(); else reject(new Error(d.toString())); });
      mute.once('error', reject);
    });
    const ended = new Promise<void>((resolve) => mute.once('close', () => resolve()));
    const started = Date.now();
    await closeWithTls(app, servers);
    assert.ok(Date.now() - started < 5000, `stopped in ${Date.now() - started} ms`);
    await ended;
  } finally {
    await closeWithTls(app, servers).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
});

test('when a second address cannot listen, the first is closed again and the error names the address', async () => {
  const dir = scratch();
  const app = Fastify({ logger: false }).withTypeProvider<TypeBoxTypeProvider>();
  await app.ready();
  const blocker = createHttpsServer();
  try {
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const taken = (blocker.address() as AddressInfo).port;
    const creds = await ensureCertificate({ cert: join(dir, 'c.pem'), key: join(dir, 'k.pem') }, [], () => {});
    const free = await new Promise<number>((resolve) => { const s = createHttpsServer().listen(0, '127.0.0.1', () => { const p = (s.address() as AddressInfo).port; s.close(() => resolve(p)); }); });
    await assert.rejects(serveTls(app, [{ host: '127.0.0.1', port: free }, { host: '127.0.0.1', port: taken }], creds),
      new RegExp(`cannot listen on 127\\.0\\.0\\.1:${taken}: the port is in use`));
    await assert.rejects(get(free, '/'), /ECONNREFUSED/, 'the first listener was closed again');
  } finally {
    blocker.close();
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
