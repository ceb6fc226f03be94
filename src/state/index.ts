/**
 * The state: one SQLite database per data root, the source of truth for
 * templates, containers and events (Store), networks (NetworkRecords, networks.ts), tenants,
 * users, tokens and the audit log (AccessRecords, access.ts), the meter's usage points
 * (MeterRecords, metering.ts) and operations (OperationRecords, operations.ts).
 * Synchronous (better-sqlite3) and small on purpose; it knows nothing of runc, mounts or the API.
 */
import Database from 'better-sqlite3';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { preparedOnce, type Prepared } from './statements.js';

export { AccessRecords, type Plan, type Role, type TenantRecord, type TokenRecord, type UserRecord } from './access.js';
export { MeterRecords, type LastReading, type PointDelta, type PointRow, type UsageSum } from './metering.js';
export { NetworkRecords, type AdBrief, type AdRow, type ChangeRow, type ContRow, type NetRow, type PortRow } from './networks.js';
export { OperationRecords, type LogRow, type OperationFilter, type OperationRow, type OperationState } from './operations.js';
export { BackupRecords, type StoredBackup } from './backups.js';
export { MoveRecords, type MoveRecord, type MovePhase } from './moves.js';
export { SnapshotRecords, type SnapshotRecord, type SnapshotSchedule } from './snapshots.js';

export type ContainerState = 'created' | 'running' | 'stopped';

export interface TemplateRecord {
  name: string;
  kind: 'os' | 'app';
  source: string;
  init: string[];
  stopSignal: string;
  sizeBytes: number;
  meta: Record<string, unknown>;
  createdAt: string;
}

export interface ContainerRecord {
  name: string;
  template: string;
  hostname: string;
  privileged: boolean;
  autostart: boolean;
  state: ContainerState;
  pid: number | null;
  idSlot: number | null;
  createdAt: string;
  startedAt: string | null;
  stoppedAt: string | null;
  /** Resource limits as stored (see src/resources); {} when none. */
  limits: Record<string, unknown>;
  /** True when the private area is a size-limited volume of the storage pool. */
  volume: boolean;
  /** The storage driver that holds the volume (null without one). */
  volumeDriver?: string | null;
  /** A template capture's throw-away container. */
  scratch?: boolean;
  /** How its init last ended; null before it first did. */
  lastExit?: LastExit | null;
  /** The application templates its derived files were last computed for ('' for none: the OS template's own). */
  derivedFor?: string;
  /** The tenant that owns it; null: the host's own. */
  tenant?: string | null;
}

/** How a container's init ended. */
export interface LastExit {
  /** Exit status, or null when a signal ended it (or it is not known). */
  status: number | null;
  /** The signal's name (SIGKILL), or null. */
  signal: string | null;
  at: string;
  /** True when it ended by itself (a crash, poweroff, a command that ended), not through Strata. */
  byItself: boolean;
}

/** One version of an application template. */
export interface AppVersionRecord {
  template: string;
  version: number;
  /** The template digest (sha256 of its canonical manifest). */
  digest: string;
  /** The manifest without its file list: bases, deletions, opaqueDirs, keys, made, totals… */
  manifest: Record<string, unknown>;
  sizeBytes: number;
  createdAt: string;
}

/** An application template attached to a container. */
export interface ContainerAppRecord {
  container: string;
  template: string;
  version: number;
  /** 0 is the lowest layer (attached first). */
  position: number;
  /** Attached while running: its files were copied into the private area until the next start. */
  live: boolean;
  applied: Record<string, unknown>;
  attachedAt: string;
}

/** Sums over the container's ended runs. */
export interface UsageTotals {
  cpuNs: number;
  ioReadBytes: number;
  ioWriteBytes: number;
  ioReadOps: number;
  ioWriteOps: number;
  oomKills: number;
  memoryPeak: number;
}

export interface EventRecord {
  id: number;
  time: string;
  kind: string;
  subject: string | null;
  message: string;
  /** The tenant of the container it is about, when it is about one. */
  tenant?: string | null;
}

const migrationsDir = join(dirname(fileURLToPath(import.meta.url)), 'migrations');

