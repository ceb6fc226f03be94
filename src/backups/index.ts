/**
 * backups: one container as one self-describing file (format.ts, docs/backups.md), and back.
 *
 * A backup carries the container's settings, its own files (the private area, as an application
 * template over its templates: files, whiteouts as deletions, opaque directories) and its
 * templates by digest; the templates themselves only when asked (`withTemplates`). An incremental
 * backup names the one it is made on and leaves out the file contents that one's chain holds.
 * A restore reads everything through the template importer (every digest verified, nothing
 * written outside its own directories), imports what templates it must, and makes the container
 * as a clone is made; a failure leaves no container, template or scratch file.
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { VERSION } from '../config/index.js';
import type { Containers, ContainerSettings } from '../containers/index.js';
import type { ContainerView } from '../containers/index.js';
import { AlreadyExists, Conflict, FailedPrecondition, InvalidArgument, NotFound } from '../errors/index.js';
import type { BackupRecords, StoredBackup } from '../state/index.js';
import { isValidName } from '../util/names.js';
import { diskUsage } from '../util/fs.js';
import type { Templates } from '../templates/index.js';
import { writeWhiteouts } from '../templates/app/index.js';
import { countProgress, exportTemplate, importTemplate, objectsOf, readTemplateFile, templateDigest, type BaseRef, type Manifest } from '../templates/pack/index.js';
import { toolXattrs } from '../store/index.js';
import { run } from '../util/exec.js';
import { humanBytes } from '../model/units.js';
import {
  AREA_ENTRY, BACKUP_FORMAT, backupDigest, extracted, fileSum, readBackupFile, templateEntry, writeBackupFile,
  type BackupEntry, type BackupManifest, type ContainerConfig,
} from './format.js';


export interface BackupRequest {
  container: string;
  /** Absolute path on the daemon's host. */
  file: string;
  withTemplates?: boolean;
  /** An earlier backup of the same container to be incremental on. */
  since?: string;
}

export interface BackupResult {
  file: string;
  bytes: number;
  digest: string;
  parent: string | null;
  files: number;
  logicalBytes: number;
  /** Templates (name@version) whose files are in the backup. */
  templates: string[];
  frozenMs: number | null;
  seconds: number;
}

export interface RestoreRequest {
  file: string;
  /** Another name than the backed-up container's. */
  name?: string;
  /** The owner; absent: the backup's. */
  tenant?: string | null;
  /** The backups an incremental one is made on, when they are not beside it under their recorded names. */
  parents?: string[];
  /** Leave the published ports out (a copy beside the original, whose ports it would take). */
  noPorts?: boolean;
  /** Keep the first network's address and MAC (a move; a host that replaces the lost one). */
  keepAddress?: boolean;
  /** Template files beside the backup (a move sends the ones the target lacks so). */
  templateFiles?: string[];
  /** False: refuse rather than import templates this host lacks (a tenant's restore: templates are the host's). */
  importTemplates?: boolean;
}

type Progress = (line: string) => void;
const MAX_CHAIN = 64;
const OVERLAY_OPAQUE = 'trusted.overlay.opaque';

export interface KeepRequest {
  /** Default: bk-YYYYMMDD-HHMMSS (UTC). */
  name?: string;
  /** A kept backup of the container to be incremental on. */
  since?: string;
  withTemplates?: boolean;
}

export type KeptBackup = StoredBackup & { frozenMs?: number | null; seconds?: number };

export interface BackupHost {
  tenantExists(name: string): boolean;
  /** Refuses a kept backup of about `bytes` over the tenant's disk (QuotaBook.checkBackup). */
  checkBackup?(tenant: string, bytes: number): void;
}

export class Backups {
  constructor(
    private readonly containers: Containers,
    private readonly templates: Templates,
    private readonly scratchRoot: string,
    private readonly host: BackupHost,
    private readonly kept: BackupRecords,
  ) {}

  // Backups kept by the daemon, in the container's directory: a tenant's own, with the container's rights.

