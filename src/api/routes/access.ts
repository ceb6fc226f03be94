/** Access: who the caller is, tenants and their plans, users, API tokens, log-in, the audit log. */
import { Type } from 'typebox';
import { describePlan, monthOf, parsePlan, scopeTenant, type Caller, type TenantRecord } from '../../access/index.js';
import { PermissionDenied } from '../../errors/index.js';
import {
  AuditEntry, AuditQuery, CreateTenantRequest, CreateTokenRequest, CreateUserRequest, LoginRequest, MeView, NewTokenView, PasswordRequest,
  PlanRequest, Removed, SuspendRequest, TenantParams, TenantView, TokenParams, TokenView, UserParams, UserView,
} from '../types.js';
import { checkTenant } from '../access.js';
import { tag, type App, type Services } from '../http.js';

const t = tag('access');

/** May `caller` manage user `name` (its tokens, its password)? Itself always; others with tenants:write on their tenant. */
function checkManages(caller: Caller, s: Services, name: string): void {
  if (name === caller.user) return;
  const user = s.access.user(name);
  const own = scopeTenant(caller);
  if (own === null && caller.role === 'admin') return;
  if (!caller.scopes.has('tenants:write')) throw new PermissionDenied(`${caller.user} (${caller.role}) may manage only its own tokens and password`);
  if (user.tenant !== own) throw new PermissionDenied(`user ${name} is not one of tenant ${own}'s`);
}

