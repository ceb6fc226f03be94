/**
 * Attaching application templates to containers, detaching and upgrading them. Called by
 * Containers with the container's lock held.
 *
 * Stopped container: the template becomes a read-only layer at the next mount (no copy); its
 * key changes are merged into the container's own database files (private area).
 * Running container: the same keys, through the merged root, and the template's files are
 * copied through the merged root where the container has no entry of its own. The record says
 * `live`; the next start removes the copies that are still the template's (restoreShared), and
 * the layer serves them again, shared.
 */
import { FailedPrecondition, InvalidArgument, NotSupported, Conflict } from '../errors/index.js';
import type { ContainerAppRecord, ContainerRecord, Store } from '../state/index.js';
import type { AppLayer, ContainerLayout } from '../storage/index.js';
import type { Templates } from '../templates/index.js';
import type { IdMap } from '../model/index.js';
import { promises as fsp } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { formatSize } from '../resources/index.js';
import { Reverter } from '../util/reverter.js';
import {
  applyKeys, copyThrough, mergedDbFiles, plannedKeys, planRemap, removeKeys, restoreShared, undoCopy, upperDbFiles,
  type AppKeys, type AppVersion, type CopyJournal, type DbFiles, type IdRemaps, type IdShift,
} from '../templates/app/index.js';

export interface AttachOptions {
  /** Attach even when the template was captured on other bases. */
  force?: boolean;
  /** A version other than the newest. */
  version?: number;
}

export interface AttachReport {
  container: string;
  template: string;
  version: number;
  position: number;
  /** Attached to a running container: files copied until its next start. */
  live: boolean;
  filesCopied: number;
  bytesCopied: number;
  /** Keys the container had changed itself: its value was kept. */
  conflicts: string[];
  /** Users and groups given another id than in the template. */
  remaps: string[];
  /** Paths where the container's own entry was kept. */
  kept: string[];
  /** Bases that do not match (attached with --force). */
  warnings: string[];
  milliseconds: number;
}

/** What attach needs of the container orchestration. */
export interface AppHost {
  store: Store;
  templates: Templates;
  idmapped: boolean;
  layout(name: string): ContainerLayout;
  /** The merged root of a running container. */
  mergedRoot(c: ContainerRecord): string;
  idMapOf(c: ContainerRecord): IdMap | undefined;
}

interface Applied {
  keys: AppKeys;
  remaps: IdRemaps;
  conflicts: string[];
}

const appliedOf = (a: ContainerAppRecord): Applied => ({
  keys: (a.applied.keys ?? {}) as AppKeys,
  remaps: (a.applied.remaps ?? { uid: [], gid: [] }) as IdRemaps,
  conflicts: (a.applied.conflicts ?? []) as string[],
});

export class AppAttachments {
  constructor(private readonly host: AppHost) {}

  /** The container's application layers, top first, for its mounts. */
  layers(c: ContainerRecord): AppLayer[] {
    const apps = this.host.store.containerApps(c.name);
    return apps.reverse().map((a) => {
      const v = this.host.templates.apps.get(a.template, a.version);
      const { remaps } = appliedOf(a);
      return {
        id: `app-${a.position}`, tree: v.tree, wh: v.deletions.length || v.opaqueDirs.length ? v.wh : undefined,
        uidMap: new Map(remaps.uid), gidMap: new Map(remaps.gid),
      };
    });
  }

  /** The set its derived files are computed for: name@digest of each application template, bottom first. */
  derivedSet(c: ContainerRecord): string {
    return this.host.store.containerApps(c.name).map((a) => `${a.template}@${this.host.templates.apps.get(a.template, a.version).digest}`).join(',');
  }

  private shift(c: ContainerRecord, remaps: IdRemaps): IdShift {
    return { hostBase: this.host.idMapOf(c)?.hostBase ?? 0, uidMap: new Map(remaps.uid), gidMap: new Map(remaps.gid) };
  }

  private dbFiles(c: ContainerRecord, running: boolean): DbFiles {
    const layout = this.host.layout(c.name);
    const hostBase = this.host.idMapOf(c)?.hostBase ?? 0;
    return running ? mergedDbFiles(this.host.mergedRoot(c), hostBase) : upperDbFiles(layout.privateArea, this.host.templates.rootfsOf(c.template), hostBase);
  }

