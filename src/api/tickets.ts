/**
 * Single-use tickets for WebSocket sessions: a browser cannot set an Authorization header on a
 * WebSocket, so it asks (with its token) for a ticket, then opens the socket on the API's own
 * origin with `?ticket=…`. A ticket is 256 random bits, kept in memory only, valid for one
 * container and one kind of session, for 30 seconds, once.
 */
import { randomBytes } from 'node:crypto';
import type { Caller } from '../access/index.js';
import { Unauthenticated } from '../errors/index.js';

export type SessionKind = 'exec' | 'console';

interface Held { caller: Caller; container: string; kind: SessionKind; expires: number }

export class Tickets {
  private readonly held = new Map<string, Held>();

  constructor(private readonly ttlMs = 30_000) {}

  issue(caller: Caller, container: string, kind: SessionKind): { ticket: string; expiresAt: string } {
    const now = Date.now();
    for (const [t, h] of this.held) if (h.expires <= now) this.held.delete(t);
    const ticket = randomBytes(32).toString('base64url');
    const expires = now + this.ttlMs;
    this.held.set(ticket, { caller, container, kind, expires });
    return { ticket, expiresAt: new Date(expires).toISOString() };
  }

  /** The caller who asked for `ticket`; it is gone afterwards, whatever the answer. */
  redeem(ticket: string, container: string, kind: SessionKind): Caller {
    const h = this.held.get(ticket);
    this.held.delete(ticket);
    if (!h) throw new Unauthenticated('the ticket is not valid, or was used already: ask for a new one (POST /v1/containers/NAME/tickets)');
    if (h.expires <= Date.now()) throw new Unauthenticated('the ticket expired (they last 30 seconds): ask for a new one');
    if (h.container !== container || h.kind !== kind) throw new Unauthenticated(`the ticket is for the ${h.kind} of container ${h.container}, not the ${kind} of ${container}`);
    return h.caller;
  }
}
