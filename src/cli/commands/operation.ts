import type { Command } from 'commander';
import type { OperationView } from '../../api/client.js';
import { clientOf, printFields, printJson, printTable, progressPrinter, progressText, since, verb } from '../context.js';

/** Without --all, `operation list` shows running operations and those ended in the last hour. */
const RECENT_MS = 3_600_000;

const STATES = ['running', 'succeeded', 'failed', 'cancelled', 'interrupted'] as const;

/** The `operation` command: list, show, wait for, cancel and read the log of operations (long work run under an id). */
export function register(program: Command): void {
  const operation = program.command('operation').description('list, follow and cancel operations: template builds, imports, exports, captures, bulk creates');

  verb(operation, 'list', 'list operations: running ones and those ended in the last hour (--all: every one kept, 7 days)')
    .option('--all', 'also those ended more than an hour ago')
    .option('--state <state>', `only those in this state: ${STATES.join(', ')}`)
    .option('--kind <kind>', 'only this kind, e.g. template-import')
    .option('--json', 'print JSON')
    .action(async (opts: { all?: boolean; state?: (typeof STATES)[number]; kind?: string; json?: boolean }, cmd: Command) => {
      const list = (await clientOf(cmd).operations.list({ state: opts.state, kind: opts.kind }))
        .filter((o) => opts.all || o.state === 'running' || Date.now() - Date.parse(o.finishedAt ?? o.createdAt) < RECENT_MS);
      if (opts.json) return printJson(list);
      printTable(['ID', 'KIND', 'SUBJECT', 'STATE', 'PROGRESS', 'AGE'], list.map((o) => [o.id, o.kind, o.subject, o.state, progressText(o), since(o.createdAt)]));
    });

  verb(operation, 'show', 'show one operation: its state, progress, result or error')
    .argument('<id>', 'its id, or the start of it')
    .option('--json', 'print JSON')
    .action(async (id: string, opts: { json?: boolean }, cmd: Command) => {
      const o = await clientOf(cmd).operations.get(id);
      if (opts.json) return printJson(o);
      const { progress, error, result, ...rest } = o;
      printFields({ ...rest, progress: progress?.line ?? null, error: error ? `${error.code}: ${error.message}` : null, result });
    });

  verb(operation, 'wait', 'follow an operation to its end with a progress bar; exits with its status (Ctrl-C stops waiting, not the operation)')
    .argument('<id>', 'its id, or the start of it')
    .option('--json', 'print its result as JSON')
    .action(async (id: string, opts: { json?: boolean }, cmd: Command) => {
      const client = clientOf(cmd);
      const o = await client.operations.get(id);
      const result = await client.operations.follow(o.id, progressPrinter());
      if (opts.json) return printJson(result);
      process.stdout.write(`operation ${o.id} (${describe(o)}) succeeded\n`);
    });

  verb(operation, 'cancel', 'cancel a running operation: its work stops and rolls back')
    .argument('<id>', 'its id, or the start of it')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const o = await clientOf(cmd).operations.cancel(id);
      process.stdout.write(o.state === 'running'
        ? `operation ${o.id} is rolling back: 'strata operation wait ${o.id}' follows it to its end\n`
        : `operation ${o.id} (${describe(o)}) ${o.state}\n`);
    });

  verb(operation, 'logs', "print an operation's log (with --follow, each new line until it ends)")
    .argument('<id>', 'its id, or the start of it')
    .option('-f, --follow', 'keep printing new lines until it ends')
    .action(async (id: string, opts: { follow?: boolean }, cmd: Command) => {
      const client = clientOf(cmd);
      const o = await client.operations.get(id);
      if (opts.follow && o.state === 'running') {
        // Its end is the last line, as for one already ended: the log's reader does not fail with it.
        try {
          await client.operations.follow(o.id, (line) => process.stdout.write(`${line}\n`));
        } catch { /* said below */ }
      } else {
        for (const l of await client.operations.log(o.id)) if ('progress' in l) process.stdout.write(`${l.progress}\n`);
      }
      const end = await client.operations.get(o.id);
      if (end.logDropped) process.stderr.write(`(the first ${end.logDropped} lines were dropped: the log keeps the last ones)\n`);
      if (end.state !== 'running') process.stdout.write(`-- ${end.state}${end.error ? `: ${end.error.message}` : ''}\n`);
    });
}

function describe(o: OperationView): string {
  return `${o.kind}${o.subject ? ` of ${o.subject}` : ''}`;
}
