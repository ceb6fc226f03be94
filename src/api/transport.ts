/**
 * Which listener a request came in on: the unix socket (mode 0600, so host root) or the TLS
 * listener of `strata daemon --listen` (anyone who can reach the port: a token is required). The
 * permission check (access.ts) and anything else that must tell the two apart ask here.
 *
 * The daemon serves no plain TCP port. One added later (or a TLS-terminating proxy in front of the
 * unix socket) would make its callers look local: mark such a listener's sockets here first.
 */
import type { FastifyRequest } from 'fastify';
import { TLSSocket } from 'node:tls';

/** Whether `req` came over the network (the TLS listener), not the unix socket. */
export function isRemote(req: FastifyRequest): boolean {
  return req.raw.socket instanceof TLSSocket;
}
