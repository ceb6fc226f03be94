/**
 * templates: OS templates (and, later, application templates). A template is
 * a read-only tree of hardlinks into the content store, at
 * <root>/templates/NAME/rootfs, plus a record in the state. Identical files of
 * all templates are one object on disk (and one in the page cache). Building
 * and importing happen in a scratch directory that is renamed into place only
 * when complete, so a failed or interrupted build leaves nothing.
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { isAbsolute, join, relative } from 'node:path';
import { AlreadyExists, Conflict, FailedPrecondition, InvalidArgument, NotFound, NotSupported } from '../errors/index.js';
import { VERSION } from '../config/index.js';
import type { Store, TemplateRecord } from '../state/index.js';
import { ContentStore, ingestTree, namespacedCapability, treeDf } from '../store/index.js';
import { diskUsage, exists } from '../util/fs.js';
import { validateName } from '../util/names.js';
import { KeyedLock } from '../util/keyed-lock.js';
import { run } from '../util/exec.js';
import { buildInto, parseSource, type Progress, type TemplateSource } from './builders.js';
import { countProgress, describeTree, exportTemplate, importTemplate, readTemplateFile, type ManifestBase } from './pack/index.js';
import { AppTemplates, checkAppManifest, type AppVersion } from './app/index.js';
import { MiB } from '../model/units.js';

export { type Progress, type TemplateSource } from './builders.js';

/** `progress` that first throws the reason of `signal` once it aborted: long steps that report often stop there. */
function stoppable(progress: Progress, signal?: AbortSignal): Progress {
  if (!signal) return progress;
  return (line) => {
    signal.throwIfAborted();
    progress(line);
  };
}

/** How to build: the init of a debootstrap template (systemd by default). */
export interface BuildOptions {
  init?: string;
}

export interface TemplateView extends TemplateRecord {
  path: string;
  usedBy: string[];
  /** Application templates: every version, oldest first. */
  versions?: Array<{ version: number; digest: string; sizeBytes: number; files: number; createdAt: string; bases: string[]; usedBy: string[]; adds: VersionAdds }>;
}

/** Progress text keeps whole MiB with one decimal, whatever the size. */
const mib = (n: number): string => `${(n / MiB).toFixed(1)} MiB`;

export interface TemplateDf {
  templates: Array<{ name: string; files: number; logicalBytes: number }>;
  /** Sum of every template's file sizes, as if each had its own copy. */
  logicalBytes: number;
  /** What the objects of all templates take, each stored once. */
  storedBytes: number;
  objects: number;
}


/** The users, groups and Debian packages a version adds (keys it writes that its bases lacked). */
interface VersionAdds { users: string[]; groups: string[]; packages: string[] }

function addsOf(keys: Record<string, Record<string, { before: string | null; after: string | null }>>): VersionAdds {
  const added = (db: string): string[] => Object.entries(keys[db] ?? {}).filter(([, c]) => c.before === null && c.after !== null).map(([k]) => k).sort();
  return { users: added('passwd'), groups: added('group'), packages: added('dpkg-status') };
}

export class Templates {
  private building = new Set<string>();
  private readonly shifting = new KeyedLock();

  readonly apps: AppTemplates;

  constructor(private readonly store: Store, private readonly dir: string, readonly content: ContentStore) {
    this.apps = new AppTemplates(store, dir, content);
  }

  rootfsOf(name: string): string {
    return join(this.dir, name, 'rootfs');
  }

  get(name: string): TemplateRecord {
    const t = this.store.getTemplate(name);
    if (!t) throw new NotFound(`template ${name} does not exist: see 'strata template list', or build it with 'strata template build ${name} --from busybox'`);
    return t;
  }

  exists(name: string): boolean {
    return this.store.getTemplate(name) !== undefined;
  }

  /** An OS template, for containers to run on. */
  getOs(name: string): TemplateRecord {
    const t = this.get(name);
    if (t.kind !== 'os') throw new InvalidArgument(`template ${name} is an application template: create the container from an OS template and add it with --app ${name} (or 'strata attach')`);
    return t;
  }

