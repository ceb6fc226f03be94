/**
 * moves: a container from this host to another daemon (`strata move CT --to REMOTE`), built on
 * backups. The source sends the templates the target lacks (by digest), then backups of the
 * running container, each incremental on the one before, until what changed is small; stops it;
 * sends a last one; the target restores the chain keeping the address, MAC and hostname, starts
 * it, and the source commits and destroys its copy.
 *
 * Exactly one copy runs whatever fails, because both sides keep a journal (state/moves.ts):
 *  - the target removes a restored container that is not committed within its lease, and at its
 *    start every move not committed;
 *  - the source, when a step fails, aborts the target's side (or, when the target cannot be
 *    reached after its container may have started, waits for the lease to pass) and starts its
 *    own copy again; at its start it settles each move it had under way by asking the target.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream, promises as fsp, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { IncomingMessage } from 'node:http';
import { Client } from '../api/client.js';
import type { Backups } from '../backups/index.js';
import type { Containers, ContainerView } from '../containers/index.js';
import { AlreadyExists, asStrataError, Conflict, FailedPrecondition, InvalidArgument, NotFound, NotSupported, StrataError } from '../errors/index.js';
import type { MovePhase, MoveRecord, MoveRecords } from '../state/index.js';
import type { Templates } from '../templates/index.js';
import { run } from '../util/exec.js';
import { humanBytes } from '../model/units.js';

export interface MoveTarget { url: string; token: string; fingerprint: string }

export interface MoveResult {
  container: string;
  to: string;
  /** Each backup sent: bytes and seconds (the last one with the container stopped). */
  rounds: Array<{ bytes: number; seconds: number }>;
  templates: string[];
  /** From the stop here to the start there (the container running again), or null when it was not running. */
  downtimeMs: number | null;
  address: string | null;
}

export interface MoveStatus { id: string; container: string; phase: MovePhase }

type Progress = (line: string) => void;

/** A backup round that carries less than this ends the syncing while it runs. */
const SMALL_BYTES = 4 * 1024 * 1024;
const MAX_ROUNDS = 5;
const RECEIVING_MS = 60 * 60_000;
const FILE = /^(b\d{1,2}\.backup|t-[0-9a-f]{64}\.strata)$/;

export class Moves {
  private readonly leaseMs: number;
  /** Moves this process is sending now (not to be settled from outside). */
  private readonly active = new Set<string>();

  constructor(
    private readonly records: MoveRecords,
    private readonly containers: Containers,
    private readonly templates: Templates,
    private readonly backups: Backups,
    private readonly scratchRoot: string,
    private readonly log: (line: string) => void,
    opts: { leaseMs?: number } = {},
  ) {
    this.leaseMs = opts.leaseMs ?? 60_000;
  }

  private staging(id: string): string {
    return join(this.scratchRoot, `move-${id}`);
  }

  // The source

