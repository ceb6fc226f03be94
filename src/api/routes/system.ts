/** The daemon itself: facts, events, and this API's own OpenAPI document. */
import { PassThrough } from 'node:stream';
import { Type } from 'typebox';
import type { EventRecord } from '../../state/index.js';
import { scopeTenant } from '../../access/index.js';
import type { FastifyRequest } from 'fastify';
import { HostUsageReader } from '../../resources/index.js';
import { Event, EventsQuery, HostUsage, Info } from '../types.js';
import { endsWithServer, tag, type App, type Services } from '../http.js';

/** Text, sent whole or as a stream. */
const EventStream = Type.Unsafe<unknown>({ type: 'string', description: 'server-sent events: `id: N`, `event: KIND`, `data: {event as JSON}`' });
/** A comment line every so often keeps proxies from closing an idle stream. */
const HEARTBEAT_MS = 15_000;

const t = tag('system');

export function systemRoutes(app: App, s: Services): void {
  const host = new HostUsageReader(s.info.root);
  app.get('/v1/host', { config: { scope: 'admin' }, schema: { ...t, summary: 'What the host as a whole uses now: CPU since the previous call, memory, the data root\'s disk, network', response: { 200: HostUsage } } },
    async () => host.read());
  app.get('/v1/info', { config: { scope: 'caller' }, schema: { ...t, summary: "The daemon's version, data root, drivers and host facts", response: { 200: Info } } }, async () => s.info);
  /** The events a request selects, and which new ones it wants: one reading for the JSON, SSE and WebSocket forms. */
  const selection = (req: FastifyRequest): { backlog: EventRecord[]; wanted: (e: EventRecord) => boolean } => {
    const q = req.query as EventsQuery;
    const lastId = Number(req.headers['last-event-id']);
    const since = Number.isInteger(lastId) && lastId >= 0 ? lastId : q.since;
    const kinds = q.kind ? new Set(q.kind.split(',').map((k) => k.trim()).filter(Boolean)) : null;
    // A tenant's users see the events of its containers; a token limited to containers, theirs.
    const tenant = scopeTenant(req.caller);
    const only = req.caller.containers;
    const theirs = (e: EventRecord): boolean => (tenant === null || e.tenant === tenant) && (!only || (e.subject !== null && only.has(e.subject)));
    const wanted = (e: EventRecord): boolean => theirs(e) && (!q.container || e.subject === q.container) && (!kinds || kinds.has(e.kind));
    const live = q.follow || req.headers.upgrade === 'websocket';
    const backlog = (since !== undefined ? s.store.eventsAfter(since) : q.after ? s.store.eventsSince(q.after) : live ? [] : s.store.listEvents(200)).filter(wanted);
    return { backlog, wanted };
  };

  app.route({
    method: 'GET', url: '/v1/events',
    config: { scope: 'containers:read' },
    schema: {
      ...t, summary: 'Events, oldest first: the last 200, or those after `since`/`after`; with `follow`, a server-sent event stream of them and of every new one; as a WebSocket (Upgrade), one JSON text frame per event',
      querystring: EventsQuery,
      response: { 200: { description: 'the events', content: { 'application/json': { schema: Type.Array(Event) }, 'text/event-stream': { schema: EventStream } } } },
    },
    wsHandler: (socket, req) => {
      // The backlog is read and the listener added in one synchronous step: no event falls between.
      const { backlog, wanted } = selection(req);
      const send = (e: EventRecord): void => { if (wanted(e) && socket.readyState === socket.OPEN) socket.send(JSON.stringify(e)); };
      for (const e of backlog) send(e);
      const unsubscribe = s.store.onEvent(send);
      const forget = endsWithServer(app, () => socket.close(1001, 'the daemon is stopping'));
      socket.on('close', () => { unsubscribe(); forget(); });
    },
    handler: async (req, reply) => {
      const { backlog, wanted } = selection(req);
      if (!req.query.follow) return backlog;
      // The backlog is read and the listener added in one synchronous step: no event falls between.
      const out = new PassThrough();
      const send = (e: EventRecord): void => { if (wanted(e)) out.write(`id: ${e.id}\nevent: ${e.kind}\ndata: ${JSON.stringify(e)}\n\n`); };
      out.write(': strata events\n\n');
      for (const e of backlog) send(e);
      const unsubscribe = s.store.onEvent(send);
      const heartbeat = setInterval(() => out.write(': keep-alive\n\n'), HEARTBEAT_MS);
      const end = (): void => { unsubscribe(); clearInterval(heartbeat); forget(); out.end(); };
      const forget = endsWithServer(app, end);
      req.raw.socket.on('close', end);
      return reply.type('text/event-stream').header('cache-control', 'no-cache').send(out);
    },
  });
  app.get('/v1/openapi.json', { config: { public: true }, schema: { ...t, summary: 'This API as an OpenAPI 3 document' } }, async () => app.swagger());
}