  view(t: TemplateRecord): TemplateView {
    const view: TemplateView = { ...t, path: join(this.dir, t.name), usedBy: this.store.containersUsingTemplate(t.name) };
    if (t.kind === 'app') {
      view.versions = this.apps.versions(t.name).map((v) => ({
        version: v.version, digest: v.digest, sizeBytes: v.sizeBytes, files: v.files, createdAt: v.createdAt,
        bases: v.bases.map((b) => `${b.name}@${b.version}`), usedBy: this.store.containersUsingTemplate(t.name, v.version), adds: addsOf(v.keys),
      }));
    }
    return view;
  }

  /** How an OS template is described in a template file; its createdAt is the template's, so that the digest is stable. */
  private osManifestBase(t: TemplateRecord): ManifestBase {
    const env = Array.isArray(t.meta.env) ? (t.meta.env as string[]) : undefined;
    const made = (t.meta.made as ManifestBase['made'] | undefined) ?? { how: t.source.split(':')[0], source: t.source, tool: `strata ${VERSION}` };
    // An imported one is written as the file it came from was, so that its digest stays that file's
    // (application templates made on it name it by that digest).
    const file = t.meta.importedManifest as Pick<ManifestBase, 'name' | 'version' | 'createdAt' | 'run'> | undefined;
    if (file && typeof file === 'object') return { name: file.name, version: file.version, createdAt: file.createdAt, ...(file.run ? { run: file.run } : {}), kind: 'os', made, bases: [], deletions: [], opaqueDirs: [], keys: {} };
    return {
      name: t.name, version: '1', kind: 'os', createdAt: t.createdAt, made,
      bases: [], deletions: [], opaqueDirs: [], keys: {}, run: { init: t.init, stopSignal: t.stopSignal, ...(env ? { env } : {}) },
    };
  }

  /**
   * The template digest of an OS template: what application templates captured on it record as
   * their base. Imported templates keep the digest of their file; others get it computed once.
   */
  async digestOf(name: string): Promise<string> {
    const t = this.getOs(name);
    if (typeof t.meta.digest === 'string') return t.meta.digest;
    const digest = (await describeTree(this.rootfsOf(name), this.osManifestBase(t), this.content)).digest;
    this.store.setTemplateMeta(name, { ...t.meta, digest });
    return digest;
  }

  list(): TemplateView[] {
    return this.store.listTemplates().map((t) => this.view(t));
  }

  private checkNew(name: string): void {
    validateName('template', name);
    if (this.store.getTemplate(name) || this.building.has(name)) throw new AlreadyExists(`template ${name} already exists: remove it first with 'strata template rm ${name}' or pick another name`);
  }

  /** Checks a build request without starting it, so that bad input fails before any progress is shown. */
  async check(name: string, from: string, opts: BuildOptions = {}): Promise<TemplateSource> {
    this.checkNew(name);
    const source = parseSource(from, opts);
    const file = source.kind === 'rootfs' ? source.file : source.kind === 'oci' ? source.path : null;
    if (file && !(await exists(file))) throw new InvalidArgument(`${source.kind === 'oci' ? 'OCI image' : 'root file system archive'} ${file} does not exist: give the path of a file on the daemon's host`);
    return source;
  }

