/**
 * The records of who may do what: tenants and their plans, users, API tokens (their secrets only
 * as hashes) and the audit log. Statements prepared once; the rules live in src/access.
 */
import type Database from 'better-sqlite3';

export type Role = 'admin' | 'owner' | 'operator' | 'viewer' | 'billing';

/** What a tenant may have at most, all its containers together; an absent field is no limit. */
export interface Plan {
  /** CPUs' time (1.5 = one and a half CPUs), the ceiling of the tenant's cgroup. */
  cpus?: number;
  /** Bytes of memory, the ceiling of the tenant's cgroup. */
  memory?: number;
  /** Most processes at once, the ceiling of the tenant's cgroup. */
  pids?: number;
  /** Bytes of disk: the sum of its containers' disk limits. */
  disk?: number;
  containers?: number;
  /** Published ports. */
  ports?: number;
  /** Bytes in and out per calendar month (UTC). */
  trafficBytes?: number;
  /** What happens over the traffic quota: the tenant's containers throttled, or the tenant suspended. */
  trafficPolicy?: 'throttle' | 'suspend';
}

export interface TenantRecord {
  name: string;
  plan: Plan;
  suspendedAt: string | null;
  suspendedWhy: string | null;
  /** What the traffic quota did to the tenant and in which month (YYYY-MM), while in force. */
  traffic: { action: 'throttle' | 'suspend'; month: string } | null;
  createdAt: string;
}

export interface UserRecord {
  name: string;
  /** null: a host administrator. */
  tenant: string | null;
  role: Role;
  hasPassword: boolean;
  createdAt: string;
}

export interface TokenRecord {
  id: string;
  user: string;
  scopes: string[];
  /** null: every container the user may reach. */
  containers: string[] | null;
  /** null: from any address. */
  cidrs: string[] | null;
  description: string;
  expiresAt: string | null;
  createdAt: string;
  lastUsedAt: string | null;
}

export interface AuditRecord {
  id: number;
  time: string;
  actor: string;
  token: string | null;
  asTenant: string | null;
  tenant: string | null;
  source: string;
  method: string;
  path: string;
  status: number;
  detail: string;
}

interface TenantRow { name: string; plan: string; suspended_at: string | null; suspended_why: string | null; traffic_action: string | null; traffic_month: string | null; created_at: string }
interface UserRow { name: string; tenant: string | null; role: Role; password_hash: string | null; created_at: string }
interface TokenRow { id: string; user: string; secret_hash: string; scopes: string; containers: string | null; cidrs: string | null; description: string; expires_at: string | null; created_at: string; last_used_at: string | null }
interface AuditRow { id: number; time: string; actor: string; token: string | null; as_tenant: string | null; tenant: string | null; source: string; method: string; path: string; status: number; detail: string }

const toTenant = (r: TenantRow): TenantRecord => ({ name: r.name, plan: JSON.parse(r.plan) as Plan, suspendedAt: r.suspended_at, suspendedWhy: r.suspended_why,
  traffic: r.traffic_action && r.traffic_month ? { action: r.traffic_action as 'throttle' | 'suspend', month: r.traffic_month } : null, createdAt: r.created_at });
const toUser = (r: UserRow): UserRecord => ({ name: r.name, tenant: r.tenant, role: r.role, hasPassword: r.password_hash !== null, createdAt: r.created_at });
const toToken = (r: TokenRow): TokenRecord => ({
  id: r.id, user: r.user, scopes: JSON.parse(r.scopes) as string[], containers: r.containers ? JSON.parse(r.containers) as string[] : null,
  cidrs: r.cidrs ? JSON.parse(r.cidrs) as string[] : null, description: r.description, expiresAt: r.expires_at, createdAt: r.created_at, lastUsedAt: r.last_used_at,
});
const toAudit = (r: AuditRow): AuditRecord => ({
  id: r.id, time: r.time, actor: r.actor, token: r.token, asTenant: r.as_tenant, tenant: r.tenant, source: r.source, method: r.method, path: r.path, status: r.status, detail: r.detail,
});