  /** Checks a move request before it starts as an operation. */
  async check(name: string, to: MoveTarget, live: boolean): Promise<void> {
    this.containers.inspect(name);
    if (this.records.ofContainer(name)) throw new Conflict(`container ${name} is being moved already`);
    if (live) throw await liveRefusal();
    if (!/^https:\/\//.test(to.url)) throw new InvalidArgument(`the target ${to.url} is not an https:// address of a Strata daemon: add it with 'strata remote add'`);
  }

  async moveOut(name: string, to: MoveTarget, progress: Progress): Promise<MoveResult> {
    const client = new Client({ ...to });
    const settings = this.containers.settings(name);
    const wasRunning = this.containers.inspect(name).state === 'running';
    const os = { name: settings.template, digest: await this.templates.digestOf(settings.template) };
    const apps = settings.apps.map((a) => ({ name: a.template, version: a.version, digest: this.templates.apps.get(a.template, a.version).digest }));
    progress(`asking ${to.url} to receive ${name}`);
    const begun = await client.moves.begin({ container: name, digests: [os.digest, ...apps.map((a) => a.digest)] });
    const id = begun.id;
    this.records.insert({ id, role: 'out', container: name, phase: 'syncing', wasRunning, remote: to, leaseUntil: null });
    this.active.add(id);
    const dir = join(this.scratchRoot, `move-out-${id}`);
    await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
    let stoppedAt: number | null = null;
    try {
      const sentTemplates: string[] = [];
      for (const digest of begun.missing) {
        const t = digest === os.digest ? { name: os.name, version: undefined } : apps.find((a) => a.digest === digest);
        if (!t) throw new FailedPrecondition(`${to.url} asked for a template ${digest} that ${name} does not use`);
        const file = join(dir, `t-${digest.slice(7)}.strata`);
        progress(`sending template ${t.name}${t.version ? `@${t.version}` : ''}`);
        await this.templates.export(t.name, file, () => undefined, t.version);
        await upload(client, id, file);
        sentTemplates.push(t.version ? `${t.name}@${t.version}` : t.name);
      }
      const rounds: MoveResult['rounds'] = [];
      const files: string[] = [];
      const sendRound = async (): Promise<number> => {
        const t0 = Date.now();
        const file = join(dir, `b${files.length}.backup`);
        const r = await this.backups.backup({ container: name, file, ...(files.length ? { since: join(dir, files.at(-1)!) } : {}) }, () => undefined);
        await upload(client, id, file);
        files.push(`b${files.length}.backup`);
        rounds.push({ bytes: r.bytes, seconds: (Date.now() - t0) / 1000 });
        progress(`sent ${files.length === 1 ? 'its files' : 'what changed'}: ${humanBytes(r.bytes)}${stoppedAt === null && wasRunning ? ' (running)' : ''}`);
        return r.bytes;
      };
      // While it runs: again and again, until what changed is small.
      let bytes = await sendRound();
      while (wasRunning && files.length < MAX_ROUNDS && bytes > SMALL_BYTES) bytes = await sendRound();
      this.hold('syncing');
      if (wasRunning) {
        this.records.setPhase(id, 'stopped');
        progress(`stopping ${name} for the last changes`);
        stoppedAt = Date.now();
        await this.containers.stop(name);
        await sendRound();
      }
      this.records.setPhase(id, 'finishing');
      this.hold('finishing');
      progress(`restoring ${name} on ${to.url}${wasRunning ? ' and starting it' : ''}`);
      const view = await client.moves.finish(id, { files, start: wasRunning });
      // Running there from here on (the commit only tells the target to keep it).
      const downtimeMs = stoppedAt === null ? null : Date.now() - stoppedAt;
      this.records.setPhase(id, 'committing');
      this.hold('committing');
      await client.moves.commit(id);
      await this.containers.destroy(name, true);
      this.records.remove(id);
      const address = view.adapters[0]?.address ?? null;
      progress(`moved ${name} to ${to.url}${address ? ` (address ${address})` : ''}${downtimeMs !== null ? `, down ${(downtimeMs / 1000).toFixed(2)} s` : ''}`);
      return { container: name, to: to.url, rounds, templates: sentTemplates, downtimeMs, address };
    } catch (err) {
      const e = asStrataError(err);
      const outcome = await this.settleOut(this.records.get(id)!, client, true).catch((why: unknown) => `settling it failed too: ${(why as Error).message}`);
      throw reword(e, `moving ${name} to ${to.url} failed: ${e.message}; ${outcome}`);
    } finally {
      this.active.delete(id);
      await fsp.rm(dir, { recursive: true, force: true });
    }
  }

  /**
   * A test hook: the source stops still at a phase (STRATA_TEST_MOVE_HOLD=phase:ms), having
   * written `held-PHASE` in its scratch directory, so that a test can kill a daemon right there.
   */
  private hold(phase: string): void {
    const [at, ms] = (process.env.STRATA_TEST_MOVE_HOLD ?? '').split(':');
    if (at !== phase) return;
    const marker = join(this.scratchRoot, `held-${phase}`);
    writeFileSync(marker, '');
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Number(ms) || 0);
    rmSync(marker, { force: true });
  }