  /** Mismatched bases, as sentences; empty when the template fits the container. */
  private async baseProblems(c: ContainerRecord, v: AppVersion): Promise<string[]> {
    const os = await this.host.templates.digestOf(c.template);
    const attached = this.host.store.containerApps(c.name).filter((a) => a.template !== v.name)
      .map((a) => this.host.templates.apps.get(a.template, a.version));
    const problems: string[] = [];
    if (!v.bases.some((b) => b.digest === os)) {
      problems.push(`template ${v.name} was captured on ${v.bases.map((b) => b.name).join(' + ')}, but container ${c.name} runs on template ${c.template}, which is not the same`);
    }
    for (const b of v.bases) {
      if (b.digest === os) continue;
      if (attached.some((a) => a.digest === b.digest)) continue;
      if (this.host.store.findVersionByDigest(b.digest)) problems.push(`template ${v.name} was captured over application template ${b.name} version ${b.version}, which container ${c.name} does not have attached (attach it first)`);
    }
    return problems;
  }

  private async checkBases(c: ContainerRecord, v: AppVersion, force: boolean): Promise<string[]> {
    const problems = await this.baseProblems(c, v);
    if (problems.length && !force) throw new FailedPrecondition(`${problems.join('; ')}: attach it to a matching container, or add --force to attach it anyway`);
    return problems;
  }

  private checkHost(c: ContainerRecord): void {
    if (this.host.idMapOf(c) && !this.host.idmapped) {
      throw new NotSupported(`this kernel cannot idmap mounts, which application templates need: attach templates to privileged containers only, or use a kernel with idmapped mounts (5.12 or later)`);
    }
  }

  async attach(c: ContainerRecord, name: string, running: boolean, opts: AttachOptions, progress: (m: string) => void): Promise<AttachReport> {
    const started = performance.now();
    this.checkHost(c);
    const v = this.host.templates.apps.get(name, opts.version);
    const current = this.host.store.containerApps(c.name);
    if (current.some((a) => a.template === name)) throw new Conflict(`template ${name} is already attached to ${c.name}: use 'strata template upgrade ${c.name} ${name}' to move it to the newest version`);
    const warnings = await this.checkBases(c, v, !!opts.force);
    const files = this.dbFiles(c, running);
    const plan = await planRemap(files, v.keys, name);
    const r = new Reverter();
    try {
      // A running attach writes into the live container: journaled first, so that a daemon
      // killed half-way undoes it at its next start (recoverInterrupted).
      const journal = running ? await LiveAttachJournal.begin(this.journalPath(c), { template: name, version: v.version, uid: [...plan.uidMap], gid: [...plan.gidMap] }) : null;
      if (journal) r.add(() => journal.discard(), `the attach journal of ${c.name}`);
      const applied = await applyKeys(files, v.keys, plan);
      r.add(() => removeKeys(files, applied.keys), `the users and packages of ${name} in ${c.name}`);
      const report: AttachReport = {
        container: c.name, template: name, version: v.version, position: current.length ? current[current.length - 1].position + 1 : 0,
        live: running, filesCopied: 0, bytesCopied: 0, conflicts: applied.conflicts.map((k) => k.reason), remaps: applied.remapNotes,
        kept: [], warnings, milliseconds: 0,
      };
      if (running) {
        const layout = this.host.layout(c.name);
        await checkRoomFor(c.name, name, v, layout.privateArea);
        const copied = await copyThrough(v.tree, this.host.mergedRoot(c), layout.privateArea, this.shift(c, applied.remaps), v.deletions, v.opaqueDirs, this.host.templates.content.xattrs,
          (done, total) => progress(`copied ${done} of ${total} entries`), journal ?? undefined);
        report.filesCopied = copied.files;
        report.bytesCopied = copied.bytes;
        report.kept = copied.kept;
      }
      this.host.store.insertContainerApp({
        container: c.name, template: name, version: v.version, position: report.position, live: running,
        applied: { keys: applied.keys, remaps: applied.remaps, conflicts: report.conflicts }, attachedAt: new Date().toISOString(),
      });
      await journal?.discard();
      const notes = [...report.conflicts, ...report.remaps, ...warnings];
      this.host.store.addEvent('template-attached', c.name, `attached ${name} version ${v.version}${running ? ' (live)' : ''}${notes.length ? `: ${notes.join('; ')}` : ''}`);
      report.milliseconds = Math.round(performance.now() - started);
      r.success();
      return report;
    } finally {
      await r.fail();
    }
  }