/** What a tenant's containers hold now, against its plan. */
export interface TenantHoldings {
  containers: number;
  /** Sum of the disk limits plus what the snapshots take. */
  disk: number;
  /** What the snapshots and the kept backups of its containers take (in `disk`). */
  snapshots: number;
  ports: number;
}

export class AccessRecords {
  private readonly q;

  constructor(readonly db: Database.Database) {
    this.q = {
      tenant: db.prepare('SELECT * FROM tenants WHERE name = ?'),
      tenants: db.prepare('SELECT * FROM tenants ORDER BY name'),
      insertTenant: db.prepare('INSERT INTO tenants (name, plan, created_at) VALUES (?, ?, ?)'),
      setPlan: db.prepare('UPDATE tenants SET plan = ? WHERE name = ?'),
      suspend: db.prepare('UPDATE tenants SET suspended_at = ?, suspended_why = ? WHERE name = ?'),
      setTraffic: db.prepare('UPDATE tenants SET traffic_action = ?, traffic_month = ? WHERE name = ?'),
      deleteTenant: db.prepare('DELETE FROM tenants WHERE name = ?'),
      tenantContainers: db.prepare('SELECT name FROM containers WHERE tenant = ? ORDER BY name'),
      holdings: db.prepare(
        `WITH snaps AS (SELECT (SELECT COALESCE(SUM(s.size_bytes), 0) FROM snapshots s JOIN containers c3 ON c3.name = s.container WHERE c3.tenant = @t)
                           + (SELECT COALESCE(SUM(b.bytes), 0) FROM backups b JOIN containers c4 ON c4.name = b.container WHERE c4.tenant = @t) AS n)
         SELECT COUNT(*) AS containers, COALESCE(SUM(COALESCE(json_extract(limits, '$.disk'), 0)), 0) + (SELECT n FROM snaps) AS disk,
                (SELECT n FROM snaps) AS snapshots,
                (SELECT COUNT(*) FROM net_ports p JOIN containers c2 ON c2.name = p.container WHERE c2.tenant = @t) AS ports
         FROM containers WHERE tenant = @t`,
      ),
      user: db.prepare('SELECT * FROM users WHERE name = ?'),
      users: db.prepare('SELECT * FROM users WHERE (@tenant IS NULL OR tenant = @tenant) ORDER BY name'),
      insertUser: db.prepare('INSERT INTO users (name, tenant, role, password_hash, created_at) VALUES (?, ?, ?, ?, ?)'),
      setPassword: db.prepare('UPDATE users SET password_hash = ? WHERE name = ?'),
      passwordHash: db.prepare('SELECT password_hash AS hash FROM users WHERE name = ?'),
      deleteUser: db.prepare('DELETE FROM users WHERE name = ?'),
      token: db.prepare('SELECT * FROM tokens WHERE id = ?'),
      tokens: db.prepare('SELECT t.* FROM tokens t JOIN users u ON u.name = t.user WHERE (@user IS NULL OR t.user = @user) AND (@tenant IS NULL OR u.tenant = @tenant) ORDER BY t.created_at, t.id'),
      insertToken: db.prepare('INSERT INTO tokens (id, user, secret_hash, scopes, containers, cidrs, description, expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)'),
      touchToken: db.prepare('UPDATE tokens SET last_used_at = ? WHERE id = ?'),
      deleteToken: db.prepare('DELETE FROM tokens WHERE id = ?'),
      audit: db.prepare('INSERT INTO audit (time, actor, token, as_tenant, tenant, source, method, path, status, detail) VALUES (@time, @actor, @token, @asTenant, @tenant, @source, @method, @path, @status, @detail)'),
      auditList: db.prepare('SELECT * FROM audit WHERE (@tenant IS NULL OR tenant = @tenant OR as_tenant = @tenant) AND id > @after ORDER BY id DESC LIMIT @limit'),
    };
  }

