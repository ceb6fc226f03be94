/**
 * Moves between hosts. The sending side is one operation (POST …/moves); the receiving side is
 * what the sending daemon calls here (begin, files, finish, commit, status, abort). Both are for
 * host administrators: a move sends whole containers and templates between hosts.
 */
import {
  AsyncQuery, ContainerView, MoveBeginRequest, MoveBegun, MoveFileParams, MoveFileReceived, MoveFinishRequest, MoveParams, MoveRequest, MoveStatus, NameParams, OperationAnswers,
} from '../types.js';
import { asOperation, tag, type App, type Services } from '../http.js';

const long = OperationAnswers;
const t = tag('containers');

export function moveRoutes(app: App, s: Services): void {
  app.post('/v1/containers/:name/moves', { config: { scope: 'admin' },
    schema: {
      ...t, summary: 'Move a container to another daemon: templates it lacks sent by digest, the files synced while it runs, a short stop, a last sync, started there with its address, MAC and hostname; the downtime measured. Exactly one copy runs whatever fails',
      params: NameParams, querystring: AsyncQuery, body: MoveRequest, response: long,
    },
  }, async (req, reply) => {
    await s.moves.check(req.params.name, req.body.to, req.body.live === true);
    return asOperation(req, reply, s, 'container-move', req.params.name, (progress) => s.moves.moveOut(req.params.name, req.body.to, progress));
  });

  app.addContentTypeParser('application/octet-stream', (_req, payload, done) => { done(null, payload); });
  app.post('/v1/moves', { config: { scope: 'admin' },
    schema: { ...t, summary: 'Receive a move: answers its id and the template digests this host lacks', body: MoveBeginRequest, response: { 201: MoveBegun } },
  }, async (req, reply) => reply.status(201).send(await s.moves.begin(req.body.container, req.body.digests)));
  app.put('/v1/moves/:id/files/:file', { config: { scope: 'admin' },
    schema: { ...t, summary: 'A file of a move (a backup or a template file), in the body (application/octet-stream)', params: MoveFileParams, response: { 200: MoveFileReceived } },
  }, async (req) => s.moves.receive(req.params.id, req.params.file, req.raw));
  app.post('/v1/moves/:id/finish', { config: { scope: 'admin' },
    schema: { ...t, summary: 'Restore the moved container from the files sent (keeping its address and MAC) and start it; removed again unless committed within the lease', params: MoveParams, body: MoveFinishRequest, response: { 200: ContainerView } },
  }, async (req) => s.moves.finish(req.params.id, req.body.files, req.body.start, () => undefined));
  app.post('/v1/moves/:id/commit', { config: { scope: 'admin' },
    schema: { ...t, summary: 'Keep the moved container: the source has let go of its copy', params: MoveParams, response: { 200: MoveStatus } },
  }, async (req) => s.moves.commit(req.params.id));
  app.get('/v1/moves/:id', { config: { scope: 'admin' },
    schema: { ...t, summary: 'Where a received move stands', params: MoveParams, response: { 200: MoveStatus } },
  }, async (req) => s.moves.status(req.params.id));
  app.delete('/v1/moves/:id', { config: { scope: 'admin' },
    schema: { ...t, summary: 'Abort a received move: what it brought goes (its container too); refused once committed', params: MoveParams, response: { 200: MoveStatus } },
  }, async (req) => s.moves.abort(req.params.id));
}
