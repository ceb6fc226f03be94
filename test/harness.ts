/**
 * Test harness: each test gets its own data root, socket and daemon, and
 * leaves nothing behind (containers, mounts, cgroups, runc state, monitor,
 * files) even when it fails. Processes are ended by the pid we started.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { after, before } from 'node:test';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { pathsFor } from '../src/config/index.js';

export const TOP = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const STRATA = join(TOP, 'bin', 'strata');

export interface CliResult {
  status: number;
  stdout: string;
  stderr: string;
}

export function runCli(socket: string, args: string[], input?: string): Promise<CliResult> {
  return runIn(process.execPath, [STRATA, ...args], input, socket);
}

/** Runs a program with STRATA_SOCKET set, feeding `input`; never rejects. */
export function runIn(program: string, args: string[], input: string | undefined, socket: string): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(program, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, STRATA_SOCKET: socket } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('close', (code) => resolve({ status: code ?? 128, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

function answers(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect(socket);
    c.on('connect', () => { c.destroy(); resolve(true); });
    c.on('error', () => resolve(false));
  });
}

export class TestDaemon {
  readonly root: string;
  readonly socket: string;
  daemon: ChildProcess | null = null;
  log = '';

  /** A fresh data root under /tmp, or `shareRoot` (a daemon that must then be refused). */
  /** The environment of the daemons it starts (a test may change it before a restart). */
  readonly env: Record<string, string>;

  /** Options added to `strata daemon` (`--runtime X`…). */
  readonly args: string[];

  /** A command the daemon runs under (`nsenter --net=…`: a daemon as another host). */
  readonly wrap: string[];

  constructor(opts: { shareRoot?: string; env?: Record<string, string>; args?: string[]; wrap?: string[] } = {}) {
    this.env = opts.env ?? {};
    this.args = opts.args ?? [];
    this.wrap = opts.wrap ?? [];
    this.root = opts.shareRoot ?? mkdtempSync(join('/tmp', 'strata-test-'));
    this.socket = opts.shareRoot ? `${mkdtempSync(join('/tmp', 'strata-test-sock-'))}/api.sock` : join(this.root, 'api.sock');
  }

  get paths(): ReturnType<typeof pathsFor> {
    return pathsFor(this.root);
  }

  async start(): Promise<void> {
    const argv = [...this.wrap, process.execPath, STRATA, 'daemon', '--root', this.root, '--socket', this.socket, ...this.args];
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...this.env } });
    child.stdout?.on('data', (d: Buffer) => { this.log += d.toString(); });
    child.stderr?.on('data', (d: Buffer) => { this.log += d.toString(); });
    this.daemon = child;
    // Up to 30 s: a loaded two-core machine (a CI run beside other work) can take several.
    for (let i = 0; i < 1500; i++) {
      if (child.exitCode !== null) throw new Error(`daemon exited with ${child.exitCode}: ${this.log}`);
      if (this.log.includes('serving') && (await answers(this.socket))) return;
      await new Promise((r) => setTimeout(r, 20));
    }
    // Not left half-started: what it started (lxcfs, the monitor) is the cleanup's to end.
    await this.kill9();
    throw new Error(`daemon did not come up in 30 s: ${this.log}`);
  }

  /** Stops the daemon the way an operator does (SIGTERM) and waits for it. */
  async stop(): Promise<void> {
    await this.signal('SIGTERM');
  }

  async kill9(): Promise<void> {
    await this.signal('SIGKILL');
  }

  private async signal(sig: NodeJS.Signals): Promise<void> {
    const child = this.daemon;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill(sig);
    await exited;
    this.daemon = null;
  }

  cli(...args: string[]): Promise<CliResult> {
    return runCli(this.socket, args);
  }

  cliInput(input: string, ...args: string[]): Promise<CliResult> {
    return runCli(this.socket, args, input);
  }

  /** Runs a CLI command that must succeed; returns stdout. */
  async ok(...args: string[]): Promise<string> {
    const r = await this.cli(...args);
    if (r.status !== 0) throw new Error(`strata ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
    return r.stdout;
  }

  async json<T>(...args: string[]): Promise<T> {
    return JSON.parse(await this.ok(...args, '--json')) as T;
  }

  /**
   * What the daemon made on the host, found by its names; empty when clean. Networks (bridges,
   * rule tables) are daemon-level objects that outlive containers: counted only when asked.
   */
  leftovers(opts: { networks?: boolean } = {}): string[] {
    const p = this.paths;
    const found: string[] = [];
    const mounts = mountPoints().filter((m) => m.startsWith(this.root));
    found.push(...mounts.map((m) => `mount ${m}`));
    for (const entry of readdirSync('/sys/fs/cgroup')) {
      if (existsSync(join('/sys/fs/cgroup', entry, p.cgroupParent))) found.push(`cgroup ${entry}/${p.cgroupParent}`);
    }
    if (existsSync(join('/sys/fs/cgroup', p.cgroupParent))) found.push(`cgroup ${p.cgroupParent}`);
    if (existsSync(p.runcRoot) && readdirSync(p.runcRoot).length) found.push(`runc state ${readdirSync(p.runcRoot).join(',')}`);
    if (!opts.networks) return found;
    const links = spawnSync('ip', ['-o', 'link']).stdout.toString();
    for (const m of links.matchAll(new RegExp(`\\d+: (stb${p.rootId.slice(0, 8)}\\d{4})`, 'g'))) found.push(`bridge ${m[1]}`);
    const tables = spawnSync('nft', ['list', 'tables']).stdout.toString();
    for (const m of tables.matchAll(new RegExp(`table \\w+ (strata_${p.rootId}_\\d+)`, 'g'))) found.push(`nft table ${m[1]}`);
    return found;
  }

  /** Destroys every container, stops daemon and monitor, removes every host object and file. Never throws. */
  async cleanup(): Promise<void> {
    try {
      if (!this.daemon) await this.start().catch(() => undefined);
      const list = await this.cli('list', '--json');
      if (list.status === 0) {
        for (const c of JSON.parse(list.stdout) as Array<{ name: string }>) await this.cli('destroy', c.name, '--force');
      }
      const nets = await this.cli('network', 'list', '--json');
      if (nets.status === 0) {
        for (const n of JSON.parse(nets.stdout) as Array<{ name: string }>) await this.cli('network', 'rm', n.name);
      }
    } catch { /* fall through to the hard cleanup */ }
    await this.stop().catch(() => undefined);
    const p = this.paths;
    // Hard cleanup for whatever a failed test left: runc containers, mounts, cgroups, the monitor.
    if (existsSync(p.runcRoot)) {
      for (const id of readdirSync(p.runcRoot)) spawnSync('runc', ['--root', p.runcRoot, 'delete', '--force', id]);
    }
    const mounts = mountPoints().filter((m) => m.startsWith(this.root)).reverse();
    for (const m of mounts) spawnSync('umount', ['--lazy', m]);
    for (const entry of readdirSync('/sys/fs/cgroup')) {
      const dir = join('/sys/fs/cgroup', entry, p.cgroupParent);
      if (existsSync(dir)) removeCgroupTree(dir);
    }
    // Networks a failed test could not remove through the daemon: bridges and rule tables by name.
    const links = spawnSync('ip', ['-o', 'link']).stdout.toString();
    for (const m of links.matchAll(new RegExp(`\\d+: (stb${p.rootId.slice(0, 8)}\\d{4})`, 'g'))) spawnSync('ip', ['link', 'del', m[1]]);
    const tables = spawnSync('nft', ['list', 'tables']).stdout.toString();
    for (const m of tables.matchAll(new RegExp(`table (\\w+) (strata_${p.rootId}_\\d+)`, 'g'))) spawnSync('nft', ['delete', 'table', m[1], m[2]]);
    await stopMonitor(p.monitorSocket);
    await endMonitorProcesses(p.monitorSocket);
    // A killed lxcfs leaves its mount behind.
    for (const m of mountPoints().filter((x) => x.startsWith(`${p.run}/`)).reverse()) spawnSync('umount', ['--lazy', m]);
    rmSync(p.run, { recursive: true, force: true });
    rmSync(this.root, { recursive: true, force: true });
    // A daemon on a given root got a socket directory of its own.
    if (!this.socket.startsWith(`${this.root}/`)) rmSync(dirname(this.socket), { recursive: true, force: true });
  }
}

/** Removes a cgroup directory and the (empty) ones below it, deepest first: tenants' groups hold containers'. */
function removeCgroupTree(dir: string): void {
  for (const sub of readdirSync(dir, { withFileTypes: true })) if (sub.isDirectory()) removeCgroupTree(join(dir, sub.name));
  spawnSync('rmdir', [dir]);
}

async function stopMonitor(socket: string): Promise<void> {
  if (!existsSync(socket)) return;
  await new Promise<void>((resolve) => {
    const c = connect(socket);
    // Read the answer: a paused socket never sees the monitor's end, and never closes.
    c.resume();
    c.on('connect', () => c.end('QUIT\n'));
    c.on('close', () => resolve());
    c.on('error', () => resolve());
  });
}

/** Pids of the monitors started on `socket` (the path is their first argument). */
function monitorsOf(socket: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (argv[0].endsWith('/strata-monitor') && argv[1] === socket) pids.push(Number(entry));
    } catch { /* gone meanwhile */ }
  }
  return pids;
}

/**
 * Waits for the monitors of `socket` to exit after QUIT; one still there after 3 s is a leak:
 * reported on stderr (so a test run shows it) and killed by its pid.
 */
async function endMonitorProcesses(socket: string): Promise<void> {
  for (let i = 0; i < 30 && monitorsOf(socket).length; i++) await sleep(100);
  for (const pid of monitorsOf(socket)) {
    const below = spawnSync('ps', ['--ppid', String(pid), '-o', 'pid=,stat=,args=']).stdout.toString().trim();
    process.stderr.write(`harness: a strata-monitor (pid ${pid}) of ${socket} did not exit after QUIT (below it: ${below.replace(/\s*\n\s*/g, '; ') || 'nothing'}): killed, with what it started\n`);
    // Its children first (lxcfs): killed with it they would be orphans that no cleanup knows.
    for (const child of below.split('\n').map((l) => Number(l.trim().split(/\s+/)[0])).filter((n) => n > 0)) {
      try { process.kill(child, 'SIGKILL'); } catch { /* gone meanwhile */ }
    }
    try { process.kill(pid, 'SIGKILL'); } catch { /* gone meanwhile */ }
  }
}

/** Host pids of processes in state Z whose parent is one of `parents` (or anyone when empty). */
export function zombies(): Array<{ pid: number; ppid: number; comm: string }> {
  const out = spawnSync('ps', ['-eo', 'pid=,ppid=,stat=,comm=']).stdout.toString();
  return out.split('\n').map((l) => l.trim().split(/\s+/)).filter((f) => f.length >= 4 && f[2].startsWith('Z'))
    .map((f) => ({ pid: Number(f[0]), ppid: Number(f[1]), comm: f[3] }));
}

export { sleep };

/** A TCP port nothing listens on now (read from /proc/net/tcp{,6}), from a range of its own picked at random. */
export function freePort(): number {
  const used = readFileSync('/proc/net/tcp', 'utf8') + readFileSync('/proc/net/tcp6', 'utf8');
  for (let p = 38000 + Math.floor(Math.random() * 2000); p < 45000; p++) {
    if (!used.includes(`:${p.toString(16).toUpperCase().padStart(4, '0')} `)) return p;
  }
  throw new Error('no free port');
}

/**
 * The daemon of a test file or `describe` block, with the hooks every integration file needs:
 * before its tests, start it and build the templates asked (`template`: one from busybox;
 * `templates`: name → source); after them, `cleanup()` (also when a test failed). Hooks a file
 * adds after this call run after these (its own set-up can use the daemon and its templates).
 * `start: false` starts nothing (a test starts it), yet still cleans up.
 */
export function useDaemon(opts: { template?: string; templates?: Record<string, string>; start?: boolean; shareRoot?: string; env?: Record<string, string>; args?: string[]; wrap?: string[] } = {}): TestDaemon {
  const d = new TestDaemon(opts);
  const templates = { ...(opts.template ? { [opts.template]: 'busybox' } : {}), ...opts.templates };
  if (opts.start !== false) {
    before(async () => {
      await d.start();
      for (const [name, from] of Object.entries(templates)) await d.ok('template', 'build', name, '--from', from);
    });
  }
  after(() => d.cleanup());
  return d;
}

/** A scratch directory under /tmp for a test file or `describe` block, removed after its tests. */
export function useScratchDir(prefix = 'strata-test-work-'): string {
  const dir = mkdtempSync(join('/tmp', prefix));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The host's mounts from /proc/self/mountinfo, in its order, with octal escapes (\040 …) decoded. */
export function mountTable(): Array<{ root: string; mountPoint: string }> {
  const decode = (field: string): string => field.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean).map((line) => {
    const f = line.split(' ');
    return { root: decode(f[3]), mountPoint: decode(f[4]) };
  });
}

/** Every mount point of the host, in mount order. */
export const mountPoints = (): string[] => mountTable().map((m) => m.mountPoint);

/**
 * A Debian template named `name` in daemon `d` (bookworm with systemd unless told otherwise):
 * debootstrap once per test run (a minute, from the mirror), then exported to a cache file that
 * later callers import (seconds). The cache lives in the working tree (`.test-cache/`, ignored
 * by git), keyed by the build code, so one `npm test` shares it between test files and a clean
 * clone starts without it. Returns the seconds the build took, or null when it was imported.
 */
export async function sharedDebian(d: TestDaemon, name: string, opts: { suite?: string; init?: 'systemd' | 'sysvinit' } = {}): Promise<number | null> {
  const suite = opts.suite ?? 'bookworm';
  const init = opts.init ?? 'systemd';
  const key = createHash('sha256');
  for (const file of ['dist/src/templates/builders.js', 'dist/src/templates/pack/manifest.js', 'dist/src/store/digest.js']) key.update(readFileSync(join(TOP, file)));
  const dir = join(TOP, '.test-cache');
  const prefix = `debian-${suite}-${init}-`;
  const file = join(dir, `${prefix}${key.digest('hex').slice(0, 12)}.strata`);
  if (existsSync(file)) {
    await d.ok('template', 'import', file, '--name', name);
    return null;
  }
  const t0 = Date.now();
  await d.ok('template', 'build', name, '--from', `debootstrap:${suite}`, '--init', init);
  const seconds = (Date.now() - t0) / 1000;
  mkdirSync(dir, { recursive: true });
  for (const old of readdirSync(dir)) if (old.startsWith(prefix)) rmSync(join(dir, old), { force: true });
  await d.ok('template', 'export', name, '-o', `${file}.tmp`);
  renameSync(`${file}.tmp`, file);
  return seconds;
}

/**
 * An application template `name` in daemon `d`, captured over OS template `base` by the shell
 * command `install` (with the network `default`, as an operator captures from apt), cached like
 * sharedDebian: the first caller captures it and exports it to `.test-cache/`, keyed by the
 * capture and template-file code, the base's digest and the command; later callers import it
 * (seconds). Only a base imported from a file has a digest to key on: over a base built in this
 * run it is captured, not cached. Returns the seconds the capture took, or null when imported.
 */
export async function sharedApp(d: TestDaemon, name: string, base: string, install: string): Promise<number | null> {
  const digest = (await d.json<{ meta: { digest?: string } }>('template', 'inspect', base)).meta.digest;
  const key = createHash('sha256');
  for (const file of ['dist/src/templates/capture/index.js', 'dist/src/templates/capture/diff.js', 'dist/src/templates/app/databases.js', 'dist/src/templates/pack/manifest.js', 'dist/src/store/digest.js']) key.update(readFileSync(join(TOP, file)));
  key.update(`${digest}\0${install}`);
  const dir = join(TOP, '.test-cache');
  const prefix = `app-${name}-${digest?.replace(/^sha256:/, '').slice(0, 12)}-`;
  const file = join(dir, `${prefix}${key.digest('hex').slice(0, 12)}.strata`);
  if (digest && existsSync(file)) {
    if ((await d.cli('template', 'import', file, '--name', name)).status === 0) return null;
    // A damaged or refused file: captured again below, and the cache replaced.
    rmSync(file, { force: true });
  }
  const t0 = Date.now();
  await d.ok('template', 'capture', name, '--base', base, '--net', 'default', '--', 'sh', '-c', install);
  const seconds = (Date.now() - t0) / 1000;
  if (!digest) return seconds;
  mkdirSync(dir, { recursive: true });
  for (const old of readdirSync(dir)) if (old.startsWith(prefix)) rmSync(join(dir, old), { force: true });
  await d.ok('template', 'export', name, '-o', `${file}.tmp`);
  renameSync(`${file}.tmp`, file);
  return seconds;
}

/**
 * Waits (10 s at most) until `links()` is `expected`: a stopped container's veth is removed by the
 * kernel with its network namespace, a few milliseconds after `stop` or `destroy` returns.
 */
export async function untilLinks(links: () => string[], expected: string[], ms = 10_000): Promise<string[]> {
  const deadline = Date.now() + ms;
  let now = links();
  while (JSON.stringify(now) !== JSON.stringify(expected) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    now = links();
  }
  return now;
}
