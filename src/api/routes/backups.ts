/**
 * Backups: a container to one file on the daemon host, and back. Both run as operations. Host
 * paths are the daemon's, so these are for host administrators (scope admin).
 */
import { BackupRequest, NameParams, OperationAnswers, RestoreRequest, AsyncQuery } from '../types.js';
import { asOperation, tag, type App, type Services } from '../http.js';

const long = OperationAnswers;
const t = tag('containers');

export function backupRoutes(app: App, s: Services): void {
  app.post('/v1/containers/:name/backups', { config: { scope: 'admin' },
    schema: {
      ...t, summary: 'Back a container up to one file on the daemon host: its settings, its own files (a running one frozen while they are copied), its templates by digest (or whole: withTemplates); incremental on an earlier backup (since)',
      params: NameParams, querystring: AsyncQuery, body: BackupRequest, response: long,
    },
  }, async (req, reply) => {
    s.containers.inspect(req.params.name);
    return asOperation(req, reply, s, 'container-backup', req.params.name, (progress) => s.backups.backup({ container: req.params.name, ...req.body }, progress));
  });
  app.post('/v1/backup-restores', { config: { scope: 'admin' },
    schema: {
      ...t, summary: 'Restore a container from a backup file on the daemon host: every digest verified, missing templates imported from it (or named), an incremental one with the backups it is made on',
      querystring: AsyncQuery, body: RestoreRequest, response: long,
    },
  }, async (req, reply) => {
    const m = await s.backups.check(req.body);
    return asOperation(req, reply, s, 'container-restore', req.body.name ?? m.container.name, (progress) => s.backups.restore(req.body, progress));
  });
}
