import { spawn } from 'node:child_process';
import type { Command } from 'commander';
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import { attachConsole as attachMonitorConsole, type Client, type ExecRequest } from '../../api/client.js';
import type { ErrorCode } from '../../errors/index.js';
import { exitStatusOf } from '../exit.js';
import { execFailure, RUNC_EXEC_FAILED } from '../../util/exec-failure.js';

export { execFailure };
import { clientOf, verb } from '../context.js';

/**
 * Runs the runc argv the daemon prepared, with this terminal; returns the command's status. With
 * `container`, runc's own error when the command cannot start becomes one line and 126/127.
 */
async function runWithTerminal(argv: string[], container?: string): Promise<number> {
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

const isRemote = (client: Client): boolean => 'url' in client.endpoint;

/** The login shell of root from the container's /etc/passwd, as `strata enter` gives it locally. */
const LOGIN_SHELL = ['/bin/sh', '-c', 'shell=$(awk -F: \'$1 == "root" { print $7 }\' /etc/passwd 2>/dev/null); case "$shell" in ""|*/nologin|*/false) shell=/bin/sh;; esac; exec "$shell" -l'];

/**
 * Runs a command through the daemon's exec session (a WebSocket; api/sessions.ts), with this
 * terminal: raw and resized when it is one, stdin passed until its end. Returns the command's status.
 */
async function runSession(client: Client, name: string, req: ExecRequest): Promise<number> {
  const ws = await client.containers.execSession(name);
  const stdin = process.stdin;
  const tty = !!req.tty && !!stdin.isTTY;
  ws.send(JSON.stringify({ type: 'start', ...req, rows: process.stdout.rows, cols: process.stdout.columns }));
  if (tty) stdin.setRawMode(true);
  const onResize = (): void => ws.send(JSON.stringify({ type: 'resize', rows: process.stdout.rows, cols: process.stdout.columns }));
  process.stdout.on('resize', onResize);
  stdin.on('data', (d: Buffer) => ws.send(d, { binary: true }));
  stdin.on('end', () => { if (ws.readyState === ws.OPEN) ws.send(JSON.stringify({ type: 'close-stdin' })); });
  return new Promise((resolve) => {
    let status = 1;
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (isBinary) { (data[0] === 2 ? process.stderr : process.stdout).write(data.subarray(1)); return; }
      const msg = JSON.parse(data.toString()) as { type: string; status?: number; message?: string; code?: ErrorCode };
      if (msg.type === 'exit') {
        status = msg.status ?? 1;
        if (msg.message) process.stderr.write(`strata: ${msg.message}\n`);
      } else if (msg.type === 'error') {
        status = exitStatusOf[msg.code ?? 'internal'] ?? 1;
        process.stderr.write(`strata: ${msg.message ?? 'the session failed'}\n`);
      }
    });
    ws.on('close', () => {
      if (tty) stdin.setRawMode(false);
      stdin.pause();
      process.stdout.off('resize', onResize);
      resolve(status);
    });
  });
}

/**
 * An interactive login shell in `container` with this terminal (enter, capture --interactive):
 * runc here for the local daemon, the daemon's exec session for a remote one. Answers its status.
 */
export async function shellIn(client: Client, container: string): Promise<number> {
  if (isRemote(client)) return runSession(client, container, { tty: true, args: LOGIN_SHELL });
  return runWithTerminal((await client.containers.enterPlan(container)).argv);
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
      const client = clientOf(cmd);
      const req = { tty: !!opts.tty, user: opts.user, env: opts.env, cwd: opts.cwd, args: command };
      // Locally runc runs here, with this terminal; a remote daemon runs it and relays it.
      if (isRemote(client)) process.exit(await runSession(client, name, req));
      const { argv } = await client.containers.execPlan(name, req);
      await runHere(argv, name);
    });

  verb(program, 'console', 'attach to a running container\'s console (Ctrl-a q detaches)')
    .argument('<name>')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      const client = clientOf(cmd);
      const rows = process.stdout.rows ?? 24;
      const cols = process.stdout.columns ?? 80;
      if (isRemote(client)) process.exit(await attachConsole(name, wsPipe(await client.containers.consoleSession(name, rows, cols))));
      const plan = await client.containers.consolePlan(name);
      process.exit(await attachConsole(name, socketPipe(await attachMonitorConsole(plan.monitorSocket, plan.consoleLog, rows, cols))));
    });

  verb(program, 'enter', 'open an interactive login shell inside a running container')
    .argument('<name>')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      process.exit(await shellIn(clientOf(cmd), name));
    });
}

/** Ctrl-a, then q: detach (Ctrl-a Ctrl-a sends one Ctrl-a), as in LXC and Incus. */
const ESCAPE = 0x01;

/** Both ends of a console: what it prints, what is typed into it. */
interface ConsolePipe {
  write(data: Buffer): void;
  onData(cb: (d: Buffer) => void): void;
  onClose(cb: () => void): void;
  close(): void;
  start(): void;
}

/** The monitor's console socket (the local daemon's host). */
function socketPipe(conn: Socket): ConsolePipe {
  return {
    write: (d) => { conn.write(d); }, onData: (cb) => conn.on('data', cb), onClose: (cb) => conn.on('close', cb),
    close: () => conn.destroy(), start: () => conn.resume(),
  };
}

/** The daemon's console session (a remote daemon). */
function wsPipe(ws: WebSocket): ConsolePipe {
  return {
    write: (d) => ws.send(d, { binary: true }),
    onData: (cb) => ws.on('message', (data: Buffer, isBinary: boolean) => { if (isBinary) cb(data.subarray(1)); }),
    onClose: (cb) => ws.on('close', cb), close: () => ws.close(1000, 'detached'), start: () => undefined,
  };
}

/** Shows the console here and types into it until the detach keys or the console's end. */
async function attachConsole(name: string, conn: ConsolePipe): Promise<number> {
  const stdin = process.stdin;
  process.stderr.write(`strata: attached to the console of ${name}; detach with Ctrl-a q\r\n`);
  if (stdin.isTTY) stdin.setRawMode(true);
  let escaped = false;
  return new Promise<number>((resolve) => {
    let finished = false;
    const done = (status: number, why: string): void => {
      if (finished) return;
      finished = true;
      if (stdin.isTTY) stdin.setRawMode(false);
      stdin.pause();
      conn.close();
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
    conn.onData((d: Buffer) => process.stdout.write(d));
    conn.onClose(() => done(0, `the console of ${name} closed (the container stopped)`));
    conn.start();
  });
}
