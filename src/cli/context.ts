/** What every CLI verb shares: the API client, option helpers and output formatting. */
import { Command } from 'commander';
import { isAbsolute, resolve } from 'node:path';
import { Client, type OperationView } from '../api/client.js';
import { resolveSocket } from '../config/index.js';
import { InvalidArgument } from '../errors/index.js';
import { chosenRemote } from './remotes.js';

export { humanBytes } from '../model/units.js';

interface GlobalOptions {
  socket?: string;
  remote?: string;
  asTenant?: string;
  debug?: boolean;
}

/** A sub-command with the options every command takes. */
export function verb(parent: Command, name: string, description: string, opts: { hidden?: boolean } = {}): Command {
  return parent
    .command(name, opts)
    .description(description)
    .option('--socket <path>', 'daemon socket (default: $STRATA_SOCKET or /run/strata/strata.sock)')
    .option('--remote <name>', "the remote daemon to drive (see 'strata remote list'; default: $STRATA_REMOTE or the current one)")
    .option('--as-tenant <tenant>', 'act as this tenant (a host administrator; audited); $STRATA_AS_TENANT')
    .option('--debug', 'show stack traces of errors');
}

/**
 * The daemon a command goes to: --remote, else --socket, else $STRATA_REMOTE, else $STRATA_SOCKET,
 * else the current remote of the remotes file (`local` unless switched).
 */
export function clientOf(cmd: Command): Client {
  const opts = cmd.optsWithGlobals<GlobalOptions>();
  const tenant = opts.asTenant ?? process.env.STRATA_AS_TENANT;
  const local = !opts.remote && (opts.socket || (!process.env.STRATA_REMOTE && process.env.STRATA_SOCKET));
  const remote = local ? null : chosenRemote(opts.remote);
  if (remote) return new Client({ url: remote.url, token: remote.token, fingerprint: remote.fingerprint, tenant, name: remote.name });
  return new Client({ socket: resolveSocket(opts.socket), tenant });
}

/**
 * A file the daemon reads or writes (template import and export): a path on the daemon's host.
 * Locally a relative one is made absolute here; a remote daemon has another working directory
 * (and another file system), so there it must be absolute.
 */
export function daemonPath(client: Client, file: string): string {
  if (!('url' in client.endpoint)) return resolve(file);
  if (!isAbsolute(file)) throw new InvalidArgument(`${file} is a path on the host of ${client.endpoint.url}: give it absolute (e.g. /var/tmp/${file.split('/').pop() ?? 'file'})`);
  return file;
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** A plain aligned table, like `ps` prints. */
export function printTable(headers: string[], rows: Array<Array<string | number | null | undefined>>): void {
  const cells = [headers, ...rows.map((r) => r.map((c) => (c === null || c === undefined || c === '' ? '-' : String(c))))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => r[i].length)));
  for (const row of cells) process.stdout.write(`${row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]))).join('  ')}\n`);
}

export function printFields(obj: Record<string, unknown>): void {
  const width = Math.max(...Object.keys(obj).map((k) => k.length));
  for (const [k, v] of Object.entries(obj)) {
    const text = v === null || v === undefined ? '-' : typeof v === 'object' ? JSON.stringify(v) : String(v);
    process.stdout.write(`${`${k}:`.padEnd(width + 2)}${text}\n`);
  }
}

export function since(iso: string | null): string {
  if (!iso) return '-';
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  if (s < 86400) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
}

/** Progress lines of long operations, with the time since the start. */
/** A counter line of a long step (`objects: 1200 of 11436`), shown as one line that updates. */
const COUNTER = /^([a-z][\w -]*): (\d+)(?: of (\d+))?$/;

/**
 * Progress lines on stderr, each with the time since the start. Counter lines update one line in
 * place on a terminal (with a bar when the total is known); in a log, a counter line is written
 * when its step starts or ends and every 5 s between.
 */
export function progressPrinter(tty = !!process.stderr.isTTY): (line: string) => void {
  const start = Date.now();
  const stamp = (): string => `[${((Date.now() - start) / 1000).toFixed(1).padStart(6)}s]`;
  let open = false; // a counter line is on screen without its newline
  let step = '';
  let logged = 0;
  return (line) => {
    const counter = COUNTER.exec(line);
    if (!counter) {
      process.stderr.write(`${open ? '\n' : ''}${stamp()} ${line}\n`);
      open = false;
      return;
    }
    const [, name, done, total] = counter;
    const finished = total !== undefined && done === total;
    if (tty) {
      const width = 30;
      const bar = total ? ` [${'#'.repeat(Math.round((Number(done) / Number(total)) * width)).padEnd(width, '.')}]` : '';
      process.stderr.write(`\r\x1b[K${stamp()} ${name}${bar} ${done}${total ? ` of ${total}` : ''}${finished ? '\n' : ''}`);
      open = !finished;
      return;
    }
    if (name !== step || finished || Date.now() - logged >= 5000) {
      process.stderr.write(`${stamp()} ${line}\n`);
      logged = Date.now();
    }
    step = finished ? '' : name;
  };
}

/** `--no-wait` (alias `--detach`) on a command that runs an operation. */
export function withWaitOptions(cmd: Command): Command {
  return cmd
    .option('--no-wait', 'start it as an operation, print its id and return at once (follow it with \'strata operation wait ID\')')
    .option('--detach', 'the same as --no-wait');
}

/** True when the command was told not to wait (--no-wait or --detach). */
export const detached = (opts: { wait?: boolean; detach?: boolean }): boolean => opts.wait === false || !!opts.detach;

/**
 * Follows an operation the command started, with the progress printer, to its result (or throws
 * its error). Detached: prints its id on stdout and returns null. Ctrl-C (or SIGTERM, SIGHUP)
 * while waiting cancels it, as closing a streamed request always did: its work rolls back and the
 * command ends with the `cancelled` status; a second Ctrl-C stops waiting for the rollback.
 */
export async function followOperation<T>(client: Client, op: OperationView, opts: { detach: boolean }): Promise<T | null> {
  if (opts.detach) {
    process.stdout.write(`${op.id}\n`);
    process.stderr.write(`operation ${op.id} (${op.kind}${op.subject ? ` of ${op.subject}` : ''}) started: 'strata operation wait ${op.id}' follows it\n`);
    return null;
  }
  let asked = false;
  const onSignal = (): void => {
    if (asked) process.exit(130);
    asked = true;
    process.stderr.write(`\ncancelling operation ${op.id}: rolling back (Ctrl-C again stops waiting; the rollback goes on)\n`);
    client.operations.cancel(op.id).catch(() => undefined);
  };
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  for (const sig of signals) process.on(sig, onSignal);
  try {
    return await client.operations.follow<T>(op.id, progressPrinter());
  } finally {
    for (const sig of signals) process.off(sig, onSignal);
  }
}

/** An operation's progress for a table: `objects 120/900`, or its last line. */
export function progressText(op: OperationView): string {
  const p = op.progress;
  if (!p) return '-';
  if (p.step !== null && p.done !== null) return `${p.step} ${p.done}${p.total !== null ? `/${p.total}` : ''}`;
  return p.line.length > 40 ? `${p.line.slice(0, 39)}…` : p.line;
}