  private keptDir(container: string): string {
    return join(this.containers.storage.layout(container).dir, 'backups');
  }

  private keptRecord(container: string, name: string): StoredBackup {
    this.containers.inspect(container);
    const b = this.kept.get(container, name);
    if (!b) throw new NotFound(`container ${container} has no kept backup ${name}: see 'strata backups list ${container}'`);
    return b;
  }

  /** The file of a kept backup (to download it). */
  keptFile(container: string, name: string): string {
    this.keptRecord(container, name);
    return join(this.keptDir(container), `${name}.backup`);
  }

  listKept(container: string): StoredBackup[] {
    this.containers.inspect(container);
    return this.kept.list(container);
  }

  /** Checks a request to keep a backup before it starts. */
  checkKeep(container: string, req: KeepRequest): string {
    this.containers.inspect(container);
    const name = req.name ?? `bk-${new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15)}`;
    if (!isValidName(name)) throw new InvalidArgument(`backup name ${JSON.stringify(name)} is not valid: use up to 63 lower-case letters, digits and '-', not starting or ending with '-'`);
    if (this.kept.get(container, name)) throw new AlreadyExists(`container ${container} already has a kept backup ${name}: pick another name, or remove it first`);
    if (req.since) this.keptRecord(container, req.since);
    return name;
  }

  /** Backs `container` up into the daemon's keeping (counted in its tenant's disk). */
  async keep(container: string, req: KeepRequest, progress: Progress): Promise<KeptBackup> {
    const name = this.checkKeep(container, req);
    const tenant = this.containers.settings(container).tenant;
    if (tenant && this.host.checkBackup) {
      this.host.checkBackup(tenant, await diskUsage(this.containers.storage.layout(container).privateArea));
    }
    const dir = this.keptDir(container);
    await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
    const r = await this.backup({
      container, file: join(dir, `${name}.backup`), withTemplates: req.withTemplates,
      ...(req.since ? { since: join(dir, `${req.since}.backup`) } : {}),
    }, progress);
    const record: StoredBackup = { container, name, bytes: r.bytes, digest: r.digest, parent: req.since ?? null, templates: r.templates, createdAt: new Date().toISOString() };
    this.kept.insert(record);
    return { ...record, frozenMs: r.frozenMs, seconds: r.seconds };
  }

  async removeKept(container: string, name: string): Promise<void> {
    this.keptRecord(container, name);
    const children = this.kept.children(container, name);
    if (children.length) throw new FailedPrecondition(`backup ${name} of ${container} is the base of the incremental ${children.join(', ')}: remove ${children.length === 1 ? 'it' : 'them'} first`);
    await fsp.rm(join(this.keptDir(container), `${name}.backup`), { force: true });
    this.kept.remove(container, name);
  }

  /** Restores a kept backup as a new container of the same owner (templates must be on this host unless `importTemplates`). */
  restoreKept(container: string, name: string, req: { name: string; noPorts?: boolean; importTemplates: boolean }, progress: Progress): Promise<ContainerView> {
    const file = this.keptFile(container, name);
    return this.restore({ file, name: req.name, noPorts: req.noPorts, importTemplates: req.importTemplates }, progress);
  }

  // Backups to and from files on the daemon's host

  private async scratch(kind: string): Promise<string> {
    await fsp.mkdir(this.scratchRoot, { recursive: true, mode: 0o700 });
    const dir = join(this.scratchRoot, `${kind}-${randomBytes(6).toString('hex')}`);
    await fsp.mkdir(dir, { mode: 0o700 });
    return dir;
  }

  /** Removes scratch directories a crash left (daemon start). */
  async cleanScratch(): Promise<void> {
    await fsp.rm(this.scratchRoot, { recursive: true, force: true });
  }

