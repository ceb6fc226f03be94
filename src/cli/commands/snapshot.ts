/** `strata snapshot create|list|restore|rm`: snapshots of a container's own files. */
import type { Command } from 'commander';
import { clientOf, humanBytes, printJson, printTable, since, verb } from '../context.js';

export function register(program: Command): void {
  const snap = program.command('snapshot').description("snapshots of a container's own files: create, list, restore, rm");
  verb(snap, 'create', 'take a snapshot (a running container is frozen for the instant it takes)').argument('<container>').argument('[name]', 'default: snap-YYYYMMDD-HHMMSS (UTC)')
    .option('--json', 'print JSON')
    .action(async (container: string, name: string | undefined, opts: { json?: boolean }, cmd: Command) => {
      const s = await clientOf(cmd).containers.snapshot(container, name);
      if (opts.json) return printJson(s);
      process.stdout.write(`snapshot ${s.name} of ${container} taken: ${s.method === 'volume' ? 'an instant snapshot of its disk' : 'a copy of its files'}, ${humanBytes(s.sizeBytes)}${s.frozenMs !== null ? `; frozen ${s.frozenMs.toFixed(0)} ms` : ''}\n`);
    });
  verb(snap, 'list', "a container's snapshots, oldest first").argument('<container>').option('--json', 'print JSON')
    .action(async (container: string, opts: { json?: boolean }, cmd: Command) => {
      const list = await clientOf(cmd).containers.snapshots(container);
      if (opts.json) return printJson(list);
      printTable(['NAME', 'TAKEN', 'METHOD', 'SIZE', 'APPS'], list.map((s) => [s.name, since(s.createdAt), s.method, humanBytes(s.sizeBytes), s.apps.map((a) => `${a.template}@${a.version}`).join(',')]));
    });
  verb(snap, 'restore', "put a snapshot's files back as the container's own (stop it first)").argument('<container>').argument('<name>')
    .action(async (container: string, name: string, _opts: unknown, cmd: Command) => {
      await clientOf(cmd).containers.restoreSnapshot(container, name);
      process.stdout.write(`${container} restored to snapshot ${name}\n`);
    });
  verb(snap, 'rm', 'remove a snapshot').argument('<container>').argument('<name>')
    .action(async (container: string, name: string, _opts: unknown, cmd: Command) => {
      await clientOf(cmd).containers.removeSnapshot(container, name);
      process.stdout.write(`snapshot ${name} of ${container} removed\n`);
    });
}
