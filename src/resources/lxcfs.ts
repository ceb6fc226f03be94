/**
 * lxcfs, supervised: the FUSE file system that gives each container its own
 * view of /proc/meminfo, cpuinfo, stat, uptime, loadavg, diskstats, swaps and
 * the online CPUs, computed from the reader's cgroups. One lxcfs per data root,
 * run below the monitor so that it outlives daemon restarts. When it dies, the
 * daemon starts it again and re-binds its files into every running container
 * (binds of the dead FUSE mount would answer ENOTCONN).
 */
import { existsSync, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { run } from '../util/exec.js';
import { isAlive } from '../util/process.js';
/** What runs lxcfs below the container monitor (runtime's Monitor), so that it outlives daemon restarts. */
interface Supervisor {
  run(argv: string[], outFile: string): Promise<number>;
}

/** The files lxcfs virtualizes, as paths inside a container. */
const LXCFS_FILES = [
  '/proc/cpuinfo', '/proc/diskstats', '/proc/loadavg', '/proc/meminfo', '/proc/stat', '/proc/swaps', '/proc/uptime',
  '/sys/devices/system/cpu/online',
];

/** FUSE's filesystem magic (statfs f_type). */
const FUSE_SUPER_MAGIC = 0x65735546;

/**
 * Whether a FUSE filesystem (only lxcfs mounts there) is mounted at `mountpoint`. Asked of the
 * mount point itself, not of the mount table: every start asks, and the table grows with the
 * containers.
 */
async function fuseMounted(mountpoint: string): Promise<boolean> {
  try {
    return (await fsp.statfs(mountpoint)).type === FUSE_SUPER_MAGIC;
  } catch (err) {
    // A dead lxcfs leaves its mount behind: "Transport endpoint is not connected".
    return (err as NodeJS.ErrnoException).code === 'ENOTCONN';
  }
}

export class Lxcfs {
  readonly mountpoint: string;
  private readonly pidFile: string;
  private readonly logFile: string;

  constructor(runDir: string, private readonly monitor: Supervisor, private readonly idmountHelper: string, private readonly binary = '/usr/bin/lxcfs') {
    this.mountpoint = join(runDir, 'lxcfs');
    this.pidFile = join(runDir, 'lxcfs.pid');
    this.logFile = join(runDir, 'lxcfs.log');
  }

  available(): boolean {
    return existsSync(this.binary);
  }

  async healthy(): Promise<boolean> {
    if (!(await fuseMounted(this.mountpoint))) return false;
    try {
      await fsp.access(join(this.mountpoint, 'proc', 'meminfo'));
      return true;
    } catch {
      return false;
    }
  }

  async pid(): Promise<number | null> {
    const pid = Number((await fsp.readFile(this.pidFile, 'utf8').catch(() => '')).trim());
    return pid || null;
  }

  /** Starts lxcfs unless it already serves; returns true when it (re)started it. */
  async ensure(): Promise<boolean> {
    if (!this.available() || (await this.healthy())) return false;
    // A dead lxcfs leaves its FUSE mount behind ("Transport endpoint is not connected").
    await run(['umount', '--lazy', this.mountpoint], { allowFailure: true });
    await fsp.mkdir(this.mountpoint, { recursive: true, mode: 0o755 });
    // Not awaited: the monitor answers only when lxcfs exits.
    void this.monitor.run([this.binary, '--foreground', '--enable-loadavg', '--enable-cfs', '--pidfile', this.pidFile, this.mountpoint], this.logFile).catch(() => undefined);
    for (let i = 0; i < 300; i++) {
      if (await this.healthy()) return true;
      await new Promise((r) => setTimeout(r, 10));
    }
    return false;
  }

  /** Bind mounts for the OCI spec: the lxcfs view over each virtualized file that exists. */
  specMounts(): Array<{ destination: string; type: string; source: string; options: string[] }> {
    return LXCFS_FILES.filter((f) => existsSync(join(this.mountpoint, f)))
      .map((f) => ({ destination: f, type: 'bind', source: join(this.mountpoint, f), options: ['bind', 'rprivate'] }));
  }

  /** Replaces the (stale) lxcfs binds inside a running container with binds of the live lxcfs. */
  async rebind(pid: number): Promise<void> {
    const files = LXCFS_FILES.filter((f) => existsSync(join(this.mountpoint, f)));
    await run([this.idmountHelper, 'bind-into', String(pid), this.mountpoint, ...files], { context: `re-binding lxcfs in container init ${pid}` });
  }

  async stop(): Promise<void> {
    const pid = await this.pid();
    if (pid) {
      try { process.kill(pid, 'SIGTERM'); } catch { /* already gone */ }
    }
    for (let i = 0; i < 100 && (await fuseMounted(this.mountpoint)); i++) await new Promise((r) => setTimeout(r, 10));
    await run(['umount', '--lazy', this.mountpoint], { allowFailure: true });
    // Gone, not only unmounted: the monitor exits only once nothing is below it.
    if (pid) {
      for (let i = 0; i < 200 && (await isAlive(pid)); i++) await new Promise((r) => setTimeout(r, 10));
      if (await isAlive(pid)) {
        try { process.kill(pid, 'SIGKILL'); } catch { /* gone meanwhile */ }
      }
    }
  }
}
