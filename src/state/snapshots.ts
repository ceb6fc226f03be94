/** Snapshot records (migration 013); the orchestration is src/containers/snapshots.ts. */
import type Database from 'better-sqlite3';

export interface SnapshotRecord {
  container: string;
  name: string;
  method: 'volume' | 'copy';
  apps: Array<{ template: string; version: number }>;
  sizeBytes: number;
  frozenMs: number | null;
  createdAt: string;
}

interface Row { container: string; name: string; method: string; apps: string; size_bytes: number; frozen_ms: number | null; created_at: string }

const toRecord = (r: Row): SnapshotRecord => ({
  container: r.container, name: r.name, method: r.method as SnapshotRecord['method'], apps: JSON.parse(r.apps) as SnapshotRecord['apps'],
  sizeBytes: r.size_bytes, frozenMs: r.frozen_ms, createdAt: r.created_at,
});

export interface SnapshotSchedule { container: string; everySeconds: number; keep: number; lastAt: string | null }

interface ScheduleRow { container: string; every_seconds: number; keep: number; last_at: string | null }
const toSchedule = (r: ScheduleRow): SnapshotSchedule => ({ container: r.container, everySeconds: r.every_seconds, keep: r.keep, lastAt: r.last_at });

export class SnapshotRecords {
  private readonly q;

  constructor(db: Database.Database) {
    this.q = {
      list: db.prepare('SELECT * FROM snapshots WHERE container = ? ORDER BY created_at, name'),
      get: db.prepare('SELECT * FROM snapshots WHERE container = ? AND name = ?'),
      insert: db.prepare('INSERT INTO snapshots (container, name, method, apps, size_bytes, frozen_ms, created_at) VALUES (@container, @name, @method, @apps, @sizeBytes, @frozenMs, @createdAt)'),
      remove: db.prepare('DELETE FROM snapshots WHERE container = ? AND name = ?'),
      bytes: db.prepare('SELECT COALESCE(SUM(size_bytes), 0) AS n FROM snapshots WHERE container = ?'),
      allBytes: db.prepare('SELECT container, SUM(size_bytes) AS n FROM snapshots GROUP BY container'),
      schedule: db.prepare('SELECT * FROM snapshot_schedules WHERE container = ?'),
      schedules: db.prepare('SELECT * FROM snapshot_schedules ORDER BY container'),
      setSchedule: db.prepare(`INSERT INTO snapshot_schedules (container, every_seconds, keep, last_at) VALUES (@container, @everySeconds, @keep, @lastAt)
        ON CONFLICT (container) DO UPDATE SET every_seconds = excluded.every_seconds, keep = excluded.keep`),
      scheduleRan: db.prepare('UPDATE snapshot_schedules SET last_at = ? WHERE container = ?'),
      removeSchedule: db.prepare('DELETE FROM snapshot_schedules WHERE container = ?'),
    };
  }

  list(container: string): SnapshotRecord[] { return (this.q.list.all(container) as Row[]).map(toRecord); }
  get(container: string, name: string): SnapshotRecord | undefined { const r = this.q.get.get(container, name) as Row | undefined; return r && toRecord(r); }
  insert(s: SnapshotRecord): void { this.q.insert.run({ ...s, apps: JSON.stringify(s.apps) }); }
  remove(container: string, name: string): void { this.q.remove.run(container, name); }
  schedule(container: string): SnapshotSchedule | null { const r = this.q.schedule.get(container) as ScheduleRow | undefined; return r ? toSchedule(r) : null; }
  schedules(): SnapshotSchedule[] { return (this.q.schedules.all() as ScheduleRow[]).map(toSchedule); }
  setSchedule(s: SnapshotSchedule): void { this.q.setSchedule.run(s); }
  scheduleRan(container: string, at: string): void { this.q.scheduleRan.run(at, container); }
  removeSchedule(container: string): void { this.q.removeSchedule.run(container); }

  /** What a container's snapshots take, counted in its disk use. */
  bytes(container: string): number { return (this.q.bytes.get(container) as { n: number }).n; }

  /** The same for every container that has snapshots, in one query. */
  allBytes(): Map<string, number> {
    return new Map((this.q.allBytes.all() as Array<{ container: string; n: number }>).map((r) => [r.container, r.n]));
  }
}
