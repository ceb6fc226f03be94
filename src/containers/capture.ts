/**
 * Template capture (the "template creation wizard"): an installer runs once in a throw-away
 * container over the bases (an OS template and, optionally, application templates attached to
 * it); what it changed is read from the container's private area (templates/capture diffUpper)
 * and becomes a new version of an application template (templates/app/templates.ts commitCapture).
 *
 *   command:     runc exec of CMD in the scratch container, output shown as progress
 *   script:      the script is put in the scratch container's /tmp (never captured) and run by /bin/sh
 *   interactive: the scratch container is started and handed back as a session; the CLI runs a
 *                shell in it and calls finish (or abort) when the shell exits
 *
 * The scratch container has no network unless --net is given, and is always destroyed, also
 * when the installer fails; the daemon removes one that a crash left behind at its next start.
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { FailedPrecondition, InvalidArgument, NotFound } from '../errors/index.js';
import { VERSION } from '../config/index.js';
import type { Templates } from '../templates/index.js';
import type { CaptureSummary } from '../templates/app/index.js';
import { lstatInside, mergedDbFiles } from '../templates/app/index.js';
import { derivedExcludes, MERGE_RULES } from '../templates/merge/index.js';
import { diffUpper, type ChangeSet } from '../templates/capture/index.js';
import type { BaseRef, Made } from '../templates/pack/index.js';
import { validateName } from '../util/names.js';
import { run } from '../util/exec.js';
import { MiB } from '../model/units.js';
import type { Containers } from './index.js';

export interface CaptureRequest {
  name: string;
  /** The OS template first, then application templates to capture over. */
  bases: string[];
  /** Networks for the scratch container (none by default). */
  nets?: string[];
  excludes?: string[];
  /** Exactly one of: */
  command?: string[];
  script?: string;
  interactive?: boolean;
}

export interface CaptureResult {
  template: string;
  version: number;
  digest: string;
  summary: CaptureSummary;
  seconds: number;
  /** Seconds the installer itself ran. */
  installerSeconds: number;
}

/** An interactive capture waiting for its shell to end. */
export interface CaptureSession {
  session: string;
  container: string;
}

/** Always left out: the container's identity, written by Strata, not by the installer. */
const IDENTITY = ['/etc/hostname', '/etc/hosts', '/etc/resolv.conf'];
/** The scratch container's init: waits until it is stopped, and changes no file. */
const WAIT_INIT = ['/bin/sh', '-c', 'trap "exit 0" TERM INT; while :; do sleep 3600 & wait $!; done'];
const ENV = ['DEBIAN_FRONTEND=noninteractive', 'LANG=C.UTF-8'];

/** The merged databases of the scratch container before the installer ran: path → text (null: none). */
type DatabasesBefore = Map<string, string | null>;

interface Pending {
  req: CaptureRequest;
  container: string;
  before: DatabasesBefore;
  started: number;
  expiry: NodeJS.Timeout;
}

/** An interactive capture whose CLI never came back (killed, disconnected) is abandoned after this. */
const SESSION_MS = 12 * 3600_000;

export class Captures {
  private readonly sessions = new Map<string, Pending>();

  constructor(private readonly containers: Containers, private readonly templates: Templates) {}

  /** Checks a request before anything is made, so bad input fails before progress starts. */
  check(req: CaptureRequest): void {
    validateName('template', req.name);
    this.templates.apps.checkName(req.name);
    const modes = [req.command?.length ? 1 : 0, req.script !== undefined ? 1 : 0, req.interactive ? 1 : 0].reduce((a, b) => a + b, 0);
    if (modes !== 1) throw new InvalidArgument('give exactly one of: -- CMD [ARG...], --script FILE, --interactive');
    if (!Array.isArray(req.bases) || req.bases.length === 0) throw new InvalidArgument('a capture needs its base: add --base OS_TEMPLATE (see \'strata template list\')');
    this.templates.getOs(req.bases[0]);
    for (const b of req.bases.slice(1)) this.templates.apps.get(b);
    for (const e of req.excludes ?? []) if (typeof e !== 'string' || !e.startsWith('/')) throw new InvalidArgument(`--exclude ${String(e)} is not an absolute path or glob: use e.g. /opt/app/cache/**`);
  }

