/**
 * What a request may need, named once: every API route says its scope (`config: { scope }`) and one
 * permission check reads it. Roles grant scopes; a token carries some of its user's (docs/access.md).
 */
const SCOPES = [
  'containers:read', 'containers:write', 'containers:exec',
  'templates:read', 'templates:write',
  'networks:read', 'networks:write',
  'metering:read', 'operations:read', 'operations:write',
  /** A tenant's own record, users and tokens (read: see them; write: manage its users and tokens). */
  'tenants:read', 'tenants:write',
  /** The host itself: other tenants, plans, the store, host-wide facts. */
  'admin',
] as const;

export type Scope = (typeof SCOPES)[number];

/** What each role may do. A host administrator may do everything, and act as any tenant. */
export const ROLE_SCOPES: Readonly<Record<string, readonly Scope[]>> = {
  admin: SCOPES,
  owner: ['containers:read', 'containers:write', 'containers:exec', 'templates:read', 'networks:read', 'metering:read', 'operations:read', 'operations:write', 'tenants:read', 'tenants:write'],
  operator: ['containers:read', 'containers:write', 'containers:exec', 'templates:read', 'networks:read', 'metering:read', 'operations:read', 'operations:write', 'tenants:read'],
  viewer: ['containers:read', 'templates:read', 'networks:read', 'metering:read', 'operations:read', 'tenants:read'],
  billing: ['metering:read', 'tenants:read'],
};

export function isScope(s: string): s is Scope {
  return (SCOPES as readonly string[]).includes(s);
}
