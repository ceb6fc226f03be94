/**
 * Who may do what: tenants with plans, their users with roles, API tokens, callers, and the quota
 * rules the orchestrator asks before it makes anything. Records in state/access.ts; the API's one
 * permission check (api/access.ts) turns a request into a Caller here and asks `may`.
 */
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, PermissionDenied, Unauthenticated } from '../errors/index.js';
import { validateName } from '../util/names.js';
import type { AccessRecords, Plan, Role, TenantRecord, TokenRecord, UserRecord } from '../state/index.js';
import { isScope, ROLE_SCOPES, type Scope } from './scopes.js';
import { checkPassword, hashPassword, hashSecret, newToken, sameHash, splitToken } from './secrets.js';

export { type Scope } from './scopes.js';
export { parsePlan, describePlan, QuotaBook, type Reservation } from './quota.js';
export { monthOf, trafficVerdict, THROTTLE_BITS, type TrafficAction } from './traffic.js';
export type { Plan, TenantRecord, TokenRecord, UserRecord } from '../state/index.js';

const ROLES: readonly Role[] = ['admin', 'owner', 'operator', 'viewer', 'billing'];

/** Who is asking, as every route sees it. */
export interface Caller {
  /** The user; 'root' over the unix socket without a token. */
  user: string;
  role: Role;
  /** The caller's own tenant (null: a host administrator). */
  tenant: string | null;
  /** The tenant a host administrator acts as (recorded in the audit), or null. */
  actingAs: string | null;
  scopes: ReadonlySet<Scope>;
  /** Only these containers (a token's container list), or null. */
  containers: ReadonlySet<string> | null;
  /** The token id used, or null. */
  token: string | null;
  /** The client's address, or 'unix'. */
  source: string;
}

/** The tenant whose objects the caller sees and makes: its own, or the one acted as; null: all (an administrator). */
export const scopeTenant = (c: Caller): string | null => c.actingAs ?? c.tenant;

export const ROOT: Omit<Caller, 'source'> = {
  user: 'root', role: 'admin', tenant: null, actingAs: null, scopes: new Set(ROLE_SCOPES.admin), containers: null, token: null,
};

export interface NewToken {
  user: string;
  scopes?: string[];
  containers?: string[];
  cidrs?: string[];
  /** Seconds from now, or none. */
  expiresIn?: number;
  description?: string;
}

/** How long a panel log-in (a token made from a password) lasts. */
const LOGIN_SECONDS = 12 * 3600;

function checkCidr(cidr: string): [string, number, 'ipv4' | 'ipv6'] {
  const [addr, bits] = cidr.split('/');
  const family = isIPv4(addr) ? 'ipv4' : isIPv6(addr) ? 'ipv6' : null;
  const prefix = bits === undefined ? (family === 'ipv4' ? 32 : 128) : Number(bits);
  if (!family || !Number.isInteger(prefix) || prefix < 0 || prefix > (family === 'ipv4' ? 32 : 128)) {
    throw new InvalidArgument(`invalid address range ${JSON.stringify(cidr)}: give CIDRs such as 203.0.113.0/24 or 2001:db8::/32`);
  }
  return [addr, prefix, family];
}

function addressAllowed(cidrs: string[], source: string): boolean {
  const list = new BlockList();
  for (const c of cidrs) { const [addr, prefix, family] = checkCidr(c); list.addSubnet(addr, prefix, family); }
  const addr = source.startsWith('::ffff:') && isIPv4(source.slice(7)) ? source.slice(7) : source;
  return isIPv4(addr) ? list.check(addr, 'ipv4') : isIPv6(addr) ? list.check(addr, 'ipv6') : false;
}

export class Access {
  constructor(readonly records: AccessRecords) {}

  // Tenants

  tenant(name: string): TenantRecord {
    const t = this.records.getTenant(name);
    if (!t) throw new NotFound(`there is no tenant ${name}: see 'strata tenant list'`);
    return t;
  }

  tenants(): TenantRecord[] {
    return this.records.listTenants();
  }

  createTenant(name: string, plan: Plan): TenantRecord {
    validateName('tenant', name);
    if (this.records.getTenant(name)) throw new AlreadyExists(`tenant ${name} already exists: pick another name, or change its plan with 'strata tenant set ${name}'`);
    this.records.insertTenant(name, plan);
    return this.tenant(name);
  }

  setPlan(name: string, plan: Plan): TenantRecord {
    this.tenant(name);
    this.records.setPlan(name, plan);
    return this.tenant(name);
  }

  setSuspended(name: string, why: string | null): TenantRecord {
    this.tenant(name);
    this.records.setSuspended(name, why);
    return this.tenant(name);
  }

  removeTenant(name: string): void {
    this.tenant(name);
    const left = this.records.tenantContainers(name);
    if (left.length) throw new FailedPrecondition(`tenant ${name} still has ${left.length} container(s) (${left.slice(0, 5).join(', ')}${left.length > 5 ? ', …' : ''}): destroy them first`);
    this.records.deleteTenant(name);
  }

  tenantContainers(name: string): string[] {
    return this.records.tenantContainers(name);
  }

  // Users

  user(name: string): UserRecord {
    const u = this.records.getUser(name);
    if (!u) throw new NotFound(`there is no user ${name}: see 'strata user list'`);
    return u;
  }

  users(tenant: string | null): UserRecord[] {
    return this.records.listUsers(tenant);
  }