  async backup(req: BackupRequest, progress: Progress): Promise<BackupResult> {
    const started = Date.now();
    const file = absoluteFile(req.file, 'backup file');
    await checkWritable(file);
    if (req.since && resolve(req.since) === file) throw new InvalidArgument(`the backup ${req.since} that this one is incremental on cannot be its own output: write to another file`);
    const settings = this.containers.settings(req.container);
    const template = { name: settings.template, digest: await this.templates.digestOf(settings.template) };
    const apps = settings.apps.map((a) => ({ name: a.template, version: a.version, digest: this.templates.apps.get(a.template, a.version).digest, applied: a.applied }));
    const dir = await this.scratch('backup');
    try {
      let parent: { digest: string; file: string; objects: ReadonlySet<string> } | null = null;
      if (req.since) {
        const since = absoluteFile(req.since, 'earlier backup');
        progress(`reading ${since}`);
        const chainDir = join(dir, 'since');
        await fsp.mkdir(chainDir);
        const pm = await readBackupFile(since, { dir: chainDir, wanted: (n) => n === AREA_ENTRY });
        if (pm.container.name !== settings.name) throw new InvalidArgument(`${since} is a backup of ${pm.container.name}, not of ${settings.name}: give a backup of the same container to --since`);
        const area = await readTemplateFile(extracted(chainDir, AREA_ENTRY));
        // Its area lists every file, so its objects are what its whole chain holds.
        parent = { digest: backupDigest(pm), file: basename(since), objects: new Set(objectsOf(area).keys()) };
        await fsp.rm(chainDir, { recursive: true, force: true });
      }
      progress(`copying the files of ${settings.name}${this.containers.inspect(settings.name).state === 'running' ? ' (frozen meanwhile)' : ''}`);
      const tree = join(dir, 'area');
      const { frozenMs } = await this.containers.copyOwnFiles(settings.name, tree);
      const marks = await takeOverlayMarks(tree);
      const createdAt = new Date().toISOString();
      const bases: BaseRef[] = [{ name: template.name, version: '1', digest: template.digest }, ...apps.map((a) => ({ name: a.name, version: String(a.version), digest: a.digest }))];
      progress('writing the files');
      const areaFile = join(dir, AREA_ENTRY);
      const area = await exportTemplate(tree, {
        name: settings.name, version: createdAt.replace(/[-:]/g, '').replace(/\.\d+/, ''), kind: 'app', createdAt,
        made: { how: 'backup', source: `container ${settings.name}`, tool: `strata ${VERSION}` },
        bases, deletions: marks.deletions, opaqueDirs: marks.opaqueDirs, keys: {},
      }, this.templates.content, areaFile, countProgress(progress), parent ? { omitObjects: parent.objects } : {});
      const sources = new Map([[AREA_ENTRY, areaFile]]);
      const included: string[] = [];
      if (req.withTemplates) {
        for (const t of [{ name: template.name, version: undefined, digest: template.digest }, ...apps]) {
          const entry = templateEntry(t.digest);
          if (sources.has(entry)) continue;
          const out = extracted(dir, entry);
          progress(`writing template ${t.name}${t.version ? `@${t.version}` : ''}`);
          await this.templates.export(t.name, out, progress, t.version);
          sources.set(entry, out);
          included.push(t.version ? `${t.name}@${t.version}` : t.name);
        }
      }
      const entries: BackupEntry[] = [];
      for (const [name, path] of sources) entries.push({ name, ...(await fileSum(path)) });
      const manifest: BackupManifest = {
        format: BACKUP_FORMAT, createdAt, tool: `strata ${VERSION}`,
        container: configOf(settings, template, apps),
        area: { digest: area.digest, files: area.manifest.totals.files, logicalBytes: area.manifest.totals.logicalBytes, skipped: area.skipped.slice(0, 1000) },
        parent: parent && { digest: parent.digest, file: parent.file },
        entries,
      };
      const bytes = await writeBackupFile(file, manifest, sources);
      const digest = backupDigest(manifest);
      const seconds = (Date.now() - started) / 1000;
      for (const s of area.skipped.slice(0, 20)) progress(`left out ${s} (a FIFO or socket)`);
      progress(`wrote ${file}: ${humanBytes(bytes)}, ${area.manifest.totals.files} files${parent ? `, incremental on ${parent.file}` : ''}${included.length ? `, with ${included.join(', ')}` : ''}, in ${seconds.toFixed(1)} s`);
      return {
        file, bytes, digest, parent: parent?.digest ?? null, files: area.manifest.totals.files, logicalBytes: area.manifest.totals.logicalBytes,
        templates: included, frozenMs, seconds,
      };
    } finally {
      await fsp.rm(dir, { recursive: true, force: true });
    }
  }