interface TemplateRow { name: string; kind: 'os' | 'app'; source: string; init: string; stop_signal: string; size_bytes: number; meta: string; created_at: string }
interface ContainerRow { name: string; template: string; hostname: string; privileged: number; autostart: number; state: ContainerState; pid: number | null; id_slot: number | null; created_at: string; started_at: string | null; stopped_at: string | null; limits: string; volume: number; scratch: number; last_exit: string | null; derived_for: string; volume_driver: string | null; tenant: string | null }
interface VersionRow { template: string; version: number; digest: string; manifest: string; size_bytes: number; created_at: string }
interface AppRow { container: string; template: string; version: number; position: number; live: number; applied: string; attached_at: string }

const toVersion = (r: VersionRow): AppVersionRecord => ({
  template: r.template, version: r.version, digest: r.digest, manifest: JSON.parse(r.manifest) as Record<string, unknown>, sizeBytes: r.size_bytes, createdAt: r.created_at,
});

const toApp = (r: AppRow): ContainerAppRecord => ({
  container: r.container, template: r.template, version: r.version, position: r.position, live: r.live === 1,
  applied: JSON.parse(r.applied) as Record<string, unknown>, attachedAt: r.attached_at,
});

const toTemplate = (r: TemplateRow): TemplateRecord => ({
  name: r.name, kind: r.kind, source: r.source, init: JSON.parse(r.init) as string[], stopSignal: r.stop_signal,
  sizeBytes: r.size_bytes, meta: JSON.parse(r.meta) as Record<string, unknown>, createdAt: r.created_at,
});

const toContainer = (r: ContainerRow): ContainerRecord => ({
  name: r.name, template: r.template, hostname: r.hostname, privileged: r.privileged === 1, autostart: r.autostart === 1,
  state: r.state, pid: r.pid, idSlot: r.id_slot, createdAt: r.created_at, startedAt: r.started_at, stoppedAt: r.stopped_at,
  limits: JSON.parse(r.limits) as Record<string, unknown>, volume: r.volume === 1, scratch: r.scratch === 1,
  lastExit: r.last_exit ? JSON.parse(r.last_exit) as LastExit : null,
  derivedFor: r.derived_for,
  volumeDriver: r.volume_driver,
  tenant: r.tenant,
});

export const NO_USAGE: Readonly<UsageTotals> = { cpuNs: 0, ioReadBytes: 0, ioWriteBytes: 0, ioReadOps: 0, ioWriteOps: 0, oomKills: 0, memoryPeak: 0 };

export class Store {
  readonly db: Database.Database;
  private readonly sql: Prepared;

  constructor(file: string) {
    this.db = new Database(file);
    this.sql = preparedOnce(this.db);
    this.db.pragma('journal_mode = WAL');
    // A commit is written to the WAL but not flushed to the disk each time (SQLite's advice for
    // WAL): a start commits about ten times, and a flush costs 0.2 ms here, more on slow disks.
    // A crash of the daemon loses nothing; a power cut may lose the last commits, never the
    // database's consistency, and the reconciliation at the next start puts the host and the
    // records back in line (every container is stopped after a power cut anyway).
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('busy_timeout = 5000');
    this.migrate();
  }

  /** Applies the numbered migrations (NNN_name.sql) above the database's user_version, each in a transaction. */
  private migrate(): void {
    const current = this.db.pragma('user_version', { simple: true }) as number;
    const files = readdirSync(migrationsDir).filter((f) => /^\d{3}_.*\.sql$/.test(f)).sort();
    for (const file of files) {
      const version = Number(file.slice(0, 3));
      if (version <= current) continue;
      const sql = readFileSync(join(migrationsDir, file), 'utf8');
      this.db.transaction(() => {
        this.db.exec(sql);
        this.db.pragma(`user_version = ${version}`);
      })();
    }
  }

  close(): void {
    this.db.close();
  }

  // Templates

  getTemplate(name: string): TemplateRecord | undefined {
    const row = this.sql('SELECT * FROM templates WHERE name = ?').get(name) as TemplateRow | undefined;
    return row && toTemplate(row);
  }

  listTemplates(): TemplateRecord[] {
    return (this.sql('SELECT * FROM templates ORDER BY name').all() as TemplateRow[]).map(toTemplate);
  }

