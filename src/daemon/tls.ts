/**
 * The API over the network: an HTTPS listener beside the unix socket, serving the same Fastify
 * app (and its WebSocket upgrades). Its certificate is made once at the first start into the data
 * root (self-signed; clients pin its fingerprint), or given. Only TLS 1.2 and 1.3.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { promises as fsp, existsSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import { generate } from 'selfsigned';
import { FailedPrecondition, InvalidArgument } from '../errors/index.js';
import type { App } from '../api/http.js';

export interface ListenAddress { host: string; port: number }

/** `HOST:PORT`, `[::1]:PORT` or `:PORT` (every address). */
export function parseListen(text: string): ListenAddress {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port < 1 || port > 65535) throw new InvalidArgument(`invalid --listen ${JSON.stringify(text)}: give HOST:PORT, e.g. 0.0.0.0:8443, [::]:8443 or 127.0.0.1:8443`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

export interface Certificate { cert: string; key: string; fingerprint: string }

/** The certificate of the data root at `files`, made (self-signed, for ten years) when there is none. */
export async function ensureCertificate(files: { cert: string; key: string }, listen: ListenAddress[], log: (line: string) => void): Promise<Certificate> {
  if (!existsSync(files.cert) || !existsSync(files.key)) {
    const names = new Set(['localhost', hostname()]);
    const ips = new Set(['127.0.0.1', '::1']);
    for (const l of listen) (isIP(l.host) ? ips : names).add(l.host);
    ips.delete('0.0.0.0');
    ips.delete('::');
    const made = await generate([{ name: 'commonName', value: `strata ${hostname()}` }], {
      keySize: 2048, algorithm: 'sha256', notAfterDate: new Date(Date.now() + 3650 * 86_400_000),
      extensions: [{ name: 'subjectAltName', altNames: [...[...names].map((value) => ({ type: 2 as const, value })), ...[...ips].map((ip) => ({ type: 7 as const, ip }))] }],
    });
    await fsp.mkdir(dirname(files.cert), { recursive: true, mode: 0o700 });
    await fsp.writeFile(files.key, made.private, { mode: 0o600 });
    await fsp.writeFile(files.cert, made.cert, { mode: 0o644 });
    log(`made a TLS certificate for ${[...names, ...ips].join(', ')} at ${files.cert}`);
  }
  return readCertificate(files, log);
}

async function readPem(file: string, what: string): Promise<string> {
  try {
    return await fsp.readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new FailedPrecondition(code === 'ENOENT'
      ? `the TLS ${what} ${file} does not exist: give existing files with --tls-cert and --tls-key, or neither to have a certificate made in the data root`
      : `cannot read the TLS ${what} ${file} (${code ?? (err as Error).message})`);
  }
}

/**
 * A certificate and key as given (--tls-cert, --tls-key): read and checked, never made (a
 * mistyped path must not become a new self-signed certificate there).
 */
export async function readCertificate(files: { cert: string; key: string }, log: (line: string) => void): Promise<Certificate> {
  const [cert, key] = await Promise.all([readPem(files.cert, 'certificate'), readPem(files.key, 'key')]);
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (err) {
    throw new FailedPrecondition(`${files.cert} is not a PEM certificate (${(err as Error).message}): give --tls-cert and --tls-key, or remove both to have one made`);
  }
  // Checked here, where the files can be named: the TLS server would only say 'key values mismatch'.
  let matches: boolean;
  try {
    matches = x509.checkPrivateKey(createPrivateKey(key));
  } catch (err) {
    throw new FailedPrecondition(`${files.key} is not a PEM private key (${(err as Error).message}): give the key of ${files.cert}`);
  }
  if (!matches) throw new FailedPrecondition(`${files.key} is not the private key of ${files.cert}: give the certificate and its own key`);
  if (Date.parse(x509.validTo) <= Date.now()) log(`WARNING: the TLS certificate ${files.cert} expired at ${x509.validTo}: clients that check it (curl, browsers) refuse it; pinned clients still connect`);
  return { cert, key, fingerprint: x509.fingerprint256 };
}

/**
 * TLS 1.2's suites narrowed to forward-secret AEAD ones (Mozilla's "intermediate" profile, without
 * DHE): node's default list still takes static RSA key exchange and CBC with SHA-1. TLS 1.3's
 * suites are all current and are listed first, so that they stay enabled.
 */
const TLS_CIPHERS = [
  'TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-AES256-GCM-SHA384', 'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305', 'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

/**
 * Serves `app` over HTTPS on each address; resolves once all listen. When one cannot listen, those
 * already listening are closed again.
 */
export async function serveTls(app: App, listen: ListenAddress[], creds: Certificate): Promise<Server[]> {
  const servers: Server[] = [];
  const upgraded = new Set<Duplex>();
  try {
    for (const l of listen) {
      const server = createServer({ cert: creds.cert, key: creds.key, minVersion: 'TLSv1.2', ciphers: TLS_CIPHERS, honorCipherOrder: true }, (req, res) => app.routing(req, res));
      // WebSocket upgrades go where the app's own server sends them (@fastify/websocket listens
      // there). With no one listening, node would drop the socket itself; so must this listener.
      server.on('upgrade', (req, socket, head) => {
        // An upgraded connection is no longer the HTTP server's to count or close: kept for closeWithTls.
        upgraded.add(socket);
        socket.on('close', () => upgraded.delete(socket));
        if (!app.server.emit('upgrade', req, socket, head)) socket.destroy();
      });
      await new Promise<void>((resolve, reject) => {
        server.once('error', (err: NodeJS.ErrnoException) => reject(err.code === 'EADDRINUSE'
          ? new FailedPrecondition(`cannot listen on ${l.host}:${l.port}: the port is in use; give --listen another`)
          : err.code === 'EADDRNOTAVAIL' ? new FailedPrecondition(`cannot listen on ${l.host}:${l.port}: ${l.host} is not an address of this host; give --listen one of its own (or 0.0.0.0)`)
          : err));
        server.listen(l.port, l.host, () => resolve());
      });
      servers.push(server);
      upgradedOf.set(server, upgraded);
    }
  } catch (err) {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => { s.close(() => resolve()); })));
    throw err;
  }
  return servers;
}

const upgradedOf = new WeakMap<Server, Set<Duplex>>();
const UPGRADED_GRACE_MS = 1000;

/**
 * Closes `app` and its TLS listeners as the unix socket closes: no new connection, idle ones
 * closed, followed streams ended (the app's preClose), and requests under way answered before
 * their connection closes (a template build over TLS is finished, not cut and rolled back).
 */
export async function closeWithTls(app: App, servers: Server[]): Promise<void> {
  const closed = servers.map((s) => new Promise<void>((resolve) => { s.close(() => resolve()); }));
  // A keep-alive connection turns idle when its answer is sent: close those as they come.
  const idle = (): void => { for (const s of servers) s.closeIdleConnections(); };
  idle();
  const sweep = setInterval(idle, 100);
  // WebSockets get their close frame from the app's preClose; one whose client does not answer
  // would hold the stop (ws waits 30 s), so after a moment it is ended.
  const endUpgraded = (): void => { for (const s of servers) for (const socket of upgradedOf.get(s) ?? []) socket.destroy(); };
  const grace = setTimeout(endUpgraded, UPGRADED_GRACE_MS);
  try {
    await app.close();
    endUpgraded();
    await Promise.all(closed);
  } finally {
    clearInterval(sweep);
    clearTimeout(grace);
  }
}
