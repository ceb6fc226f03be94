/**
 * The `strata` command: a thin client of the daemon's API. Each verb lives in
 * commands/<verb>.ts; errors become one line on stderr and a stable exit status.
 */
import { Command, CommanderError } from 'commander';
import { asStrataError } from '../errors/index.js';
import { exitStatusOf } from './exit.js';
import { VERSION } from '../config/index.js';
import { register as access } from './commands/access.js';
import { register as apps } from './commands/apps.js';
import { register as backup } from './commands/backup.js';
import { register as completion } from './commands/completion.js';
import { register as cp } from './commands/cp.js';
import { register as daemon } from './commands/daemon.js';
import { register as exec } from './commands/exec.js';
import { register as lifecycle } from './commands/lifecycle.js';
import { register as network } from './commands/network.js';
import { register as remote } from './commands/remote.js';
import { register as operation } from './commands/operation.js';
import { register as resources } from './commands/resources.js';
import { register as snapshot } from './commands/snapshot.js';
import { register as template } from './commands/template.js';
import { register as usage } from './commands/usage.js';

/** A group of commands, and the verbs it adds at the top (kept true by main.test.ts). */
interface Group { verbs: string[]; register: (program: Command) => void }

/** In the order `strata --help` lists them. Completion needs the whole tree, so it never runs alone. */
export const GROUPS: Group[] = [
  { verbs: ['daemon'], register: daemon },
  { verbs: ['template', 'attach', 'detach'], register: (program) => apps(program, template(program)) },
  { verbs: ['create', 'launch', 'start', 'stop', 'restart', 'destroy', 'rm', 'publish', 'rename', 'clone', 'list', 'ls', 'inspect', 'logs', 'events', 'info'], register: lifecycle },
  { verbs: ['exec', 'console', 'enter'], register: exec },
  { verbs: ['cp'], register: cp },
  { verbs: ['set', 'stats', 'top', 'ps', 'pool'], register: resources },
  { verbs: ['snapshot'], register: snapshot },
  { verbs: ['backup', 'backups', 'restore', 'move'], register: backup },
  { verbs: ['usage'], register: usage },
  { verbs: ['network', 'port'], register: network },
  { verbs: ['tenant', 'user', 'token', 'whoami', 'audit'], register: access },
  { verbs: ['remote'], register: remote },
  { verbs: ['operation'], register: operation },
  { verbs: [], register: completion },
];

/** Options before the verb that take a value. */
const GLOBAL_VALUES = new Set(['--socket', '--remote', '--as-tenant']);

/**
 * Only the group of the verb given, when there is one: each command is a new process, and
 * building every command's options costs more than parsing the one used. Help, completion and
 * an unknown verb (whose error suggests the nearest) get them all.
 */
function groupsFor(argv: string[]): Group[] {
  let i = 2;
  while (i < argv.length && argv[i].startsWith('-')) i += GLOBAL_VALUES.has(argv[i]) ? 2 : 1;
  const group = GROUPS.find((g) => g.verbs.includes(argv[i]));
  return group ? [group] : GROUPS;
}

export async function main(argv: string[]): Promise<void> {
  // A reader that stopped early (`strata list | head`) is not an error.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
  const program = new Command('strata')
    .description('Strata: OS-level system containers on runc and overlayfs')
    .version(VERSION)
    .enablePositionalOptions()
    // Also accepted before the verb; each verb takes them too.
    .option('--socket <path>', 'daemon socket (default: $STRATA_SOCKET or /run/strata/strata.sock)')
    .option('--remote <name>', "drive this remote daemon (see 'strata remote list')")
    .option('--as-tenant <tenant>', 'act as this tenant (a host administrator; audited)')
    .option('--debug', 'show stack traces of errors')
    .exitOverride()
    .showSuggestionAfterError();
  for (const group of groupsFor(argv)) group.register(program);
  const debug = argv.includes('--debug');
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exit(err.exitCode === 0 ? 0 : exitStatusOf.invalid_argument);
    }
    const e = asStrataError(err);
    process.stderr.write(`strata: ${e.message}\n`);
    if (debug) process.stderr.write(`${(err as Error).stack ?? ''}\n`);
    process.exit(exitStatusOf[e.code]);
  }
}