  /** What a restore of `file` would need and make, checked without making anything. */
  async check(req: RestoreRequest): Promise<BackupManifest> {
    const file = absoluteFile(req.file, 'backup file');
    const m = await readBackupFile(file);
    const name = req.name ?? m.container.name;
    if (this.containers.exists(name)) throw new FailedPrecondition(`container ${name} already exists: restore under another name with --name NEW, or destroy it first`);
    const tenant = req.tenant !== undefined ? req.tenant : m.container.tenant;
    if (tenant && !this.host.tenantExists(tenant)) throw new FailedPrecondition(`the backup belongs to tenant ${tenant}, which this host does not have: create it ('strata tenant create ${tenant}'), or restore with --tenant NAME`);
    return m;
  }

  async restore(req: RestoreRequest, progress: Progress): Promise<ContainerView> {
    const started = Date.now();
    const file = absoluteFile(req.file, 'backup file');
    const newest = await this.check(req);
    const chain = await this.chainOf(file, newest, req.parents ?? []);
    const dir = await this.scratch('restore');
    const imported: Array<{ name: string; version?: number }> = [];
    try {
      // The templates: present by digest, or imported from the backup, or named as missing.
      const wanted = [{ kind: 'os' as const, ...newest.container.template }, ...newest.container.apps.map((a) => ({ kind: 'app' as const, ...a }))];
      const missing = (await Promise.all(wanted.map(async (t) => ((await this.present(t.kind, t.digest)) ? null : t)))).filter((t) => t !== null);
      const carried = new Set(newest.entries.map((e) => e.name));
      const beside = new Map<string, string>();
      for (const f of req.templateFiles ?? []) beside.set(templateDigest(await readTemplateFile(f)), f);
      const lacking = missing.filter((t) => !carried.has(templateEntry(t.digest)) && !beside.has(t.digest));
      if (missing.length && req.importTemplates === false) {
        throw new FailedPrecondition(`${basename(file)} needs ${missing.map((t) => `template ${t.name} (${t.digest})`).join(', ')}, which this host no longer has: ask the host's administrator to restore it`);
      }
      if (lacking.length) {
        throw new FailedPrecondition(`${file} needs ${lacking.map((t) => `template ${t.name}${t.kind === 'app' ? ` version ${(t as { version: number }).version}` : ''} (${t.digest})`).join(', ')}, which this host does not have and the backup does not carry: import ${lacking.length === 1 ? 'it' : 'them'} first ('strata template import'), or make the backup with --with-templates`);
      }
      const need = new Set([AREA_ENTRY, ...missing.map((t) => templateEntry(t.digest))]);
      for (const [i, link] of chain.entries()) {
        progress(`reading ${link.file}`);
        const into = join(dir, `b${i}`);
        await fsp.mkdir(into);
        await readBackupFile(link.file, { dir: into, wanted: (n) => (i === chain.length - 1 ? need.has(n) : n === AREA_ENTRY) });
      }
      const last = join(dir, `b${chain.length - 1}`);
      for (const t of missing) {
        const name = await this.freeName(t.kind, t.name, t.digest);
        progress(`importing template ${name} from the backup`);
        const view = await this.templates.import(beside.get(t.digest) ?? extracted(last, templateEntry(t.digest)), name, progress);
        imported.push({ name, version: view.versions?.at(-1)?.version });
      }
      const settings = await this.settingsOf(newest, req);
      // The areas oldest first: each one's objects are in the store (and its tree) for the next.
      let tree = '';
      let area: Manifest | undefined;
      for (const [i] of chain.entries()) {
        tree = join(dir, `tree${i}`);
        const areaFile = extracted(join(dir, `b${i}`), AREA_ENTRY);
        const r = await importTemplate(areaFile, this.templates.content, tree, { objectsInStore: i > 0, onProgress: countProgress(progress) });
        if (r.digest !== chain[i].manifest.area.digest) throw new InvalidArgument(`backup file ${chain[i].file} holds files whose digest ${r.digest} is not the ${chain[i].manifest.area.digest} its manifest records: refusing it`);
        checkBases(r.manifest.bases, chain[i].manifest, chain[i].file);
        area = r.manifest;
      }
      const { deletions, opaqueDirs } = area!;
      progress(`making container ${settings.name}`);
      const view = await this.containers.restore(settings, async (target) => {
        // Each path its own file: identical files share one store object, not one inode in a container.
        await run(['cp', '-dR', '--preserve=mode,ownership,timestamps,xattr', '--reflink=auto', tree, target], { context: `putting the files of ${settings.name} in place` });
        await writeWhiteouts(target, deletions, opaqueDirs);
      }, `restored from ${basename(file)}${chain.length > 1 ? ` (incremental, ${chain.length} backups)` : ''}`);
      progress(`restored ${settings.name} from ${file} in ${((Date.now() - started) / 1000).toFixed(1)} s${imported.length ? `; imported ${imported.map((t) => t.name).join(', ')}` : ''}`);
      return view;
    } catch (err) {
      if (err instanceof Conflict && /already published/.test(err.message)) err = new Conflict(`${err.message}, or restore with --no-ports`, { cause: err });
      // Apps first (they are made on the OS template), each only the version this restore added.
      for (const t of imported.reverse()) await this.templates.remove(t.name, t.version).catch(() => undefined);
      throw err;
    } finally {
      await fsp.rm(dir, { recursive: true, force: true });
      // What the areas brought into the store and no tree links now.
      await this.templates.content.gc(new Set()).catch(() => undefined);
    }
  }

