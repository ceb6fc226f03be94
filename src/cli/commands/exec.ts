import { spawn } from 'node:child_process';
import type { Command } from 'commander';
import { attachConsole as attachMonitorConsole, type Client } from '../../api/client.js';
import { NotSupported } from '../../errors/index.js';
import { clientOf, verb } from '../context.js';

/** runc's own line when it could not start the command (the command never ran). */
const RUNC_EXEC_FAILED = /^(?:time="[^"]*" level=error msg=")?exec failed: unable to start container process: (.*?)"?$/;

/**
 * What runc's failure to start a command means, as podman says it: the status (127: not found,
 * 126: found but not runnable) and one sentence.
 */
export function execFailure(runcMessage: string, container: string): { status: number; message: string } {
  const m = runcMessage.replace(/\\"/g, '"');
  const notFound = /exec: "([^"]*)": (?:executable file not found in \$PATH|stat [^:]*: no such file or directory)/.exec(m);
  if (notFound) return { status: 127, message: `${notFound[1]}: command not found in container ${container}` };
  const cwd = /chdir to cwd \("([^"]*)"\) set in config\.json failed: (.*)$/.exec(m);
  if (cwd) return { status: 126, message: `the working directory ${cwd[1]} cannot be used in container ${container}: ${cwd[2]}` };
  const denied = /exec: "([^"]*)": permission denied/.exec(m);
  if (denied) return { status: 126, message: `${denied[1]}: permission denied in container ${container} (not an executable file)` };
  return { status: 126, message: `the command could not be started in container ${container}: ${m}` };
}

/**
 * Runs the runc argv the daemon prepared, with this terminal; returns the command's status. With
 * `container`, runc's own error when the command cannot start becomes one line and 126/127.
 */
export async function runWithTerminal(argv: string[], container?: string): Promise<number> {
  // The child shares our terminal and gets Ctrl-C itself; we only wait for it.
  const ignore = (): void => undefined;
  process.on('SIGINT', ignore);
  process.on('SIGTERM', ignore);
  const child = spawn(argv[0], argv.slice(1), { stdio: ['inherit', 'inherit', container ? 'pipe' : 'inherit'] });
  let failed: string | null = null;
  let partial = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    // Forwarded as it comes, line by line, but for runc's own start failure.
    const lines = (partial + chunk.toString()).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      const m = RUNC_EXEC_FAILED.exec(line);
      if (m) failed = m[1];
      else process.stderr.write(`${line}\n`);
    }
  });
  let status = await new Promise<number>((resolve) => {
    child.on('error', () => resolve(127));
    child.on('close', (code, signal) => resolve(code ?? (signal ? 128 + 15 : 1)));
  });
  if (partial) {
    const m = RUNC_EXEC_FAILED.exec(partial);
    if (m) failed = m[1];
    else process.stderr.write(partial);
  }
  process.off('SIGINT', ignore);
  process.off('SIGTERM', ignore);
  if (failed !== null && status === 255 && container) {
    const f = execFailure(failed, container);
    process.stderr.write(`strata: ${f.message}\n`);
    status = f.status;
  }
  return status;
}

async function runHere(argv: string[], container?: string): Promise<never> {
  process.exit(await runWithTerminal(argv, container));
}

/** exec, enter and console run runc (or attach to the monitor) on the daemon's host itself: only the local daemon. */
function localClient(cmd: Command, what: string): Client {
  const client = clientOf(cmd);
  if ('url' in client.endpoint) {
    throw new NotSupported(`strata ${what} against a remote daemon (${client.endpoint.url}) is not supported yet: it runs on the daemon's host (ssh to it and run strata ${what} there)`);
  }
  return client;
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
      const { argv } = await localClient(cmd, 'exec').containers.execPlan(name, {
        tty: !!opts.tty, user: opts.user, env: opts.env, cwd: opts.cwd, args: command,
      });
      await runHere(argv, name);
    });

  verb(program, 'console', 'attach to a running container\'s console (Ctrl-a q detaches)')
    .argument('<name>')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      const plan = await localClient(cmd, 'console').containers.consolePlan(name);
      process.exit(await attachConsole(name, plan));
    });

  verb(program, 'enter', 'open an interactive login shell inside a running container')
    .argument('<name>')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      const { argv } = await localClient(cmd, 'enter').containers.enterPlan(name);
      await runHere(argv);
    });
}

/** Ctrl-a, then q: detach (Ctrl-a Ctrl-a sends one Ctrl-a), as in LXC and Incus. */
const ESCAPE = 0x01;

/** Shows the console here and types into it until the detach keys or the console's end. */
async function attachConsole(name: string, plan: { monitorSocket: string; consoleLog: string }): Promise<number> {
  const stdin = process.stdin;
  const conn = await attachMonitorConsole(plan.monitorSocket, plan.consoleLog, process.stdout.rows ?? 24, process.stdout.columns ?? 80);
  process.stderr.write(`strata: attached to the console of ${name}; detach with Ctrl-a q\r\n`);
  if (stdin.isTTY) stdin.setRawMode(true);
  let escaped = false;
  return new Promise<number>((resolve) => {
    const done = (status: number, why: string): void => {
      if (stdin.isTTY) stdin.setRawMode(false);
      stdin.pause();
      conn.destroy();
      process.stderr.write(`\r\nstrata: ${why}\r\n`);
      resolve(status);
    };
    stdin.on('data', (chunk: Buffer) => {
      const out: number[] = [];
      for (const byte of chunk) {
        if (escaped) {
          escaped = false;
          if (byte === 0x71 /* q */) { if (out.length) conn.write(Buffer.from(out)); done(0, `detached from the console of ${name}`); return; }
          out.push(byte === ESCAPE ? ESCAPE : byte);
        } else if (byte === ESCAPE) {
          escaped = true;
        } else {
          out.push(byte);
        }
      }
      if (out.length) conn.write(Buffer.from(out));
    });
    stdin.on('end', () => { /* input closed: keep showing the console until it ends */ });
    conn.on('data', (d: Buffer) => process.stdout.write(d));
    conn.on('close', () => done(0, `the console of ${name} closed (the container stopped)`));
    conn.resume();
  });
}