  private async scratch(req: CaptureRequest, progress: (m: string) => void): Promise<{ container: string; before: DatabasesBefore }> {
    const name = `capture-${randomBytes(4).toString('hex')}`;
    progress(`starting throw-away container ${name} on ${req.bases.join(' + ')}`);
    await this.containers.create({
      name, template: req.bases[0], apps: req.bases.slice(1), nets: req.nets, noNet: !req.nets?.length, scratch: { init: WAIT_INIT },
    });
    try {
      await this.containers.start(name);
      // Over application bases, the databases already hold their keys (merged at create): the
      // capture records what the installer changed from here, never the bases' keys.
      const { rootfs, idMap } = this.containers.inspect(name);
      const files = mergedDbFiles(rootfs, idMap?.hostBase ?? 0);
      const before: DatabasesBefore = new Map();
      for (const rule of MERGE_RULES) before.set(rule.path, await files.read(rule.path));
      return { container: name, before };
    } catch (err) {
      await this.containers.destroy(name, true).catch(() => undefined);
      throw err;
    }
  }

  /** Runs a command or script capture to its end. */
  async run(req: CaptureRequest, progress: (m: string) => void, signal?: AbortSignal): Promise<CaptureResult> {
    this.check(req);
    if (req.interactive) throw new InvalidArgument('an interactive capture is started with begin(), not run()');
    const started = Date.now();
    const { container, before } = await this.scratch(req, progress);
    try {
      let args = req.command ?? [];
      if (req.script !== undefined) {
        const { rootfs, idMap } = this.containers.inspect(container);
        const tmp = await lstatInside(rootfs, 'tmp');
        if (!tmp || tmp === 'unsafe' || !tmp.isDirectory()) throw new FailedPrecondition(`template ${req.bases[0]} has no /tmp directory to put the script in: use -- CMD instead`);
        const file = join(rootfs, 'tmp', `.strata-capture-${randomBytes(4).toString('hex')}`);
        await fsp.writeFile(file, req.script, { mode: 0o700, flag: 'wx' });
        await fsp.chown(file, idMap?.hostBase ?? 0, idMap?.hostBase ?? 0);
        args = ['/bin/sh', `/tmp/${file.split('/').pop()}`];
      }
      const ran = Date.now();
      await this.exec(container, args, progress, signal);
      const installerSeconds = (Date.now() - ran) / 1000;
      return { ...(await this.collect(req, container, before, started, progress)), installerSeconds };
    } finally {
      await this.containers.destroy(container, true).catch(() => undefined);
    }
  }

  /** Starts an interactive capture: the CLI enters the returned container, then calls finish. */
  async begin(req: CaptureRequest, progress: (m: string) => void): Promise<CaptureSession> {
    this.check(req);
    const { container, before } = await this.scratch(req, progress);
    const session = container;
    const expiry = setTimeout(() => { this.abort(session).catch(() => undefined); }, SESSION_MS);
    expiry.unref();
    this.sessions.set(session, { req, container, before, started: Date.now(), expiry });
    return { session, container };
  }

  private pending(session: string): Pending {
    const p = this.sessions.get(session);
    if (!p) throw new NotFound(`there is no interactive capture ${session}: start one with 'strata template capture NAME --base T --interactive'`);
    return p;
  }

  async finish(session: string, progress: (m: string) => void): Promise<CaptureResult> {
    const p = this.pending(session);
    this.sessions.delete(session);
    clearTimeout(p.expiry);
    try {
      return { ...(await this.collect(p.req, p.container, p.before, p.started, progress)), installerSeconds: 0 };
    } finally {
      await this.containers.destroy(p.container, true).catch(() => undefined);
    }
  }

  async abort(session: string): Promise<void> {
    const p = this.pending(session);
    this.sessions.delete(session);
    clearTimeout(p.expiry);
    await this.containers.destroy(p.container, true);
  }

  private async exec(container: string, args: string[], progress: (m: string) => void, signal?: AbortSignal): Promise<void> {
    const argv = await this.containers.execPlan(container, { args, env: ENV, cwd: '/' });
    const tail: string[] = [];
    const { status } = await run(argv, {
      allowFailure: true, signal,
      onLine: (line) => {
        progress(`| ${line}`);
        tail.push(line);
        if (tail.length > 10) tail.shift();
      },
    });
    if (status !== 0) {
      throw new FailedPrecondition(`the installer ${JSON.stringify(args.join(' '))} exited with status ${status}, so nothing was captured${tail.length ? `; its last output: ${tail.slice(-3).join(' / ')}` : ''}`);
    }
  }

