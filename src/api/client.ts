/**
 * The typed API client, used by the CLI (and tests): HTTP over the daemon's unix socket, or HTTPS to
 * a remote daemon with a bearer token and a pinned certificate. One method per route, typed by the
 * wire contract (types.ts, imported as types only: no schema code loads).
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { createConnection, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { WebSocket } from 'ws';
import { errorFromWire, Internal, InvalidArgument, PermissionDenied, Unavailable } from '../errors/index.js';
import type {
  Argv, AttachReport, BackupRequest, KeptBackup, RestoreRequest, MoveRequest, MoveBeginRequest, MoveBegun, MoveFinishRequest, MoveStatus, AttachRequest, BriefView, BuildTemplateRequest, CaptureBody, CaptureResult, CaptureSession, ConsolePlan,
  ContainerStats, ContainerUsageSeries, ContainerView, CreateContainerRequest, CreateNetworkRequest, DetachReport, Event, EventsQuery, ExecRequest, ExportResult,
  Info, NetworkView, OperationsQuery, OperationView, PoolView, PortView, ProcessView, RemovedTemplate, ScheduleView, SnapshotView, TemplateDf, TemplateView, TenantUsageSeries, UpgradeReport, UsageLedger,
  UsageSeriesQuery, VerifyResult,
  AuditEntry, CreateTokenRequest, CreateUserRequest, MeView, NewTokenView, PlanRequest, TenantView, TokenView, UserView,
} from './types.js';

/** The lines of a streamed answer (NDJSON); readline is loaded when one is read, as each command pays for what it loads. */
async function lineReader(input: NodeJS.ReadableStream): Promise<AsyncIterable<string>> {
  const { createInterface } = await import('node:readline');
  return createInterface({ input, crlfDelay: Infinity });
}

export type * from './types.js';

type Progress = (line: string) => void;

/** One line of an operation's log as the daemon sends it (the streamed routes' NDJSON). */
export type OperationLogLine = { progress: string } | { result: unknown } | { error: { code: string; message: string } };

