/**
 * How each kind of OS template is made into a directory tree. Each builder
 * fills `dir/rootfs` (a scratch directory that the caller renames into place
 * or removes) and says how the container's init is run. Pure file work and
 * external tools; no database.
 */
import { promises as fsp } from 'node:fs';
import { basename, join } from 'node:path';
import { InvalidArgument, NotSupported } from '../errors/index.js';
import { run } from '../util/exec.js';
import { exists } from '../util/fs.js';
import { extractTar, importOciImage } from './archive/index.js';

export type Progress = (message: string) => void;

export interface BuiltTemplate {
  init: string[];
  stopSignal: string;
  meta: Record<string, unknown>;
}

export type TemplateSource =
  | { kind: 'busybox' }
  | { kind: 'debootstrap'; suite: string; init: DebianInit }
  | { kind: 'host' }
  | { kind: 'rootfs'; file: string }
  | { kind: 'oci'; path: string };

/** The init of a Debian template: systemd, what Debian is by default, or sysvinit. */
type DebianInit = 'systemd' | 'sysvinit';
const DEBIAN_INITS: readonly DebianInit[] = ['systemd', 'sysvinit'];

export function parseSource(from: string, opts: { init?: string } = {}): TemplateSource {
  const debootstrap = from === 'debootstrap' || from.startsWith('debootstrap:');
  if (opts.init !== undefined && !debootstrap) throw new InvalidArgument(`--init chooses the init of a debootstrap template; a ${from.split(':')[0]} template brings its own: leave --init out`);
  if (opts.init !== undefined && !DEBIAN_INITS.includes(opts.init as DebianInit)) throw new InvalidArgument(`unknown init ${JSON.stringify(opts.init)}: use --init systemd (the default) or --init sysvinit`);
  if (from === 'busybox') return { kind: 'busybox' };
  if (from === 'host') return { kind: 'host' };
  if (debootstrap) {
    const suite = from.slice('debootstrap:'.length) || 'bookworm';
    if (from !== 'debootstrap' && !/^[a-z][a-z0-9-]*$/.test(suite)) throw new InvalidArgument(`invalid Debian suite ${JSON.stringify(suite)}: use a name such as bookworm or trixie`);
    return { kind: 'debootstrap', suite: from === 'debootstrap' ? 'bookworm' : suite, init: (opts.init as DebianInit | undefined) ?? 'systemd' };
  }
  if (from.startsWith('rootfs:') && from.length > 7) return { kind: 'rootfs', file: from.slice(7) };
  if (from.startsWith('oci:') && from.length > 4) return { kind: 'oci', path: from.slice(4) };
  throw new InvalidArgument(`unknown template source ${JSON.stringify(from)}: use busybox, debootstrap[:SUITE], host, rootfs:FILE or oci:PATH`);
}

const BASE_PASSWD = [
  'root:x:0:0:root:/root:/bin/sh',
  'daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin',
  'bin:x:2:2:bin:/bin:/usr/sbin/nologin',
  'sys:x:3:3:sys:/dev:/usr/sbin/nologin',
  'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin',
];
const BASE_GROUP = ['root:x:0:', 'daemon:x:1:', 'bin:x:2:', 'sys:x:3:', 'adm:x:4:', 'tty:x:5:', 'disk:x:6:', 'wheel:x:10:root', 'staff:x:50:', 'users:x:100:', 'nogroup:x:65534:'];
const BASE_SHADOW = ['root:!:19000:0:99999:7:::', 'daemon:*:19000:0:99999:7:::', 'bin:*:19000:0:99999:7:::', 'sys:*:19000:0:99999:7:::', 'nobody:*:19000:0:99999:7:::'];

/** Busybox init: runs rcS once, reaps orphans, and on SIGTERM runs the shutdown actions and halts. */
const BUSYBOX_INITTAB = `# Strata: busybox init reaps zombies and stops on SIGTERM.
::sysinit:/etc/init.d/rcS
::shutdown:/etc/init.d/rcK
`;
const BUSYBOX_RCS = `#!/bin/sh
# Strata system start: hostname, loopback, then every executable /etc/rc.d/S* script.
[ -s /etc/hostname ] && hostname -F /etc/hostname
ip link set lo up 2>/dev/null
for s in /etc/rc.d/S*; do [ -x "$s" ] && "$s" start; done
echo "$(hostname) is up"
exit 0
`;
const BUSYBOX_RCK = `#!/bin/sh
for s in /etc/rc.d/K*; do [ -x "$s" ] && "$s" stop; done
exit 0
`;

async function writeFiles(root: string, files: Record<string, { text: string; mode?: number }>): Promise<void> {
  for (const [path, { text, mode }] of Object.entries(files)) {
    await fsp.mkdir(join(root, path, '..'), { recursive: true });
    await fsp.writeFile(join(root, path), text, { mode: mode ?? 0o644 });
    await fsp.chmod(join(root, path), mode ?? 0o644);
  }
}