  private journalPath(c: ContainerRecord): string {
    return join(this.host.layout(c.name).dir, 'live-attach.journal');
  }

  /**
   * Undoes a running attach that a killed daemon left half-done (its journal is there): the
   * files it made go, the files it put aside come back, its keys are taken out. Returns what
   * was done, or null when there was nothing to undo.
   */
  async recoverInterrupted(c: ContainerRecord, running: boolean): Promise<string | null> {
    const journal = await LiveAttachJournal.read(this.journalPath(c));
    if (!journal) return null;
    const { header, records } = journal;
    if (typeof header.template !== 'string') {
      // Killed before its header was written: nothing was changed yet.
      await fsp.rm(this.journalPath(c), { force: true });
      return null;
    }
    if (this.host.store.containerApps(c.name).some((a) => a.template === header.template)) {
      // The attach was recorded: it completed, only the journal was left.
      await fsp.rm(this.journalPath(c), { force: true });
      return null;
    }
    const v = this.host.templates.apps.get(header.template, header.version);
    const layout = this.host.layout(c.name);
    const undone = await undoCopy(v.tree, running ? this.host.mergedRoot(c) : layout.privateArea, header.id, records);
    await removeKeys(this.dbFiles(c, running), plannedKeys(v.keys, new Map(header.uid), new Map(header.gid)));
    await fsp.rm(this.journalPath(c), { force: true });
    const message = `the attach of ${header.template} version ${header.version} to the running container was interrupted (daemon stopped): undone, ${undone} paths and its users and packages taken out; attach it again`;
    this.host.store.addEvent('template-attach-undone', c.name, message);
    return message;
  }

  private attached(c: ContainerRecord, name: string): ContainerAppRecord {
    const a = this.host.store.containerApps(c.name).find((x) => x.template === name);
    if (!a) throw new InvalidArgument(`template ${name} is not attached to ${c.name}: see 'strata inspect ${c.name}'`);
    return a;
  }

  /** Puts back the shared form of templates attached while running (call before mounting). */
  async restoreLive(c: ContainerRecord): Promise<void> {
    for (const a of this.host.store.containerApps(c.name)) {
      if (!a.live) continue;
      const v = this.host.templates.apps.get(a.template, a.version);
      const removed = await restoreShared(v.tree, this.host.layout(c.name).privateArea, this.shift(c, appliedOf(a).remaps));
      this.host.store.updateContainerApp({ ...a, live: false });
      this.host.store.addEvent('template-shared', c.name, `${a.template}: ${removed} copies made at a live attach are served by the shared layer again`);
    }
  }

  async detach(c: ContainerRecord, name: string): Promise<{ conflicts: string[] }> {
    const a = this.attached(c, name);
    const dependents = this.host.store.containerApps(c.name).filter((x) => x.template !== name)
      .filter((x) => this.host.templates.apps.get(x.template, x.version).bases.some((b) => b.name === name));
    if (dependents.length) throw new FailedPrecondition(`template ${dependents.map((d) => d.template).join(', ')} attached to ${c.name} was captured over ${name}: detach ${dependents.length === 1 ? 'it' : 'them'} first`);
    await this.restoreLive(c);
    const conflicts = await removeKeys(this.dbFiles(c, false), appliedOf(a).keys);
    this.host.store.deleteContainerApp(c.name, name);
    const notes = conflicts.map((k) => k.reason);
    this.host.store.addEvent('template-detached', c.name, `detached ${name} version ${a.version}${notes.length ? `: ${notes.join('; ')}` : ''}`);
    return { conflicts: notes };
  }

