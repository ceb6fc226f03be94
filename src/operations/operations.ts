/**
 * Operations: long work (a template build, an import, a bulk create…) run by the daemon in the
 * background under an id, so that a client may start it and go, list it, follow its log, wait
 * for it or cancel it. Each operation is recorded (state, last progress, result or error, its
 * log) and outlives the daemon: one the daemon was running when it stopped is `interrupted` at
 * the next start. This is not a queue or a scheduler: work starts at once, as the caller asked.
 *
 *   const op = operations.start('template-import', 'deb12', (progress, signal) => templates.import(…, progress, signal));
 *   operations.follow(op.id, (line) => …);   // its log so far, each new line, then {result} or {error}
 *   operations.cancel(op.id);                // aborts `signal`; it ends `cancelled` once the work has rolled back
 */
import { randomBytes } from 'node:crypto';
import { asStrataError, Cancelled, FailedPrecondition, InvalidArgument, NotFound, Unavailable } from '../errors/index.js';
import { OperationRecords, type LogRow, type OperationFilter, type OperationRow, type OperationState, type Store } from '../state/index.js';

export type { OperationState } from '../state/index.js';

/** The last progress of an operation: its line, and the counter in it when it has one (`objects: 120 of 900`). */
interface OperationProgress {
  line: string;
  step: string | null;
  done: number | null;
  total: number | null;
}

export interface Operation {
  id: string;
  kind: string;
  subject: string | null;
  state: OperationState;
  owner: string | null;
  progress: OperationProgress | null;
  result: unknown;
  error: { code: string; message: string } | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  /** Lines its log holds now, and lines dropped from its front (the log keeps the last ones). */
  logLines: number;
  logDropped: number;
}

/** What a follower of an operation receives: the lines of the streamed routes (NDJSON). */
export type LogLine = { progress: string } | { result: unknown } | { error: { code: string; message: string } };

/** The work of an operation: reports lines, stops (rolling back) when `signal` aborts. */
export type Work<T> = (progress: (line: string) => void, signal: AbortSignal) => Promise<T>;

export interface OperationsOptions {
  /** Most log lines kept per operation (default 10 000). */
  logCap?: number;
  /** How long ended operations are kept (default 7 days). */
  retentionMs?: number;
  /** How often a running operation's new log lines and progress are written (default 500 ms). */
  flushMs?: number;
  /** How long stopping the daemon waits for the work it cancels to roll back (default 20 s). */
  shutdownMs?: number;
}

/** A counter line of a long step, as the CLI's progress bar reads it. */
const COUNTER = /^([a-z][\w -]*): (\d+)(?: of (\d+))?$/;
const DAY = 86_400_000;

const ENDED_EVENT: Record<Exclude<OperationState, 'running'>, string> = {
  succeeded: 'operation-finished', failed: 'operation-failed', cancelled: 'operation-cancelled', interrupted: 'operation-interrupted',
};

function progressOf(line: string): OperationProgress {
  const c = COUNTER.exec(line);
  return c ? { line, step: c[1], done: Number(c[2]), total: c[3] === undefined ? null : Number(c[3]) } : { line, step: null, done: null, total: null };
}

const json = (v: unknown): string | null => (v === undefined ? null : JSON.stringify(v));
const parsed = (text: string | null): unknown => (text === null ? null : JSON.parse(text));

/** An operation this daemon runs now: its log in memory, written to the database every flush. */
class Running {
  readonly controller = new AbortController();
  readonly log: LogRow[] = [];
  readonly pending = new Map<number, LogRow>();
  readonly listeners = new Set<(line: LogLine) => void>();
  seq = 0;
  dropped = 0;
  progress: OperationProgress | null = null;
  progressDirty = false;
  ended = false;
  /** Resolves when the operation has ended (never rejects). */
  settled!: Promise<void>;
  constructor(readonly row: OperationRow) {}
}

export class Operations {
  private readonly records: OperationRecords;
  private readonly running = new Map<string, Running>();
  private readonly logCap: number;
  private readonly retentionMs: number;
  private readonly flushMs: number;
  private readonly shutdownMs: number;
  private flushTimer: NodeJS.Timeout | null = null;
  private lastPrune = 0;
  private closed = false;

  constructor(private readonly store: Store, opts: OperationsOptions = {}) {
    this.records = new OperationRecords(store.db);
    this.logCap = opts.logCap ?? 10_000;
    this.retentionMs = opts.retentionMs ?? 7 * DAY;
    this.flushMs = opts.flushMs ?? 500;
    this.shutdownMs = opts.shutdownMs ?? 20_000;
  }

  /**
   * At the daemon's start: operations recorded running were cut off by the previous daemon's end
   * (a crash, a kill): they become `interrupted`, each with an event. Prunes old ones too.
   */
  recover(): Operation[] {
    const cut = this.records.running();
    for (const row of cut) {
      this.end(row, 'interrupted', undefined, new Unavailable(`operation ${row.id} was interrupted: the daemon stopped before it ended; run it again`), row.progress);
    }
    this.prune();
    return cut.map((r) => this.view(this.records.get(r.id)!));
  }

