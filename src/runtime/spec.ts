/**
 * The OCI runtime spec of a system container, as a pure function of plain data.
 * It decides isolation and hardening (namespaces, id maps, capabilities,
 * seccomp, masked paths, devices); it does not touch the host.
 */

import type { IdMap } from '../model/index.js';

export type { IdMap };

export interface SpecInput {
  hostname: string;
  /** Host path of the container's merged root file system. */
  rootfs: string;
  args: string[];
  env?: string[];
  /** Absent when privileged: no user namespace. */
  idMap?: IdMap;
  cgroupsPath: string;
  /** OCI `linux.resources` limits (cpu, memory, pids, blockIO); the device allow-list is added here. */
  resources?: Record<string, unknown>;
  /** Mounts added after the standard ones (lxcfs's /proc views…). */
  extraMounts?: Array<{ destination: string; type: string; source: string; options?: string[] }>;
  annotations?: Record<string, string>;
}

/** Paths Docker masks: kernel internals a container has no business reading. */
export const MASKED_PATHS = [
  '/proc/acpi', '/proc/asound', '/proc/interrupts', '/proc/kcore', '/proc/keys', '/proc/latency_stats',
  '/proc/timer_list', '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi',
  '/sys/firmware', '/sys/devices/virtual/powercap',
];

/** Paths Docker makes read-only. */
const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

/**
 * Capabilities for a full OS inside a user namespace: what init, services,
 * package managers and network tools need. All are checked by the kernel
 * against the container's own namespaces, never the host's. Left out: module
 * loading, raw I/O, clock, MAC, syslog, BPF, perf, checkpoint/restore.
 */
const CAPABILITIES = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL',
  'CAP_SETGID', 'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST', 'CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER', 'CAP_SYS_CHROOT',
  'CAP_SYS_PTRACE', 'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE',
  'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_SETFCAP',
];

/**
 * Capabilities of a privileged container. Without a user namespace they act on
 * the host itself, so the ones that reach beyond the container's own
 * namespaces (SYS_ADMIN, SYS_PTRACE, NET_ADMIN…) are left out.
 */
const PRIVILEGED_CAPABILITIES = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_SETGID', 'CAP_SETUID',
  'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_NET_RAW', 'CAP_SYS_CHROOT', 'CAP_MKNOD', 'CAP_AUDIT_WRITE',
  'CAP_SETFCAP', 'CAP_SYS_BOOT',
];

/** System calls a container never needs; they fail with EPERM. */
export const BLOCKED_SYSCALLS = [
  'acct', 'add_key', 'bpf', 'create_module', 'delete_module', 'finit_module', 'get_kernel_syms',
  'init_module', 'ioperm', 'iopl', 'kcmp', 'kexec_file_load', 'kexec_load', 'keyctl', 'lookup_dcookie',
  'move_pages', 'name_to_handle_at', 'nfsservctl', 'open_by_handle_at', 'perf_event_open', 'query_module',
  'quotactl', 'request_key', 'swapoff', 'swapon', 'syslog', 'uselib', 'userfaultfd', 'vm86', 'vm86old',
  'clock_adjtime', 'clock_settime', 'settimeofday', 'stime', 'adjtimex',
];

/**
 * The file-system-context mount API: ENOSYS, as on a kernel without it, so that mount(8) of
 * util-linux 2.39 and later (Debian trixie's systemd mounts /tmp with it) falls back to mount(2),
 * which the kernel checks the same way; fsconfig's parsers stay out of a container's reach.
 */
const UNAVAILABLE_SYSCALLS = ['fsopen', 'fsconfig', 'fsmount', 'fspick'];

/** Character devices a container may use: null, zero, full, random, urandom, tty, console, ptmx, pts, tun, fuse. */
const ALLOWED_DEVICES: Array<{ type: 'c'; major: number; minor?: number }> = [
  { type: 'c', major: 1, minor: 3 }, { type: 'c', major: 1, minor: 5 }, { type: 'c', major: 1, minor: 7 },
  { type: 'c', major: 1, minor: 8 }, { type: 'c', major: 1, minor: 9 }, { type: 'c', major: 5, minor: 0 },
  { type: 'c', major: 5, minor: 1 }, { type: 'c', major: 5, minor: 2 }, { type: 'c', major: 136 },
  { type: 'c', major: 10, minor: 200 }, { type: 'c', major: 10, minor: 229 },
];

export type OciSpec = Record<string, unknown> & {
  process: Record<string, unknown> & { args: string[]; env: string[]; capabilities: Record<string, string[]> };
  linux: Record<string, unknown> & { namespaces: Array<{ type: string }> };
  mounts: Array<{ destination: string; type: string; source: string; options?: string[] }>;
};

export function buildSpec(input: SpecInput): OciSpec {
  const privileged = !input.idMap;
  const caps = privileged ? PRIVILEGED_CAPABILITIES : CAPABILITIES;
  const namespaces = ['pid', 'mount', 'uts', 'ipc', 'network', 'cgroup', ...(privileged ? [] : ['user'])];
  const env = input.env ?? ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'TERM=xterm', 'container=strata'];
  const linux: OciSpec['linux'] = {
    namespaces: namespaces.map((type) => ({ type })),
    cgroupsPath: input.cgroupsPath,
    // No mount events from the host into containers: on a host whose / is shared, each new
    // container's mounts would otherwise propagate into every running container (O(n) each).
    rootfsPropagation: 'rprivate',
    maskedPaths: MASKED_PATHS,
    readonlyPaths: READONLY_PATHS,
    resources: {
      ...input.resources,
      devices: [{ allow: false, access: 'rwm' }, ...ALLOWED_DEVICES.map((d) => ({ allow: true, type: d.type, major: d.major, minor: d.minor, access: 'rwm' }))],
    },
    seccomp: {
      defaultAction: 'SCMP_ACT_ALLOW',
      architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
      syscalls: [
        { names: BLOCKED_SYSCALLS, action: 'SCMP_ACT_ERRNO', errnoRet: 1 },
        { names: UNAVAILABLE_SYSCALLS, action: 'SCMP_ACT_ERRNO', errnoRet: 38 },
      ],
    },
  };
  if (input.idMap) {
    const map = [{ containerID: 0, hostID: input.idMap.hostBase, size: input.idMap.size }];
    linux.uidMappings = map;
    linux.gidMappings = map;
  }
  return {
    ociVersion: '1.0.2',
    hostname: input.hostname,
    root: { path: input.rootfs, readonly: false },
    process: {
      // The init's stdio and /dev/console are a pty whose master the monitor holds (the console).
      terminal: true,
      user: { uid: 0, gid: 0 },
      args: input.args,
      env,
      cwd: '/',
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      noNewPrivileges: false,
    },
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
      { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      // Writable: the container's own cgroup namespace, a delegated subtree (its limit files stay host root's).
      { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', privileged ? 'ro' : 'rw'] },
      { destination: '/run', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=755', 'size=65536k'] },
      ...(input.extraMounts ?? []),
    ],
    linux,
    annotations: input.annotations ?? {},
  };
}