async function makeDirs(root: string, dirs: Record<string, number>): Promise<void> {
  for (const [dir, mode] of Object.entries(dirs)) {
    await fsp.mkdir(join(root, dir), { recursive: true });
    await fsp.chmod(join(root, dir), mode);
  }
}

const lines = (l: string[]): string => `${l.join('\n')}\n`;

function systemFiles(init: 'busybox'): Record<string, { text: string; mode?: number }> {
  return {
    'etc/passwd': { text: lines(BASE_PASSWD) },
    'etc/group': { text: lines(BASE_GROUP) },
    'etc/shadow': { text: lines(BASE_SHADOW), mode: 0o640 },
    'etc/hostname': { text: 'localhost\n' },
    'etc/hosts': { text: '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' },
    'etc/resolv.conf': { text: '' },
    'etc/profile': { text: 'export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\nexport PS1="\\u@\\h:\\w\\$ "\n' },
    'etc/shells': { text: '/bin/sh\n' },
    'etc/issue': { text: 'Strata \\n \\l\n\n' },
    ...(init === 'busybox' ? {
      'etc/inittab': { text: BUSYBOX_INITTAB },
      'etc/init.d/rcS': { text: BUSYBOX_RCS, mode: 0o755 },
      'etc/init.d/rcK': { text: BUSYBOX_RCK, mode: 0o755 },
    } : {}),
  };
}

const FHS_DIRS = { root: 0o700, tmp: 0o1777, 'var/tmp': 0o1777, 'var/log': 0o755, 'var/lib': 0o755, home: 0o755, dev: 0o755, proc: 0o555, sys: 0o555, run: 0o755, mnt: 0o755, 'etc/rc.d': 0o755 };

