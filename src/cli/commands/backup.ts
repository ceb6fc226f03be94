import type { Command } from 'commander';
import { createWriteStream, renameSync, rmSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { BackupResult, ContainerView, KeptBackup, MoveResult } from '../../api/client.js';
import { InvalidArgument } from '../../errors/index.js';
import { chosenRemote } from '../remotes.js';
import { clientOf, daemonPath, detached, followOperation, humanBytes, printJson, printTable, since, verb, withWaitOptions } from '../context.js';

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

export function register(program: Command): void {
  withWaitOptions(verb(program, 'backup', 'back a container up (settings, own files, template digests): kept with it by the daemon, or to a file (-o); an operation'))
    .argument('<container>')
    .option('-o, --output <file>', "write it to this file on the daemon's host (absolute against a remote; administrators)")
    .option('--name <name>', 'a kept backup\'s name (default bk-YYYYMMDD-HHMMSS)')
    .option('--with-templates', 'carry its OS and application templates too, for a host that lacks them')
    .option('--since <backup>', 'an earlier backup to be incremental on: a kept backup\'s name, or with -o a file')
    .option('--json', 'print JSON')
    .action(async (container: string, opts: { output?: string; name?: string; withTemplates?: boolean; since?: string; json?: boolean; wait?: boolean; detach?: boolean }, cmd: Command) => {
      const client = clientOf(cmd);
      const toFile = opts.output !== undefined;
      const req = {
        ...(toFile ? { file: daemonPath(client, opts.output!) } : {}), ...(opts.name ? { name: opts.name } : {}), ...(opts.withTemplates ? { withTemplates: true } : {}),
        ...(opts.since ? { since: toFile ? daemonPath(client, opts.since) : opts.since } : {}),
      };
      const r = await followOperation<BackupResult | KeptBackup>(client, await client.containers.startBackup(container, req), { detach: detached(opts) });
      if (!r) return;
      if (opts.json) return printJson(r);
      const frozen = 'frozenMs' in r && typeof r.frozenMs === 'number' ? `; ${container} was frozen ${Math.round(r.frozenMs)} ms` : '';
      if ('file' in r) {
        process.stdout.write(`${r.file}: ${humanBytes(r.bytes)}, ${r.files} files${r.parent ? ' (incremental)' : ''}${r.templates.length ? `, with ${r.templates.join(', ')}` : ''}${frozen}\n`);
      } else {
        process.stdout.write(`backup ${r.name} of ${container} kept: ${humanBytes(r.bytes)}${r.parent ? `, incremental on ${r.parent}` : ''}${frozen}\n`);
      }
    });

  const backups = program.command('backups').description('the backups the daemon keeps with a container: list, get (download), restore, rm');
  verb(backups, 'list', 'the kept backups of a container, oldest first').argument('<container>').option('--json', 'print JSON')
    .action(async (container: string, opts: { json?: boolean }, cmd: Command) => {
      const list = await clientOf(cmd).containers.backups(container);
      if (opts.json) return printJson(list);
      printTable(['NAME', 'TAKEN', 'SIZE', 'INCREMENTAL ON', 'TEMPLATES'], list.map((b) => [b.name, since(b.createdAt), humanBytes(b.bytes), b.parent ?? '-', b.templates.join(', ') || '-']));
    });
  verb(backups, 'get', 'download a kept backup to a file here').argument('<container>').argument('<backup>')
    .option('-o, --output <file>', 'the file to write (default CONTAINER-BACKUP.backup here)')
    .action(async (container: string, backup: string, opts: { output?: string }, cmd: Command) => {
      const out = resolve(opts.output ?? `${container}-${backup}.backup`);
      const res = await clientOf(cmd).containers.downloadBackup(container, backup);
      const tmp = `${out}.part`;
      try {
        await (await import('node:stream/promises')).pipeline(res, createWriteStream(tmp, { mode: 0o600 }));
        renameSync(tmp, out);
      } catch (err) {
        rmSync(tmp, { force: true });
        throw err;
      }
      process.stdout.write(`${out}: ${humanBytes(statSync(out).size)}\n`);
    });
  verb(backups, 'rm', 'remove a kept backup').argument('<container>').argument('<backup>')
    .action(async (container: string, backup: string, _o: unknown, cmd: Command) => {
      await clientOf(cmd).containers.removeBackup(container, backup);
      process.stdout.write(`backup ${backup} of ${container} removed\n`);
    });
  withWaitOptions(verb(backups, 'restore', 'make a new container from a kept backup (the same owner); an operation')).argument('<container>').argument('<backup>')
    .requiredOption('--name <new>', 'the new container')
    .option('--no-ports', 'leave its published ports out (the original still has them)')
    .option('--json', 'print JSON')
    .action(async (container: string, backup: string, opts: { name: string; ports: boolean; json?: boolean; wait?: boolean; detach?: boolean }, cmd: Command) => {
      const client = clientOf(cmd);
      const v = await followOperation<ContainerView>(client, await client.containers.startKeptRestore(container, backup, { name: opts.name, ...(opts.ports ? {} : { noPorts: true }) }), { detach: detached(opts) });
      if (!v) return;
      if (opts.json) return printJson(v);
      process.stdout.write(`container ${v.name} restored from backup ${backup} of ${container}: start it with 'strata start ${v.name}'\n`);
    });

  withWaitOptions(verb(program, 'restore', 'make a container from a backup file (verified; missing templates imported from it); an operation'))
    .argument('<file>', "the backup file, on the daemon's host (absolute against a remote)")
    .option('--name <name>', 'another name than the backed-up container\'s')
    .option('--tenant <tenant>', "its owner (default: the backup's); 'none' for the host's own")
    .option('--parent <file>', 'a backup an incremental one is made on, when it is not beside it (repeatable)', collect, [] as string[])
    .option('--no-ports', 'leave its published ports out (a copy beside the original)')
    .option('--keep-address', "keep its address and MAC on its first network (they must be free here)")
    .option('--json', 'print JSON')
    .action(async (file: string, opts: { name?: string; tenant?: string; parent: string[]; ports: boolean; keepAddress?: boolean; json?: boolean; wait?: boolean; detach?: boolean }, cmd: Command) => {
      const client = clientOf(cmd);
      const req = {
        file: daemonPath(client, file),
        ...(opts.name ? { name: opts.name } : {}),
        ...(opts.tenant !== undefined ? { tenant: opts.tenant === 'none' ? null : opts.tenant } : {}),
        ...(opts.parent.length ? { parents: opts.parent.map((p) => daemonPath(client, p)) } : {}),
        ...(opts.ports ? {} : { noPorts: true }),
        ...(opts.keepAddress ? { keepAddress: true } : {}),
      };
      const v = await followOperation<ContainerView>(client, await client.containers.startRestore(req), { detach: detached(opts) });
      if (!v) return;
      if (opts.json) return printJson(v);
      process.stdout.write(`container ${v.name} restored${v.adapters[0] ? ` (address ${v.adapters[0].address})` : ''}: start it with 'strata start ${v.name}'\n`);
    });

  withWaitOptions(verb(program, 'move', 'move a container to another daemon (a remote): synced while it runs, a short stop, started there with its address; an operation'))
    .argument('<container>')
    .requiredOption('--to <remote>', "the daemon to move it to, by its name in 'strata remote list'")
    .option('--live', 'without a stop (CRIU; refused where it cannot run, with the reason)')
    .option('--json', 'print JSON')
    .action(async (container: string, opts: { to: string; live?: boolean; json?: boolean; wait?: boolean; detach?: boolean }, cmd: Command) => {
      const remote = chosenRemote(opts.to);
      if (!remote) throw new InvalidArgument("--to names the daemon to move to: give a remote added with 'strata remote add', not local");
      const client = clientOf(cmd);
      const req = { to: { url: remote.url, token: remote.token, fingerprint: remote.fingerprint }, ...(opts.live ? { live: true } : {}) };
      const r = await followOperation<MoveResult>(client, await client.containers.startMove(container, req), { detach: detached(opts) });
      if (!r) return;
      if (opts.json) return printJson(r);
      process.stdout.write(`container ${container} moved to ${opts.to}${r.address ? ` (address ${r.address})` : ''}: ${r.rounds.length} sync${r.rounds.length === 1 ? '' : 's'}${r.downtimeMs !== null ? `, down ${(r.downtimeMs / 1000).toFixed(2)} s` : ''}\n`);
    });
}
