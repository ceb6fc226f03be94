/**
 * The daemon's HTTP API (Fastify) over a unix socket. Routes (routes/, one file per resource) only
 * translate HTTP to calls on the services and errors to `{code, message}`; the logic lives in the
 * services. Requests and answers are the TypeBox schemas of types.ts, from which the OpenAPI
 * document (GET /v1/openapi.json, docs/api.md) is generated. Long work runs as an operation
 * (src/operations): streamed as NDJSON, or answered 202 with the operation when the client asks.
 */
import Fastify, { type FastifyError } from 'fastify';
import swagger from '@fastify/swagger';
import rateLimit from '@fastify/rate-limit';
import websocket from '@fastify/websocket';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { asStrataError, InvalidArgument, ResourceExhausted } from '../errors/index.js';
import { VERSION } from '../config/index.js';
import { httpStatusOf } from './errors.js';
import { endOpenStreams, type App, type Services } from './http.js';
import { installAccess } from './access.js';
import { accessRoutes } from './routes/access.js';
import { sessionRoutes } from './routes/sessions.js';
import { Tickets } from './tickets.js';
import { panelRoutes } from './panel.js';
import { backupRoutes } from './routes/backups.js';
import { moveRoutes } from './routes/moves.js';
import { containerRoutes } from './routes/containers.js';
import { fileRoutes } from './routes/files.js';
import { meteringRoutes } from './routes/metering.js';
import { networkRoutes } from './routes/networks.js';
import { operationRoutes } from './routes/operations.js';
import { systemRoutes } from './routes/system.js';
import { templateRoutes } from './routes/templates.js';
import { ErrorAnswer } from './types.js';

export type { Services } from './http.js';

/** Requests are small (names, options); files travel as paths on the daemon host. */
const BODY_LIMIT = 1 << 20;

/** Fastify's own refusals of a request (before any route runs), in words that name the fix. */
const CLIENT_ERRORS: Record<string, string> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'the body is not valid JSON',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'the body is empty but its content-type says JSON: send {} or no content-type',
  FST_ERR_CTP_BODY_TOO_LARGE: `the body is larger than ${BODY_LIMIT >> 20} MiB`,
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'send the body as application/json',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'its content-length does not match the body',
};

function isClientError(err: FastifyError): boolean {
  return typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500 && err.code?.startsWith('FST_');
}

/** What the schema refused, naming the field: `body has an unknown field 'colour' (see docs/api.md)`. */
function describeInvalid(where: string, problems: NonNullable<FastifyError['validation']>): string {
  // A body that may also be empty (null) fails each alternative: name the real problem, not the union.
  const unknown = problems.filter((p) => p.keyword === 'additionalProperties');
  const specific = problems.filter((p) => p.keyword !== 'anyOf' && !(p.keyword === 'type' && p.params.type === 'null'));
  const chosen = unknown.length ? unknown : specific.length ? specific : problems;
  return chosen.map((p) => {
    const at = p.instancePath ? `${where}${p.instancePath.replace(/\//g, '.')}` : where;
    if (p.keyword === 'additionalProperties') return `${at} has an unknown field '${String(p.params.additionalProperty)}' (see docs/api.md)`;
    return `${at} ${p.message ?? 'is invalid'}`;
  }).join('; ');
}

export async function buildServer(s: Services): Promise<App> {
  // Fastify's validator would drop unknown body fields silently (removeAdditional): a misspelt
  // field must be refused, not ignored.
  const app = Fastify({ logger: false, bodyLimit: BODY_LIMIT, ajv: { customOptions: { removeAdditional: false } } }).withTypeProvider<TypeBoxTypeProvider>();

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Strata API', version: VERSION,
        description: "The Strata daemon's API. Errors answer `{code, message}` with the HTTP status of docs/errors.md; long operations answer NDJSON lines, or 202 and an operation when asked with `Prefer: respond-async` (docs/operations.md).",
      },
      tags: [
        { name: 'containers', description: 'lifecycle, application templates, limits, usage, ports, console' },
        { name: 'templates', description: 'OS and application templates' },
        { name: 'networks', description: 'networks' },
        { name: 'metering', description: 'usage over time per container and tenant, monthly ledgers, Prometheus metrics' },
        { name: 'operations', description: 'long work run under an id: template builds, imports, exports, captures, bulk creates' },
        { name: 'system', description: 'the daemon' },
        { name: 'access', description: 'who the caller is; tenants and plans, users, API tokens, the audit log' },
      ],
    },
  });
  // Every route may answer a typed error.
  app.addHook('onRoute', (route) => {
    const schema = (route.schema ??= {}) as { response?: Record<string, unknown> };
    schema.response = { ...schema.response, '4xx': ErrorAnswer, '5xx': ErrorAnswer };
  });

  app.setErrorHandler((err: FastifyError, _req, reply) => {
    const e = err.validation ? new InvalidArgument(`invalid request: ${describeInvalid(err.validationContext ?? 'request', err.validation)}`)
      : isClientError(err) ? new InvalidArgument(`invalid request: ${CLIENT_ERRORS[err.code] ?? err.message}`)
      : asStrataError(err);
    // The stack of what was thrown, not of its wrapper (asStrataError wraps plain errors).
    if (e.code === 'internal') s.log?.(`internal error: ${(e.cause instanceof Error ? e.cause.stack : undefined) ?? e.stack ?? e.message}`);
    void reply.status(httpStatusOf[e.code]).send({ code: e.code, message: e.message });
  });

  app.setNotFoundHandler((req, reply) => {
    void reply.status(404).send({ code: 'not_found', message: `there is no API route ${req.method} ${req.url.split('?')[0]}: see docs/api.md or GET /v1/openapi.json` });
  });

  // Followed streams end when the daemon stops, so that closing waits only for real work.
  app.addHook('preClose', (done) => { endOpenStreams(app); done(); });

  const tickets = new Tickets();
  installAccess(app, s.access, s.store, tickets);
  await app.register(websocket, { options: { maxPayload: 1 << 20 } });
  // After the caller is known (preHandler): a token's requests are counted together from anywhere.
  const perMinute = s.requestsPerMinute ?? 600;
  await app.register(rateLimit, {
    global: true, hook: 'preHandler', max: perMinute, timeWindow: 60_000,
    keyGenerator: (req) => (req.caller?.token ? `token:${req.caller.token}` : `from:${req.ip}`),
    allowList: (req) => req.caller?.source === 'unix' && !req.caller.token,
    errorResponseBuilder: (_req, ctx) => new ResourceExhausted(`too many requests: at most ${perMinute} a minute per token; try again in ${ctx.after}`),
  });
  systemRoutes(app, s);
  accessRoutes(app, s);
  templateRoutes(app, s);
  containerRoutes(app, s);
  backupRoutes(app, s);
  moveRoutes(app, s);
  fileRoutes(app, s);
  networkRoutes(app, s);
  sessionRoutes(app, s, tickets);
  meteringRoutes(app, s);
  operationRoutes(app, s);
  await panelRoutes(app);
  return app;
}