  /** Runs `fill(scratch)`, which leaves a tree at scratch/tree, and makes it template `name`. */
  private async make(name: string, progress: Progress, fill: (scratch: string) => Promise<Omit<TemplateRecord, 'name' | 'sizeBytes' | 'createdAt'>>, signal?: AbortSignal): Promise<TemplateView> {
    this.building.add(name);
    const scratch = join(this.dir, `.build-${name}-${randomBytes(4).toString('hex')}`);
    const started = Date.now();
    try {
      await fsp.mkdir(this.dir, { recursive: true, mode: 0o700 });
      await fsp.mkdir(scratch, { mode: 0o755 });
      const made = await fill(scratch);
      signal?.throwIfAborted();
      const sizeBytes = await diskUsage(join(scratch, 'rootfs'));
      await fsp.rename(scratch, join(this.dir, name));
      const record: TemplateRecord = { ...made, name, sizeBytes, createdAt: new Date().toISOString() };
      record.meta = { ...record.meta, buildSeconds: (Date.now() - started) / 1000 };
      try {
        this.store.insertTemplate(record);
      } catch (err) {
        await fsp.rm(join(this.dir, name), { recursive: true, force: true });
        throw err;
      }
      progress(`template ${name} ready in ${((Date.now() - started) / 1000).toFixed(1)} s, ${mib(sizeBytes)}`);
      return this.view(record);
    } finally {
      await fsp.rm(scratch, { recursive: true, force: true });
      this.building.delete(name);
    }
  }

  /** Moves a freshly built tree (scratch/built) into the content store: scratch/rootfs becomes hardlinks into it. */
  private async ingest(scratch: string, progress: Progress): Promise<void> {
    progress('storing files in the content store');
    let last = 0;
    const result = await ingestTree(join(scratch, 'built'), join(scratch, 'rootfs'), this.content, (p) => {
      if (p.files - last >= 2000) { last = p.files; progress(`stored ${p.files} files, ${mib(p.bytes)}`); }
    });
    await fsp.rm(join(scratch, 'built'), { recursive: true, force: true });
    progress(`stored ${result.files} files (${mib(result.logicalBytes)}), ${mib(result.newBytes)} of them new to the store${result.skippedCount ? `; left out ${result.skippedCount} device nodes or pipes` : ''}`);
  }

  async build(name: string, from: string, progress: Progress, signal?: AbortSignal, opts: BuildOptions = {}): Promise<TemplateView> {
    const source = await this.check(name, from, opts);
    return this.make(name, progress, async (scratch) => {
      progress(`building template ${name} from ${from}`);
      const built = await buildInto(scratch, source, progress);
      await fsp.rename(join(scratch, 'rootfs'), join(scratch, 'built'));
      signal?.throwIfAborted();
      await this.ingest(scratch, progress);
      return { kind: 'os', source: from, init: built.init, stopSignal: built.stopSignal, meta: built.meta };
    }, signal);
  }

  async remove(name: string, version?: number): Promise<number[]> {
    const t = this.get(name);
    if (t.kind === 'app') {
      const removed = await this.apps.remove(name, version);
      await this.content.gc(new Set());
      return removed;
    }
    if (version !== undefined && version !== 1) throw new InvalidArgument(`template ${name} is an OS template, which has one version: remove it without --version`);
    const users = this.store.containersUsingTemplate(name);
    if (users.length) throw new Conflict(`template ${name} is used by ${users.length === 1 ? 'container' : 'containers'} ${users.join(', ')}: destroy ${users.length === 1 ? 'it' : 'them'} first`);
    // Record first: a half-removed tree must never stay usable as a template.
    this.store.deleteTemplate(name);
    await fsp.rm(join(this.dir, name), { recursive: true, force: true });
    await this.content.gc(new Set());
    return [1];
  }

  /** Logical size of every template against what the store really holds. */
  async df(): Promise<TemplateDf> {
    const templates = [];
    const treesOf = (t: TemplateRecord): string[] => (t.kind === 'app' ? this.apps.versions(t.name).map((v) => v.tree) : [this.rootfsOf(t.name)]);
    for (const t of this.store.listTemplates()) {
      const u = await treeDf(treesOf(t));
      templates.push({ name: t.name, files: u.files, logicalBytes: u.logicalBytes });
    }
    const all = await treeDf(this.store.listTemplates().flatMap(treesOf));
    const store = await this.content.df();
    return { templates, logicalBytes: all.logicalBytes, storedBytes: store.storedBytes, objects: store.objects };
  }

