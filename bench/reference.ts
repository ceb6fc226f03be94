/**
 * The reference tools other than runc: podman (run -d with its default network) and LXC
 * (lxc-start of a busybox container on a bridge). `scripts/bench.sh` installs them from Debian
 * (bench/reference-tools.sh) and removes them again; here they are prepared in a directory of
 * their own, run below a subreaper (this host's pid 1 never reaps the conmon and lxc-start
 * processes that daemonize), and every host object they make is removed in cleanup().
 * A tool that is not installed is skipped and the report says so.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, symlinkSync, writeFileSync, copyFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { pathsFor } from '../src/config/index.js';
import { Monitor } from '../src/runtime/index.js';
import { has } from './lib.js';

export interface Reference {
  id: string;
  label: string;
  stopLabel: string;
  prepare?(log: (line: string) => void): Promise<void>;
  /** Untimed work before start(i), e.g. defining the container. */
  before?(i: number): Promise<void>;
  start(i: number): Promise<void>;
  stop(i: number): Promise<void>;
  cleanup(): Promise<void>;
}

const WORK = `/tmp/strata-bench-ref-${process.pid}`;
const MONITOR_BIN = pathsFor('/').helpers.monitor;

/** A subreaper of our own, so that daemonized helpers are reaped. */
let monitor: Monitor | null = null;
async function reaper(): Promise<Monitor> {
  if (!monitor) {
    monitor = new Monitor(join(WORK, 'monitor.sock'), MONITOR_BIN);
    await monitor.ensureRunning();
  }
  return monitor;
}

async function runReaped(argv: string[], env: Record<string, string> = {}): Promise<void> {
  const m = await reaper();
  const withEnv = Object.keys(env).length ? ['env', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), ...argv] : argv;
  const log = join(WORK, 'ref.log');
  const status = await m.run(withEnv, log);
  if (status !== 0) {
    const text = spawnSync('tail', ['-c', '600', log]).stdout.toString();
    throw new Error(`${argv.join(' ')} exited with ${status}: ${text}`);
  }
}

function sh(argv: string[], env: Record<string, string> = {}): string {
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

/** A busybox root file system (the host's busybox-static and its applets). */
function busyboxRoot(dir: string): void {
  mkdirSync(join(dir, 'bin'), { recursive: true });
  for (const d of ['sbin', 'usr/bin', 'usr/sbin', 'etc', 'tmp', 'proc', 'sys', 'dev', 'root']) mkdirSync(join(dir, d), { recursive: true });
  copyFileSync('/bin/busybox', join(dir, 'bin/busybox'));
  chmodSync(join(dir, 'bin/busybox'), 0o755);
  for (const applet of sh(['/bin/busybox', '--list-full']).split('\n').filter(Boolean)) {
    if (applet !== 'bin/busybox' && !existsSync(join(dir, applet))) symlinkSync('/bin/busybox', join(dir, applet));
  }
}

const nftTables = (): string[] => sh(['nft', 'list', 'tables']).split('\n').filter(Boolean);
const cgroupDirs = (name: string): string[] => readdirSync('/sys/fs/cgroup').map((c) => join('/sys/fs/cgroup', c, name)).filter((p) => existsSync(p));

function rmCgroupTree(dir: string): void {
  if (!existsSync(dir)) return;
  for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) rmCgroupTree(join(dir, e.name));
  spawnSync('rmdir', [dir]);
}

class Podman implements Reference {
  readonly id = 'podman';
  readonly label = 'podman run -d (default network)';
  readonly stopLabel = 'podman rm -f -t 0';
  private readonly dir = join(WORK, 'podman');
  private readonly env = { CONTAINERS_CONF: join(WORK, 'podman', 'containers.conf') };
  private snapshot = { tables: [] as string[], netns: false, runc: false, containersRun: false, containersLib: false };
  private readonly base = ['podman', '--root', join(WORK, 'podman', 'root'), '--runroot', join(WORK, 'podman', 'run')];

  async prepare(log: (line: string) => void): Promise<void> {
    this.snapshot = {
      tables: nftTables(), netns: existsSync('/run/netns'), runc: existsSync('/run/runc'),
      containersRun: existsSync('/run/containers'), containersLib: existsSync('/var/lib/containers'),
    };
    for (const d of ['tmp', 'etc/networks', 'rootfs']) mkdirSync(join(this.dir, d), { recursive: true });
    // This host: runc (crun refuses hybrid cgroups), cgroupfs, no systemd, root without
    // CAP_SYS_RESOURCE (so podman's default rlimits of 1048576 cannot be set).
    writeFileSync(this.env.CONTAINERS_CONF, [
      '[containers]', 'default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]',
      '[engine]', 'runtime = "runc"', 'cgroup_manager = "cgroupfs"', 'events_logger = "file"',
      `events_logfile_path = "${join(this.dir, 'events.log')}"`, `tmp_dir = "${join(this.dir, 'run', 'libpod')}"`, 'lock_type = "file"',
      `static_dir = "${join(this.dir, 'root', 'libpod')}"`, `volume_path = "${join(this.dir, 'root', 'volumes')}"`, `image_copy_tmp_dir = "${join(this.dir, 'tmp')}"`,
      '[network]', 'network_backend = "netavark"', `network_config_dir = "${join(this.dir, 'etc', 'networks')}"`, '',
    ].join('\n'));
    busyboxRoot(join(this.dir, 'rootfs'));
    log('podman: importing a busybox image');
    const tar = spawnSync('tar', ['-C', join(this.dir, 'rootfs'), '-c', '.'], { maxBuffer: 1 << 28 }).stdout;
    const r = spawnSync(this.base[0], [...this.base.slice(1), 'import', '-', 'localhost/strata-bench-bb:latest'], { input: tar, env: { ...process.env, ...this.env } });
    if (r.status !== 0) throw new Error(`podman import: ${r.stderr.toString()}`);
  }