  /** The backups from the full one to `file`, each checked against the digest its child records. */
  private async chainOf(file: string, newest: BackupManifest, given: string[]): Promise<Array<{ file: string; manifest: BackupManifest }>> {
    const chain = [{ file, manifest: newest }];
    const offered = new Map<string, { file: string; manifest: BackupManifest }>();
    for (const g of given) {
      const f = absoluteFile(g, 'parent backup');
      const m = await readBackupFile(f);
      offered.set(backupDigest(m), { file: f, manifest: m });
    }
    for (let m = newest; m.parent; ) {
      if (chain.length > MAX_CHAIN) throw new InvalidArgument(`${file} is incremental on more than ${MAX_CHAIN} backups: make a full backup`);
      const want = m.parent;
      let link = offered.get(want.digest);
      if (!link) {
        const beside = join(dirname(chain[chain.length - 1].file), want.file);
        const manifest = await readBackupFile(beside).catch(() => undefined);
        if (!manifest || backupDigest(manifest) !== want.digest) {
          throw new FailedPrecondition(`${chain[chain.length - 1].file} is incremental on the backup ${want.file} (${want.digest}), which is not beside it${manifest ? ' (a file of that name is there, but another backup)' : ''}: give it with --parent FILE`);
        }
        link = { file: beside, manifest };
      }
      if (link.manifest.container.name !== newest.container.name) throw new InvalidArgument(`${link.file} is a backup of ${link.manifest.container.name}, not of ${newest.container.name}: refusing it as a parent`);
      chain.push(link);
      m = link.manifest;
    }
    return chain.reverse();
  }

  private async present(kind: 'os' | 'app', digest: string): Promise<boolean> {
    return kind === 'os' ? (await this.templates.osByDigest(digest)) !== undefined : this.templates.appByDigest(digest) !== undefined;
  }

