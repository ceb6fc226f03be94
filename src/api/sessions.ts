/**
 * Exec and console sessions over a WebSocket: the daemon runs the command (or attaches to the
 * console) itself and relays it, so a remote CLI or a browser needs nothing on the host.
 *
 * Frames (docs/sessions.md): binary from the server start with a channel byte, 1 stdout, 2 stderr;
 * binary from the client are stdin. Text frames are JSON control messages: the client's first is
 * `{"type":"start", args, tty, user, cwd, env, rows, cols}` (exec only), then `resize`,
 * `close-stdin` and `signal`; the server ends with `{"type":"exit", status, signal, message?}`
 * (or `{"type":"error", code, message}`) and closes.
 */
import { spawn } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import * as pty from '@lydell/node-pty';
import type { WebSocket } from 'ws';
import { asStrataError, InvalidArgument } from '../errors/index.js';
import { execFailure, RUNC_EXEC_FAILED } from '../util/exec-failure.js';
import { attachConsole } from './client.js';
import type { ExecRequest } from './types.js';

const STDOUT = 1;
const STDERR = 2;
/** How long a command may take to end after its session closed (SIGHUP or SIGTERM) before SIGKILL. */
const GRACE_MS = 3000;

interface Control { type: string; rows?: number; cols?: number; signal?: string }

export interface StartMessage extends ExecRequest { rows?: number; cols?: number }

function sendFrame(ws: WebSocket, channel: number, data: Buffer): void {
  if (ws.readyState === ws.OPEN) ws.send(Buffer.concat([Buffer.from([channel]), data]));
}

function sendJson(ws: WebSocket, msg: Record<string, unknown>): void {
  if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(msg));
}

/** Ends a session with a typed error the client can show. */
export function failSession(ws: WebSocket, err: unknown): void {
  const e = asStrataError(err);
  sendJson(ws, { type: 'error', code: e.code, message: e.message });
  ws.close(1011, e.code);
}

const sizeOf = (n: unknown, fallback: number): number => (typeof n === 'number' && Number.isInteger(n) && n > 0 && n < 10_000 ? n : fallback);

/** The first text frame of an exec session: what to run. */
export function startMessage(data: Buffer | string): StartMessage {
  let msg: unknown;
  try { msg = JSON.parse(data.toString()); } catch { throw new InvalidArgument('the first message of an exec session is JSON: {"type":"start","args":["CMD",…]}'); }
  const m = msg as Partial<StartMessage> & { type?: string };
  if (m.type !== 'start' || !Array.isArray(m.args) || m.args.some((a) => typeof a !== 'string')) {
    throw new InvalidArgument('the first message of an exec session is {"type":"start","args":["CMD",…]} (and tty, user, cwd, env, rows, cols)');
  }
  return { args: m.args, tty: !!m.tty, user: m.user, cwd: m.cwd, env: m.env, rows: m.rows, cols: m.cols };
}

/**
 * Runs `argv` (a `runc exec`) for the session: under a pty when `tty` (runc then gives the command
 * a terminal of the pty's size, and passes a resize on), else with three pipes. Resolves when it
 * ended and the exit frame is sent; closing the socket first ends the command.
 */