  /** Re-hashes every object of the store; names the damaged ones. */
  async verify(progress: Progress): Promise<{ checked: number; bad: string[] }> {
    let last = 0;
    return this.content.verify((p) => {
      if (p.done - last >= 5000) { last = p.done; progress(`checked ${p.done}${p.total ? ` of ${p.total}` : ''} objects`); }
    });
  }

  /** Writes template `name` (an application template: its newest version, or `version`) as one portable file (see docs/template-format.md). */
  async export(name: string, outFile: string, reportTo: Progress, version?: number, signal?: AbortSignal): Promise<{ file: string; digest: string; bytes: number }> {
    const progress = stoppable(reportTo, signal);
    const t = this.get(name);
    if (!isAbsolute(outFile)) throw new InvalidArgument(`the output file ${outFile} must be an absolute path`);
    let result: { digest: string; bytes: number };
    if (t.kind === 'app') {
      result = await this.apps.export(this.apps.get(name, version), outFile, progress);
    } else {
      if (typeof t.meta.hostUsr === 'string') throw new NotSupported(`template ${name} is host-linked: it uses this host's ${t.meta.hostUsr} in place, which a file cannot carry to another host; export a debootstrap or imported template instead`);
      result = await exportTemplate(this.rootfsOf(name), this.osManifestBase(t), this.content, outFile, countProgress(progress));
      if (typeof t.meta.digest === 'string' && result.digest !== t.meta.digest) {
        progress(`note: this file's digest is not ${t.meta.digest}, by which application templates made on ${name} know it (it was imported before Strata kept what a re-export needs); they will not find it where this file is imported`);
      }
    }
    progress(`wrote ${outFile}: ${mib(result.bytes)}, digest ${result.digest}`);
    return { file: outFile, digest: result.digest, bytes: result.bytes };
  }

  /** The OS template with this digest, if any (computing digests not known yet). */
  async osByDigest(digest: string): Promise<string | undefined> {
    for (const t of this.store.listTemplates()) {
      if (t.kind === 'os' && (await this.digestOf(t.name).catch(() => null)) === digest) return t.name;
    }
    return undefined;
  }

  /** The application template version with this digest, if any. */
  appByDigest(digest: string): { name: string; version: number } | undefined {
    const v = this.store.findVersionByDigest(digest);
    return v && { name: v.template, version: v.version };
  }

  /** Checks an import request without starting it. */
  async checkImport(file: string, name?: string): Promise<string> {
    if (!isAbsolute(file)) throw new InvalidArgument(`the template file ${file} must be an absolute path`);
    if (!(await exists(file))) throw new InvalidArgument(`template file ${file} does not exist: give the path of a file on the daemon's host`);
    const manifest = await readTemplateFile(file);
    const finalName = name ?? manifest.name;
    if (manifest.kind === 'app') {
      validateName('template', finalName);
      this.apps.checkName(finalName);
      if (this.building.has(finalName)) throw new AlreadyExists(`template ${finalName} is being made right now: try again when that is done`);
      checkAppManifest(manifest, file);
      for (const base of manifest.bases) {
        const present = (await this.osByDigest(base.digest)) ?? this.store.findVersionByDigest(base.digest)?.template;
        if (!present) throw new FailedPrecondition(`${file} holds application template ${manifest.name}, made on template ${base.name} version ${base.version} (${base.digest}), which this host does not have: import ${base.name} first`);
      }
      return finalName;
    }
    this.checkNew(finalName);
    return finalName;
  }

  /**
   * Imports a template file (untrusted: every digest verified, nothing written outside the store).
   * A failed or cancelled (`signal`) import leaves nothing: no template, no tree, no object.
   */
  async import(file: string, name: string | undefined, reportTo: Progress, signal?: AbortSignal): Promise<TemplateView> {
    try {
      return await this.importFile(file, name, stoppable(reportTo, signal));
    } catch (err) {
      // Objects it had stored that no tree links: collected (gc waits for other imports' holds).
      await this.content.gc(new Set()).catch(() => undefined);
      throw err;
    }
  }

