/**
 * The operations' records (migration 011): one row per operation and its log lines. The
 * operations service (src/operations) holds no SQL: every statement is here, prepared once.
 */
import type Database from 'better-sqlite3';
import { preparedOnce, type Prepared } from './statements.js';

export type OperationState = 'running' | 'succeeded' | 'failed' | 'cancelled' | 'interrupted';

export interface OperationRow {
  id: string; kind: string; subject: string | null; state: OperationState; owner: string | null;
  progress: string | null; result: string | null; error_code: string | null; error_message: string | null;
  log_dropped: number; created_at: string; started_at: string | null; finished_at: string | null;
}

export interface LogRow { seq: number; time: string; line: string }

export interface OperationFilter { state?: OperationState; kind?: string; owner?: string; limit?: number }

export class OperationRecords {
  private readonly q: Prepared;

  constructor(private readonly db: Database.Database) {
    this.q = preparedOnce(db);
  }

  insert(row: OperationRow): void {
    this.q(`INSERT INTO operations (id, kind, subject, state, owner, progress, result, error_code, error_message, log_dropped, created_at, started_at, finished_at)
      VALUES (@id, @kind, @subject, @state, @owner, @progress, @result, @error_code, @error_message, @log_dropped, @created_at, @started_at, @finished_at)`).run(row);
  }

  get(id: string): OperationRow | undefined { return this.q('SELECT * FROM operations WHERE id = ?').get(id) as OperationRow | undefined; }

  /** The ids that start with `prefix` (at most 2: enough to tell a unique one). */
  idsStartingWith(prefix: string): string[] {
    return (this.q("SELECT id FROM operations WHERE substr(id, 1, length(@p)) = @p LIMIT 2").all({ p: prefix }) as Array<{ id: string }>).map((r) => r.id);
  }

  /** Newest first. */
  list(f: OperationFilter = {}): OperationRow[] {
    return this.q(`SELECT * FROM operations WHERE (@state IS NULL OR state = @state) AND (@kind IS NULL OR kind = @kind)
      AND (@owner IS NULL OR owner = @owner) ORDER BY created_at DESC, rowid DESC LIMIT @limit`)
      .all({ state: f.state ?? null, kind: f.kind ?? null, owner: f.owner ?? null, limit: f.limit ?? -1 }) as OperationRow[];
  }

  setProgress(id: string, progress: string): void { this.q('UPDATE operations SET progress = ? WHERE id = ?').run(progress, id); }

  finish(id: string, end: Pick<OperationRow, 'state' | 'result' | 'error_code' | 'error_message' | 'finished_at' | 'progress'>): void {
    this.q(`UPDATE operations SET state = @state, result = @result, error_code = @error_code, error_message = @error_message,
      finished_at = @finished_at, progress = @progress WHERE id = @id`).run({ id, ...end });
  }

  /** Writes log lines (new ones, or a line replaced at its seq) and keeps only those after `keepAfter`. */
  writeLog(id: string, lines: LogRow[], keepAfter: number, dropped: number): void {
    this.db.transaction(() => {
      const put = this.q('INSERT OR REPLACE INTO operation_log (operation, seq, time, line) VALUES (?, ?, ?, ?)');
      for (const l of lines) put.run(id, l.seq, l.time, l.line);
      if (dropped) {
        this.q('DELETE FROM operation_log WHERE operation = ? AND seq <= ?').run(id, keepAfter);
        this.q('UPDATE operations SET log_dropped = ? WHERE id = ?').run(dropped, id);
      }
    })();
  }

  log(id: string): LogRow[] {
    return this.q('SELECT seq, time, line FROM operation_log WHERE operation = ? ORDER BY seq').all(id) as LogRow[];
  }

  logLength(id: string): number { return (this.q('SELECT COUNT(*) AS n FROM operation_log WHERE operation = ?').get(id) as { n: number }).n; }

  /** Operations recorded running: at a daemon's start, those its predecessor left. */
  running(): OperationRow[] { return this.q("SELECT * FROM operations WHERE state = 'running'").all() as OperationRow[]; }

  /** Removes the operations that ended before `time` (ISO), with their logs; returns how many. */
  pruneFinishedBefore(time: string): number {
    return this.q("DELETE FROM operations WHERE state <> 'running' AND finished_at < ?").run(time).changes;
  }
}
