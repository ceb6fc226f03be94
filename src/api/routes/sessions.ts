/**
 * Exec and console sessions over WebSockets, and the single-use tickets a browser opens them with
 * (the protocol: api/sessions.ts and docs/sessions.md).
 */
import { Type } from 'typebox';
import { NameParams } from '../types.js';
import { endsWithServer, tag, type App, type Services } from '../http.js';
import { failSession, relayConsole, runExec, startMessage } from '../sessions.js';
import type { Tickets } from '../tickets.js';

const t = tag('containers');
const TicketRequest = Type.Object({ kind: Type.Union([Type.Literal('exec'), Type.Literal('console')]) }, { additionalProperties: false });
const TicketAnswer = Type.Object({
  ticket: Type.String(), expiresAt: Type.String(),
  path: Type.String({ description: 'the WebSocket to open on this same origin (relative: a reverse proxy in front keeps working)' }),
}, { additionalProperties: true });
const SizeQuery = Type.Object({
  ticket: Type.Optional(Type.String({ description: 'a single-use ticket instead of a token (browsers)' })),
  rows: Type.Optional(Type.Integer({ minimum: 1 })), cols: Type.Optional(Type.Integer({ minimum: 1 })),
});
const Upgrade = { description: 'a WebSocket (Upgrade: websocket); frames in docs/sessions.md' };

export function sessionRoutes(app: App, s: Services, tickets: Tickets): void {
  app.post('/v1/containers/:name/tickets', {
    config: { scope: 'containers:exec' },
    schema: { ...t, summary: 'A single-use ticket (30 s) to open an exec or console WebSocket without a token', params: NameParams, body: TicketRequest, response: { 201: TicketAnswer } },
  }, async (req, reply) => {
    s.containers.inspect(req.params.name);
    const { ticket, expiresAt } = tickets.issue(req.caller, req.params.name, req.body.kind);
    return reply.status(201).send({ ticket, expiresAt, path: `/v1/containers/${encodeURIComponent(req.params.name)}/${req.body.kind}?ticket=${ticket}` });
  });

  app.get('/v1/containers/:name/exec', {
    websocket: true, config: { scope: 'containers:exec', ticket: 'exec' },
    schema: { ...t, summary: 'Run a command in the container over a WebSocket: a pty or separate stdio, resize, exit status', params: NameParams, querystring: SizeQuery, response: { 101: Upgrade } },
  }, (socket, req) => {
    const name = (req.params as { name: string }).name;
    const forget = endsWithServer(app, () => socket.close(1001, 'the daemon is stopping'));
    socket.on('close', forget);
    // What the client sends while the command is being prepared is kept for it (stdin, a resize, its end).
    const early: Array<[Buffer, boolean]> = [];
    let first = true;
    const hold = (data: Buffer, isBinary: boolean): void => {
      if (!first) { early.push([data, isBinary]); return; }
      first = false;
      void (async () => {
        const start = startMessage(data);
        const argv = await s.containers.execPlan(name, start);
        socket.off('message', hold);
        await runExec(socket, argv, start, name, early);
      })().catch((err: unknown) => failSession(socket, err));
    };
    socket.on('message', hold);
  });

  app.get('/v1/containers/:name/console', {
    websocket: true, config: { scope: 'containers:exec', ticket: 'console' },
    schema: { ...t, summary: "Attach to the container's console over a WebSocket (closing it detaches)", params: NameParams, querystring: SizeQuery, response: { 101: Upgrade } },
  }, (socket, req) => {
    const { name } = req.params as { name: string };
    const q = req.query as { rows?: number; cols?: number };
    const forget = endsWithServer(app, () => socket.close(1001, 'the daemon is stopping'));
    socket.on('close', forget);
    void s.containers.consolePlan(name).then((plan) => relayConsole(socket, plan, q.rows ?? 24, q.cols ?? 80)).catch((err: unknown) => failSession(socket, err));
  });
}
