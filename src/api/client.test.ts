// Unit: the client's HTTPS transport against a stand-in daemon on loopback (node's https server,
// a made certificate): every kind of call goes through the pinned connection with the token, a
// wrong fingerprint is refused before any request is sent, and a host that cannot be reached, a
// port that says nothing and a port that speaks no TLS each fail with one sentence naming the URL.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server } from 'node:https';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer, type Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import { generate } from 'selfsigned';
import { Client, normalizeFingerprint, tlsHandshake } from './client.js';

const TOKEN = 'strata_test_token';
/** Each request the stand-in daemon saw: method, path, its Authorization header. */
const seen: Array<{ method: string; path: string; auth: string | undefined; host: string | undefined }> = [];
let server: Server;
let url = '';
let fingerprint = '';

function answer(req: IncomingMessage, res: ServerResponse): void {
  seen.push({ method: req.method ?? '', path: req.url ?? '', auth: req.headers.authorization, host: req.headers.host });
  if (req.headers.authorization !== `Bearer ${TOKEN}`) {
    res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ code: 'unauthenticated', message: 'the API token is not valid' }));
    return;
  }
  if (req.url === '/v1/info') { res.writeHead(200, { 'content-type': 'application/json' }).end('{"version":"test"}'); return; }
  if (req.url === '/v1/store/verifications') {
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    res.end('{"progress":"objects: 1 of 1"}\n{"result":{"checked":1,"bad":[]}}\n');
    return;
  }
  if (req.url?.startsWith('/v1/events?')) {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.end('id: 1\ndata: {"id":1,"time":"t","kind":"created","subject":"a","message":"m"}\n\n');
    return;
  }
  if (req.url?.startsWith('/v1/containers/a/logs')) { res.writeHead(200, { 'content-type': 'text/plain' }).end('line 1\nline 2\n'); return; }
  res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ code: 'not_found', message: `no ${req.url}` }));
}