  private async importFile(file: string, name: string | undefined, progress: Progress): Promise<TemplateView> {
    const finalName = await this.checkImport(file, name);
    if ((await readTemplateFile(file)).kind === 'app') {
      this.building.add(finalName);
      try {
        const v: AppVersion = await this.apps.importVersion(finalName, file, progress);
        progress(`imported ${finalName} version ${v.version}: ${v.files} files, ${mib(v.sizeBytes)}, digest ${v.digest}`);
      } finally {
        this.building.delete(finalName);
      }
      return this.view(this.get(finalName));
    }
    return this.make(finalName, progress, async (scratch) => {
      const result = await importTemplate(file, this.content, join(scratch, 'rootfs'), {
        onProgress: countProgress(progress),
      });
      const m = result.manifest;
      progress(`imported ${m.totals.files} files, ${result.newObjects} objects new to the store, digest ${result.digest}`);
      return {
        kind: 'os', source: `import:${file}`, init: m.run?.init ?? ['/sbin/init'], stopSignal: m.run?.stopSignal ?? 'SIGTERM',
        meta: {
          digest: result.digest, importedName: m.name, version: m.version, made: m.made, ...(m.run?.env ? { env: m.run.env } : {}),
          importedManifest: { name: m.name, version: m.version, createdAt: m.createdAt, ...(m.run ? { run: m.run } : {}) },
        },
      };
    });
  }

  /**
   * The fallback for kernels without idmapped mounts: one copy of the template's tree with
   * every id moved up by `base` (the range all containers then share), made on first use.
   */
  shiftedRootfs(name: string, base: number): Promise<string> {
    const target = join(this.dir, name, `shifted-${base}`);
    return this.shifting.run(name, async () => {
      if (await exists(target)) return target;
      const tmp = `${target}.tmp`;
      await fsp.rm(tmp, { recursive: true, force: true });
      await run(['cp', '-a', this.rootfsOf(name), tmp], { context: `copying template ${name} for the shared id range` });
      // Identical files of a template are one inode (hardlinks into the store), which cp -a keeps: shift each inode once.
      const done = new Set<number>();
      const walk = async (path: string): Promise<void> => {
        const st = await fsp.lstat(path);
        if (st.nlink > 1 && !st.isDirectory()) {
          if (done.has(st.ino)) return;
          done.add(st.ino);
        }
        await fsp.lchown(path, st.uid + base, st.gid + base);
        // chown clears setuid and setgid bits: put the mode back.
        if (!st.isSymbolicLink()) await fsp.chmod(path, st.mode & 0o7777);
        if (st.isDirectory()) for (const entry of await fsp.readdir(path)) await walk(join(path, entry));
      };
      await walk(tmp);
      // chown dropped file capabilities too: they come back as the shared range's root's own.
      for (const [path, x] of await this.content.xattrs.readTree(this.rootfsOf(name))) {
        const cap = x['security.capability'] && namespacedCapability(x['security.capability'], base);
        if (cap) await this.content.xattrs.write(join(tmp, relative(this.rootfsOf(name), path)), { 'security.capability': cap });
      }
      await fsp.rename(tmp, target);
      return target;
    });
  }

  /** Removes scratch directories left by builds that a crash interrupted. */
  async cleanScratch(): Promise<void> {
    for (const entry of await fsp.readdir(this.dir).catch(() => [] as string[])) {
      if (entry.startsWith('.build-')) await fsp.rm(join(this.dir, entry), { recursive: true, force: true });
      else if (!this.store.getTemplate(entry)) await fsp.rm(join(this.dir, entry), { recursive: true, force: true }); // a first version a crash interrupted
      else if (this.store.getTemplate(entry)?.kind === 'app') {
        for (const inner of await fsp.readdir(join(this.dir, entry)).catch(() => [] as string[])) {
          if (inner.startsWith('.build-')) await fsp.rm(join(this.dir, entry, inner), { recursive: true, force: true });
        }
      }
    }
    await this.content.cleanIngest();
  }
}
