/** Every route names the scope it needs (src/access/scopes.ts); the permission check (access.ts) reads it. */
import type { Scope } from '../access/index.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** What the caller needs for this route; 'caller': any caller who said who it is. Without one: 'admin'. */
    scope?: Scope | 'caller';
    /** Open to anyone, even without a token (the OpenAPI document, the panel's log-in). */
    public?: boolean;
    /** A WebSocket session that also takes a single-use ticket (`?ticket=`) instead of a token. */
    ticket?: 'exec' | 'console';
  }
}
