import { spawn } from 'node:child_process';
import type { Command } from 'commander';
import { clientOf, verb } from '../context.js';

/** Runs the runc argv the daemon prepared, with this terminal; returns the command's status. */
export async function runWithTerminal(argv: string[]): Promise<number> {
  // The child shares our terminal and gets Ctrl-C itself; we only wait for it.
  const ignore = (): void => undefined;
  process.on('SIGINT', ignore);
  process.on('SIGTERM', ignore);
  const child = spawn(argv[0], argv.slice(1), { stdio: 'inherit' });
  const status = await new Promise<number>((resolve) => {
    child.on('error', () => resolve(127));
    child.on('close', (code, signal) => resolve(code ?? (signal ? 128 + 15 : 1)));
  });
  process.off('SIGINT', ignore);
  process.off('SIGTERM', ignore);
  return status;
}

async function runHere(argv: string[]): Promise<never> {
  process.exit(await runWithTerminal(argv));
}

export function register(program: Command): void {
  verb(program, 'exec', 'run a command inside a running container')
    .argument('<name>')
    .argument('<command...>', 'command and arguments (put them after --)')
    .option('-t, --tty', 'give the command a terminal')
    .option('--user <user>', 'user name or uid[:gid] inside (default root)')
    .option('--env <KEY=VALUE>', 'environment variable (repeatable)', (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option('--cwd <dir>', 'working directory inside')
    .action(async (name: string, command: string[], opts: { tty?: boolean; user?: string; env: string[]; cwd?: string }, cmd: Command) => {
      const { argv } = await clientOf(cmd).call<{ argv: string[] }>('POST', `/v1/containers/${encodeURIComponent(name)}/exec`, {
        tty: !!opts.tty, user: opts.user, env: opts.env, cwd: opts.cwd, args: command,
      });
      await runHere(argv);
    });

  verb(program, 'enter', 'open an interactive login shell inside a running container')
    .argument('<name>')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      const { argv } = await clientOf(cmd).call<{ argv: string[] }>('POST', `/v1/containers/${encodeURIComponent(name)}/enter`);
      await runHere(argv);
    });
}