  /**
   * Brings a move of this host's that did not finish to one end, and says which: the target has
   * it (its copy here is destroyed), or it runs here again (the target's side aborted). `failed`:
   * called right after a failure, with the target perhaps still busy.
   */
  private async settleOut(m: MoveRecord, client: Client, failed: boolean): Promise<string> {
    const targetHasIt = async (): Promise<boolean | null> => {
      try {
        const s = await client.moves.status(m.id);
        if (s.phase === 'committed') return true;
        if (s.phase === 'started' && m.phase === 'committing') {
          await client.moves.commit(m.id);
          return true;
        }
        await client.moves.abort(m.id);
        return false;
      } catch (err) {
        if (err instanceof NotFound) return false;
        return null;
      }
    };
    let has: boolean | null;
    if (m.phase === 'syncing') {
      // Never stopped here, never started there: this copy is the one.
      await client.moves.abort(m.id).catch(() => undefined);
      has = false;
    } else {
      has = await targetHasIt();
    }
    if (has === null) {
      // Before the finish the target has started nothing: this copy is the one.
      if (m.phase !== 'stopped') {
        return `the target cannot be reached and may run it, so ${m.container} stays stopped here until the target answers (asked again after every meter reading)`;
      }
      has = false;
    }
    this.records.remove(m.id);
    if (has) {
      if (this.containers.exists(m.container)) await this.containers.destroy(m.container, true);
      return `it runs on the target, and its copy here was removed`;
    }
    if (m.wasRunning && this.containers.exists(m.container) && this.containers.inspect(m.container).state !== 'running') await this.containers.start(m.container);
    return failed ? `${m.container} is left here${m.wasRunning ? ', running' : ''}, and nothing of it on the target` : 'it was settled';
  }

  /**
   * At daemon start and after every meter reading: every move this host sent that did not end is
   * brought to one end by asking the target; one whose target cannot be reached waits.
   */
  async settlePending(): Promise<void> {
    for (const m of this.records.list('out')) {
      if (this.active.has(m.id)) continue;
      this.active.add(m.id);
      try {
        const what = await this.settleOut(m, new Client({ ...m.remote! }), false);
        if (!this.records.get(m.id)) this.log(`move ${m.id} of ${m.container}, interrupted: ${what}`);
      } catch (err) {
        this.log(`move ${m.id} of ${m.container} could not be settled yet: ${(err as Error).message}`);
      } finally {
        this.active.delete(m.id);
      }
    }
  }

  /** At daemon start: what this host received and did not commit goes; what it sent is settled. */
  async settleAll(): Promise<void> {
    for (const m of this.records.list('in')) {
      if (m.phase === 'committed') this.records.remove(m.id);
      else await this.abort(m.id).then(() => this.log(`move ${m.id} of ${m.container} (received) was not committed before the daemon's end: removed`), () => undefined);
    }
    void this.settlePending();
  }

  // The target

  begin(container: string, digests: string[]): Promise<{ id: string; missing: string[]; leaseMs: number }> {
    return (async () => {
      if (this.containers.exists(container)) throw new AlreadyExists(`container ${container} already exists on this host: destroy or rename it here first`);
      if (this.records.ofContainer(container)) throw new Conflict(`container ${container} is being moved here already`);
      const missing: string[] = [];
      for (const d of digests) {
        if (!/^sha256:[0-9a-f]{64}$/.test(d)) throw new InvalidArgument(`${JSON.stringify(d)} is not a template digest`);
        if ((await this.templates.osByDigest(d)) === undefined && this.templates.appByDigest(d) === undefined) missing.push(d);
      }
      const id = randomBytes(8).toString('hex');
      await fsp.mkdir(this.staging(id), { recursive: true, mode: 0o700 });
      // A source that goes silent leaves nothing for long: what it sent goes after an hour without news.
      this.records.insert({ id, role: 'in', container, phase: 'receiving', wasRunning: false, remote: null, leaseUntil: new Date(Date.now() + RECEIVING_MS).toISOString() });
      return { id, missing, leaseMs: this.leaseMs };
    })();
  }

  private incoming(id: string, phase?: MovePhase): MoveRecord {
    const m = this.records.get(id);
    if (!m || m.role !== 'in') throw new NotFound(`move ${id} is not under way on this host`);
    if (phase && m.phase !== phase) throw new FailedPrecondition(`move ${id} of ${m.container} is ${m.phase}, not ${phase}`);
    return m;
  }

