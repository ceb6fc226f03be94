/**
 * The panel's one way to the daemon: its HTTP API on the page's own origin, with the signed-in
 * token. Paths are relative (`v1/…`), so a reverse proxy may serve the panel under a prefix.
 */

export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

const TOKEN = 'strata.token';
const ACT_AS = 'strata.actAs';

/** The session lives as long as the tab (sessionStorage): closing it signs out. */
export const session = {
  get token(): string | null { return sessionStorage.getItem(TOKEN); },
  set token(t: string | null) { if (t) sessionStorage.setItem(TOKEN, t); else sessionStorage.removeItem(TOKEN); },
  get actAs(): string | null { return sessionStorage.getItem(ACT_AS); },
  set actAs(t: string | null) { if (t) sessionStorage.setItem(ACT_AS, t); else sessionStorage.removeItem(ACT_AS); },
};

/** Told when the daemon no longer takes the token (expired, revoked): the panel shows the log-in. */
let onSignedOut: () => void = () => undefined;
export function whenSignedOut(f: () => void): void { onSignedOut = f; }

function headers(json: boolean): Record<string, string> {
  const h: Record<string, string> = {};
  if (session.token) h.authorization = `Bearer ${session.token}`;
  if (session.actAs) h['strata-tenant'] = session.actAs;
  if (json) h['content-type'] = 'application/json';
  return h;
}

const rel = (path: string): string => path.replace(/^\//, '');

async function failure(res: Response): Promise<ApiError> {
  const text = await res.text();
  let body: { code?: string; message?: string } = {};
  try { body = JSON.parse(text) as typeof body; } catch { /* not JSON */ }
  if (res.status === 401) onSignedOut();
  return new ApiError(res.status, body.code ?? 'unknown', body.message ?? (text || `${res.status} ${res.statusText}`));
}

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(rel(path), { method, headers: headers(body !== undefined), body: body === undefined ? undefined : JSON.stringify(body) });
  if (!res.ok) throw await failure(res);
  const text = await res.text();
  return (text ? JSON.parse(text) : null) as T;
}

export const get = <T>(path: string): Promise<T> => api<T>('GET', path);

/** A GET answered as text (the console log). */
export async function getText(path: string): Promise<string> {
  const res = await fetch(rel(path), { headers: headers(false) });
  if (!res.ok) throw await failure(res);
  return res.text();
}

/** A long request answered as NDJSON: each progress line is told, the result returned, an error thrown. */
export async function long<T>(method: string, path: string, body: unknown, progress: (line: string) => void, signal?: AbortSignal): Promise<T> {
  const res = await fetch(rel(path), { method, headers: headers(body !== undefined), body: body === undefined ? undefined : JSON.stringify(body), signal });
  if (!res.ok) throw await failure(res);
  let result: T | undefined;
  let failed: ApiError | undefined;
  await lines(res, (line) => {
    const m = JSON.parse(line) as { progress?: string; result?: T; error?: { code: string; message: string } };
    if (m.progress !== undefined) progress(m.progress);
    if (m.result !== undefined) result = m.result;
    if (m.error) failed = new ApiError(500, m.error.code, m.error.message);
  });
  if (failed) throw failed;
  if (result === undefined) throw new ApiError(500, 'unknown', 'the daemon ended the answer without a result');
  return result;
}

async function lines(res: Response, each: (line: string) => void): Promise<void> {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let rest = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    rest += value;
    let i: number;
    while ((i = rest.indexOf('\n')) >= 0) {
      const line = rest.slice(0, i).trim();
      rest = rest.slice(i + 1);
      if (line) each(line);
    }
  }
  if (rest.trim()) each(rest.trim());
}

export interface StrataEvent { id: number; time: string; kind: string; subject: string | null; message: string; tenant?: string | null }

/** Follows the event stream (server-sent events read with fetch, so that the token goes in a header). */
export function followEvents(query: string, each: (e: StrataEvent) => void, signal: AbortSignal): void {
  void (async () => {
    while (!signal.aborted) {
      try {
        const res = await fetch(rel(`v1/events?follow=true${query ? `&${query}` : ''}`), { headers: { ...headers(false), accept: 'text/event-stream' }, signal });
        if (!res.ok) throw await failure(res);
        await lines(res, (line) => { if (line.startsWith('data:')) each(JSON.parse(line.slice(5)) as StrataEvent); });
      } catch { /* reconnect below */ }
      if (!signal.aborted) await new Promise((r) => setTimeout(r, 2000));
    }
  })();
}

/** A WebSocket to a session of a container (exec or console), opened with a single-use ticket. */
export async function openSession(container: string, kind: 'exec' | 'console', query = ''): Promise<WebSocket> {
  const t = await api<{ ticket: string; path: string }>('POST', `v1/containers/${encodeURIComponent(container)}/tickets`, { kind });
  const url = new URL(rel(t.path) + query, document.baseURI);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  const ws = new WebSocket(url);
  ws.binaryType = 'arraybuffer';
  return ws;
}

// Views the panel reads (the fields it uses of the API's answers; docs/api.md has them all).

type State = 'created' | 'running' | 'stopped';
export interface Container {
  name: string; state: State; template: string; hostname: string; tenant: string | null; createdAt: string;
  adapters: Array<{ network: string; address: string; gateway: string; mac: string }>;
  ports: Array<{ spec: string; hostPort: number; containerPort: number; proto: string }>;
  apps: Array<{ template: string; version: number; live: boolean }>;
  limits: Record<string, number | string | null | undefined>;
  netIn: string | null; netOut: string | null; throttled?: string | null;
  consoleLog?: string;
}
export interface Stats {
  name: string; state: State; cpuPercent: number | null; memoryBytes: number | null; memoryLimitBytes: number | null;
  diskUsedBytes: number | null; netRxBytes: number; netTxBytes: number; pids: number | null;
}
interface UsagePoint {
  at: string; cpuPercent: number | null; memoryBytes: number | null; diskUsedBytes: number | null; netRxBytes: number; netTxBytes: number; runningSeconds: number;
}
export interface Series { resolution: string; from: string; to: string; points: UsagePoint[] }
interface Plan { cpus?: number; memory?: number; pids?: number; disk?: number; containers?: number; ports?: number; trafficBytes?: number; trafficPolicy?: string }
export interface Tenant {
  name: string; plan: Plan; suspendedAt: string | null; suspendedWhy: string | null;
  traffic: { action: string; month: string } | null;
  holdings: { containers: number; disk: number; ports: number; traffic: number }; containers: string[];
}
export interface Me {
  user: string; role: string; tenant: string | null; actingAs: string | null; scopes: string[];
  tenantView?: Tenant;
}
export interface Template {
  name: string; kind: 'os' | 'app'; source: string; sizeBytes: number; createdAt: string; usedBy: string[]; meta: Record<string, unknown>;
  versions?: Array<{ version: number; digest: string; sizeBytes: number; files: number; createdAt: string; bases: string[]; usedBy: string[] }>;
}
