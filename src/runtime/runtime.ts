/**
 * The OCI runtime interface: what the orchestrator asks of runc (or another OCI runtime) for one
 * data root. A runtime runs bundles (a directory with `config.json`, see spec.ts) below the
 * monitor; it knows nothing of templates, mounts or the database. Each runtime is one folder
 * (`runc/`) and one entry of RUNTIMES (index.ts), declares what it can do as data
 * (RuntimeCapabilities: callers branch on these, never on its name), and passes
 * runtime.conformance.ts.
 *
 * The life of a container, as the orchestrator drives it:
 *
 *   await rt.writeBundle(bundle, spec);            // config.json
 *   const pid = await rt.create(id, bundle, log);  // namespaces and cgroup made; init waits
 *   (await rt.state(id))?.status === 'created';    // the network is set up in its netns now
 *   await rt.start(id);                            // init runs: status 'running'
 *   spawn(rt.execArgv(id, { tty, env, args }));    // a process inside, run by the caller
 *   await rt.kill(id, 'SIGTERM');                  // then SIGKILL; the init ends: 'stopped'
 *   await rt.delete(id, true);                     // state and cgroup gone: state(id) === null
 *   await rt.closeConsole(log);                    // the monitor lets go of the console
 */
import type { Monitor } from './monitor.js';
import type { OciSpec } from './spec.js';

type RuntimeStatus = 'creating' | 'created' | 'running' | 'paused' | 'stopped';

export interface RuntimeState {
  id: string;
  status: RuntimeStatus;
  pid: number;
  bundle: string;
}

export interface ExecOptions {
  tty: boolean;
  user?: { uid: number; gid: number };
  env: string[];
  cwd?: string;
  args: string[];
}

/**
 * The host's cgroup layout: `v1` (only v1 hierarchies), `hybrid` (v1 hierarchies plus a v2
 * hierarchy at /sys/fs/cgroup/unified, without controllers), `v2` (one unified hierarchy).
 */
export type CgroupLayout = 'v1' | 'hybrid' | 'v2';

/** What a runtime can do, as data; the daemon and the orchestrator branch on these. */
export interface RuntimeCapabilities {
  /** The cgroup layouts it runs containers on; the daemon refuses it on any other. */
  cgroupLayouts: readonly CgroupLayout[];
  /** Checkpoint and restore (CRIU). */
  checkpoint: boolean;
  /** Idmapped mounts from the spec's mount options; without it Strata idmaps the root itself (strata-idmount). */
  idmappedMounts: boolean;
  /** Hands the console's pty master over a unix socket (`--console-socket`), which the monitor keeps. */
  consoleSocket: boolean;
}

/** Where a runtime of one data root keeps its state, and the monitor it runs containers below. */
export interface RuntimeOptions {
  /** The runtime's state directory (`--root`); one per data root. */
  stateRoot: string;
  monitor: Pick<Monitor, 'run' | 'closeConsole'>;
}

export interface OciRuntime {
  readonly name: string;
  readonly capabilities: RuntimeCapabilities;
  /** The binary's version line; FailedPrecondition naming how to install it when it is missing. */
  version(): Promise<string>;
  writeBundle(bundle: string, spec: OciSpec): Promise<void>;
  /**
   * Creates the container: namespaces and cgroups exist, the init waits to be started (so that
   * its network can be set up first). Runs below the monitor, which becomes the init's parent;
   * the console goes to `consoleLog`. Returns the init's host pid; a ToolError with the
   * runtime's own reason when it fails.
   */
  create(id: string, bundle: string, consoleLog: string): Promise<number>;
  /** Lets a created container's init run (`initPid`, from create: watched while it waits). */
  start(id: string, initPid?: number): Promise<void>;
  /** null when the runtime does not know the container. */
  state(id: string): Promise<RuntimeState | null>;
  list(): Promise<RuntimeState[]>;
  /** Signals the init (`all`: every process); a container that already stopped is no error. */
  kill(id: string, signal: string, all?: boolean): Promise<void>;
  /** The monitor lets go of a stopped container's console. */
  closeConsole(consoleLog: string): Promise<void>;
  /** Freezes every process of the container (the cgroup freezer), and thaws them. */
  pause(id: string): Promise<void>;
  resume(id: string): Promise<void>;
  /** Removes the runtime's state and the cgroup (`force`: kills a running one first); an unknown id is no error. */
  delete(id: string, force?: boolean): Promise<void>;
  /** The argv that runs a process inside a running container (run by whoever owns the terminal). */
  execArgv(id: string, opts: ExecOptions): string[];
}
