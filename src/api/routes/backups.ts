/**
 * Backups: a container to one file and back, as operations. Kept backups live with the container
 * (whoever may change it may keep, list, download, restore and remove them); files elsewhere on
 * the daemon's host, and restores from them, are for host administrators.
 */
import { createReadStream } from 'node:fs';
import { Type } from 'typebox';
import { BackupParams, BackupRequest, KeptBackup, KeptRestoreRequest, NameParams, OperationAnswers, Removed, RestoreRequest, AsyncQuery } from '../types.js';
import { PermissionDenied } from '../../errors/index.js';
import { asOperation, tag, type App, type Services } from '../http.js';

const long = OperationAnswers;
const t = tag('containers');
const Download = { 200: { description: 'the backup file', content: { 'application/octet-stream': { schema: Type.Unsafe<NodeJS.ReadableStream>({ type: 'string', format: 'binary' }) } } } };

export function backupRoutes(app: App, s: Services): void {
  app.post('/v1/containers/:name/backups', { config: { scope: 'containers:write' },
    schema: {
      ...t, summary: 'Back a container up: its settings, its own files (a running one frozen while they are copied), its templates by digest (or whole: withTemplates); incremental on an earlier backup (since). '
        + 'Kept by the daemon with the container, or written to `file` on the daemon host (host administrators)',
      params: NameParams, querystring: AsyncQuery, body: BackupRequest, response: long,
    },
  }, async (req, reply) => {
    const { file, name, since, withTemplates } = req.body;
    if (file === undefined) {
      const kept = s.backups.checkKeep(req.params.name, { name, since });
      return asOperation(req, reply, s, 'container-backup', req.params.name, (progress) => s.backups.keep(req.params.name, { name: kept, since, withTemplates }, progress));
    }
    if (!req.caller.scopes.has('admin')) throw new PermissionDenied(`a backup to a file on the daemon's host needs a host administrator: leave out file, and the daemon keeps it with ${req.params.name} (download it from there)`);
    s.containers.inspect(req.params.name);
    return asOperation(req, reply, s, 'container-backup', req.params.name, (progress) => s.backups.backup({ container: req.params.name, file, since, withTemplates }, progress));
  });
  app.get('/v1/containers/:name/backups', { config: { scope: 'containers:read' },
    schema: { ...t, summary: 'The backups kept with a container, oldest first', params: NameParams, response: { 200: Type.Array(KeptBackup) } },
  }, async (req) => s.backups.listKept(req.params.name));
  app.get('/v1/containers/:name/backups/:backup', { config: { scope: 'containers:read' },
    schema: { ...t, summary: 'Download a kept backup (application/octet-stream)', params: BackupParams, response: Download },
  }, async (req, reply) => {
    const file = s.backups.keptFile(req.params.name, req.params.backup);
    return reply.type('application/octet-stream').header('content-disposition', `attachment; filename="${req.params.name}-${req.params.backup}.backup"`).send(createReadStream(file));
  });
  app.delete('/v1/containers/:name/backups/:backup', { config: { scope: 'containers:write' },
    schema: { ...t, summary: 'Remove a kept backup (not one an incremental backup is made on)', params: BackupParams, response: { 200: Removed } },
  }, async (req) => {
    await s.backups.removeKept(req.params.name, req.params.backup);
    return { removed: req.params.backup };
  });
  app.post('/v1/containers/:name/backups/:backup/restores', { config: { scope: 'containers:write' },
    schema: {
      ...t, summary: "Restore a kept backup as a new container of the same owner (verified as any backup file; a tenant's restore uses the templates the host has)",
      params: BackupParams, querystring: AsyncQuery, body: KeptRestoreRequest, response: long,
    },
  }, async (req, reply) => {
    s.backups.keptFile(req.params.name, req.params.backup);
    const importTemplates = req.caller.scopes.has('admin');
    return asOperation(req, reply, s, 'container-restore', req.body.name, (progress) => s.backups.restoreKept(req.params.name, req.params.backup, { ...req.body, importTemplates }, progress));
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
