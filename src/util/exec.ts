/** Running external tools (runc, mount, debootstrap…) with their failures as ToolErrors. */
import { spawn } from 'node:child_process';
import { ToolError } from '../errors/index.js';

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
      const status = code ?? 128;
      if (status !== 0 && !opts.allowFailure) {
        reject(new ToolError(argv, code, stderr || stdout || (signal ? `killed by ${signal}` : ''), opts.context));
      } else {
        resolve({ stdout, stderr, status });
      }
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}
