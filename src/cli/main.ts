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
  daemon(program);
  apps(program, template(program));
  lifecycle(program);
  exec(program);
  cp(program);
  resources(program);
  snapshot(program);
  backup(program);
  usage(program);
  network(program);
  access(program);
  remote(program);
  operation(program);
  completion(program);
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
