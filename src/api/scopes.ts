/**
 * What a request may need, named once: every route says its scope (`config: { scope }`) and one
 * permission check reads it. Tokens carry scopes; roles grant them (see docs/api.md, Access).
 */
export const SCOPES = [
  'containers:read', 'containers:write', 'containers:exec',
  'templates:read', 'templates:write',
  'networks:read', 'networks:write',
  'metering:read', 'operations:read', 'operations:write',
  'tenants:read', 'tenants:write',
  /** The host itself: daemon facts that show other tenants, store checks, host-wide settings. */
  'admin',
] as const;

export type Scope = (typeof SCOPES)[number];

declare module 'fastify' {
  interface FastifyContextConfig {
    /** What the caller needs for this route; routes without one are open (health, the OpenAPI document). */
    scope?: Scope;
  }
}
