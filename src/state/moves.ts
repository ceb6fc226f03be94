/** The journal of moves between hosts (migration 015); the protocol is src/moves/index.ts. */
import type Database from 'better-sqlite3';

export type MoveRole = 'out' | 'in';
export type MovePhase = 'syncing' | 'stopped' | 'finishing' | 'committing' | 'receiving' | 'started' | 'committed';

export interface MoveRecord {
  id: string;
  role: MoveRole;
  container: string;
  phase: MovePhase;
  wasRunning: boolean;
  /** out: how to reach the target again. */
  remote: { url: string; token: string; fingerprint: string } | null;
  leaseUntil: string | null;
  updatedAt: string;
}

interface Row { id: string; role: string; container: string; phase: string; was_running: number; remote: string | null; lease_until: string | null; updated_at: string }

const toRecord = (r: Row): MoveRecord => ({
  id: r.id, role: r.role as MoveRole, container: r.container, phase: r.phase as MovePhase, wasRunning: r.was_running === 1,
  remote: r.remote ? (JSON.parse(r.remote) as MoveRecord['remote']) : null, leaseUntil: r.lease_until, updatedAt: r.updated_at,
});

export class MoveRecords {
  private readonly q;

  constructor(db: Database.Database) {
    this.q = {
      get: db.prepare('SELECT * FROM moves WHERE id = ?'),
      list: db.prepare('SELECT * FROM moves WHERE role = ? ORDER BY updated_at'),
      ofContainer: db.prepare('SELECT * FROM moves WHERE container = ? AND phase != \'committed\''),
      insert: db.prepare('INSERT INTO moves (id, role, container, phase, was_running, remote, lease_until, updated_at) VALUES (@id, @role, @container, @phase, @wasRunning, @remote, @leaseUntil, @updatedAt)'),
      phase: db.prepare('UPDATE moves SET phase = ?, lease_until = ?, updated_at = ? WHERE id = ?'),
      remove: db.prepare('DELETE FROM moves WHERE id = ?'),
    };
  }

  get(id: string): MoveRecord | undefined { const r = this.q.get.get(id) as Row | undefined; return r && toRecord(r); }
  list(role: MoveRole): MoveRecord[] { return (this.q.list.all(role) as Row[]).map(toRecord); }
  /** A move under way of this container (committed ones aside). */
  ofContainer(container: string): MoveRecord | undefined { const r = this.q.ofContainer.get(container) as Row | undefined; return r && toRecord(r); }
  insert(m: Omit<MoveRecord, 'updatedAt'>): void {
    this.q.insert.run({ ...m, wasRunning: m.wasRunning ? 1 : 0, remote: m.remote ? JSON.stringify(m.remote) : null, updatedAt: new Date().toISOString() });
  }
  setPhase(id: string, phase: MovePhase, leaseUntil: string | null = null): void { this.q.phase.run(phase, leaseUntil, new Date().toISOString(), id); }
  remove(id: string): void { this.q.remove.run(id); }
}
