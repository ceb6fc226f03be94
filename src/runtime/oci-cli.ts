/**
 * The driver of an OCI runtime with runc's command line (runc, crun: the same verbs and flags,
 * `--root` per data root, JSON log lines). Each runtime folder gives it a name, a binary, its
 * capabilities, how to install it and its error dialect (how it says "no such container" or
 * "already stopped"). Knows OCI bundles and those verbs; knows nothing of templates or the database.
 */
import { closeSync, constants, existsSync, mkdirSync, openSync, promises as fsp, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { FailedPrecondition, ToolError } from '../errors/index.js';
import { run } from '../util/exec.js';
import { isAliveNow } from '../util/process.js';
import { LOG_CAP } from './monitor.js';
import type { ExecOptions, OciRuntime, RuntimeCapabilities, RuntimeOptions, RuntimeState } from './runtime.js';
import type { OciSpec } from './spec.js';

type RuntimeStatus = RuntimeState['status'];

/** One runtime of runc's command line. */
export interface CliRuntime {
  name: string;
  binary: string;
  capabilities: RuntimeCapabilities;
  /** How to install it, for the error of a daemon that cannot find it. */
  install: string;
  /** Its words on stderr for a container it does not know. */
  unknownContainer: RegExp;
  /** Its words on stderr when signalling a container whose processes already ended. */
  alreadyStopped: RegExp;
  /**
   * A created container's init waits to write one byte to `<state>/<id>/exec.fifo`, and `start`
   * is reading it (runc's protocol since 1.0): Strata reads it itself, sparing a program's start.
   */
  execFifo: boolean;
}

export class OciCliRuntime implements OciRuntime {
  readonly name: string;
  readonly capabilities: RuntimeCapabilities;
  private readonly binary: string;
  private readonly stateRoot: string;
  private readonly monitor: RuntimeOptions['monitor'];

  constructor(private readonly cli: CliRuntime, opts: RuntimeOptions) {
    this.name = cli.name;
    this.capabilities = cli.capabilities;
    this.binary = cli.binary;
    this.stateRoot = opts.stateRoot;
    this.monitor = opts.monitor;
  }

  async version(): Promise<string> {
    const res = await run([this.binary, '--version'], { allowFailure: true }).catch(() => null);
    if (!res || res.status !== 0) throw new FailedPrecondition(`${this.name} is not installed: ${this.cli.install}`);
    return res.stdout.split('\n')[0].trim();
  }

  private argv(...rest: string[]): string[] {
    return [this.binary, '--root', this.stateRoot, ...rest];
  }

  async writeBundle(bundle: string, spec: OciSpec): Promise<void> {
    mkdirSync(bundle, { recursive: true, mode: 0o700 });
    writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec, null, 2), { mode: 0o600 });
  }

  async create(id: string, bundle: string, consoleLog: string): Promise<number> {
    const logFile = join(bundle, `${this.name}.log`);
    const pidFile = join(bundle, 'init.pid');
    rmSync(logFile, { force: true });
    rmSync(pidFile, { force: true });
    // The runtime hands the console's pty master over this socket; the monitor takes and keeps it.
    const consoleSocket = this.consoleSocket(id);
    const argv = [this.binary, '--root', this.stateRoot, '--log', logFile, '--log-format', 'json', 'create', '--bundle', bundle, '--pid-file', pidFile, '--console-socket', consoleSocket, id];
    const status = await this.monitor.run(argv, consoleLog, LOG_CAP, consoleSocket);
    if (status !== 0) {
      // The monitor still listens on the console socket for a pty that will never come, and the
      // runtime may have left a half-made container: create cleans up after itself.
      await this.monitor.closeConsole(consoleLog);
      await this.delete(id, true).catch(() => undefined);
      throw new ToolError(argv, status, await lastLogError(logFile, this.name), `creating container ${id}`);
    }
    try {
      return Number(readFileSync(pidFile, 'utf8').trim());
    } catch (err) {
      await this.delete(id, true).catch(() => undefined);
      throw err;
    }
  }

  async start(id: string, initPid?: number): Promise<void> {
    const fifo = join(this.stateRoot, id, 'exec.fifo');
    if (!this.cli.execFifo || !initPid || !existsSync(fifo)) {
      await run(this.argv('start', id), { context: `starting container ${id}` });
      return;
    }
    // The open returns once the init has its end open (it may not yet, just after create). An
    // init that dies first never will: then an end opened here releases the wait. Checked
    // synchronously: the open holds one of the thread pool's threads meanwhile.
    let died = false;
    const watch = setInterval(() => {
      if (isAliveNow(initPid)) return;
      died = true;
      clearInterval(watch);
      try { closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK)); } catch { /* the open already returned */ }
    }, 20);
    try {
      const fifoEnd = await fsp.open(fifo, 'r');
      const said = await fifoEnd.readFile().finally(() => fifoEnd.close());
      if (died || said.length === 0) throw new FailedPrecondition(`container ${id} cannot start: its init ended before it was started (see its console log)`);
      await fsp.rm(fifo, { force: true });
    } finally {
      clearInterval(watch);
    }
  }

  async state(id: string): Promise<RuntimeState | null> {
    const res = await run(this.argv('state', id), { allowFailure: true });
    if (res.status !== 0) {
      if (this.cli.unknownContainer.test(res.stderr)) return null;
      throw new ToolError(this.argv('state', id), res.status, res.stderr);
    }
    const s = JSON.parse(res.stdout) as { id: string; status: RuntimeStatus; pid: number; bundle: string };
    return { id: s.id, status: s.status, pid: s.pid, bundle: s.bundle };
  }

  async list(): Promise<RuntimeState[]> {
    const res = await run(this.argv('list', '--format', 'json'));
    const list = JSON.parse(res.stdout || 'null') as Array<{ id: string; status: RuntimeStatus; pid: number; bundle: string }> | null;
    return (list ?? []).map((s) => ({ id: s.id, status: s.status, pid: s.pid, bundle: s.bundle }));
  }

  /** Short, under the runtime directory (a unix socket path has at most 107 bytes). */
  private consoleSocket(id: string): string {
    return join(dirname(this.stateRoot), `tty-${id}.sock`);
  }

  async kill(id: string, signal: string, all = false): Promise<void> {
    const res = await run(this.argv('kill', ...(all ? ['--all'] : []), id, cliSignal(signal)), { allowFailure: true });
    // A container that already stopped cannot be signalled; that is the goal anyway.
    if (res.status !== 0 && !this.cli.alreadyStopped.test(res.stderr) && !this.cli.unknownContainer.test(res.stderr)) {
      throw new ToolError(this.argv('kill', id, signal), res.status, res.stderr);
    }
  }

  async pause(id: string): Promise<void> {
    await run(this.argv('pause', id), { context: `freezing ${id}` });
  }

  async resume(id: string): Promise<void> {
    await run(this.argv('resume', id), { context: `thawing ${id}` });
  }

  closeConsole(consoleLog: string): Promise<void> {
    return this.monitor.closeConsole(consoleLog);
  }

  async delete(id: string, force = false): Promise<void> {
    const res = await run(this.argv('delete', ...(force ? ['--force'] : []), id), { allowFailure: true });
    if (res.status !== 0 && !this.cli.unknownContainer.test(res.stderr)) {
      throw new ToolError(this.argv('delete', id), res.status, res.stderr);
    }
  }

  execArgv(id: string, opts: ExecOptions): string[] {
    const argv = this.argv('exec');
    if (opts.tty) argv.push('--tty');
    if (opts.user) argv.push('--user', `${opts.user.uid}:${opts.user.gid}`);
    for (const e of opts.env) argv.push('--env', e);
    if (opts.cwd) argv.push('--cwd', opts.cwd);
    argv.push(id, ...opts.args);
    return argv;
  }
}

/** runc and crun write JSON log lines; the last "error" level message is the reason it failed. */
async function lastLogError(logFile: string, name: string): Promise<string> {
  let text = '';
  try {
    text = await fsp.readFile(logFile, 'utf8');
  } catch {
    return `${name} left no log`;
  }
  const errors = text.split('\n').filter(Boolean).map((line) => {
    try {
      return JSON.parse(line) as { level?: string; msg?: string };
    } catch {
      return { level: 'error', msg: line };
    }
  }).filter((l) => l.level === 'error' || l.level === 'fatal');
  return errors.map((e) => e.msg ?? '').join(' / ') || text.slice(-500);
}


/** runc knows signals by name but not real-time ones (systemd halts on SIGRTMIN+3): those by number. */
function cliSignal(signal: string): string {
  const rt = /^(?:SIG)?RTMIN(?:\+(\d+))?$/.exec(signal);
  return rt ? String(34 + Number(rt[1] ?? 0)) : signal;
}
