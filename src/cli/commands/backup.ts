import type { Command } from 'commander';
import type { BackupResult, ContainerView, MoveResult } from '../../api/client.js';
import { InvalidArgument } from '../../errors/index.js';
import { chosenRemote } from '../remotes.js';
import { clientOf, daemonPath, detached, followOperation, humanBytes, printJson, verb, withWaitOptions } from '../context.js';

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

export function register(program: Command): void {
  withWaitOptions(verb(program, 'backup', 'write a container (settings, own files, template digests) to one file; an operation'))
    .argument('<container>')
    .requiredOption('-o, --output <file>', "the backup file to write, on the daemon's host (absolute against a remote)")
    .option('--with-templates', 'carry its OS and application templates too, for a host that lacks them')
    .option('--since <file>', 'an earlier backup of the container: write only what changed since (incremental)')
    .option('--json', 'print JSON')
    .action(async (container: string, opts: { output: string; withTemplates?: boolean; since?: string; json?: boolean; wait?: boolean; detach?: boolean }, cmd: Command) => {
      const client = clientOf(cmd);
      const req = { file: daemonPath(client, opts.output), ...(opts.withTemplates ? { withTemplates: true } : {}), ...(opts.since ? { since: daemonPath(client, opts.since) } : {}) };
      const r = await followOperation<BackupResult>(client, await client.containers.startBackup(container, req), { detach: detached(opts) });
      if (!r) return;
      if (opts.json) return printJson(r);
      process.stdout.write(`${r.file}: ${humanBytes(r.bytes)}, ${r.files} files${r.parent ? ' (incremental)' : ''}${r.templates.length ? `, with ${r.templates.join(', ')}` : ''}${r.frozenMs !== null ? `; ${container} was frozen ${Math.round(r.frozenMs)} ms` : ''}\n`);
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
