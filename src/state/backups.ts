/** Records of the backups the daemon keeps for containers (migration 016); the files and the protocol are src/backups. */
import type Database from 'better-sqlite3';

export interface StoredBackup {
  container: string;
  name: string;
  bytes: number;
  digest: string;
  parent: string | null;
  templates: string[];
  createdAt: string;
}

interface Row { container: string; name: string; bytes: number; digest: string; parent: string | null; templates: string; created_at: string }

const toRecord = (r: Row): StoredBackup => ({
  container: r.container, name: r.name, bytes: r.bytes, digest: r.digest, parent: r.parent, templates: JSON.parse(r.templates) as string[], createdAt: r.created_at,
});

export class BackupRecords {
  private readonly q;

  constructor(db: Database.Database) {
    this.q = {
      list: db.prepare('SELECT * FROM backups WHERE container = ? ORDER BY created_at, name'),
      get: db.prepare('SELECT * FROM backups WHERE container = ? AND name = ?'),
      children: db.prepare('SELECT name FROM backups WHERE container = ? AND parent = ?'),
      insert: db.prepare('INSERT INTO backups (container, name, bytes, digest, parent, templates, created_at) VALUES (@container, @name, @bytes, @digest, @parent, @templates, @createdAt)'),
      remove: db.prepare('DELETE FROM backups WHERE container = ? AND name = ?'),
      removeAll: db.prepare('DELETE FROM backups WHERE container = ?'),
    };
  }

  list(container: string): StoredBackup[] { return (this.q.list.all(container) as Row[]).map(toRecord); }
  get(container: string, name: string): StoredBackup | undefined { const r = this.q.get.get(container, name) as Row | undefined; return r && toRecord(r); }
  /** The stored backups made incremental on this one. */
  children(container: string, name: string): string[] { return (this.q.children.all(container, name) as Array<{ name: string }>).map((r) => r.name); }
  insert(b: StoredBackup): void { this.q.insert.run({ ...b, templates: JSON.stringify(b.templates) }); }
  remove(container: string, name: string): void { this.q.remove.run(container, name); }
  removeAll(container: string): void { this.q.removeAll.run(container); }
}
