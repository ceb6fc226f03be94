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

export class SnapshotRecords {
  private readonly q;

  constructor(db: Database.Database) {
    this.q = {
      list: db.prepare('SELECT * FROM snapshots WHERE container = ? ORDER BY created_at, name'),
      get: db.prepare('SELECT * FROM snapshots WHERE container = ? AND name = ?'),
      insert: db.prepare('INSERT INTO snapshots (container, name, method, apps, size_bytes, frozen_ms, created_at) VALUES (@container, @name, @method, @apps, @sizeBytes, @frozenMs, @createdAt)'),
      remove: db.prepare('DELETE FROM snapshots WHERE container = ? AND name = ?'),
      bytes: db.prepare('SELECT COALESCE(SUM(size_bytes), 0) AS n FROM snapshots WHERE container = ?'),
    };
  }

  list(container: string): SnapshotRecord[] { return (this.q.list.all(container) as Row[]).map(toRecord); }
  get(container: string, name: string): SnapshotRecord | undefined { const r = this.q.get.get(container, name) as Row | undefined; return r && toRecord(r); }
  insert(s: SnapshotRecord): void { this.q.insert.run({ ...s, apps: JSON.stringify(s.apps) }); }
  remove(container: string, name: string): void { this.q.remove.run(container, name); }
  /** What a container's snapshots take, counted in its disk use. */
  bytes(container: string): number { return (this.q.bytes.get(container) as { n: number }).n; }
}
