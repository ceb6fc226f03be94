/**
 * The one way Strata runs a program: `run` for a command whose output is read whole or line by
 * line (with a timeout and an abort signal), `startProgram` for one used as a stream filter
 * (zstd, xz). Both keep a bounded tail of stderr and map failure to one ToolError.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { ToolError } from '../errors/index.js';

/** How much of a program's stderr is kept for its error message. */
const STDERR_TAIL = 64 * 1024;

export interface Program {
  child: ChildProcess;
  /** Its stdin when asked for ('pipe'), else null. */
  stdin: Writable | null;
  /** Its stdout when it goes to us ('pipe'), else null. */
  stdout: Readable | null;
  /** The last 64 KiB of what it wrote on stderr so far. */
  stderrTail(): string;
  /** How it ended; `spawnError` when it could not start (not installed…). */
  closed: Promise<{ code: number | null; signal: NodeJS.Signals | null; spawnError?: Error }>;
  /** Ends it at once (SIGKILL) unless it already has. */
  kill(): void;
}

/** Starts `argv` as a stream filter: stdin 'pipe' or 'ignore', stdout 'pipe' or a file descriptor. */
export function startProgram(argv: string[], opts: { stdin?: 'pipe' | 'ignore'; stdout?: 'pipe' | number; env?: NodeJS.ProcessEnv } = {}): Program {
  const child = spawn(argv[0], argv.slice(1), { stdio: [opts.stdin ?? 'ignore', opts.stdout ?? 'pipe', 'pipe'], env: opts.env ?? process.env });
  let stderr = '';
  let spawnError: Error | undefined;
  child.stderr!.setEncoding('utf8').on('data', (text: string) => {
    stderr += text;
    if (stderr.length > 2 * STDERR_TAIL) stderr = stderr.slice(-STDERR_TAIL);
  });
  child.on('error', (err) => { spawnError = err; });
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null; spawnError?: Error }>((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal, spawnError }));
  });
  return {
    child,
    stdin: child.stdin,
    stdout: child.stdout,
    stderrTail: () => stderr.slice(-STDERR_TAIL),
    closed,
    kill: () => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); },
  };
}

export interface RunResult {
  stdout: string;
  stderr: string;
  status: number;
}

export interface RunOptions {
  /** What the caller was doing, prefixed to the error message. */
  context?: string;
  input?: string;
  env?: NodeJS.ProcessEnv;
  /** Resolve instead of throwing on a non-zero exit. */
  allowFailure?: boolean;
  /** Called with each line of stdout/stderr as it arrives (progress). */
  onLine?: (line: string) => void;
  timeoutMs?: number;
  /** Ends the program (SIGKILL) when it fires; the promise then rejects with the signal's reason. */
  signal?: AbortSignal;
}

export function run(argv: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), {
      env: opts.env ?? process.env,
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      timeout: opts.timeoutMs,
    });
    let stdout = '';
    let stderr = '';
    let pending = '';
    const lines = (chunk: string): void => {
      if (!opts.onLine) return;
      pending += chunk;
      const parts = pending.split(/\r?\n|\r/);
      pending = parts.pop() ?? '';
      for (const line of parts) if (line.trim()) opts.onLine(line);
    };
    child.stdout!.setEncoding('utf8').on('data', (d: string) => { stdout += d; lines(d); });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      if (stderr.length > 1 << 20) stderr = stderr.slice(-(1 << 19));
      lines(d);
    });
    child.on('error', (err) => reject(new ToolError(argv, null, err.message, opts.context)));
    child.on('close', (code, signal) => {
      if (opts.signal?.aborted) { reject(opts.signal.reason); return; }
      const status = code ?? 128;
      if (status !== 0 && !opts.allowFailure) {
        reject(new ToolError(argv, code, stderr || stdout || (signal ? `killed by ${signal}` : ''), opts.context));
      } else {
        resolve({ stdout, stderr, status });
      }
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    if (opts.signal) {
      const signal = opts.signal;
      const onAbort = (): void => { child.kill('SIGKILL'); };
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
      child.on('close', () => signal.removeEventListener('abort', onAbort));
    }
  });
}