before(async () => {
  const made = await generate([{ name: 'commonName', value: 'strata-test' }], { keySize: 2048, algorithm: 'sha256' });
  fingerprint = new X509Certificate(made.cert).fingerprint256;
  server = createHttpsServer({ cert: made.cert, key: made.private, minVersion: 'TLSv1.2' }, answer);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => { server.closeAllConnections(); server.close(); });

test('normalizeFingerprint takes the ways a fingerprint is copied and refuses the rest', () => {
  const canonical = Array.from({ length: 32 }, (_, i) => (i * 7 % 256).toString(16).padStart(2, '0').toUpperCase()).join(':');
  for (const form of [canonical, canonical.toLowerCase(), canonical.replace(/:/g, ''), `sha256:${canonical}`, `sha256 Fingerprint=${canonical}`, `SHA256 Fingerprint=${canonical}`]) {
    assert.equal(normalizeFingerprint(form), canonical, form);
  }
  for (const bad of ['', 'AB:CD', `${canonical}:00`, canonical.replace('0', 'G')]) {
    assert.throws(() => normalizeFingerprint(bad), /is not a SHA-256 fingerprint: give the 32 pairs/, bad);
  }
});

test('every kind of call goes over the pinned TLS connection and carries the token', async () => {
  seen.length = 0;
  const client = new Client({ url, token: TOKEN, fingerprint: fingerprint.toLowerCase() });
  assert.deepEqual(await client.info(), { version: 'test' }, 'call (a pin copied in lower case matches too)');
  const progress: string[] = [];
  assert.deepEqual(await client.templates.verify((l) => progress.push(l)), { checked: 1, bad: [] }, 'stream');
  assert.deepEqual(progress, ['objects: 1 of 1']);
  const events: number[] = [];
  await client.followEvents({}, (e) => events.push(e.id));
  assert.deepEqual(events, [1], 'followEvents');
  const out = new PassThrough();
  let logs = '';
  out.on('data', (d: Buffer) => { logs += d.toString(); });
  await client.containers.followLogs('a', out);
  assert.equal(logs, 'line 1\nline 2\n', 'pipe');
  await assert.rejects(client.containers.inspect('ghost'), (err: Error & { code?: string }) => err.code === 'not_found', 'a refusal is its typed error');
  assert.deepEqual(seen.map((r) => r.auth), Array(5).fill(`Bearer ${TOKEN}`));
  assert.deepEqual(seen.map((r) => r.host), Array(5).fill(new URL(url).host), 'the Host header names the daemon');
  assert.deepEqual(seen.map((r) => r.path.split('?')[0]), ['/v1/info', '/v1/store/verifications', '/v1/events', '/v1/containers/a/logs', '/v1/containers/ghost']);
  await assert.rejects(new Client({ url, token: 'wrong', fingerprint }).info(), (err: Error & { code?: string }) => err.code === 'unauthenticated' && /not valid/.test(err.message));
});

test('a certificate other than the pinned one is refused before any request (and so the token) is sent, on every kind of call', async () => {
  seen.length = 0;
  const other = normalizeFingerprint('11'.repeat(32));
  const client = new Client({ url, token: TOKEN, fingerprint: other });
  const message = new RegExp(`^the certificate of ${url.replace(/\./g, '\\.')} changed: it is ${fingerprint}, not the pinned ${other}\\. .*'strata remote remove NAME', then 'strata remote add NAME ${url.replace(/\./g, '\\.')} --token …'`);
  const changed = (err: Error & { code?: string }): boolean => err.code === 'permission_denied' && message.test(err.message);
  await assert.rejects(client.info(), changed);
  await assert.rejects(client.templates.verify(() => {}), changed);
  await assert.rejects(client.followEvents({}, () => {}), changed);
  await assert.rejects(client.containers.followLogs('a', new PassThrough()), changed);
  assert.deepEqual(seen, [], 'the stand-in daemon saw no request');
});

test('a host that refuses, a port that says nothing and a port without TLS each fail with one sentence naming the URL', async () => {
  const silent: Socket[] = [];
  const quiet: TcpServer = createTcpServer((s) => { silent.push(s); });
  const plain = createHttpServer((_q, r) => r.end('hello'));
  try {
    await new Promise<void>((resolve) => quiet.listen(0, '127.0.0.1', resolve));
    await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
    const free = await new Promise<number>((resolve) => {
      const s = createTcpServer().listen(0, '127.0.0.1', () => { const p = (s.address() as AddressInfo).port; s.close(() => resolve(p)); });
    });
    const refused = `https://127.0.0.1:${free}`;
    await assert.rejects(new Client({ url: refused, token: TOKEN, fingerprint }).info(),
      (err: Error & { code?: string }) => err.code === 'unavailable' && err.message === `cannot reach the Strata daemon at ${refused} (ECONNREFUSED): is it running with --listen, and is the port open?`);

    const quietUrl = `https://127.0.0.1:${(quiet.address() as AddressInfo).port}`;
    const started = Date.now();
    await assert.rejects(tlsHandshake(quietUrl, 300),
      (err: Error & { code?: string }) => err.code === 'unavailable' && err.message.startsWith(`cannot reach the Strata daemon at ${quietUrl}: no TLS answer within 0.3 s`));
    assert.ok(Date.now() - started < 3000, 'given up after the timeout');

    const plainUrl = `https://127.0.0.1:${(plain.address() as AddressInfo).port}`;
    await assert.rejects(new Client({ url: plainUrl, token: TOKEN, fingerprint }).info(),
      (err: Error & { code?: string }) => err.code === 'unavailable' && new RegExp(`^the TLS handshake with ${plainUrl.replace(/\./g, '\\.')} failed \\(.+\\): is that the address the daemon serves with --listen`).test(err.message));
  } finally {
    for (const s of silent) s.destroy();
    quiet.close();
    plain.closeAllConnections();
    plain.close();
  }
});

test('an IPv6 address in brackets is reached, and named in the Host header as written', async (t) => {
  const made = await generate([{ name: 'commonName', value: 'strata-test-v6' }], { keySize: 2048, algorithm: 'sha256' });
  const hosts: string[] = [];
  const v6 = createHttpsServer({ cert: made.cert, key: made.private }, (req, res) => {
    hosts.push(req.headers.host ?? '');
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"version":"v6"}');
  });
  const listening = await new Promise<boolean>((resolve) => { v6.once('error', () => resolve(false)); v6.listen(0, '::1', () => resolve(true)); });
  if (!listening) { t.skip('no IPv6 loopback on this host'); return; }
  try {
    const v6url = `https://[::1]:${(v6.address() as AddressInfo).port}`;
    assert.deepEqual(await new Client({ url: v6url, token: TOKEN, fingerprint: new X509Certificate(made.cert).fingerprint256 }).info(), { version: 'v6' });
    assert.deepEqual(hosts, [new URL(v6url).host]);
  } finally {
    v6.closeAllConnections();
    v6.close();
  }
});
