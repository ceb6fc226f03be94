/**
 * Processes inside containers: the host processes of each (read from its cgroup and /proc, with
 * the pid and user each has inside), and the checked runc argv of an `exec` or `enter`, which the
 * CLI runs with its own terminal. Users are resolved against the container's own /etc/passwd.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { FailedPrecondition, InvalidArgument, NotFound } from '../errors/index.js';
import { runningRoot } from '../storage/index.js';
import type { ContainerContext } from './context.js';

export interface ExecRequest {
  tty?: boolean;
  user?: string;
  env?: string[];
  cwd?: string;
  args: string[];
}

/** One host process of a container: its host pid, its pid inside, its user inside and command line. */
export interface ContainerProcess { container: string; pid: number; cpid: number; user: string; command: string }

/** Host processes of the containers (all, or one), with the pid each has inside. */
export async function listProcesses(ctx: ContainerContext, name?: string): Promise<ContainerProcess[]> {
  const list = name ? [ctx.record(name)] : ctx.store.listContainers().filter((c) => c.state === 'running');
  const out: ContainerProcess[] = [];
  for (const c of list) {
    if (c.state !== 'running') continue;
    const users = new Map<number, string>();
    for (const u of await readPasswd(ctx.mergedRoot(c))) if (!users.has(u.uid)) users.set(u.uid, u.name);
    const base = ctx.idMapOf(c)?.hostBase ?? 0;
    for (const pid of await ctx.host.cgroups.procs(ctx.cgroupPath(c.name)).catch(() => [] as number[])) {
      const status = await fsp.readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
      const cmdline = await fsp.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
      if (!status) continue;
      const nspid = /^NSpid:\s+(.+)$/m.exec(status)?.[1].trim().split(/\s+/).map(Number) ?? [pid];
      const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1] ?? 0) - base;
      const comm = /^Name:\s+(.+)$/m.exec(status)?.[1] ?? '?';
      out.push({ container: c.name, pid, cpid: nspid[nspid.length - 1], user: users.get(uid) ?? String(uid), command: cmdline.split('\0').filter(Boolean).join(' ') || `[${comm}]` });
    }
  }
  return out.sort((a, b) => a.container.localeCompare(b.container) || a.cpid - b.cpid);
}

/** Checks the request and returns the runc argv that runs it; the caller runs it with its own terminal. */
export async function execPlan(ctx: ContainerContext, name: string, req: ExecRequest): Promise<string[]> {
  ctx.record(name); // an unknown container is named first
  if (!Array.isArray(req.args) || req.args.length === 0) throw new InvalidArgument('no command given: add -- CMD [ARG...]');
  const state = await ctx.runc.state(ctx.id(name));
  if (state?.status !== 'running') throw new FailedPrecondition(`container ${name} is not running: start it with 'strata start ${name}'`);
  const rootfs = runningRoot(state.pid);
  const user = await resolveUser(rootfs, req.user ?? 'root');
  for (const e of req.env ?? []) if (!/^[A-Za-z_][A-Za-z0-9_]*=/.test(e)) throw new InvalidArgument(`invalid environment entry ${JSON.stringify(e)}: use KEY=VALUE`);
  const env = [
    'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    `HOME=${user.home}`, `USER=${user.name}`, `LOGNAME=${user.name}`,
    ...(req.tty ? ['TERM=xterm'] : []),
    ...(req.env ?? []),
  ];
  // A user whose home does not exist (nobody: /nonexistent) starts in /, as login does.
  const cwd = req.cwd ?? ((await fsp.stat(join(rootfs, user.home)).catch(() => null))?.isDirectory() ? user.home : '/');
  return ctx.runc.execArgv(ctx.id(name), { tty: !!req.tty, user: { uid: user.uid, gid: user.gid }, env, cwd, args: req.args });
}

/** A login shell of root with a terminal. */
export async function enterPlan(ctx: ContainerContext, name: string): Promise<string[]> {
  const c = ctx.record(name);
  // Root's shell is read only while it runs; otherwise execPlan gives its clear error.
  const user = c.state === 'running' ? await resolveUser(ctx.mergedRoot(c), 'root').catch(() => null) : null;
  const shell = user?.shell && user.shell !== '/usr/sbin/nologin' ? user.shell : '/bin/sh';
  return execPlan(ctx, name, { tty: true, args: [shell, '-l'] });
}

interface UserEntry { name: string; uid: number; gid: number; home: string; shell: string }

/** The users of the container's own /etc/passwd (none when it cannot be read). */
async function readPasswd(rootfs: string): Promise<UserEntry[]> {
  const passwd = await fsp.readFile(join(rootfs, 'etc/passwd'), 'utf8').catch(() => '');
  return passwd.split('\n').map((l) => l.split(':')).filter((f) => f.length >= 7)
    .map((f) => ({ name: f[0], uid: Number(f[2]), gid: Number(f[3]), home: f[5] || '/', shell: f[6] }));
}

/** Resolves a user name or uid[:gid] against the container's own /etc/passwd. */
async function resolveUser(rootfs: string, user: string): Promise<UserEntry> {
  const entries = await readPasswd(rootfs);
  const numeric = /^(\d+)(?::(\d+))?$/.exec(user);
  if (numeric) {
    const uid = Number(numeric[1]);
    const known = entries.find((e) => e.uid === uid);
    return { name: known?.name ?? String(uid), uid, gid: numeric[2] ? Number(numeric[2]) : known?.gid ?? uid, home: known?.home ?? '/', shell: known?.shell ?? '/bin/sh' };
  }
  const entry = entries.find((e) => e.name === user);
  if (!entry) throw new NotFound(`user ${user} does not exist in the container: use a name from its /etc/passwd or a numeric uid`);
  return entry;
}
