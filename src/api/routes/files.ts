/** A running container's files as tar streams (strata cp): read with GET, written with PUT. */
import { Type } from 'typebox';
import { NameParams } from '../types.js';
import { tag, type App, type Services } from '../http.js';

const t = tag('containers');
const FilesQuery = Type.Object({ path: Type.String({ minLength: 1, description: 'an absolute path inside the container, resolved in its root (symlinks never lead out)' }) });
const Tar = Type.Unsafe<NodeJS.ReadableStream>({ type: 'string', format: 'binary' });
const Copied = Type.Object({
  entries: Type.Integer({ description: 'files, directories and links written' }), bytes: Type.Integer({ description: 'bytes of file contents written' }),
  path: Type.String(),
}, { additionalProperties: true });

export function fileRoutes(app: App, s: Services): void {
  // The body of a PUT is the request stream itself, read as it comes (never buffered whole).
  app.addContentTypeParser('application/x-tar', (_req, payload, done) => { done(null, payload); });

  app.get('/v1/containers/:name/files', { config: { scope: 'containers:read' },
    schema: {
      ...t, summary: 'Copy out of a running container: a tar of the file, directory or symlink at `path` (its top entry is the last component)',
      params: NameParams, querystring: FilesQuery,
      response: { 200: { description: 'a tar archive', content: { 'application/x-tar': { schema: Tar } } } },
    },
  }, async (req, reply) => reply.type('application/x-tar').send(await s.containers.files().read(req.params.name, req.query.path)));

  app.put('/v1/containers/:name/files', { config: { scope: 'containers:write' },
    schema: {
      ...t,
      summary: 'Copy into a running container: the tar in the body (application/x-tar) is extracted into `path` when it is a directory; '
        + 'otherwise its one top entry becomes `path`, whose directory must exist. Owners are mapped into the container\'s id range; nothing is written when it fails',
      params: NameParams, querystring: FilesQuery,
      response: { 200: Copied },
    },
  }, async (req) => s.containers.files().write(req.params.name, req.query.path, req.raw));
}
