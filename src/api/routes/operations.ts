/** Operations: long work run under an id (docs/operations.md): list, inspect, follow the log, cancel. */
import { PassThrough } from 'node:stream';
import { Type } from 'typebox';
import { FollowQuery, OperationParams, OperationsQuery, OperationView } from '../types.js';
import { endsWithServer, tag, type App, type Services } from '../http.js';
import type { FastifyRequest } from 'fastify';
import { scopeTenant } from '../../access/index.js';
import { PermissionDenied } from '../../errors/index.js';

const t = tag('operations');
/** NDJSON, written as it comes. */
const NdjsonStream = Type.Unsafe<string | NodeJS.ReadableStream>({ type: 'string', description: 'NDJSON: {"progress": "…"} lines, then {"result": …} or {"error": {"code", "message"}}' });
/** How long a cancel waits for the work to roll back before answering 202 (still rolling back). */
const CANCEL_WAIT_MS = 10_000;

export function operationRoutes(app: App, s: Services): void {
  /** The operation, when the caller may see it: a tenant's users see their tenant's operations only. */
  const visible = (req: FastifyRequest, id: string): OperationView => {
    const op = s.operations.get(id);
    const tenant = scopeTenant(req.caller);
    if (tenant !== null && op.owner !== tenant) throw new PermissionDenied(`operation ${op.id} is not one of tenant ${tenant}'s`);
    return op;
  };

  app.get('/v1/operations', {
    config: { scope: 'operations:read' },
    schema: { ...t, summary: 'Operations, newest first: running ones and those ended in the last 7 days', querystring: OperationsQuery, response: { 200: Type.Array(OperationView) } },
  }, async (req) => {
    const tenant = scopeTenant(req.caller);
    return s.operations.list(req.query).filter((op) => tenant === null || op.owner === tenant);
  });

  app.get('/v1/operations/:id', {
    config: { scope: 'operations:read' },
    schema: { ...t, summary: 'Inspect an operation: its state, last progress, result or error', params: OperationParams, response: { 200: OperationView } },
  }, async (req) => visible(req, req.params.id));

  app.get('/v1/operations/:id/log', {
    config: { scope: 'operations:read' },
    schema: {
      ...t, summary: "An operation's log as NDJSON {\"progress\"} lines, then, once it ended, {\"result\"} or {\"error\"}; with follow, each new line until it ends",
      params: OperationParams, querystring: FollowQuery,
      response: { 200: { description: 'NDJSON, as the streamed routes answer', content: { 'application/x-ndjson': { schema: NdjsonStream } } } },
    },
  }, async (req, reply) => {
    const op = visible(req, req.params.id);
    const out = new PassThrough();
    void reply.type('application/x-ndjson').send(out);
    const write = (line: unknown): void => { out.write(`${JSON.stringify(line)}\n`); };
    if (!req.query.follow || op.state !== 'running') {
      for (const l of s.operations.log(op.id)) write({ progress: l.line });
      const done = s.operations.get(op.id);
      if (done.state === 'succeeded') write({ result: done.result });
      else if (done.error) write({ error: done.error });
      out.end();
      return reply;
    }
    // Following: the backlog and the listener in one synchronous step; the daemon stopping or the client going ends it.
    let ended = false;
    let end = (): void => { ended = true; };
    const unsubscribe = s.operations.follow(op.id, (line) => {
      write(line);
      if (!('progress' in line)) end();
    });
    const forget = endsWithServer(app, () => end());
    end = (): void => { unsubscribe(); forget(); out.end(); };
    if (ended) end();
    req.raw.socket.on('close', end);
    return reply;
  });

  app.delete('/v1/operations/:id', {
    config: { scope: 'operations:write' },
    schema: {
      ...t, summary: 'Cancel a running operation: its work stops and rolls back; answers it once ended (200), or still rolling back after 10 s (202)',
      params: OperationParams, response: { 200: OperationView, 202: OperationView },
    },
  }, async (req, reply) => {
    const op = s.operations.cancel(visible(req, req.params.id).id);
    const after = await s.operations.settled(op.id, CANCEL_WAIT_MS);
    return reply.status(after.state === 'running' ? 202 : 200).send(after);
  });
}