  /** Starts `work` as an operation; answers its record at once (state running). */
  start<T>(kind: string, subject: string | null, work: Work<T>, opts: { owner?: string | null } = {}): Operation {
    if (this.closed) throw new Unavailable('the daemon is stopping: start the operation again when it is back');
    if (Date.now() - this.lastPrune > 3_600_000) this.prune();
    const now = new Date().toISOString();
    const row: OperationRow = {
      id: `op-${randomBytes(8).toString('hex')}`, kind, subject, state: 'running', owner: opts.owner ?? null,
      progress: null, result: null, error_code: null, error_message: null, log_dropped: 0, created_at: now, started_at: now, finished_at: null,
    };
    this.records.insert(row);
    const r = new Running(row);
    this.running.set(row.id, r);
    this.store.addEvent('operation-started', row.id, `${this.describe(row)} started`);
    r.settled = (async () => {
      // Never synchronously: the caller gets the record (and may follow it) before the first line.
      await Promise.resolve();
      try {
        r.controller.signal.throwIfAborted();
        const result = await work((line) => this.append(r, line), r.controller.signal);
        this.finishRunning(r, 'succeeded', result);
      } catch (err) {
        const reason: unknown = r.controller.signal.reason;
        if (r.controller.signal.aborted && reason instanceof Unavailable) this.finishRunning(r, 'interrupted', undefined, reason);
        // The work's own words when it says it was cancelled (they may name what it kept), else the reason.
        else if (r.controller.signal.aborted) this.finishRunning(r, 'cancelled', undefined, asStrataError(err).code === 'cancelled' ? err : reason);
        else this.finishRunning(r, 'failed', undefined, err);
      }
    })();
    return this.view(row, r);
  }

  /** An operation by its id, or by a prefix of it that names only one. */
  get(id: string): Operation {
    const row = this.row(id);
    return this.view(row, this.running.get(row.id));
  }

  /** Newest first, those the filter selects. */
  list(filter: OperationFilter = {}): Operation[] {
    return this.records.list(filter).map((row) => this.view(row, this.running.get(row.id)));
  }

  /** Its log lines so far (the last `logCap` of them). */
  log(id: string): LogRow[] {
    const row = this.row(id);
    const r = this.running.get(row.id);
    return r ? [...r.log] : this.records.log(row.id);
  }

  /**
   * Asks a running operation to stop: its work sees its signal abort and rolls back; it ends
   * `cancelled` then (or `succeeded`, when it was past the point of no return).
   */
  cancel(id: string, why = 'cancelled on request'): Operation {
    const row = this.row(id);
    const r = this.running.get(row.id);
    if (!r || r.ended) {
      throw new FailedPrecondition(`operation ${row.id} has already ${row.state === 'succeeded' ? 'succeeded' : `ended (${row.state})`}: only a running operation can be cancelled`);
    }
    if (!r.controller.signal.aborted) {
      this.append(r, `cancelling (${why}): rolling back`);
      r.controller.abort(new Cancelled(`operation ${row.id} was cancelled (${why}): what it had done was rolled back`));
    }
    return this.view(r.row, r);
  }

  /** Resolves with the operation once it has ended, or as it is after `timeoutMs`. */
  async settled(id: string, timeoutMs = Infinity): Promise<Operation> {
    const row = this.row(id);
    const r = this.running.get(row.id);
    if (r) {
      let timer: NodeJS.Timeout | undefined;
      const late = Number.isFinite(timeoutMs) ? new Promise<void>((resolve) => { timer = setTimeout(resolve, timeoutMs); }) : new Promise<void>(() => undefined);
      await Promise.race([r.settled, late]);
      clearTimeout(timer);
    }
    return this.get(row.id);
  }

  /**
   * Calls `listener` with the operation's log so far, each line from now on, and last its
   * {result} or {error}; synchronously for what is known already. Returns the unsubscribe.
   */
  follow(id: string, listener: (line: LogLine) => void): () => void {
    const row = this.row(id);
    const r = this.running.get(row.id);
    if (r && !r.ended) {
      for (const l of r.log) listener({ progress: l.line });
      r.listeners.add(listener);
      return () => { r.listeners.delete(listener); };
    }
    for (const l of this.records.log(row.id)) listener({ progress: l.line });
    listener(this.lastLine(this.records.get(row.id)!));
    return () => undefined;
  }