  insertTemplate(t: TemplateRecord): void {
    this.sql(
      'INSERT INTO templates (name, kind, source, init, stop_signal, size_bytes, meta, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    ).run(t.name, t.kind, t.source, JSON.stringify(t.init), t.stopSignal, t.sizeBytes, JSON.stringify(t.meta), t.createdAt);
  }

  deleteTemplate(name: string): void {
    this.sql('DELETE FROM templates WHERE name = ?').run(name);
  }

  /** Containers on this OS template, or with this application template (any version, or `version`) attached. */
  containersUsingTemplate(name: string, version?: number): string[] {
    const rows = this.sql(
      `SELECT name FROM containers WHERE template = @name AND @version IS NULL
       UNION SELECT container AS name FROM container_apps WHERE template = @name AND (@version IS NULL OR version = @version)
       ORDER BY name`,
    ).all({ name, version: version ?? null }) as Array<{ name: string }>;
    return rows.map((r) => r.name);
  }

  // Application template versions

  listVersions(template: string): AppVersionRecord[] {
    return (this.sql('SELECT * FROM template_versions WHERE template = ? ORDER BY version').all(template) as VersionRow[]).map(toVersion);
  }

  getVersion(template: string, version: number): AppVersionRecord | undefined {
    const row = this.sql('SELECT * FROM template_versions WHERE template = ? AND version = ?').get(template, version) as VersionRow | undefined;
    return row && toVersion(row);
  }

  findVersionByDigest(digest: string): AppVersionRecord | undefined {
    const row = this.sql('SELECT * FROM template_versions WHERE digest = ? ORDER BY template, version LIMIT 1').get(digest) as VersionRow | undefined;
    return row && toVersion(row);
  }

  /** Adds a version; the template row is created with the first one. Atomic. */
  insertVersion(template: TemplateRecord, v: AppVersionRecord): void {
    this.db.transaction(() => {
      if (!this.getTemplate(template.name)) this.insertTemplate(template);
      this.sql('INSERT INTO template_versions (template, version, digest, manifest, size_bytes, created_at) VALUES (?, ?, ?, ?, ?, ?)')
        .run(v.template, v.version, v.digest, JSON.stringify(v.manifest), v.sizeBytes, v.createdAt);
    })();
  }

  deleteVersion(template: string, version: number): void {
    this.db.transaction(() => {
      this.sql('DELETE FROM template_versions WHERE template = ? AND version = ?').run(template, version);
      const left = this.sql('SELECT COUNT(*) AS n FROM template_versions WHERE template = ?').get(template) as { n: number };
      if (left.n === 0) this.deleteTemplate(template);
    })();
  }

  setTemplateMeta(name: string, meta: Record<string, unknown>): void {
    this.sql('UPDATE templates SET meta = ? WHERE name = ?').run(JSON.stringify(meta), name);
  }

  // Attached application templates

  /** Every container's attached templates, by container (for listing many at once). */
  allContainerApps(): Map<string, ContainerAppRecord[]> {
    const out = new Map<string, ContainerAppRecord[]>();
    for (const r of (this.sql('SELECT * FROM container_apps ORDER BY container, position').all() as AppRow[]).map(toApp)) {
      out.set(r.container, [...(out.get(r.container) ?? []), r]);
    }
    return out;
  }

  containerApps(container: string): ContainerAppRecord[] {
    return (this.sql('SELECT * FROM container_apps WHERE container = ? ORDER BY position').all(container) as AppRow[]).map(toApp);
  }

  insertContainerApp(a: ContainerAppRecord): void {
    this.sql('INSERT INTO container_apps (container, template, version, position, live, applied, attached_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(a.container, a.template, a.version, a.position, a.live ? 1 : 0, JSON.stringify(a.applied), a.attachedAt);
  }

  updateContainerApp(a: ContainerAppRecord): void {
    this.sql('UPDATE container_apps SET version = ?, position = ?, live = ?, applied = ?, attached_at = ? WHERE container = ? AND template = ?')
      .run(a.version, a.position, a.live ? 1 : 0, JSON.stringify(a.applied), a.attachedAt, a.container, a.template);
  }

  deleteContainerApp(container: string, template: string): void {
    this.sql('DELETE FROM container_apps WHERE container = ? AND template = ?').run(container, template);
  }

  // Containers

  getContainer(name: string): ContainerRecord | undefined {
    const row = this.sql('SELECT * FROM containers WHERE name = ?').get(name) as ContainerRow | undefined;
    return row && toContainer(row);
  }

  /** The container recorded running with this init pid, if any. */
  runningWithPid(pid: number): ContainerRecord | undefined {
    const row = this.sql('SELECT * FROM containers WHERE pid = ? AND state = \'running\'').get(pid) as ContainerRow | undefined;
    return row && toContainer(row);
  }

  listContainers(): ContainerRecord[] {
    return (this.sql('SELECT * FROM containers ORDER BY name').all() as ContainerRow[]).map(toContainer);
  }

  /** Inserts a container and gives it the lowest free id slot (unless privileged), atomically. */
  insertContainer(c: Omit<ContainerRecord, 'idSlot'>): ContainerRecord {
    return this.db.transaction(() => {
      let idSlot: number | null = null;
      if (!c.privileged) {
        const row = this.sql(
          `SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM containers WHERE id_slot = 0) THEN 0
                  ELSE (SELECT MIN(id_slot) + 1 FROM containers a WHERE id_slot IS NOT NULL
                        AND NOT EXISTS (SELECT 1 FROM containers b WHERE b.id_slot = a.id_slot + 1)) END AS slot`,
        ).get() as { slot: number };
        idSlot = row.slot;
      }
      this.sql(
        `INSERT INTO containers (name, template, hostname, privileged, autostart, state, pid, id_slot, created_at, started_at, stopped_at, limits, volume, scratch, volume_driver, tenant)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ).run(c.name, c.template, c.hostname, c.privileged ? 1 : 0, c.autostart ? 1 : 0, c.state, c.pid, idSlot, c.createdAt, c.startedAt, c.stoppedAt,
        JSON.stringify(c.limits), c.volume ? 1 : 0, c.scratch ? 1 : 0, c.volume ? (c.volumeDriver ?? null) : null, c.tenant ?? null);
      return { ...c, idSlot };
    })();
  }

  updateContainerState(name: string, change: { state: ContainerState; pid: number | null; startedAt?: string | null; stoppedAt?: string | null }): void {
    const cur = this.getContainer(name);
    if (!cur) return;
    this.sql('UPDATE containers SET state = ?, pid = ?, started_at = ?, stopped_at = ? WHERE name = ?').run(
      change.state, change.pid,
      change.startedAt === undefined ? cur.startedAt : change.startedAt,
      change.stoppedAt === undefined ? cur.stoppedAt : change.stoppedAt,
      name,
    );
  }

  setDerivedFor(name: string, set: string): void {
    this.sql('UPDATE containers SET derived_for = ? WHERE name = ?').run(set, name);
  }

  setLastExit(name: string, exit: LastExit): void {
    this.sql('UPDATE containers SET last_exit = ? WHERE name = ?').run(JSON.stringify(exit), name);
  }

  setLimits(name: string, limits: Record<string, unknown>): void {
    this.sql('UPDATE containers SET limits = ? WHERE name = ?').run(JSON.stringify(limits), name);
  }

  usageTotals(name: string): UsageTotals {
    const row = this.sql(
      `SELECT cpu_ns AS cpuNs, io_read_bytes AS ioReadBytes, io_write_bytes AS ioWriteBytes, io_read_ops AS ioReadOps,
              io_write_ops AS ioWriteOps, oom_kills AS oomKills, memory_peak AS memoryPeak FROM usage_totals WHERE container = ?`,
    ).get(name) as UsageTotals | undefined;
    return row ?? { ...NO_USAGE };
  }

  /** Every container's sums over its ended runs, in one query (the meter's tick). */
  allUsageTotals(): Map<string, UsageTotals> {
    const rows = this.sql(
      `SELECT container, cpu_ns AS cpuNs, io_read_bytes AS ioReadBytes, io_write_bytes AS ioWriteBytes, io_read_ops AS ioReadOps,
              io_write_ops AS ioWriteOps, oom_kills AS oomKills, memory_peak AS memoryPeak FROM usage_totals`,
    ).all() as Array<UsageTotals & { container: string }>;
    return new Map(rows.map(({ container, ...t }) => [container, t]));
  }

  /** Adds one ended run's usage to the container's sums (peak: the maximum). */
  addUsage(name: string, run: UsageTotals): void {
    this.sql(
      `INSERT INTO usage_totals (container, cpu_ns, io_read_bytes, io_write_bytes, io_read_ops, io_write_ops, oom_kills, memory_peak)
       VALUES (@name, @cpuNs, @ioReadBytes, @ioWriteBytes, @ioReadOps, @ioWriteOps, @oomKills, @memoryPeak)
       ON CONFLICT(container) DO UPDATE SET cpu_ns = cpu_ns + @cpuNs, io_read_bytes = io_read_bytes + @ioReadBytes,
         io_write_bytes = io_write_bytes + @ioWriteBytes, io_read_ops = io_read_ops + @ioReadOps, io_write_ops = io_write_ops + @ioWriteOps,
         oom_kills = oom_kills + @oomKills, memory_peak = MAX(memory_peak, @memoryPeak)`,
    ).run({ name, ...run });
  }

  deleteContainer(name: string): void {
    this.sql('DELETE FROM containers WHERE name = ?').run(name);
  }

  /**
   * Renames a container in every record that names it, in one transaction: its row, usage totals,
   * application templates, network records (host interface names given by `hostIfname`), meter
   * points and last reading (its history follows it), snapshots, and tokens limited to it.
   * Events keep the name they were recorded under.
   */
  renameContainer(from: string, to: string, hostIfname: (network: string) => string): void {
    const p = { from, to };
    this.db.transaction(() => {
      // Children first would break their references, the parent first theirs: checked at commit.
      this.db.pragma('defer_foreign_keys = ON');
      this.sql('UPDATE containers SET name = @to, hostname = CASE hostname WHEN @from THEN @to ELSE hostname END WHERE name = @from').run(p);
      for (const table of ['usage_totals', 'container_apps', 'net_containers', 'net_ports', 'snapshots', 'snapshot_schedules', 'backups', 'meter_last']) {
        this.sql(`UPDATE ${table} SET container = @to WHERE container = @from`).run(p);
      }
      for (const a of this.sql('SELECT network FROM net_adapters WHERE container = @from').all(p) as Array<{ network: string }>) {
        this.sql('UPDATE net_adapters SET container = @to, host_ifname = @ifname WHERE container = @from AND network = @network').run({ ...p, network: a.network, ifname: hostIfname(a.network) });
      }
      // A destroyed container's points under the new name give way to the renamed one's.
      this.sql('UPDATE OR REPLACE meter_points SET container = @to WHERE container = @from').run(p);
      this.sql(`UPDATE tokens SET containers = (SELECT json_group_array(CASE value WHEN @from THEN @to ELSE value END) FROM json_each(tokens.containers))
        WHERE containers IS NOT NULL AND EXISTS (SELECT 1 FROM json_each(tokens.containers) WHERE value = @from)`).run(p);
    })();
  }

  // Events

  /** Records an event; one about a container belongs to its tenant (who may read it, also after a destroy), or to `tenant` when given. */
  addEvent(kind: string, subject: string | null, message: string, tenantOf?: string): void {
    const time = new Date().toISOString();
    const tenant = tenantOf ?? (subject === null ? null : (this.sql('SELECT tenant FROM containers WHERE name = ?').get(subject) as { tenant: string | null } | undefined)?.tenant ?? null);
    const id = Number(this.sql('INSERT INTO events (time, kind, subject, message, tenant) VALUES (?, ?, ?, ?, ?)').run(time, kind, subject, message, tenant).lastInsertRowid);
    const event: EventRecord = { id, time, kind, subject, message, tenant };
    for (const listener of this.eventListeners) listener(event);
  }

  private readonly eventListeners = new Set<(e: EventRecord) => void>();

  /** Calls `listener` with every event recorded from now on, until the returned function is called. */
  onEvent(listener: (e: EventRecord) => void): () => void {
    this.eventListeners.add(listener);
    return () => { this.eventListeners.delete(listener); };
  }

  listEvents(limit = 100): EventRecord[] {
    return (this.sql('SELECT * FROM events ORDER BY id DESC LIMIT ?').all(limit) as EventRecord[]).reverse();
  }

  /** Events after event `afterId` (oldest first), at most `limit`. */
  eventsAfter(afterId: number, limit = 10_000): EventRecord[] {
    return this.sql('SELECT * FROM events WHERE id > ? ORDER BY id LIMIT ?').all(afterId, limit) as EventRecord[];
  }

  /** Events recorded at or after `time` (ISO), oldest first, at most `limit`. */
  eventsSince(time: string, limit = 10_000): EventRecord[] {
    return this.sql('SELECT * FROM events WHERE time >= ? ORDER BY id LIMIT ?').all(time, limit) as EventRecord[];
  }
}
