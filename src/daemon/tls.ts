/**
 * The API over the network: an HTTPS listener beside the unix socket, serving the same Fastify
 * app (and its WebSocket upgrades). Its certificate is made once at the first start into the data
 * root (self-signed; clients pin its fingerprint), or given. Only TLS 1.2 and 1.3.
 */
import { X509Certificate } from 'node:crypto';
import { promises as fsp, existsSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { isIP, type Socket } from 'node:net';
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

/** The certificate at `files`, made (self-signed, for ten years) when there is none. */
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
  const [cert, key] = await Promise.all([fsp.readFile(files.cert, 'utf8'), fsp.readFile(files.key, 'utf8')]);
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (err) {
    throw new FailedPrecondition(`${files.cert} is not a PEM certificate (${(err as Error).message}): give --tls-cert and --tls-key, or remove both to have one made`);
  }
  return { cert, key, fingerprint: x509.fingerprint256 };
}

/** Serves `app` over HTTPS on each address; resolves once all listen. */
export async function serveTls(app: App, listen: ListenAddress[], creds: Certificate): Promise<Server[]> {
  const servers: Server[] = [];
  for (const l of listen) {
    const server = createServer({ cert: creds.cert, key: creds.key, minVersion: 'TLSv1.2' }, (req, res) => app.routing(req, res));
    // WebSocket upgrades go where the app's own server sends them (@fastify/websocket listens there).
    server.on('upgrade', (req, socket, head) => app.server.emit('upgrade', req, socket, head));
    // Every connection, also an upgraded one (which the server stops counting), so that closing ends them all.
    const open = new Set<Socket>();
    server.on('secureConnection', (socket: Socket) => { open.add(socket); socket.on('close', () => open.delete(socket)); });
    connections.set(server, open);
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => reject(err.code === 'EADDRINUSE'
        ? new FailedPrecondition(`cannot listen on ${l.host}:${l.port}: the port is in use; give --listen another`)
        : err));
      server.listen(l.port, l.host, () => resolve());
    });
    servers.push(server);
  }
  return servers;
}

const connections = new WeakMap<Server, Set<Socket>>();

export async function closeTls(servers: Server[]): Promise<void> {
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => {
    s.close(() => resolve());
    for (const socket of connections.get(s) ?? []) socket.destroy();
  })));
}