  /**
   * The daemon is stopping: no operation starts any more, the running ones are cancelled and
   * given `shutdownMs` to roll back; each ends `interrupted` (also one whose work did not stop in time).
   */
  async shutdown(): Promise<void> {
    this.closed = true;
    const all = [...this.running.values()];
    for (const r of all) {
      if (r.ended) continue;
      this.append(r, 'the daemon is stopping: rolling back');
      r.controller.abort(new Unavailable(`operation ${r.row.id} was interrupted: the daemon stopped before it ended; run it again`));
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(all.map((r) => r.settled)), new Promise((resolve) => { timer = setTimeout(resolve, this.shutdownMs); })]);
    clearTimeout(timer);
    for (const r of all) {
      if (!r.ended) this.finishRunning(r, 'interrupted', undefined, new Unavailable(`operation ${r.row.id} was interrupted: the daemon stopped before its work could roll back; what it left is cleaned up at the next start where it can be`));
    }
    if (this.flushTimer) clearTimeout(this.flushTimer);
  }

  /** Removes the operations that ended longer ago than the retention time, with their logs. */
  prune(): number {
    this.lastPrune = Date.now();
    return this.records.pruneFinishedBefore(new Date(Date.now() - this.retentionMs).toISOString());
  }

  private row(id: string): OperationRow {
    const exact = this.running.get(id)?.row ?? this.records.get(id);
    if (exact) return exact;
    const ids = id ? this.records.idsStartingWith(id) : [];
    if (ids.length === 1) return this.running.get(ids[0])?.row ?? this.records.get(ids[0])!;
    if (ids.length > 1) throw new InvalidArgument(`${id} is the start of more than one operation's id: give more of it`);
    throw new NotFound(`operation ${id} does not exist: see 'strata operation list --all' (ended operations are kept ${Math.round(this.retentionMs / DAY)} days)`);
  }

  private append(r: Running, line: string): void {
    if (r.ended) return;
    const progress = progressOf(line);
    r.progress = progress;
    r.progressDirty = true;
    for (const l of r.listeners) l({ progress: line });
    // Successive counter lines of one step are one line of the log, as on a terminal.
    const last = r.log.at(-1);
    const entry: LogRow = { seq: 0, time: new Date().toISOString(), line };
    if (last && progress.step !== null && progressOf(last.line).step === progress.step) {
      entry.seq = last.seq;
      r.log[r.log.length - 1] = entry;
    } else {
      entry.seq = ++r.seq;
      r.log.push(entry);
      if (r.log.length > this.logCap) {
        const cut = r.log.splice(0, r.log.length - this.logCap);
        r.dropped += cut.length;
        for (const c of cut) r.pending.delete(c.seq);
      }
    }
    r.pending.set(entry.seq, entry);
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushTimer) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = null;
      for (const r of this.running.values()) this.flush(r);
    }, this.flushMs);
    this.flushTimer.unref();
  }

  private flush(r: Running): void {
    if (r.pending.size || r.dropped !== r.row.log_dropped) {
      const keepAfter = (r.log[0]?.seq ?? r.seq + 1) - 1;
      this.records.writeLog(r.row.id, [...r.pending.values()], keepAfter, r.dropped);
      r.pending.clear();
      r.row.log_dropped = r.dropped;
    }
    if (r.progressDirty) {
      r.row.progress = json(r.progress);
      this.records.setProgress(r.row.id, r.row.progress!);
      r.progressDirty = false;
    }
  }

  private finishRunning(r: Running, state: Exclude<OperationState, 'running'>, result?: unknown, error?: unknown): void {
    if (r.ended) return;
    this.flush(r);
    r.ended = true;
    this.running.delete(r.row.id);
    this.end(r.row, state, result, error, json(r.progress));
    const final = this.lastLine(r.row);
    for (const l of r.listeners) l(final);
    r.listeners.clear();
  }

  /** Records the end of an operation (in `row` too) and its event. */
  private end(row: OperationRow, state: Exclude<OperationState, 'running'>, result: unknown, error: unknown, progress: string | null): void {
    const e = error === undefined ? null : asStrataError(error);
    Object.assign(row, { state, result: json(result), error_code: e?.code ?? null, error_message: e?.message ?? null, finished_at: new Date().toISOString(), progress });
    this.records.finish(row.id, row);
    this.store.addEvent(ENDED_EVENT[state], row.id, `${this.describe(row)} ${state}${e ? `: ${e.message}` : ''}`);
  }

  private lastLine(row: OperationRow): LogLine {
    if (row.state === 'succeeded') return { result: parsed(row.result) };
    return { error: { code: row.error_code ?? 'internal', message: row.error_message ?? `operation ${row.id} ended ${row.state}` } };
  }

  private describe(row: OperationRow): string {
    return `${row.kind}${row.subject ? ` of ${row.subject}` : ''} (${row.id})`;
  }

  private view(row: OperationRow, r?: Running): Operation {
    return {
      id: row.id, kind: row.kind, subject: row.subject, state: row.state, owner: row.owner,
      progress: r ? r.progress : parsed(row.progress) as OperationProgress | null,
      result: parsed(row.result), error: row.error_code ? { code: row.error_code, message: row.error_message ?? '' } : null,
      createdAt: row.created_at, startedAt: row.started_at, finishedAt: row.finished_at,
      logLines: r ? r.log.length : this.records.logLength(row.id), logDropped: r ? r.dropped : row.log_dropped,
    };
  }
}
