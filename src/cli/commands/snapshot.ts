/** `strata snapshot create|list|restore|rm`: snapshots of a container's own files. */
import type { Command } from 'commander';
import type { ScheduleView } from '../../api/client.js';
import { InvalidArgument } from '../../errors/index.js';
import { clientOf, humanBytes, printJson, printTable, since, verb } from '../context.js';

function every(seconds: number): string {
  for (const [unit, n] of [['w', 604800], ['d', 86400], ['h', 3600], ['m', 60]] as const) if (seconds % n === 0) return `${seconds / n}${unit}`;
  return `${seconds}s`;
}

const scheduleText = (s: ScheduleView): string =>
  `snapshots of ${s.container} every ${every(s.everySeconds)}, the newest ${s.keep} kept${s.lastAt ? ` (last ${since(s.lastAt)})` : ''}`;

export function register(program: Command): void {
  const snap = program.command('snapshot').description("snapshots of a container's own files: create, list, restore, rm");
  verb(snap, 'create', 'take a snapshot (a running container is frozen for the instant it takes); with --schedule, take them every interval')
    .argument('<container>').argument('[name]', 'default: snap-YYYYMMDD-HHMMSS (UTC)')
    .option('--schedule <interval>', 'instead of one now: one every interval (10s or more, e.g. 6h, 1d), named auto-…')
    .option('--keep <n>', 'with --schedule: how many scheduled snapshots to keep (default 7)')
    .option('--json', 'print JSON')
    .action(async (container: string, name: string | undefined, opts: { json?: boolean; schedule?: string; keep?: string }, cmd: Command) => {
      const client = clientOf(cmd);
      if (opts.keep !== undefined && opts.schedule === undefined) throw new InvalidArgument('--keep goes with --schedule: give the interval too (e.g. --schedule 1d --keep 7)');
      if (opts.schedule !== undefined) {
        if (name) throw new InvalidArgument('scheduled snapshots are named auto-…: leave the name out with --schedule');
        const keep = opts.keep === undefined ? 7 : Number(opts.keep);
        if (!Number.isInteger(keep) || keep < 1) throw new InvalidArgument(`invalid --keep ${JSON.stringify(opts.keep)}: give a whole number, 1 or more`);
        const sch = await client.containers.setSnapshotSchedule(container, opts.schedule, keep);
        if (opts.json) return printJson(sch);
        process.stdout.write(`${scheduleText(sch)}\n`);
        return;
      }
      const s = await client.containers.snapshot(container, name);
      if (opts.json) return printJson(s);
      process.stdout.write(`snapshot ${s.name} of ${container} taken: ${s.method === 'volume' ? 'an instant snapshot of its disk' : 'a copy of its files'}, ${humanBytes(s.sizeBytes)}${s.frozenMs !== null ? `; frozen ${s.frozenMs.toFixed(0)} ms` : ''}\n`);
    });
  verb(snap, 'list', "a container's snapshots, oldest first").argument('<container>').option('--json', 'print JSON')
    .action(async (container: string, opts: { json?: boolean }, cmd: Command) => {
      const client = clientOf(cmd);
      const list = await client.containers.snapshots(container);
      if (opts.json) return printJson(list);
      printTable(['NAME', 'TAKEN', 'METHOD', 'SIZE', 'APPS'], list.map((s) => [s.name, since(s.createdAt), s.method, humanBytes(s.sizeBytes), s.apps.map((a) => `${a.template}@${a.version}`).join(',')]));
      const sch = await client.containers.snapshotSchedule(container);
      if (sch) process.stdout.write(`\n${scheduleText(sch)}\n`);
    });
  verb(snap, 'schedule', "show a container's snapshot schedule, or remove it with --off").argument('<container>')
    .option('--off', 'remove the schedule (its snapshots stay)').option('--json', 'print JSON')
    .action(async (container: string, opts: { off?: boolean; json?: boolean }, cmd: Command) => {
      const client = clientOf(cmd);
      if (opts.off) {
        await client.containers.removeSnapshotSchedule(container);
        process.stdout.write(`no more scheduled snapshots of ${container}\n`);
        return;
      }
      const sch = await client.containers.snapshotSchedule(container);
      if (opts.json) return printJson(sch);
      process.stdout.write(sch ? `${scheduleText(sch)}\n` : `${container} has no snapshot schedule: set one with 'strata snapshot create ${container} --schedule 1d --keep 7'\n`);
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