export function runExec(ws: WebSocket, argv: string[], start: StartMessage, container: string, early: Array<[Buffer, boolean]> = []): Promise<void> {
  return new Promise((resolve) => {
    let runcFailure: string | null = null;
    let ended = false;
    const finish = (code: number | null, signal: number | null): void => {
      if (ended) return;
      ended = true;
      let status = code ?? (signal ? 128 + signal : 1);
      let message: string | undefined;
      if (runcFailure !== null && status === 255) ({ status, message } = execFailure(runcFailure, container));
      const signalName = signal ? Object.entries(osConstants.signals).find(([, n]) => n === signal)?.[0] ?? null : null;
      sendJson(ws, { type: 'exit', status, signal: signalName, ...(message ? { message } : {}) });
      ws.close(1000, 'exited');
      resolve();
    };
    /** runc's own start failure, from the text the command printed (the pty merges both streams). */
    const scan = (text: string): string => text.split('\n').filter((line) => {
      // On a terminal runc logs in colour: `ESC[31mERROESC[0m[0000] exec failed: …`.
      const plain = line.replace(/\x1b\[[0-9;]*m/g, '').replace(/^ERRO\[\d+\]\s*/, '').trimEnd();
      const m = RUNC_EXEC_FAILED.exec(plain);
      if (m) runcFailure = m[1];
      return !m;
    }).join('\n');

    if (start.tty) {
      const term = pty.spawn(argv[0], argv.slice(1), { name: 'xterm', cols: sizeOf(start.cols, 80), rows: sizeOf(start.rows, 24), encoding: null as unknown as string });
      term.onData((d: string | Buffer) => {
        const buf = Buffer.isBuffer(d) ? d : Buffer.from(d);
        if (buf.includes('exec failed')) { const kept = scan(buf.toString()); if (kept) sendFrame(ws, STDOUT, Buffer.from(kept)); return; }
        sendFrame(ws, STDOUT, buf);
      });
      term.onExit(({ exitCode, signal }) => finish(signal ? null : exitCode, signal || null));
      const onMessage = (data: Buffer, isBinary: boolean): void => {
        // A Buffer goes to the pty as it is (its socket takes bytes): binary-safe.
        if (isBinary) { term.write(data as unknown as string); return; }
        const c = control(data);
        if (c?.type === 'resize') term.resize(sizeOf(c.cols, 80), sizeOf(c.rows, 24));
        else if (c?.type === 'close-stdin') term.write('\x04');
        else if (c?.type === 'signal' && c.signal) try { process.kill(term.pid, c.signal); } catch { /* gone */ }
      };
      ws.on('message', onMessage);
      for (const [data, isBinary] of early) onMessage(data, isBinary);
      ws.on('close', () => {
        if (ended) return;
        // The terminal hangs up, as when an ssh connection drops; then it is killed.
        try { term.kill('SIGHUP'); } catch { /* gone */ }
        setTimeout(() => { if (!ended) try { term.kill('SIGKILL'); } catch { /* gone */ } }, GRACE_MS).unref();
      });
      return;
    }

    const child = spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    child.stdout.on('data', (d: Buffer) => sendFrame(ws, STDOUT, d));
    let partial = '';
    child.stderr.on('data', (d: Buffer) => {
      // Line by line, so that runc's own start failure is recognised and not passed on.
      const text = partial + d.toString('latin1');
      const cut = text.lastIndexOf('\n');
      partial = cut < 0 ? text : text.slice(cut + 1);
      if (cut >= 0) {
        const kept = scan(text.slice(0, cut));
        if (kept || text.slice(0, cut) === '') sendFrame(ws, STDERR, Buffer.from(`${kept}\n`, 'latin1'));
      }
    });
    child.stdin.on('error', () => undefined);
    child.on('error', () => finish(127, null));
    child.on('close', (code, signal) => {
      if (partial) { const kept = scan(partial); if (kept) sendFrame(ws, STDERR, Buffer.from(kept, 'latin1')); }
      finish(code, signal ? osConstants.signals[signal] : null);
    });
    const onMessage = (data: Buffer, isBinary: boolean): void => {
      if (isBinary) { child.stdin.write(data); return; }
      const c = control(data);
      if (c?.type === 'close-stdin') child.stdin.end();
      else if (c?.type === 'signal' && c.signal) try { child.kill(c.signal as NodeJS.Signals); } catch { /* gone */ }
    };
    ws.on('message', onMessage);
    for (const [data, isBinary] of early) onMessage(data, isBinary);
    ws.on('close', () => {
      if (ended) return;
      // runc passes the signal on to the command.
      child.kill('SIGTERM');
      setTimeout(() => { if (!ended) child.kill('SIGKILL'); }, GRACE_MS).unref();
    });
  });
}

function control(data: Buffer): Control | null {
  try {
    const c = JSON.parse(data.toString()) as Control;
    return typeof c?.type === 'string' ? c : null;
  } catch {
    return null;
  }
}

/** Relays the container's console (held by the monitor) until either side ends; detaching leaves the container running. */
export async function relayConsole(ws: WebSocket, plan: { monitorSocket: string; consoleLog: string }, rows: number, cols: number): Promise<void> {
  const conn = await attachConsole(plan.monitorSocket, plan.consoleLog, sizeOf(rows, 24), sizeOf(cols, 80));
  conn.on('data', (d: Buffer) => sendFrame(ws, STDOUT, d));
  conn.on('close', () => { sendJson(ws, { type: 'exit', status: 0, signal: null, message: 'the console closed (the container stopped)' }); ws.close(1000, 'console closed'); });
  conn.on('error', () => ws.close(1011, 'console error'));
  ws.on('message', (data: Buffer, isBinary: boolean) => { if (isBinary) conn.write(data); });
  ws.on('close', () => conn.destroy());
  conn.resume();
}
