/**
 * The runc driver of the OciRuntime interface (../runtime.ts): drives the runc binary for one data
 * root (its own --root state directory). Knows OCI bundles, runc's verbs and its error dialect
 * (JSON log lines, "does not exist" on stderr); knows nothing of templates or the database.
 */
import { promises as fsp } from 'node:fs';
import { dirname, join } from 'node:path';
import { FailedPrecondition, ToolError } from '../../errors/index.js';
import { run } from '../../util/exec.js';
import { LOG_CAP } from '../monitor.js';
import type { ExecOptions, OciRuntime, RuntimeCapabilities, RuntimeOptions, RuntimeState } from '../runtime.js';
import type { OciSpec } from '../spec.js';

type RuntimeStatus = RuntimeState['status'];

/** runc 1.1: every cgroup layout; no CRIU on this kernel; idmapped mounts only from runc 1.2. */
const CAPABILITIES: RuntimeCapabilities = {
  cgroupLayouts: ['v1', 'hybrid', 'v2'],
  checkpoint: false,
  idmappedMounts: false,
  consoleSocket: true,
};

export class Runc implements OciRuntime {
  readonly name = 'runc';
  readonly capabilities = CAPABILITIES;
  private readonly stateRoot: string;
  private readonly monitor: RuntimeOptions['monitor'];
  private readonly binary = 'runc';

  constructor(opts: RuntimeOptions) {
    this.stateRoot = opts.stateRoot;
    this.monitor = opts.monitor;
  }

  async version(): Promise<string> {
    const res = await run([this.binary, '--version'], { allowFailure: true }).catch(() => null);
    if (!res || res.status !== 0) throw new FailedPrecondition('runc is not installed: run \'npm run quickstart\' or \'apt-get install runc\'');
    return res.stdout.split('\n')[0].trim();
  }

  private argv(...rest: string[]): string[] {
    return [this.binary, '--root', this.stateRoot, ...rest];
  }

  async writeBundle(bundle: string, spec: OciSpec): Promise<void> {
    await fsp.mkdir(bundle, { recursive: true, mode: 0o700 });
    await fsp.writeFile(join(bundle, 'config.json'), JSON.stringify(spec, null, 2), { mode: 0o600 });
  }

  async create(id: string, bundle: string, consoleLog: string): Promise<number> {
    const runcLog = join(bundle, 'runc.log');
    const pidFile = join(bundle, 'init.pid');
    await fsp.rm(runcLog, { force: true });
    await fsp.rm(pidFile, { force: true });
    // runc hands the console's pty master over this socket; the monitor takes and keeps it.
    const consoleSocket = this.consoleSocket(id);
    const argv = [this.binary, '--root', this.stateRoot, '--log', runcLog, '--log-format', 'json', 'create', '--bundle', bundle, '--pid-file', pidFile, '--console-socket', consoleSocket, id];
    const status = await this.monitor.run(argv, consoleLog, LOG_CAP, consoleSocket);
    if (status !== 0) {
      // The monitor still listens on the console socket for a pty that will never come.
      await this.monitor.closeConsole(consoleLog);
      throw new ToolError(argv, status, await lastRuncError(runcLog), `creating container ${id}`);
    }
    return Number((await fsp.readFile(pidFile, 'utf8')).trim());
  }

  async start(id: string): Promise<void> {
    await run(this.argv('start', id), { context: `starting container ${id}` });
  }

  async state(id: string): Promise<RuntimeState | null> {
    const res = await run(this.argv('state', id), { allowFailure: true });
    if (res.status !== 0) {
      if (/does not exist|not found/i.test(res.stderr)) return null;
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
    const res = await run(this.argv('kill', ...(all ? ['--all'] : []), id, runcSignal(signal)), { allowFailure: true });
    // A container that already stopped cannot be signalled; that is the goal anyway.
    if (res.status !== 0 && !/not running|process already finished|container not running|does not exist/i.test(res.stderr)) {
      throw new ToolError(this.argv('kill', id, signal), res.status, res.stderr);
    }
  }

  closeConsole(consoleLog: string): Promise<void> {
    return this.monitor.closeConsole(consoleLog);
  }

  async delete(id: string, force = false): Promise<void> {
    const res = await run(this.argv('delete', ...(force ? ['--force'] : []), id), { allowFailure: true });
    if (res.status !== 0 && !/does not exist|not found/i.test(res.stderr)) {
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

/** runc writes JSON log lines; the last "error" level message is the reason it failed. */
async function lastRuncError(logFile: string): Promise<string> {
  let text = '';
  try {
    text = await fsp.readFile(logFile, 'utf8');
  } catch {
    return 'runc left no log';
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
function runcSignal(signal: string): string {
  const rt = /^(?:SIG)?RTMIN(?:\+(\d+))?$/.exec(signal);
  return rt ? String(34 + Number(rt[1] ?? 0)) : signal;
}