  createUser(u: { name: string; tenant?: string | null; role: string; password?: string }): UserRecord {
    validateName('user', u.name);
    if (u.name === 'root') throw new InvalidArgument("the user name 'root' is the host's own (the unix socket): pick another");
    const role = u.role as Role;
    if (!ROLES.includes(role)) throw new InvalidArgument(`invalid role ${JSON.stringify(u.role)}: use one of ${ROLES.join(', ')}`);
    const tenant = u.tenant ?? null;
    if (role === 'admin' && tenant) throw new InvalidArgument('a host administrator belongs to no tenant: leave out the tenant, or give another role');
    if (role !== 'admin' && !tenant) throw new InvalidArgument(`a user with role ${role} belongs to a tenant: give --tenant NAME`);
    if (tenant) this.tenant(tenant);
    if (this.records.getUser(u.name)) throw new AlreadyExists(`user ${u.name} already exists: pick another name`);
    this.records.insertUser(u.name, tenant, role, u.password ? hashPassword(checkedPassword(u.password)) : null);
    return this.user(u.name);
  }

  setPassword(name: string, password: string | null): void {
    this.user(name);
    this.records.setPassword(name, password === null ? null : hashPassword(checkedPassword(password)));
  }

  removeUser(name: string): void {
    this.user(name);
    this.records.deleteUser(name);
  }

  // Tokens

  /** Makes a token; its secret is in the answer and nowhere else. */
  createToken(t: NewToken): { token: string; record: TokenRecord } {
    const user = this.user(t.user);
    const allowed = new Set<string>(ROLE_SCOPES[user.role]);
    const scopes = t.scopes?.length ? [...new Set(t.scopes)] : [...allowed];
    for (const s of scopes) {
      if (!isScope(s)) throw new InvalidArgument(`unknown scope ${JSON.stringify(s)}: use some of ${[...ROLE_SCOPES.admin].join(', ')}`);
      if (!allowed.has(s)) throw new PermissionDenied(`a ${user.role} cannot hold scope ${s}: give some of ${[...allowed].join(', ')}`);
    }
    for (const c of t.cidrs ?? []) checkCidr(c);
    if (t.expiresIn !== undefined && (!Number.isFinite(t.expiresIn) || t.expiresIn <= 0)) throw new InvalidArgument('a token expires a positive number of seconds from now (--expires 30d, 12h, 3600)');
    const { id, secret, token } = newToken();
    const record = {
      id, user: user.name, scopes, containers: t.containers?.length ? [...new Set(t.containers)] : null, cidrs: t.cidrs?.length ? t.cidrs : null,
      description: t.description ?? '', expiresAt: t.expiresIn ? new Date(Date.now() + t.expiresIn * 1000).toISOString() : null, createdAt: new Date().toISOString(),
    };
    this.records.insertToken(record, hashSecret(secret));
    return { token, record: { ...record, lastUsedAt: null } };
  }

  tokens(filter: { user?: string; tenant?: string }): TokenRecord[] {
    return this.records.listTokens(filter);
  }

  token(id: string): TokenRecord {
    const t = this.records.getToken(id);
    if (!t) throw new NotFound(`there is no token ${id}: see 'strata token list'`);
    const { secretHash: _, ...record } = t;
    return record;
  }

  revokeToken(id: string): void {
    this.token(id);
    this.records.deleteToken(id);
  }

  /** A password log-in: a token of all the user's scopes, valid for 12 hours. */
  login(name: string, password: string): { token: string; record: TokenRecord } {
    const hash = this.records.getUser(name) ? this.records.passwordHash(name) : null;
    // One answer for an unknown user and a wrong password: the log-in form must not tell which.
    if (!hash || !checkPassword(password, hash)) throw new Unauthenticated('wrong user name or password');
    return this.createToken({ user: name, expiresIn: LOGIN_SECONDS, description: 'log-in' });
  }

  /**
   * The caller a presented bearer token stands for, from address `source`; throws Unauthenticated
   * naming what is wrong.
   */
  authenticate(bearer: string, source: string, actAs: string | null): Caller {
    const parts = splitToken(bearer);
    const t = parts && this.records.getToken(parts.id);
    if (!parts || !t || !sameHash(t.secretHash, hashSecret(parts.secret))) throw new Unauthenticated('the API token is not valid: make one with \'strata token create\'');
    if (t.expiresAt && Date.parse(t.expiresAt) <= Date.now()) throw new Unauthenticated(`the API token ${t.id} expired at ${t.expiresAt}: make a new one with 'strata token create'`);
    if (t.cidrs && !addressAllowed(t.cidrs, source)) throw new Unauthenticated(`the API token ${t.id} may not be used from ${source}: it is limited to ${t.cidrs.join(', ')}`);
    const user = this.user(t.user);
    const now = new Date().toISOString();
    // Written at most once a minute per token: a busy client must not turn reads into writes.
    if (!t.lastUsedAt || Date.parse(now) - Date.parse(t.lastUsedAt) > 60_000) this.records.touchToken(t.id, now);
    const granted = new Set<string>(ROLE_SCOPES[user.role]);
    const caller: Caller = {
      user: user.name, role: user.role, tenant: user.tenant, actingAs: null,
      scopes: new Set(t.scopes.filter((s): s is Scope => isScope(s) && granted.has(s))),
      containers: t.containers ? new Set(t.containers) : null, token: t.id, source,
    };
    return actAs ? this.actAs(caller, actAs) : caller;
  }

  /** A host administrator acting as tenant `name`: sees and makes only that tenant's objects. */
  actAs(caller: Caller, name: string): Caller {
    if (caller.role !== 'admin') throw new PermissionDenied(`only a host administrator may act as a tenant; ${caller.user} is a ${caller.role} of ${caller.tenant}`);
    this.tenant(name);
    return { ...caller, actingAs: name };
  }
}

function checkedPassword(p: string): string {
  if (typeof p !== 'string' || p.length < 8) throw new InvalidArgument('a password has at least 8 characters');
  return p;
}
