/** What the routes share: the typed Fastify instance, the services they call, operations and NDJSON streaming, cancellation. */
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest, RawReplyDefaultExpression, RawRequestDefaultExpression, RawServerDefault } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { PassThrough } from 'node:stream';
import './scopes.js';
import { asStrataError, Cancelled } from '../errors/index.js';
import type { Containers } from '../containers/index.js';
import type { Captures } from '../containers/capture.js';
import type { Store } from '../state/index.js';
import type { Templates } from '../templates/index.js';
import type { Networks } from '../network/index.js';
import { scopeTenant, type Access, type QuotaBook } from '../access/index.js';
import type { Meter } from '../metering/index.js';
import type { Operations, Work } from '../operations/index.js';
import type { Info } from './types.js';
import type { Backups } from '../backups/index.js';
import type { Moves } from '../moves/index.js';

export interface Services {
  networks: Networks;
  containers: Containers;
  captures: Captures;
  backups: Backups;
  moves: Moves;
  templates: Templates;
  operations: Operations;
  store: Store;
  access: Access;
  quota: QuotaBook;
  /** Usage over time and the newest readings (GET …/usage/…, /metrics). */
  meter: Meter;
  info: Info;
  /** Requests a minute per token (or per address without one); root on the socket is not limited. Default 600. */
  requestsPerMinute?: number;
  log?: (line: string) => void;
}

/** Fastify typed by the TypeBox schemas of api/types.ts: params, queries and bodies need no casts. */
export type App = FastifyInstance<RawServerDefault, RawRequestDefaultExpression, RawReplyDefaultExpression, FastifyBaseLogger, TypeBoxTypeProvider>;

/** An AbortSignal that fires when the client goes away before the answer (Ctrl-C on the CLI). */
export function clientGone(req: FastifyRequest, reply: FastifyReply): AbortSignal {
  const ac = new AbortController();
  req.raw.socket.on('close', () => {
    if (!reply.raw.writableFinished) ac.abort(new Cancelled('the client went away: operation cancelled and rolled back'));
  });
  return ac.signal;
}

/** Runs a long operation, answering with NDJSON lines: {"progress"}… then {"result"} or {"error"}. */
export async function streamed(reply: FastifyReply, work: (progress: (line: string) => void) => Promise<unknown>): Promise<FastifyReply> {
  const out = new PassThrough();
  void reply.type('application/x-ndjson').send(out);
  const line = (obj: unknown): void => { out.write(`${JSON.stringify(obj)}\n`); };
  try {
    line({ result: await work((progress) => line({ progress })) });
  } catch (err) {
    const e = asStrataError(err);
    line({ error: { code: e.code, message: e.message } });
  }
  out.end();
  return reply;
}

/**
 * The client asked for the operation instead of its stream: the standard header
 * `Prefer: respond-async` (RFC 7240), or `?async=true` for clients that cannot set headers.
 */
export function wantsAsync(req: FastifyRequest): boolean {
  const prefer = req.headers.prefer;
  const said = (Array.isArray(prefer) ? prefer.join(',') : prefer ?? '').split(/[,;]/).some((p) => p.trim().toLowerCase() === 'respond-async');
  return said || (req.query as { async?: boolean } | undefined)?.async === true;
}

/**
 * Who starts an operation, recorded as its owner (opaque). Null until requests carry a tenant or
 * user: the permission check sets it on the request and this reads it.
 */
function ownerOf(req: FastifyRequest): string | null {
  // The tenant whose users may see and cancel it (null: the host's).
  return req.caller ? scopeTenant(req.caller) : null;
}

/**
 * Runs long work as an operation (docs/operations.md). Asked for async (wantsAsync), answers
 * 202 with the operation and `Location: /v1/operations/ID` at once. Otherwise answers as the
 * streamed routes always did, NDJSON lines {"progress"}… then {"result"} or {"error"}, and the
 * client going away cancels it; it is listed as an operation all the same.
 */
export function asOperation(req: FastifyRequest, reply: FastifyReply, s: Services, kind: string, subject: string | null, work: Work<unknown>): FastifyReply {
  const op = s.operations.start(kind, subject, work, { owner: ownerOf(req) });
  if (wantsAsync(req)) {
    return reply.status(202).header('location', `/v1/operations/${op.id}`).header('preference-applied', 'respond-async').send(op);
  }
  const out = new PassThrough();
  void reply.type('application/x-ndjson').send(out);
  clientGone(req, reply).addEventListener('abort', () => {
    try { s.operations.cancel(op.id, 'its client went away'); } catch { /* it had ended */ }
  }, { once: true });
  s.operations.follow(op.id, (line) => {
    out.write(`${JSON.stringify(line)}\n`);
    if (!('progress' in line)) out.end();
  });
  return reply;
}

const openStreams = new WeakMap<object, Set<() => void>>();

/**
 * Registers `end` to run when the server closes: a stream that never finishes by itself (events
 * and logs followed) would otherwise keep the daemon's shutdown waiting. Returns the unregister.
 */
export function endsWithServer(app: App, end: () => void): () => void {
  let ends = openStreams.get(app);
  if (!ends) { ends = new Set(); openStreams.set(app, ends); }
  const set = ends;
  set.add(end);
  return () => { set.delete(end); };
}

/** Ends every stream registered with endsWithServer (the server's preClose hook). */
export function endOpenStreams(app: App): void {
  for (const end of openStreams.get(app) ?? []) end();
}

/** OpenAPI tags and the note on routes kept for older clients. */
export const tag = (name: string) => ({ tags: [name] });
export const older = (instead: string) => ({ deprecated: true, description: `Kept for older clients: use ${instead}.` });