/** A complete small system from the host's busybox-static, offline, in about a second. */
async function buildBusybox(rootfs: string, progress: Progress): Promise<BuiltTemplate> {
  const busybox = ['/bin/busybox', '/usr/bin/busybox'];
  let source = '';
  for (const candidate of busybox) if (await exists(candidate)) { source = candidate; break; }
  if (!source) throw new NotSupported('busybox is not installed on this host: run `apt-get install busybox-static` (the set-up does it)');
  const { stdout: ldd } = await run(['file', '-L', source], { allowFailure: true });
  if (ldd && !/static/.test(ldd)) throw new NotSupported(`${source} is not statically linked: install busybox-static instead of busybox`);
  progress('copying busybox');
  await makeDirs(rootfs, { bin: 0o755, sbin: 0o755, 'usr/bin': 0o755, 'usr/sbin': 0o755, ...FHS_DIRS });
  await fsp.copyFile(source, join(rootfs, 'bin/busybox'));
  await fsp.chmod(join(rootfs, 'bin/busybox'), 0o755);
  const { stdout } = await run([source, '--list-full']);
  progress('linking applets');
  for (const applet of stdout.split('\n').map((l) => l.trim()).filter(Boolean)) {
    if (applet === 'bin/busybox' || applet.includes('..')) continue;
    await fsp.symlink('/bin/busybox', join(rootfs, applet)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
  }
  await writeFiles(rootfs, systemFiles('busybox'));
  return { init: ['/sbin/init'], stopSignal: 'SIGTERM', meta: { busybox: source } };
}

/**
 * A Debian system from debootstrap (minbase), with progress from debootstrap's own lines: with
 * systemd (and dbus, for logind, hostnamectl and the like), or with sysvinit.
 */
async function buildDebootstrap(rootfs: string, suite: string, init: DebianInit, progress: Progress): Promise<BuiltTemplate> {
  if (!(await exists('/usr/sbin/debootstrap'))) throw new NotSupported('debootstrap is not installed: run `apt-get install debootstrap` (the set-up does it)');
  const mirror = process.env.STRATA_DEBIAN_MIRROR ?? 'http://deb.debian.org/debian';
  const include = init === 'systemd' ? 'systemd-sysv,dbus,iproute2,procps' : 'sysvinit-core,iproute2,procps,ifupdown';
  await run(['debootstrap', '--variant=minbase', `--include=${include}`, suite, rootfs, mirror], {
    context: `debootstrap of ${suite}`,
    onLine: (line) => { if (/^[IWE]:/.test(line)) progress(line.slice(3)); },
  });
  await fsp.writeFile(join(rootfs, 'etc/hostname'), 'localhost\n');
  await fsp.rm(join(rootfs, 'var/cache/apt/archives'), { recursive: true, force: true });
  await fsp.mkdir(join(rootfs, 'var/cache/apt/archives/partial'), { recursive: true });
  if (init === 'systemd') {
    progress('configuring systemd for a container');
    // Each container makes its own machine id at first boot (systemd-machine-id-commit keeps it).
    await fsp.writeFile(join(rootfs, 'etc/machine-id'), '');
    await fsp.rm(join(rootfs, 'var/lib/dbus/machine-id'), { force: true });
    return { init: ['/sbin/init'], stopSignal: 'SIGRTMIN+3', meta: { suite, mirror, init } };
  }
  progress('configuring sysvinit for a container');
  const inittab = join(rootfs, 'etc/inittab');
  const text = await fsp.readFile(inittab, 'utf8');
  // No gettys on consoles a container does not have; Ctrl-Alt-Del (SIGINT to init) halts instead of rebooting.
  const adjusted = text
    .split('\n')
    .map((l) => (/^\d+:\d+:respawn:\/sbin\/getty/.test(l) ? `#${l}` : l))
    .map((l) => (/^ca:/.test(l) ? 'ca:12345:ctrlaltdel:/sbin/shutdown -t1 -h now' : l))
    .join('\n');
  await fsp.writeFile(inittab, adjusted);
  return { init: ['/sbin/init'], stopSignal: 'SIGINT', meta: { suite, mirror, init } };
}

/** Host-linked: the host's /usr in place (never copied), plus a small /etc and /var of the template's own. */
async function buildHost(rootfs: string, progress: Progress): Promise<BuiltTemplate> {
  for (const dir of ['bin', 'sbin', 'lib']) {
    const st = await fsp.lstat(`/${dir}`).catch(() => null);
    if (st && !st.isSymbolicLink()) throw new NotSupported(`the host template needs a merged-/usr host, but /${dir} is a directory here`);
  }
  const busybox = (await exists('/usr/bin/busybox')) ? '/usr/bin/busybox' : null;
  if (!busybox) throw new NotSupported('the host template uses the host\'s busybox as init: run `apt-get install busybox-static` (the set-up does it)');
  progress('linking the host\'s /usr');
  await makeDirs(rootfs, { usr: 0o755, ...FHS_DIRS });
  for (const dir of ['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32']) {
    if (await exists(`/usr/${dir}`)) await fsp.symlink(`usr/${dir}`, join(rootfs, dir));
  }
  await writeFiles(rootfs, systemFiles('busybox'));
  await fsp.symlink('../usr/lib/os-release', join(rootfs, 'etc/os-release'));
  return { init: [busybox, 'init'], stopSignal: 'SIGTERM', meta: { hostUsr: '/usr' } };
}

/** How to run and stop the init an imported root file system brings. */
async function initOf(rootfs: string, fallback: string[]): Promise<Pick<BuiltTemplate, 'init' | 'stopSignal'>> {
  const init = join(rootfs, 'sbin/init');
  const st = await fsp.lstat(init).catch(() => null);
  if (!st) return { init: fallback, stopSignal: 'SIGTERM' };
  const target = st.isSymbolicLink() ? basename(await fsp.readlink(init)) : 'init';
  if (target === 'busybox') return { init: ['/sbin/init'], stopSignal: 'SIGTERM' };
  if (target === 'systemd') return { init: ['/sbin/init'], stopSignal: 'SIGRTMIN+3' };
  return { init: ['/sbin/init'], stopSignal: 'SIGINT' };
}

const SLEEP_FOREVER = ['/bin/sh', '-c', 'trap "exit 0" TERM; while :; do sleep 3600 & wait $!; done'];

export async function buildInto(dir: string, source: TemplateSource, progress: Progress): Promise<BuiltTemplate> {
  const rootfs = join(dir, 'rootfs');
  await fsp.mkdir(rootfs, { mode: 0o755 });
  switch (source.kind) {
    case 'busybox':
      return buildBusybox(rootfs, progress);
    case 'debootstrap':
      return buildDebootstrap(rootfs, source.suite, source.init, progress);
    case 'host':
      return buildHost(rootfs, progress);
    case 'rootfs': {
      progress(`extracting ${source.file}`);
      const stats = await extractTar(source.file, rootfs);
      progress(`extracted ${stats.entries} entries, ${stats.bytes} bytes`);
      if (stats.skippedDevices) progress(`skipped ${stats.skippedDevices} device nodes under /dev: a container gets its own /dev`);
      return { ...(await initOf(rootfs, SLEEP_FOREVER)), meta: { file: source.file } };
    }
    case 'oci': {
      const work = join(dir, 'oci-work');
      await fsp.mkdir(work);
      try {
        const image = await importOciImage(source.path, rootfs, work, progress);
        const command = [...image.entrypoint, ...image.cmd];
        const fallback = command.length ? command : SLEEP_FOREVER;
        return { ...(await initOf(rootfs, fallback)), meta: { path: source.path, layers: image.layers, env: image.env } };
      } finally {
        await fsp.rm(work, { recursive: true, force: true });
      }
    }
  }
}