/** `?a=1&b=x` of the defined fields, or ''. */
function queryString(q: Record<string, string | number | boolean | undefined>): string {
  const pairs = Object.entries(q).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${encodeURIComponent(String(v))}`);
  return pairs.length ? `?${pairs.join('&')}` : '';
}
const seg = encodeURIComponent;
const ct = (name: string, rest = ''): string => `/v1/containers/${seg(name)}${rest}`;
const tpl = (name: string, rest = ''): string => `/v1/templates/${seg(name)}${rest}`;

/** Where the daemon is: its unix socket, or a remote one's HTTPS address. */
export type Endpoint =
  | { socket: string; token?: string; tenant?: string }
  | {
    url: string;
    token: string;
    /** The SHA-256 fingerprint of its certificate, pinned at `strata remote add` (AB:CD:…). */
    fingerprint: string;
    /** Act as this tenant (a host administrator's token). */
    tenant?: string;
    /** Its name in the remotes file, for messages that name the fix. */
    name?: string;
  };

/** What the TLS handshake showed of a server's certificate. */
export interface PeerCertificate { fingerprint: string; subject: string; validTo: string }

/** How long reaching a remote daemon may take (TCP connect and TLS handshake) before it is given up. */
const HANDSHAKE_TIMEOUT_MS = 15_000;

/**
 * A SHA-256 fingerprint as node and the daemon's log write it (`AB:CD:…`, 32 pairs), from any of
 * the ways people copy one: lower case, without colons, with a `sha256:` prefix (as `openssl x509
 * -fingerprint -sha256` or a browser shows it). Throws InvalidArgument for anything else.
 */
export function normalizeFingerprint(text: string): string {
  const hex = text.trim().replace(/^sha-?256(\s*fingerprint)?\s*[:=]?\s*/i, '').replace(/[:\s]/g, '').toUpperCase();
  if (!/^[0-9A-F]{64}$/.test(hex)) {
    throw new InvalidArgument(`${JSON.stringify(text)} is not a SHA-256 fingerprint: give the 32 pairs the daemon logged at its start (AB:CD:…), or see 'strata info' on its host`);
  }
  return hex.match(/../g)?.join(':') ?? hex;
}

/**
 * Opens a TLS connection to `url` and answers the socket with the certificate it showed, before
 * anything is sent: the caller checks the fingerprint first (certificates are pinned, not trusted by
 * a CA, so the host name is not what is checked).
 */
export async function tlsHandshake(url: string, timeoutMs = HANDSHAKE_TIMEOUT_MS): Promise<{ socket: TLSSocket; peer: PeerCertificate }> {
  const u = new URL(url);
  const port = Number(u.port || 443);
  const host = u.hostname.replace(/^\[|\]$/g, '');
  // Loaded when used: commands on this host's socket never need TLS, and each command pays for what it loads.
  const { connect: tlsConnect } = await import('node:tls');
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host, port, servername: /^[\d.]+$|:/.test(host) ? undefined : host, rejectUnauthorized: false, minVersion: 'TLSv1.2' });
    // A host that drops packets, or a port that takes the connection and says nothing, would
    // otherwise hold the command for minutes.
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Unavailable(`cannot reach the Strata daemon at ${url}: no TLS answer within ${timeoutMs / 1000} s; is the host up, the port open (a firewall?), and the daemon running with --listen there?`));
    }, timeoutMs);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      const c = socket.getPeerCertificate();
      resolve({ socket, peer: { fingerprint: c.fingerprint256, subject: [c.subject?.CN ?? ''].flat().join(', '), validTo: c.valid_to } });
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const code = err.code ?? err.message;
      reject(new Unavailable(/^ERR_SSL_|^EPROTO$/.test(code)
        ? `the TLS handshake with ${url} failed (${code}): is that the address the daemon serves with --listen, and not another service?`
        : `cannot reach the Strata daemon at ${url} (${code}): is it running with --listen, and is the port open?`));
    });
  });
}

export class Client {
  readonly endpoint: Endpoint;

  /** A unix socket path, or an endpoint. */
  constructor(where: string | Endpoint) {
    this.endpoint = typeof where === 'string' ? { socket: where } : where;
  }

  /** What the client talks to, for messages: the socket path or the URL. */
  get target(): string {
    return 'socket' in this.endpoint ? this.endpoint.socket : this.endpoint.url;
  }

  readonly info = (): Promise<Info> => this.call('GET', '/v1/info');
  /** The last 200 events, or those the query selects. */
  readonly events = (query: Omit<EventsQuery, 'follow'> = {}): Promise<Event[]> => this.call('GET', `/v1/events${queryString(query)}`);

  /** Every event the query selects, then each new one as it happens, until the daemon or `signal` ends the stream. */
  async followEvents(query: Omit<EventsQuery, 'follow'>, onEvent: (e: Event) => void, signal?: AbortSignal): Promise<void> {
    const res = await this.opened('GET', `/v1/events${queryString({ ...query, follow: true })}`);
    signal?.addEventListener('abort', () => res.destroy(), { once: true });
    let data = '';
    try {
      for await (const line of await lineReader(res)) {
        if (line.startsWith('data: ')) data += line.slice(6);
        else if (line === '' && data) { onEvent(JSON.parse(data) as Event); data = ''; }
      }
    } catch (err) {
      if (!signal?.aborted) throw err;
    }
  }

  /** The receiving side of a move (the sending daemon calls these). */
  readonly moves = {
    begin: (req: MoveBeginRequest): Promise<MoveBegun> => this.call('POST', '/v1/moves', req),
    upload: async (id: string, file: string, body: NodeJS.ReadableStream): Promise<void> => {
      const res = await this.open('PUT', `/v1/moves/${seg(id)}/files/${seg(file)}`, undefined, { 'content-type': 'application/octet-stream' }, body);
      const text = await Client.text(res);
      if ((res.statusCode ?? 500) >= 400) throw Client.failure(res, text);
    },
    finish: (id: string, req: MoveFinishRequest): Promise<ContainerView> => this.call('POST', `/v1/moves/${seg(id)}/finish`, req),
    commit: (id: string): Promise<MoveStatus> => this.call('POST', `/v1/moves/${seg(id)}/commit`),
    status: (id: string): Promise<MoveStatus> => this.call('GET', `/v1/moves/${seg(id)}`),
    abort: (id: string): Promise<MoveStatus> => this.call('DELETE', `/v1/moves/${seg(id)}`),
  };

  readonly templates = {
    list: (): Promise<TemplateView[]> => this.call('GET', '/v1/templates'),
    inspect: (name: string): Promise<TemplateView> => this.call('GET', tpl(name)),
    remove: (name: string, version?: number): Promise<RemovedTemplate> => this.call('DELETE', `${tpl(name)}${version ? `?version=${version}` : ''}`),
    build: (req: BuildTemplateRequest, progress: Progress): Promise<TemplateView> => this.stream('POST', '/v1/templates', req, progress),
    /** Captures a new version of application template `name`; interactive: answers the session to enter. */
    capture: <R extends CaptureResult | CaptureSession = CaptureResult>(name: string, req: CaptureBody, progress: Progress): Promise<R> =>
      this.stream('POST', tpl(name, '/captures'), req, progress),
    finishCapture: (name: string, session: string, progress: Progress): Promise<CaptureResult> =>
      this.stream('POST', tpl(name, `/captures/${seg(session)}/finish`), undefined, progress),
    abortCapture: (name: string, session: string): Promise<{ aborted: string }> => this.call('DELETE', tpl(name, `/captures/${seg(session)}`)),
    export: (name: string, file: string, version: number | undefined, progress: Progress): Promise<ExportResult> =>
      this.stream('POST', tpl(name, '/exports'), { file, version }, progress),
    import: (file: string, name: string | undefined, progress: Progress): Promise<TemplateView> => this.stream('POST', '/v1/template-imports', { file, name }, progress),
    usage: (): Promise<TemplateDf> => this.call('GET', '/v1/template-usage'),
    verify: (progress: Progress): Promise<VerifyResult> => this.stream('POST', '/v1/store/verifications', undefined, progress),
    // The same work started as operations: each answers the operation at once (follow it with operations.follow).
    startBuild: (req: BuildTemplateRequest): Promise<OperationView> => this.startOperation('POST', '/v1/templates', req),
    startCapture: (name: string, req: CaptureBody): Promise<OperationView> => this.startOperation('POST', tpl(name, '/captures'), req),
    startExport: (name: string, file: string, version?: number): Promise<OperationView> => this.startOperation('POST', tpl(name, '/exports'), { file, version }),
    startImport: (file: string, name?: string): Promise<OperationView> => this.startOperation('POST', '/v1/template-imports', { file, name }),
  };

  readonly containers = {
    list: (): Promise<ContainerView[]> => this.call('GET', '/v1/containers'),
    listBrief: (): Promise<BriefView[]> => this.call('GET', '/v1/containers?brief=true'),
    inspect: (name: string): Promise<ContainerView> => this.call('GET', ct(name)),
    create: (req: CreateContainerRequest): Promise<ContainerView> => this.call('POST', '/v1/containers', req),
    /** A create (or, with `count` or `names`, a bulk create, whose result is a BulkCreateResult) started as an operation. */
    startCreate: (req: CreateContainerRequest): Promise<OperationView> => this.startOperation('POST', '/v1/containers', req),
    start: (name: string): Promise<ContainerView> => this.call('POST', ct(name, '/start')),
    stop: (name: string, timeout?: number): Promise<ContainerView> => this.call('POST', ct(name, '/stop'), { timeout }),
    restart: (name: string, timeout?: number): Promise<ContainerView> => this.call('POST', ct(name, '/restart'), { timeout }),
    destroy: (name: string, force = false): Promise<{ destroyed: string }> => this.call('DELETE', `${ct(name)}${force ? '?force=true' : ''}`),
    attach: (name: string, req: AttachRequest): Promise<AttachReport> => this.call('POST', ct(name, '/apps'), req),
    detach: (name: string, template: string): Promise<DetachReport> => this.call('DELETE', ct(name, `/apps/${seg(template)}`)),
    upgrade: (name: string, template: string, force = false): Promise<UpgradeReport> => this.call('POST', ct(name, `/apps/${seg(template)}/upgrade`), { force }),
    execPlan: (name: string, req: ExecRequest): Promise<Argv> => this.call('POST', ct(name, '/exec'), req),
    enterPlan: (name: string): Promise<Argv> => this.call('POST', ct(name, '/enter')),
    consolePlan: (name: string): Promise<ConsolePlan> => this.call('POST', ct(name, '/console')),
    setLimits: (name: string, limits: Record<string, string | number>): Promise<ContainerView> => this.call('PATCH', ct(name, '/limits'), { limits }),
    stats: (name: string): Promise<ContainerStats> => this.call('GET', ct(name, '/stats')),
    allStats: (): Promise<ContainerStats[]> => this.call('GET', '/v1/stats'),
    processes: (name?: string): Promise<ProcessView[]> => this.call('GET', `/v1/processes${name ? `?container=${seg(name)}` : ''}`),
    logs: (name: string): Promise<string> => this.call('GET', ct(name, '/logs')),
    followLogs: (name: string, out: NodeJS.WritableStream): Promise<void> => this.pipe(ct(name, '/logs?follow=true'), out),
    ports: (name: string): Promise<PortView[]> => this.call('GET', ct(name, '/ports')),
    /** An exec session (send its start message first: api/sessions.ts); the daemon runs the command. */
    execSession: (name: string): Promise<WebSocket> => this.socketOn(ct(name, '/exec')),
    consoleSession: (name: string, rows: number, cols: number): Promise<WebSocket> => this.socketOn(ct(name, `/console?rows=${rows}&cols=${cols}`)),
    /** A single-use ticket for a browser's WebSocket. */
    ticket: (name: string, kind: 'exec' | 'console'): Promise<{ ticket: string; expiresAt: string; path: string }> => this.call('POST', ct(name, '/tickets'), { kind }),
    /** A tar of what `path` names in the running container (strata cp). */
    readFiles: (name: string, path: string): Promise<IncomingMessage> => this.opened('GET', ct(name, `/files${queryString({ path })}`)),
    /** Extracts a tar (streamed) at `path` in the running container: into it when a directory, else as it. */
    writeFiles: async (name: string, path: string, tar: NodeJS.ReadableStream): Promise<{ entries: number; bytes: number; path: string }> => {
      const res = await this.open('PUT', ct(name, `/files${queryString({ path })}`), undefined, { 'content-type': 'application/x-tar' }, tar);
      const text = await Client.text(res);
      if ((res.statusCode ?? 500) >= 400) throw Client.failure(res, text);
      return JSON.parse(text) as { entries: number; bytes: number; path: string };
    },
    publish: (name: string, spec: string): Promise<PortView> => this.call('POST', ct(name, '/ports'), { spec }),
    unpublish: (name: string, spec: string): Promise<{ removed: string }> => this.call('DELETE', ct(name, `/ports/${seg(spec)}`)),
    /** Publishes what a container changed over its templates as an application template, started as an operation. */
    startPublish: (name: string, template: string): Promise<OperationView> => this.startOperation('POST', ct(name, '/publish'), { template }),
    /** Backs a container up to a file on the daemon host, started as an operation. */
    startBackup: (name: string, req: BackupRequest): Promise<OperationView> => this.startOperation('POST', ct(name, '/backups'), req),
    /** The backups the daemon keeps with a container. */
    backups: (name: string): Promise<KeptBackup[]> => this.call('GET', ct(name, '/backups')),
    /** A kept backup's file, as it comes. */
    downloadBackup: (name: string, backup: string): Promise<IncomingMessage> => this.opened('GET', ct(name, `/backups/${seg(backup)}`)),
    removeBackup: (name: string, backup: string): Promise<{ removed: string }> => this.call('DELETE', ct(name, `/backups/${seg(backup)}`)),
    /** Restores a kept backup as a new container, started as an operation. */
    startKeptRestore: (name: string, backup: string, req: { name: string; noPorts?: boolean }): Promise<OperationView> => this.startOperation('POST', ct(name, `/backups/${seg(backup)}/restores`), req),
    /** Restores a container from a backup file on the daemon host, started as an operation. */
    startRestore: (req: RestoreRequest): Promise<OperationView> => this.startOperation('POST', '/v1/backup-restores', req),
    /** Moves a container to another daemon, started as an operation. */
    startMove: (name: string, req: MoveRequest): Promise<OperationView> => this.startOperation('POST', ct(name, '/moves'), req),
    rename: (name: string, to: string): Promise<ContainerView> => this.call('POST', ct(name, '/rename'), { name: to }),
    clone: (name: string, to: string): Promise<ContainerView> => this.call('POST', ct(name, '/clones'), { name: to }),
    snapshots: (name: string): Promise<SnapshotView[]> => this.call('GET', ct(name, '/snapshots')),
    snapshot: (name: string, snapshot?: string): Promise<SnapshotView> => this.call('POST', ct(name, '/snapshots'), snapshot ? { name: snapshot } : undefined),
    restoreSnapshot: (name: string, snapshot: string): Promise<SnapshotView> => this.call('POST', ct(name, `/snapshots/${seg(snapshot)}/restore`)),
    snapshotSchedule: (name: string): Promise<ScheduleView | null> => this.call('GET', ct(name, '/snapshot-schedule')),
    setSnapshotSchedule: (name: string, every: string, keep: number): Promise<ScheduleView> => this.call('PUT', ct(name, '/snapshot-schedule'), { every, keep }),
    removeSnapshotSchedule: (name: string): Promise<{ removed: string }> => this.call('DELETE', ct(name, '/snapshot-schedule')),
    removeSnapshot: (name: string, snapshot: string): Promise<{ removed: string }> => this.call('DELETE', ct(name, `/snapshots/${seg(snapshot)}`)),
  };

  readonly pool = (): Promise<PoolView> => this.call('GET', '/v1/pool');

  /** Who the caller is and what it may do. */
  readonly me = (): Promise<MeView> => this.call('GET', '/v1/me');

  readonly tenants = {
    list: (): Promise<TenantView[]> => this.call('GET', '/v1/tenants'),
    inspect: (name: string): Promise<TenantView> => this.call('GET', `/v1/tenants/${seg(name)}`),
    create: (name: string, plan: PlanRequest): Promise<TenantView> => this.call('POST', '/v1/tenants', { name, plan }),
    setPlan: (name: string, plan: PlanRequest): Promise<TenantView> => this.call('PATCH', `/v1/tenants/${seg(name)}/plan`, plan),
    suspend: (name: string, reason?: string): Promise<TenantView> => this.call('POST', `/v1/tenants/${seg(name)}/suspend`, { reason }),
    unsuspend: (name: string): Promise<TenantView> => this.call('POST', `/v1/tenants/${seg(name)}/unsuspend`),
    remove: (name: string): Promise<{ removed: string }> => this.call('DELETE', `/v1/tenants/${seg(name)}`),
    audit: (query: { after?: number; limit?: number } = {}): Promise<AuditEntry[]> => this.call('GET', `/v1/audit${queryString(query)}`),
  };

  readonly users = {
    list: (): Promise<UserView[]> => this.call('GET', '/v1/users'),
    create: (req: CreateUserRequest): Promise<UserView> => this.call('POST', '/v1/users', req),
    remove: (name: string): Promise<{ removed: string }> => this.call('DELETE', `/v1/users/${seg(name)}`),
    setPassword: (name: string, password: string | null): Promise<UserView> => this.call('PUT', `/v1/users/${seg(name)}/password`, { password }),
  };

  readonly tokens = {
    list: (): Promise<TokenView[]> => this.call('GET', '/v1/tokens'),
    create: (req: CreateTokenRequest): Promise<NewTokenView> => this.call('POST', '/v1/tokens', req),
    revoke: (id: string): Promise<{ removed: string }> => this.call('DELETE', `/v1/tokens/${seg(id)}`),
    /** A token from a user's password (the panel's log-in). */
    login: (user: string, password: string): Promise<NewTokenView> => this.call('POST', '/v1/sessions', { user, password }),
  };

  readonly operations = {
    list: (query: OperationsQuery = {}): Promise<OperationView[]> => this.call('GET', `/v1/operations${queryString(query)}`),
    get: (id: string): Promise<OperationView> => this.call('GET', `/v1/operations/${seg(id)}`),
    /** Cancels a running operation; answers it once its work rolled back (or still rolling back after 10 s). */
    cancel: (id: string): Promise<OperationView> => this.call('DELETE', `/v1/operations/${seg(id)}`),
    /** Its log so far, and its end when it has ended. */
    log: async (id: string): Promise<OperationLogLine[]> => {
      const lines: OperationLogLine[] = [];
      const res = await this.opened('GET', `/v1/operations/${seg(id)}/log`);
      for await (const line of await lineReader(res)) if (line) lines.push(JSON.parse(line) as OperationLogLine);
      return lines;
    },
    /** Follows its log to the end: each progress line to `onProgress`; resolves with its result, or throws its error. */
    follow: <T = unknown>(id: string, onProgress: Progress): Promise<T> => this.stream('GET', `/v1/operations/${seg(id)}/log?follow=true`, undefined, onProgress),
  };

  readonly networks = {
    list: (): Promise<NetworkView[]> => this.call('GET', '/v1/networks'),
    inspect: (name: string): Promise<NetworkView> => this.call('GET', `/v1/networks/${seg(name)}`),
    create: (req: CreateNetworkRequest): Promise<NetworkView> => this.call('POST', '/v1/networks', req),
    remove: (name: string): Promise<{ removed: string }> => this.call('DELETE', `/v1/networks/${seg(name)}`),
  };

  /** Usage over time (docs/metrics.md). A tenant named `-` is the host's own containers. */
  readonly metering = {
    containerSeries: (name: string, query: UsageSeriesQuery = {}): Promise<ContainerUsageSeries> => this.call('GET', ct(name, `/usage/series${queryString(query)}`)),
    tenantSeries: (tenant: string, query: UsageSeriesQuery = {}): Promise<TenantUsageSeries> =>
      this.call('GET', `/v1/tenants/${seg(tenant)}/usage/series${queryString(query)}`),
    ledger: (tenant: string, month: string): Promise<UsageLedger> => this.call('GET', `/v1/tenants/${seg(tenant)}/usage/ledger${queryString({ month })}`),
    /** The Prometheus text exposition. */
    metrics: (): Promise<string> => this.call('GET', '/metrics'),
  };

  /** The headers every request carries: who the caller is, and the tenant it acts as. */
  private identity(): Record<string, string> {
    const e = this.endpoint;
    return { ...(e.token ? { authorization: `Bearer ${e.token}` } : {}), ...(e.tenant ? { 'strata-tenant': e.tenant } : {}) };
  }

  /**
   * A connection to the daemon: the unix socket, or a TLS connection whose certificate has the
   * pinned fingerprint (checked before the token is sent).
   */
  private async connection(): Promise<{ createConnection: () => Socket }> {
    const e = this.endpoint;
    // The socket made here, not by node's agent: the agent's first request costs a few ms (it checks
    // whether a host name is an IPv6 address), and every CLI command is one first request.
    if ('socket' in e) return { createConnection: () => createConnection(e.socket) };
    const { socket, peer } = await tlsHandshake(e.url);
    if (peer.fingerprint !== normalizeFingerprint(e.fingerprint)) {
      socket.destroy();
      const name = e.name ?? 'NAME';
      throw new PermissionDenied(`the certificate of ${e.url} changed: it is ${peer.fingerprint}, not the pinned ${normalizeFingerprint(e.fingerprint)}. `
        + `If the daemon's certificate was replaced on purpose, pin the new one: 'strata remote remove ${name}', then 'strata remote add ${name} ${e.url} --token …'; otherwise someone may be in between, so nothing was sent`);
    }
    return { createConnection: () => socket };
  }

  /** A WebSocket on `path`, over this client's connection and with its identity; a refusal is its typed error. */
  async socketOn(path: string): Promise<WebSocket> {
    const conn = await this.connection();
    const e = this.endpoint;
    // Loaded when used: most commands never open one, and every command pays for what it loads.
    const { WebSocket } = await import('ws');
    const ws = 'socket' in e
      ? new WebSocket(`ws+unix://${e.socket}:${path}`, { headers: this.identity() })
      : new WebSocket(`wss://${new URL(e.url).host}${path}`, { headers: this.identity(), createConnection: conn.createConnection as never });
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(ws));
      ws.once('unexpected-response', (req, res) => { void Client.text(res).then((text) => { req.destroy(); reject(Client.failure(res, text)); }); });
      ws.once('error', (err: NodeJS.ErrnoException) => reject(err.code === 'ENOENT' || err.code === 'ECONNREFUSED'
        ? new Unavailable(`cannot reach the Strata daemon at ${this.target} (${err.code})`) : err));
    });
  }

  private async open(method: string, path: string, body?: unknown, headers: Record<string, string> = {}, upload?: NodeJS.ReadableStream): Promise<IncomingMessage> {
    const conn = await this.connection();
    return new Promise((resolve, reject) => {
      const data = body === undefined ? undefined : JSON.stringify(body);
      const req = httpRequest({
        ...conn, method, path,
        // Over a connection made beforehand node would say 'Host: localhost:80'; a proxy in front routes by it.
        headers: {
          ...('url' in this.endpoint ? { host: new URL(this.endpoint.url).host } : {}), ...this.identity(), ...headers,
          ...(data === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(data)) }),
          // An upload refused early (no such container) is answered while it is still being sent: a
          // kept-alive connection reads the rest, where 'close' would make the sending side fail (EPIPE).
          ...(upload ? { connection: 'keep-alive' } : {}),
        },
      }, (res) => {
        // No agent holds a kept-alive connection: it is closed once its answer is read, or the
        // process would wait for the daemon to drop it.
        if (upload) res.once('end', () => socket?.destroy());
        resolve(res);
      });
      let socket: Socket | undefined;
      req.once('socket', (s: Socket) => { socket = s; });
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED' || err.code === 'EACCES') {
          reject(new Unavailable(`cannot reach the Strata daemon at ${this.target} (${err.code}): start it with 'strata daemon' (or 'npm run quickstart'), or point --socket / STRATA_SOCKET at it`));
        } else if (err.code === 'ECONNRESET' || err.message === 'socket hang up') {
          reject(new Unavailable(`the connection to the Strata daemon at ${this.target} closed before it answered (is it stopping or restarting?): try again`, { cause: err }));
        } else reject(err);
      });
      if (upload) {
        upload.on('error', (err: Error) => req.destroy(err));
        upload.pipe(req);
      }
      else req.end(data);
    });
  }

  private static async text(res: IncomingMessage): Promise<string> {
    let text = '';
    res.setEncoding('utf8');
    for await (const chunk of res) text += chunk as string;
    return text;
  }

  /** The typed error of a refused request, from its `{code, message}` body (or what came instead). */
  private static failure(res: IncomingMessage, text: string): Error {
    let parsed: { code?: string; message?: string } = {};
    try { parsed = JSON.parse(text) as typeof parsed; } catch { /* not JSON */ }
    return errorFromWire(parsed.code ?? 'internal', parsed.message ?? `the daemon answered ${res.statusCode}: ${text.slice(0, 200)}`);
  }

  /** Opens a request whose answer is read as it comes: a refusal is thrown as its typed error. */
  private async opened(method: string, path: string, body?: unknown): Promise<IncomingMessage> {
    const res = await this.open(method, path, body);
    if ((res.statusCode ?? 500) >= 400) throw Client.failure(res, await Client.text(res));
    return res;
  }

  /** Any route, untyped (tests of the HTTP layer itself); the CLI uses the typed methods above. */
  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.open(method, path, body);
    const text = await Client.text(res);
    if ((res.statusCode ?? 500) >= 400) throw Client.failure(res, text);
    const type = String(res.headers['content-type'] ?? '');
    return (type.includes('json') ? JSON.parse(text) : text) as T;
  }

  /** Starts long work as an operation (Prefer: respond-async): answers it at once, 202. */
  private async startOperation(method: string, path: string, body: unknown): Promise<OperationView> {
    const res = await this.open(method, path, body, { prefer: 'respond-async' });
    const text = await Client.text(res);
    if ((res.statusCode ?? 500) >= 400) throw Client.failure(res, text);
    return JSON.parse(text) as OperationView;
  }

  /** A streamed NDJSON call: each {"progress"} line goes to onProgress; resolves with "result". */
  async stream<T>(method: string, path: string, body: unknown, onProgress: (line: string) => void): Promise<T> {
    const res = await this.opened(method, path, body);
    let result: T | undefined;
    let failure: Error | undefined;
    for await (const line of await lineReader(res)) {
      if (!line) continue;
      const msg = JSON.parse(line) as { progress?: string; result?: T; error?: { code: string; message: string } };
      if (msg.progress !== undefined) onProgress(msg.progress);
      if (msg.result !== undefined) result = msg.result;
      if (msg.error) failure = errorFromWire(msg.error.code, msg.error.message);
    }
    if (failure) throw failure;
    if (result === undefined) throw errorFromWire('internal', 'the daemon ended the stream without a result');
    return result;
  }

  /** A raw streamed body (logs --follow). */
  async pipe(path: string, out: NodeJS.WritableStream): Promise<void> {
    const res = await this.opened('GET', path);
    for await (const chunk of res) out.write(chunk as Buffer);
  }
}

/**
 * Attaches to the console that writes `consoleLog`, held by the container monitor at `monitorSocket` (the daemon names both: POST /v1/containers/NAME/console):
 * resolves with a socket that carries what the console prints from now on, and types what is
 * written to it. Rejects when there is none.
 */
export function attachConsole(monitorSocket: string, consoleLog: string, rows: number, cols: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    if (/[\s]/.test(consoleLog)) { reject(new Internal(`a console log path with white space cannot be attached: ${consoleLog}`)); return; }
    const conn = createConnection(monitorSocket);
    let head = '';
    const onData = (d: Buffer): void => {
      head += d.toString('latin1');
      const nl = head.indexOf('\n');
      if (nl < 0) return;
      conn.off('data', onData);
      const line = head.slice(0, nl);
      if (line !== 'ATTACHED') { conn.destroy(); reject(new Unavailable(`the console is not there (${line}): is the container running?`)); return; }
      const rest = Buffer.from(head.slice(nl + 1), 'latin1');
      conn.pause();
      if (rest.length) conn.unshift(rest);
      resolve(conn);
    };
    conn.on('connect', () => conn.write(`ATTACH ${consoleLog} ${rows} ${cols}\n`));
    conn.on('data', onData);
    conn.once('error', reject);
  });
}