export function accessRoutes(app: App, s: Services): void {
  const trafficThisMonth = (tenant: string): number => {
    const { total } = s.meter.ledger(tenant, monthOf(Date.now()));
    return total.netRxBytes + total.netTxBytes;
  };
  const tenantView = (r: TenantRecord) => ({
    ...r, holdings: { ...s.access.records.holdings(r.name), traffic: trafficThisMonth(r.name) }, containers: s.access.tenantContainers(r.name),
  });

  app.get('/v1/me', { config: { scope: 'caller' }, schema: { ...t, summary: 'Who the caller is and what it may do', response: { 200: MeView } } }, async (req) => {
    const c = req.caller;
    const tenant = scopeTenant(c);
    return {
      user: c.user, role: c.role, tenant: c.tenant, actingAs: c.actingAs, scopes: [...c.scopes], containers: c.containers ? [...c.containers] : null,
      token: c.token, source: c.source, ...(tenant ? { tenantView: tenantView(s.access.tenant(tenant)) } : {}),
    };
  });
  app.post('/v1/sessions', {
    config: { public: true },
    schema: { ...t, summary: "Log in with a user's password: answers a token valid for 12 hours", body: LoginRequest, response: { 201: NewTokenView } },
  }, async (req, reply) => reply.status(201).send(s.access.login(req.body.user, req.body.password)));

  // Tenants
  app.get('/v1/tenants', { config: { scope: 'tenants:read' }, schema: { ...t, summary: 'Tenants (a tenant user sees its own)', response: { 200: Type.Array(TenantView) } } }, async (req) => {
    const own = scopeTenant(req.caller);
    return s.access.tenants().filter((x) => own === null || x.name === own).map(tenantView);
  });
  app.post('/v1/tenants', { config: { scope: 'admin' }, schema: { ...t, summary: 'Create a tenant with a plan', body: CreateTenantRequest, response: { 201: TenantView } } },
    async (req, reply) => reply.status(201).send(tenantView(s.access.createTenant(req.body.name, parsePlan(req.body.plan ?? {})))));
  app.get('/v1/tenants/:tenant', { config: { scope: 'tenants:read' }, schema: { ...t, summary: 'A tenant, its plan and what it holds', params: TenantParams, response: { 200: TenantView } } },
    async (req) => tenantView(s.access.tenant(req.params.tenant)));
  app.patch('/v1/tenants/:tenant/plan', {
    config: { scope: 'admin' },
    schema: { ...t, summary: "Change a tenant's plan (null removes a field); running containers get the new ceilings at once", params: TenantParams, body: PlanRequest, response: { 200: TenantView } },
  }, async (req) => {
    const name = req.params.tenant;
    const before = s.access.tenant(name).plan;
    s.access.setPlan(name, parsePlan(req.body, before));
    try {
      await s.containers.applyTenantCeilings(name);
    } catch (err) {
      s.access.setPlan(name, before);
      throw err;
    }
    s.store.addEvent('tenant-plan-changed', name, `tenant ${name}: plan now ${describePlan(s.access.tenant(name).plan)}`, name);
    return tenantView(s.access.tenant(name));
  });
  app.post('/v1/tenants/:tenant/suspend', {
    config: { scope: 'admin' },
    schema: { ...t, summary: 'Suspend a tenant: its running containers stop and none may start; nothing is deleted', params: TenantParams, body: SuspendRequest, response: { 200: TenantView } },
  }, async (req) => {
    const name = req.params.tenant;
    s.access.setSuspended(name, req.body?.reason || 'suspended by the host');
    await s.containers.stopTenant(name);
    s.store.addEvent('tenant-suspended', name, `tenant ${name} suspended: ${req.body?.reason || 'by the host'}`, name);
    return tenantView(s.access.tenant(name));
  });
  app.post('/v1/tenants/:tenant/unsuspend', {
    config: { scope: 'admin' }, schema: { ...t, summary: 'Lift a suspension: its containers may start again', params: TenantParams, response: { 200: TenantView } },
  }, async (req) => {
    s.access.setSuspended(req.params.tenant, null);
    s.store.addEvent('tenant-unsuspended', req.params.tenant, `tenant ${req.params.tenant} unsuspended`, req.params.tenant);
    return tenantView(s.access.tenant(req.params.tenant));
  });
  app.delete('/v1/tenants/:tenant', { config: { scope: 'admin' }, schema: { ...t, summary: 'Remove a tenant that has no container (its users and tokens go with it)', params: TenantParams, response: { 200: Removed } } },
    async (req) => { s.access.removeTenant(req.params.tenant); return { removed: req.params.tenant }; });

  // Users
  app.get('/v1/users', { config: { scope: 'tenants:read' }, schema: { ...t, summary: "Users (a tenant's users see their tenant's)", response: { 200: Type.Array(UserView) } } },
    async (req) => s.access.users(scopeTenant(req.caller)));
  app.post('/v1/users', { config: { scope: 'tenants:write' }, schema: { ...t, summary: 'Create a user', body: CreateUserRequest, response: { 201: UserView } } }, async (req, reply) => {
    const own = scopeTenant(req.caller);
    const tenant = req.body.tenant ?? own ?? undefined;
    if (own !== null) {
      checkTenant(req.caller, tenant ?? '');
      if (req.body.role === 'admin') throw new PermissionDenied('only a host administrator may make another');
    }
    return reply.status(201).send(s.access.createUser({ ...req.body, tenant }));
  });
  app.delete('/v1/users/:user', { config: { scope: 'tenants:write' }, schema: { ...t, summary: 'Remove a user and its tokens', params: UserParams, response: { 200: Removed } } }, async (req) => {
    checkManages(req.caller, s, req.params.user);
    s.access.removeUser(req.params.user);
    return { removed: req.params.user };
  });
  app.put('/v1/users/:user/password', { config: { scope: 'caller' }, schema: { ...t, summary: "Set a user's password (its own, or as its tenant's owner)", params: UserParams, body: PasswordRequest, response: { 200: UserView } } },
    async (req) => {
      checkManages(req.caller, s, req.params.user);
      s.access.setPassword(req.params.user, req.body.password);
      return s.access.user(req.params.user);
    });

  // Tokens
  app.get('/v1/tokens', { config: { scope: 'caller' }, schema: { ...t, summary: "Tokens: the caller's own; an owner's, its tenant's; an administrator's, all", response: { 200: Type.Array(TokenView) } } },
    async (req) => {
      const c = req.caller;
      const own = scopeTenant(c);
      if (own === null && c.role === 'admin') return s.access.tokens({});
      return c.scopes.has('tenants:write') && own ? s.access.tokens({ tenant: own }) : s.access.tokens({ user: c.user });
    });
  app.post('/v1/tokens', { config: { scope: 'caller' }, schema: { ...t, summary: 'Make an API token (its secret is in this answer only)', body: CreateTokenRequest, response: { 201: NewTokenView } } },
    async (req, reply) => {
      const user = req.body.user ?? req.caller.user;
      if (user === 'root') throw new PermissionDenied("root (the unix socket) has no tokens: make a user with role admin ('strata user create NAME --role admin') and a token of it");
      checkManages(req.caller, s, user);
      return reply.status(201).send(s.access.createToken({ ...req.body, user }));
    });
  app.delete('/v1/tokens/:id', { config: { scope: 'caller' }, schema: { ...t, summary: 'Revoke a token', params: TokenParams, response: { 200: Removed } } }, async (req) => {
    checkManages(req.caller, s, s.access.token(req.params.id).user);
    s.access.revokeToken(req.params.id);
    return { removed: req.params.id };
  });

  app.get('/v1/audit', { config: { scope: 'tenants:read' }, schema: { ...t, summary: "Audited changes, newest first (a tenant's users see their tenant's)", querystring: AuditQuery, response: { 200: Type.Array(AuditEntry) } } },
    async (req) => s.access.records.listAudit({ tenant: scopeTenant(req.caller) ?? undefined, after: req.query.after, limit: req.query.limit }));
}