  async receive(id: string, file: string, body: IncomingMessage): Promise<{ file: string; bytes: number }> {
    this.incoming(id, 'receiving');
    this.records.setPhase(id, 'receiving', new Date(Date.now() + RECEIVING_MS).toISOString());
    if (!FILE.test(file)) throw new InvalidArgument(`${JSON.stringify(file)} is not a file a move sends (bN.backup, t-<hex>.strata)`);
    const path = join(this.staging(id), file);
    const out = await fsp.open(path, 'wx', 0o600).catch((err: NodeJS.ErrnoException) => {
      throw err.code === 'EEXIST' ? new AlreadyExists(`move ${id} has ${file} already`) : err;
    });
    let bytes = 0;
    try {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        bytes += chunk.length;
        await out.write(chunk);
      }
    } catch (err) {
      await fsp.rm(path, { force: true });
      throw err;
    } finally {
      await out.close();
    }
    return { file, bytes };
  }

  async finish(id: string, files: string[], start: boolean, progress: Progress): Promise<ContainerView> {
    const m = this.incoming(id, 'receiving');
    const dir = this.staging(id);
    if (!files.length || files.some((f) => !/^b\d{1,2}\.backup$/.test(f))) throw new InvalidArgument('a move finishes with the backups it sent, oldest first');
    const all = await fsp.readdir(dir);
    const templateFiles = all.filter((f) => f.endsWith('.strata')).map((f) => join(dir, f));
    const last = join(dir, files.at(-1)!);
    await this.backups.restore({ file: last, parents: files.slice(0, -1).map((f) => join(dir, f)), keepAddress: true, templateFiles }, progress);
    if (start) await this.containers.start(m.container);
    this.records.setPhase(id, 'started', new Date(Date.now() + this.leaseMs).toISOString());
    return this.containers.inspect(m.container);
  }

  async commit(id: string): Promise<MoveStatus> {
    const m = this.incoming(id);
    if (m.phase === 'receiving') throw new FailedPrecondition(`move ${id} of ${m.container} is not finished: nothing to commit`);
    this.records.setPhase(id, 'committed');
    await fsp.rm(this.staging(id), { recursive: true, force: true });
    return { id, container: m.container, phase: 'committed' };
  }

  status(id: string): MoveStatus {
    const m = this.incoming(id);
    return { id, container: m.container, phase: m.phase };
  }

  /** Removes what a move brought here (its container too, once restored); refused once committed. */
  async abort(id: string): Promise<MoveStatus> {
    const m = this.incoming(id);
    if (m.phase === 'committed') throw new Conflict(`move ${id} of ${m.container} is committed: the container is this host's now`);
    if (m.phase === 'started' && this.containers.exists(m.container)) await this.containers.destroy(m.container, true);
    await fsp.rm(this.staging(id), { recursive: true, force: true });
    this.records.remove(id);
    return { id, container: m.container, phase: m.phase };
  }

  /** Periodic: a restored container whose move was not committed within its lease is removed. */
  async expireLeases(now = Date.now()): Promise<void> {
    for (const m of this.records.list('in')) {
      if (m.phase !== 'committed' && m.leaseUntil && Date.parse(m.leaseUntil) < now) {
        await this.abort(m.id).catch(() => undefined);
        this.log(`move ${m.id} of ${m.container}: not committed within its lease; the container received was removed`);
      }
    }
  }
}

async function upload(client: Client, id: string, file: string): Promise<void> {
  await client.moves.upload(id, file.split('/').pop()!, createReadStream(file));
}

/** Why a live move (CRIU) cannot be made on this host: CRIU missing, or `criu check` failing here. */
async function liveRefusal(): Promise<StrataError> {
  const r = await run(['criu', 'check'], { allowFailure: true }).catch(() => null);
  if (r === null) return new NotSupported('a live move needs CRIU, which is not installed (apt-get install criu): move without --live (a short stop)');
  if (r.status !== 0) {
    const why = (r.stderr.trim().split('\n').filter(Boolean).pop() ?? `exit status ${r.status}`).replace(/^Error \([^)]*\):\s*/, '');
    return new NotSupported(`a live move needs CRIU, and 'criu check' fails on this kernel (${why}): move without --live (a short stop)`);
  }
  return new NotSupported('CRIU works on this host, but Strata cannot move a container live yet: move without --live (a short stop)');
}

function reword(e: StrataError, message: string): StrataError {
  const Kind = e.constructor as new (m: string, o?: { cause?: unknown }) => StrataError;
  try {
    return new Kind(message, { cause: e });
  } catch {
    return e;
  }
}
