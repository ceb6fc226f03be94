/**
 * The one permission check of every route. Who: the unix socket is root's (a host administrator,
 * unless it presents a token); over the network a bearer token is required. What: each route
 * names its scope (`config.scope`; none means 'admin'), which the caller's role and token must
 * grant. Whose: a route about a container (`/v1/containers/:name…`, `?container=`) or a tenant
 * (`:tenant`) is refused with 403 and the reason when the object is not the caller's; lists are
 * filtered to the caller's own by the routes (`visibleTo`). Every change is audited.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ROOT, scopeTenant, type Access, type Caller } from '../access/index.js';
import { isRemote } from './transport.js';
import { PermissionDenied, Unauthenticated } from '../errors/index.js';
import type { Store } from '../state/index.js';
import type { App } from './http.js';
import type { Tickets } from './tickets.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who is asking (set before any handler runs). */
    caller: Caller;
  }
}

/** An administrator's header to act as a tenant: sees and makes only its objects; audited. */
const ACT_AS_HEADER = 'strata-tenant';

function bearerOf(req: FastifyRequest): string | null {
  const h = req.headers.authorization;
  if (!h) return null;
  const m = /^Bearer\s+(\S+)$/i.exec(h);
  if (!m) throw new Unauthenticated("the Authorization header must be 'Bearer TOKEN'");
  return m[1];
}

/**
 * Where the request came from: the client's address over the network (the TLS listener), else
 * 'unix', the socket only root reaches (mode 0600). See transport.ts.
 */
function sourceOf(req: FastifyRequest): string {
  return isRemote(req) ? (req.raw.socket.remoteAddress ?? 'unknown') : 'unix';
}

function identify(req: FastifyRequest, access: Access, tickets: Tickets): Caller {
  const source = sourceOf(req);
  const ticket = (req.query as Record<string, unknown>).ticket;
  const kind = req.routeOptions.config.ticket;
  if (kind && typeof ticket === 'string' && !req.headers.authorization) {
    const name = (req.params as Record<string, string>).name ?? '';
    return { ...tickets.redeem(ticket, name, kind), source };
  }
  const actAsHeader = req.headers[ACT_AS_HEADER];
  const actAs = typeof actAsHeader === 'string' && actAsHeader ? actAsHeader : null;
  const bearer = bearerOf(req);
  if (bearer) return access.authenticate(bearer, source, actAs);
  if (source === 'unix') return actAs ? access.actAs({ ...ROOT, source }, actAs) : { ...ROOT, source };
  throw new Unauthenticated("this API needs a token over the network: send 'Authorization: Bearer TOKEN' (make one with 'strata token create')");
}

/** Refuses `caller` a container that is not its own (another tenant's, or outside its token's list). */
function checkContainer(caller: Caller, store: Store, name: string): void {
  if (caller.containers && !caller.containers.has(name)) {
    throw new PermissionDenied(`the token ${caller.token} is limited to the containers ${[...caller.containers].join(', ')}, not ${name}`);
  }
  const tenant = scopeTenant(caller);
  if (tenant === null) return;
  const c = store.getContainer(name);
  // One that does not exist is the route's 404.
  if (c && c.tenant !== tenant) throw new PermissionDenied(`container ${name} is not one of tenant ${tenant}'s`);
}

/** Refuses `caller` a tenant that is not its own. */
export function checkTenant(caller: Caller, tenant: string): void {
  const own = scopeTenant(caller);
  if (own !== null && own !== tenant) throw new PermissionDenied(`${caller.user} may see only tenant ${own}, not ${tenant}`);
}

/** Whether `caller` may see container `c` in a list. */
export function visibleTo(caller: Caller): (c: { name: string; tenant?: string | null }) => boolean {
  const tenant = scopeTenant(caller);
  return (c) => (tenant === null || c.tenant === tenant) && (!caller.containers || caller.containers.has(c.name));
}

const CHANGES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export function installAccess(app: App, access: Access, store: Store, tickets: Tickets): void {
  app.decorateRequest('caller', null as unknown as Caller);
  app.addHook('onRequest', async (req) => {
    const config = req.routeOptions.config;
    // An unknown route answers its 404 to anyone; the OpenAPI document and the log-in are open.
    if (config.public || !req.routeOptions.url) {
      try { req.caller = identify(req, access, tickets); } catch { /* anonymous */ }
      return;
    }
    req.caller = identify(req, access, tickets);
    const scope = config.scope ?? 'admin';
    if (scope !== 'caller' && !req.caller.scopes.has(scope)) {
      const who = req.caller.token ? `the token ${req.caller.token} of ${req.caller.user}` : req.caller.user;
      throw new PermissionDenied(`${who} (${req.caller.role}) lacks the scope ${scope} that ${req.method} ${req.routeOptions.url} needs`);
    }
    const params = req.params as Record<string, string | undefined>;
    const query = req.query as Record<string, unknown>;
    if (req.routeOptions.url.startsWith('/v1/containers/:name') && params.name) checkContainer(req.caller, store, params.name);
    if (typeof query.container === 'string' && query.container) checkContainer(req.caller, store, query.container);
    if (params.tenant) checkTenant(req.caller, params.tenant);
  });
  app.addHook('onResponse', async (req: FastifyRequest, reply: FastifyReply) => {
    if (!CHANGES.has(req.method)) return;
    const caller = req.caller as Caller | null;
    const params = req.params as Record<string, string | undefined> | undefined;
    const container = req.routeOptions.url?.startsWith('/v1/containers/:name') && params?.name ? store.getContainer(params.name) : undefined;
    access.records.addAudit({
      time: new Date().toISOString(), actor: caller?.user ?? 'anonymous', token: caller?.token ?? null, asTenant: caller?.actingAs ?? null,
      tenant: container?.tenant ?? (caller ? scopeTenant(caller) : null) ?? params?.tenant ?? null,
      source: sourceOf(req), method: req.method, path: req.url.split('?')[0], status: reply.statusCode, detail: '',
    });
  });
}