  // Tenants

  getTenant(name: string): TenantRecord | undefined {
    const row = this.q.tenant.get(name) as TenantRow | undefined;
    return row && toTenant(row);
  }

  listTenants(): TenantRecord[] {
    return (this.q.tenants.all() as TenantRow[]).map(toTenant);
  }

  insertTenant(name: string, plan: Plan): void {
    this.q.insertTenant.run(name, JSON.stringify(plan), new Date().toISOString());
  }

  setPlan(name: string, plan: Plan): void {
    this.q.setPlan.run(JSON.stringify(plan), name);
  }

  setSuspended(name: string, why: string | null): void {
    this.q.suspend.run(why === null ? null : new Date().toISOString(), why, name);
  }

  /** Records what the traffic quota did to a tenant (null: nothing in force). */
  setTrafficAction(name: string, taken: { action: 'throttle' | 'suspend'; month: string } | null): void {
    this.q.setTraffic.run(taken?.action ?? null, taken?.month ?? null, name);
  }

  deleteTenant(name: string): void {
    this.q.deleteTenant.run(name);
  }

  tenantContainers(name: string): string[] {
    return (this.q.tenantContainers.all(name) as Array<{ name: string }>).map((r) => r.name);
  }

  holdings(name: string): TenantHoldings {
    return this.q.holdings.get({ t: name }) as TenantHoldings;
  }

  // Users

  getUser(name: string): UserRecord | undefined {
    const row = this.q.user.get(name) as UserRow | undefined;
    return row && toUser(row);
  }

  listUsers(tenant: string | null): UserRecord[] {
    return (this.q.users.all({ tenant }) as UserRow[]).map(toUser);
  }

  insertUser(name: string, tenant: string | null, role: Role, passwordHash: string | null): void {
    this.q.insertUser.run(name, tenant, role, passwordHash, new Date().toISOString());
  }

  setPassword(name: string, hash: string | null): void {
    this.q.setPassword.run(hash, name);
  }

  passwordHash(name: string): string | null {
    return (this.q.passwordHash.get(name) as { hash: string | null } | undefined)?.hash ?? null;
  }

  deleteUser(name: string): void {
    this.q.deleteUser.run(name);
  }

  // Tokens

  /** The token and its secret's hash, for checking a presented secret. */
  getToken(id: string): (TokenRecord & { secretHash: string }) | undefined {
    const row = this.q.token.get(id) as TokenRow | undefined;
    return row && { ...toToken(row), secretHash: row.secret_hash };
  }

  listTokens(filter: { user?: string; tenant?: string }): TokenRecord[] {
    return (this.q.tokens.all({ user: filter.user ?? null, tenant: filter.tenant ?? null }) as TokenRow[]).map(toToken);
  }

  insertToken(t: Omit<TokenRecord, 'lastUsedAt'>, secretHash: string): void {
    this.q.insertToken.run(t.id, t.user, secretHash, JSON.stringify(t.scopes), t.containers ? JSON.stringify(t.containers) : null,
      t.cidrs ? JSON.stringify(t.cidrs) : null, t.description, t.expiresAt, t.createdAt);
  }

  touchToken(id: string, at: string): void {
    this.q.touchToken.run(at, id);
  }

  deleteToken(id: string): void {
    this.q.deleteToken.run(id);
  }

  // Audit

  addAudit(a: Omit<AuditRecord, 'id'>): void {
    this.q.audit.run(a);
  }

  /** The newest entries first (after id `after`), of one tenant or of all. */
  listAudit(filter: { tenant?: string; after?: number; limit?: number }): AuditRecord[] {
    return (this.q.auditList.all({ tenant: filter.tenant ?? null, after: filter.after ?? 0, limit: filter.limit ?? 200 }) as AuditRow[]).map(toAudit);
  }
}