  async start(i: number): Promise<void> {
    await runReaped([...this.base, 'run', '-d', '--rm=false', '--name', `sb${i}`, 'localhost/strata-bench-bb:latest', 'sleep', '100000'], this.env);
  }

  async stop(i: number): Promise<void> {
    await runReaped([...this.base, 'rm', '-f', '-t', '0', `sb${i}`], this.env);
  }

  async cleanup(): Promise<void> {
    spawnSync(this.base[0], [...this.base.slice(1), 'rm', '-a', '-f', '-t', '0'], { env: { ...process.env, ...this.env } });
    spawnSync(this.base[0], [...this.base.slice(1), 'system', 'reset', '-f'], { env: { ...process.env, ...this.env } });
    // netavark's iptables-nft tables and the rest podman makes outside its --root.
    for (const t of nftTables()) if (!this.snapshot.tables.includes(t) && /^table ip (nat|filter)$/.test(t)) spawnSync('nft', ['delete', ...t.split(' ')]);
    spawnSync('ip', ['link', 'del', 'podman0']);
    if (!this.snapshot.netns && existsSync('/run/netns')) { spawnSync('umount', ['/run/netns']); spawnSync('rmdir', ['/run/netns']); }
    if (!this.snapshot.runc) spawnSync('rmdir', ['/run/runc']);
    if (!this.snapshot.containersRun) rmSync('/run/containers', { recursive: true, force: true });
    if (!this.snapshot.containersLib) rmSync('/var/lib/containers', { recursive: true, force: true });
    rmSync('/dev/shm/libpod_lock', { force: true });
    for (const c of cgroupDirs('libpod_parent')) rmCgroupTree(c);
  }
}

class Lxc implements Reference {
  readonly id = 'lxc';
  readonly label = 'lxc-start (busybox, veth on a bridge)';
  readonly stopLabel = 'lxc-stop -k';
  private readonly path = join(WORK, 'lxc');
  private readonly bridge = `rbb${process.pid.toString(16).slice(-6)}`;
  private made = new Set<number>();
  private hadRunLxc = false;

  async prepare(): Promise<void> {
    this.hadRunLxc = existsSync('/run/lxc');
    mkdirSync(this.path, { recursive: true });
    sh(['ip', 'link', 'add', this.bridge, 'type', 'bridge']);
    sh(['ip', 'addr', 'add', '10.213.77.1/24', 'dev', this.bridge]);
    sh(['ip', 'link', 'set', this.bridge, 'up']);
  }

  private create(i: number): void {
    const conf = join(this.path, `net${i}.conf`);
    writeFileSync(conf, [
      'lxc.net.0.type = veth', `lxc.net.0.link = ${this.bridge}`, 'lxc.net.0.flags = up',
      `lxc.net.0.ipv4.address = 10.213.77.${10 + (i % 200)}/24 10.213.77.255`, 'lxc.net.0.ipv4.gateway = 10.213.77.1', '',
    ].join('\n'));
    sh(['lxc-create', '-P', this.path, '-n', `lb${i}`, '-t', 'busybox', '-f', conf]);
    // The template's rcS asks DHCP, whose deconfig would flush the static address.
    sh(['sed', '-i', '/udhcpc/d', join(this.path, `lb${i}`, 'rootfs', 'etc', 'init.d', 'rcS')]);
    this.made.add(i);
  }

  /** Defining the container (lxc-create) is not part of the start, as podman's image import is not. */
  async before(i: number): Promise<void> {
    if (!this.made.has(i)) this.create(i);
  }

  async start(i: number): Promise<void> {
    await runReaped(['lxc-start', '-P', this.path, '-n', `lb${i}`]);
  }

  async stop(i: number): Promise<void> {
    await runReaped(['lxc-stop', '-P', this.path, '-n', `lb${i}`, '-k']);
  }

  async cleanup(): Promise<void> {
    for (const i of this.made) {
      spawnSync('lxc-stop', ['-P', this.path, '-n', `lb${i}`, '-k']);
      spawnSync('lxc-destroy', ['-P', this.path, '-n', `lb${i}`]);
    }
    spawnSync('ip', ['link', 'del', this.bridge]);
    for (const c of cgroupDirs('lxc.pivot')) spawnSync('rmdir', [c]);
    if (!this.hadRunLxc) rmSync('/run/lxc', { recursive: true, force: true });
  }
}

const skippedTools: string[] = [];

/** The reference tools installed on this host. */
export function references(): Reference[] {
  skippedTools.length = 0;
  const out: Reference[] = [];
  if (has('podman')) out.push(new Podman());
  else skippedTools.push('podman: not installed (`npm run bench` installs it; running dist/bench/suite.js alone does not)');
  if (has('lxc-start') && has('lxc-create') && existsSync('/usr/share/lxc/templates/lxc-busybox')) out.push(new Lxc());
  else skippedTools.push('lxc: not installed (`npm run bench` installs lxc and lxc-templates)');
  return out;
}

references.skipped = (): string[] => [...skippedTools];

/** Stops the subreaper and removes the work directory. */
export async function referencesDone(): Promise<void> {
  if (monitor) await monitor.quit();
  monitor = null;
  rmSync(WORK, { recursive: true, force: true });
}
