/**
 * The web panel (panel/, built by `npm run build` into dist/panel) served on the API's own origin:
 * one TLS port, one certificate, and a reverse proxy in front needs one location. Its files are
 * public (they hold nothing secret); every call the panel makes is an API call with its token.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import { NotFound } from '../errors/index.js';
import type { App } from './http.js';

/** dist/panel, beside dist/src where this module runs. */
const PANEL_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'panel');

/**
 * The browser may load only the panel's own files and talk only to its origin (the API and its
 * WebSockets); no frame may embed it. xterm.js and uPlot set element styles, hence inline styles.
 */
const CSP = "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'self'; form-action 'none'";

export async function panelRoutes(app: App): Promise<void> {
  const built = existsSync(join(PANEL_DIR, 'index.html'));
  await app.register(fastifyStatic, { root: PANEL_DIR, serve: false });
  const hidden = { schema: { hide: true }, config: { public: true } } as const;
  app.get('/', hidden, async (_req, reply) => {
    if (!built) throw new NotFound(`the web panel is not built in ${PANEL_DIR}: run 'npm run build'`);
    void reply.header('content-security-policy', CSP).header('x-content-type-options', 'nosniff').header('referrer-policy', 'no-referrer')
      .header('cache-control', 'no-cache');
    return reply.sendFile('index.html');
  });
  // Vite names assets by their content's hash: they never change under one name.
  app.get('/assets/*', hidden, async (req, reply) => {
    const file = (req.params as { '*': string })['*'];
    void reply.header('x-content-type-options', 'nosniff').header('cache-control', 'public, max-age=31536000, immutable');
    return reply.sendFile(join('assets', file));
  });
}