  /**
   * Publishes what a container changed over its templates (its private area: files, deletions,
   * and per key the users, groups and packages) as a version of application template `name`, with
   * its templates as bases: set something up by hand once, attach it anywhere. A running container
   * is frozen while its changes are read and stored.
   */
  async publish(container: string, name: string, progress: (m: string) => void): Promise<CaptureResult> {
    validateName('template', name);
    this.templates.apps.checkName(name);
    const started = Date.now();
    const view = this.containers.inspect(container);
    const live = view.apps.filter((a) => a.live).map((a) => a.template);
    if (live.length) throw new FailedPrecondition(`${live.join(', ')} was attached to ${container} while it ran and is still copied into its own files: restart ${container} first, then publish`);
    const apps = view.apps.map((a) => this.templates.apps.get(a.template, a.version));
    const lowers = [...[...apps].reverse().flatMap((v) => (v.deletions.length || v.opaqueDirs.length ? [v.tree, v.wh] : [v.tree])), this.templates.rootfsOf(view.template)];
    const bases: BaseRef[] = [
      { name: view.template, version: '1', digest: await this.templates.digestOf(view.template) },
      ...apps.map((v) => ({ name: v.name, version: String(v.version), digest: v.digest })),
    ];
    const made: Made = { how: 'publish', source: `container ${container}`, tool: `strata ${VERSION}` };
    const running = view.state === 'running';
    progress(`reading what ${container} changed over ${bases.map((b) => b.name).join(' + ')}${running ? ' (frozen meanwhile)' : ''}`);
    return this.containers.frozen(container, running, async () => {
      const changes = await diffUpper(view.privateArea, lowers, { excludes: [...IDENTITY, ...derivedExcludes()], idShift: view.idMap?.hostBase ?? 0 });
      progress(`storing ${changes.added.length + changes.modified.length + changes.metadata.length} changed paths`);
      const { version, summary } = await this.templates.apps.commitCapture(name, changes, view.privateArea, view.idMap?.hostBase ?? 0, bases, made, progress);
      const seconds = (Date.now() - started) / 1000;
      progress(`published ${name} version ${version.version}: ${summary.files} files, ${(summary.bytes / MiB).toFixed(1)} MiB, ${summary.deletions} deletions, ${summary.keys} database keys, in ${seconds.toFixed(1)} s`);
      return { template: name, version: version.version, digest: version.digest, summary, seconds, installerSeconds: 0 };
    });
  }

  /** Stops the scratch container and makes the template version from its private area. */
  private async collect(req: CaptureRequest, container: string, before: DatabasesBefore, started: number, progress: (m: string) => void): Promise<Omit<CaptureResult, 'installerSeconds'>> {
    const view = this.containers.inspect(container);
    // The init (or an interactive user) may have ended the container already: stop then only cleans up.
    await this.containers.stop(container, 2).catch((err: unknown) => { if (!(err instanceof FailedPrecondition)) throw err; });
    progress('comparing the changes with the bases');
    const apps = req.bases.slice(1).map((b) => this.templates.apps.get(b));
    const lowers = [...apps.reverse().flatMap((v) => (v.deletions.length || v.opaqueDirs.length ? [v.tree, v.wh] : [v.tree])), this.templates.rootfsOf(req.bases[0])];
    const changes = databasesSince(before, await diffUpper(view.privateArea, lowers, { excludes: [...IDENTITY, ...derivedExcludes(), ...(req.excludes ?? [])], idShift: view.idMap?.hostBase ?? 0 }));
    const bases: BaseRef[] = [
      { name: req.bases[0], version: '1', digest: await this.templates.digestOf(req.bases[0]) },
      ...req.bases.slice(1).map((b) => { const v = this.templates.apps.get(b); return { name: b, version: String(v.version), digest: v.digest }; }),
    ];
    const made: Made = {
      how: 'capture', source: req.bases.join(' + '), tool: `strata ${VERSION}`,
      command: req.command ?? (req.script !== undefined ? ['--script'] : ['--interactive']),
    };
    progress(`storing ${changes.added.length + changes.modified.length + changes.metadata.length} changed paths`);
    const { version, summary } = await this.templates.apps.commitCapture(req.name, changes, view.privateArea, view.idMap?.hostBase ?? 0, bases, made, progress);
    const seconds = (Date.now() - started) / 1000;
    progress(`captured ${req.name} version ${version.version}: ${summary.files} files, ${(summary.bytes / MiB).toFixed(1)} MiB, ${summary.deletions} deletions, ${summary.keys} database keys, in ${seconds.toFixed(1)} s`);
    for (const s of summary.skipped.slice(0, 20)) progress(`left out ${s}`);
    return { template: req.name, version: version.version, digest: version.digest, summary, seconds };
  }
}

/** The capture's database changes measured from `before` (the scratch container as created) instead of from the layers. */
function databasesSince(before: DatabasesBefore, changes: ChangeSet): ChangeSet {
  const databases = changes.databases
    .map((d) => (before.has(d.file) ? { ...d, before: before.get(d.file) ?? null } : d))
    .filter((d) => d.before !== d.after);
  return { ...changes, databases };
}