  /** The backup's name for a template it brings, unless this host has another template of that name. */
  private async freeName(kind: 'os' | 'app', name: string, digest: string): Promise<string> {
    const taken = this.templates.exists(name) && (kind === 'os' || this.templates.get(name).kind !== 'app');
    return taken ? `${name}-${digest.slice(7, 15)}` : name;
  }

  private async settingsOf(m: BackupManifest, req: RestoreRequest): Promise<ContainerSettings> {
    const c = m.container;
    const os = await this.templates.osByDigest(c.template.digest);
    return {
      name: req.name ?? c.name, hostname: req.name && c.hostname === c.name ? req.name : c.hostname,
      privileged: c.privileged, autostart: c.autostart, tenant: req.tenant !== undefined ? req.tenant : c.tenant,
      template: os!, limits: c.limits, networks: c.networks, netIn: c.netIn, netOut: c.netOut, ports: req.noPorts ? [] : c.ports,
      address: req.keepAddress ? c.address : null,
      apps: c.apps.map((a, position) => {
        const v = this.templates.appByDigest(a.digest)!;
        return { template: v.name, version: v.version, position, applied: a.applied };
      }),
    };
  }
}

function configOf(s: ContainerSettings, template: { name: string; digest: string }, apps: ContainerConfig['apps']): ContainerConfig {
  return {
    name: s.name, hostname: s.hostname, privileged: s.privileged, autostart: s.autostart, limits: s.limits, tenant: s.tenant,
    networks: s.networks, netIn: s.netIn, netOut: s.netOut, ports: s.ports, address: s.address, template, apps,
  };
}

/** The area must be made over exactly the templates the settings name. */
function checkBases(bases: BaseRef[], m: BackupManifest, file: string): void {
  const want = [m.container.template.digest, ...m.container.apps.map((a) => a.digest)];
  if (bases.length !== want.length || bases.some((b, i) => b.digest !== want[i])) {
    throw new InvalidArgument(`backup file ${file} holds files made over other templates than its settings name: refusing it`);
  }
}

/**
 * Turns the overlay's marks in a copied private area into a template's terms: whiteouts
 * (character devices 0:0) become deletions and are removed, opaque directories are listed, and
 * the overlay's xattrs are cleared.
 */
async function takeOverlayMarks(tree: string): Promise<{ deletions: string[]; opaqueDirs: string[] }> {
  const deletions: string[] = [];
  const opaqueDirs: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    for (const entry of await fsp.readdir(join(tree, rel), { withFileTypes: true })) {
      const path = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) await walk(path);
      else if (entry.isCharacterDevice() && (await fsp.lstat(join(tree, path))).rdev === 0) {
        deletions.push(path);
        await fsp.unlink(join(tree, path));
      }
    }
  };
  await walk('');
  for (const [abs, x] of await toolXattrs.readTree(tree)) {
    if (x[OVERLAY_OPAQUE]?.toString() === 'y' && abs !== tree) opaqueDirs.push(abs.slice(tree.length + 1));
    // The overlay's own bookkeeping (opaque, impure, origin…) is of this host's layers, not the container's files.
    for (const name of Object.keys(x).filter((n) => n.startsWith('trusted.overlay.'))) {
      await run(['setfattr', '-h', '-x', name, '--', abs], { context: `clearing ${name} of the copy of ${abs}` });
    }
  }
  return { deletions: deletions.sort(), opaqueDirs: opaqueDirs.sort() };
}

function absoluteFile(file: string, what: string): string {
  if (!isAbsolute(file)) throw new InvalidArgument(`the ${what} ${file} must be an absolute path (on the daemon's host)`);
  return resolve(file);
}

async function checkWritable(file: string): Promise<void> {
  const st = await fsp.stat(dirname(file)).catch(() => null);
  if (!st?.isDirectory()) throw new InvalidArgument(`cannot write ${file}: ${dirname(file)} is not a directory`);
  const existing = await fsp.lstat(file).catch(() => null);
  if (existing && !existing.isFile()) throw new InvalidArgument(`cannot write ${file}: something other than a file is there`);
}