  async upgrade(c: ContainerRecord, name: string, force: boolean): Promise<{ from: number; to: number; conflicts: string[]; remaps: string[] }> {
    const a = this.attached(c, name);
    const v = this.host.templates.apps.get(name);
    if (v.version === a.version) throw new FailedPrecondition(`${c.name} already has the newest version of ${name} (${v.version}): capture or import a newer one first`);
    await this.checkBases(c, v, force);
    await this.restoreLive(c);
    const files = this.dbFiles(c, false);
    const old = appliedOf(a);
    const removedConflicts = await removeKeys(files, old.keys);
    const r = new Reverter();
    try {
      r.add(async () => { await applyKeys(files, old.keys, { uidMap: new Map(), gidMap: new Map(), remaps: [], conflicts: [] }); });
      const plan = await planRemap(files, v.keys, name);
      const applied = await applyKeys(files, v.keys, plan);
      // Keys the container changed under the old version stay the container's.
      const conflicts = [...removedConflicts, ...applied.conflicts].map((k) => k.reason);
      this.host.store.updateContainerApp({ ...a, version: v.version, live: false, applied: { keys: applied.keys, remaps: applied.remaps, conflicts }, attachedAt: new Date().toISOString() });
      this.host.store.addEvent('template-upgraded', c.name, `${name}: version ${a.version} → ${v.version}${conflicts.length ? `: ${conflicts.join('; ')}` : ''}`);
      r.success();
      return { from: a.version, to: v.version, conflicts, remaps: applied.remapNotes };
    } finally {
      await r.fail();
    }
  }
}

interface JournalHeader {
  template: string;
  version: number;
  /** The suffix of files kept aside (see CopyJournal). */
  id: string;
  uid: Array<[number, number]>;
  gid: Array<[number, number]>;
}

/** The write-ahead journal of a running attach: a JSON header line, then one JSON line per path. */
class LiveAttachJournal implements CopyJournal {
  private constructor(private readonly path: string, private readonly fh: fsp.FileHandle, readonly id: string) {}

  static async begin(path: string, header: Omit<JournalHeader, 'id'>): Promise<LiveAttachJournal> {
    const id = randomBytes(4).toString('hex');
    const fh = await fsp.open(path, 'w', 0o600);
    await fh.write(`${JSON.stringify({ ...header, id })}\n`);
    await fh.datasync();
    return new LiveAttachJournal(path, fh, id);
  }

  async record(rel: string, how: 'made' | 'replaced'): Promise<void> {
    await this.fh.write(`${JSON.stringify([how, rel])}\n`);
  }

  async discard(): Promise<void> {
    await this.fh.close().catch(() => undefined);
    await fsp.rm(this.path, { force: true });
  }

  static async read(path: string): Promise<{ header: JournalHeader; records: Array<{ rel: string; how: 'made' | 'replaced' }> } | null> {
    const text = await fsp.readFile(path, 'utf8').catch(() => null);
    if (text === null) return null;
    const lines = text.split('\n').filter(Boolean);
    let header = {} as JournalHeader;
    try { header = JSON.parse(lines[0] ?? '{}') as JournalHeader; } catch { /* cut by the kill */ }
    const records: Array<{ rel: string; how: 'made' | 'replaced' }> = [];
    for (const line of lines.slice(1)) {
      try {
        const [how, rel] = JSON.parse(line) as [string, string];
        if ((how === 'made' || how === 'replaced') && typeof rel === 'string') records.push({ rel, how });
      } catch { /* the last line, cut by the kill */ }
    }
    return { header, records };
  }
}

/**
 * A live attach copies the template's files into the container's private area: refused before
 * anything changes when its file system (the container's disk, or the data root's) has too
 * little room or too few inodes for them.
 */
async function checkRoomFor(container: string, template: string, v: { sizeBytes: number; files: number }, privateArea: string): Promise<void> {
  const fs = await fsp.statfs(privateArea);
  const free = fs.bavail * fs.bsize;
  // Blocks are rounded up per file: count one block more per file.
  const need = v.sizeBytes + v.files * fs.bsize;
  if (need > free) {
    throw new FailedPrecondition(`attaching ${template} to the running ${container} copies ${formatSize(need)} into its private area, which has ${formatSize(free)} free: `
      + `make room inside it, grow its disk (strata set ${container} --disk SIZE), or attach while it is stopped (nothing is copied then)`);
  }
  if (fs.ffree < v.files + 16) {
    throw new FailedPrecondition(`attaching ${template} to the running ${container} creates ${v.files} files in its private area, which has ${fs.ffree} inodes free: `
      + `remove files inside it, or attach while it is stopped (nothing is copied then)`);
  }
}
