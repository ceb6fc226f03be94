/**
 * Application templates on disk and in the state: each version is a tree of hardlinks into the
 * content store (what the installer added or changed, plus every parent directory with the
 * metadata it had) at <templates>/NAME/v<N>/tree, the overlay form of its deletions at
 * .../v<N>/wh, and a record holding the manifest without its file list (bases, deletions,
 * opaque directories, the key changes of the system databases, totals).
 *
 * A version is made from a capture's change set (commitCapture) or a template file
 * (importVersion), always in a scratch directory renamed into place when complete.
 */
import { randomBytes } from 'node:crypto';
import { constants as fsc, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { Conflict, FailedPrecondition, InvalidArgument, NotFound } from '../../errors/index.js';
import type { AppVersionRecord, Store, TemplateRecord } from '../../state/index.js';
import type { ContentStore } from '../../store/index.js';
import { decodeXattrs as decodeManifestXattrs } from '../pack/manifest.js';
import { countProgress, describeTree, exportTemplate, importTemplate, type BaseRef, type Made, type Manifest } from '../pack/index.js';
import type { ChangeSet, Entry } from '../capture/index.js';
import { MERGE_RULES } from '../merge/index.js';
import { diskUsage } from '../../util/fs.js';
import { MiB } from '../../model/units.js';
import { checkKeys, countKeys, keysFromCapture, type AppKeys } from './databases.js';
import { writeWhiteouts } from './files.js';

/** What attach needs of a version. */
export interface AppVersion {
  name: string;
  version: number;
  digest: string;
  bases: BaseRef[];
  /** Relative paths, as in the manifest. */
  deletions: string[];
  opaqueDirs: string[];
  keys: AppKeys;
  made: Made;
  sizeBytes: number;
  files: number;
  createdAt: string;
  tree: string;
  wh: string;
}

export interface CaptureSummary {
  files: number;
  bytes: number;
  deletions: number;
  keys: number;
  skipped: string[];
}

export class AppTemplates {
  constructor(private readonly store: Store, private readonly dir: string, private readonly content: ContentStore) {}

  private versionDir(name: string, version: number): string {
    return join(this.dir, name, `v${version}`);
  }

  toVersion(r: AppVersionRecord): AppVersion {
    const m = r.manifest as unknown as Omit<Manifest, 'files'>;
    const dir = this.versionDir(r.template, r.version);
    return {
      name: r.template, version: r.version, digest: r.digest, bases: m.bases, deletions: m.deletions, opaqueDirs: m.opaqueDirs,
      keys: checkKeys(m.keys), made: m.made, sizeBytes: r.sizeBytes, files: m.totals?.files ?? 0, createdAt: r.createdAt,
      tree: join(dir, 'tree'), wh: join(dir, 'wh'),
    };
  }

  versions(name: string): AppVersion[] {
    return this.store.listVersions(name).map((r) => this.toVersion(r));
  }

  /** A version, or the newest one. */
  get(name: string, version?: number): AppVersion {
    const t = this.store.getTemplate(name);
    if (!t) throw new NotFound(`template ${name} does not exist: see 'strata template list', or capture it with 'strata template capture ${name} --base OS_TEMPLATE -- CMD'`);
    if (t.kind !== 'app') throw new InvalidArgument(`template ${name} is an OS template, not an application template: give it as --template when creating a container`);
    const all = this.store.listVersions(name);
    const r = version === undefined ? all[all.length - 1] : all.find((v) => v.version === version);
    if (!r) throw new NotFound(`template ${name} has no version ${version}: it has ${all.map((v) => v.version).join(', ')}`);
    return this.toVersion(r);
  }

  nextVersion(name: string): number {
    const all = this.store.listVersions(name);
    return all.length ? all[all.length - 1].version + 1 : 1;
  }

  /** Checks that `name` can take a new application template version. */
  checkName(name: string): void {
    const t = this.store.getTemplate(name);
    if (t && t.kind !== 'app') throw new Conflict(`template ${name} is an OS template: pick another name for the application template`);
  }

  /** Makes version N of `name` from a capture (the scratch container stopped, its private area unmounted). */
  async commitCapture(
    name: string, changes: ChangeSet, upper: string, idShift: number, bases: BaseRef[], made: Made, progress: (m: string) => void,
  ): Promise<{ version: AppVersion; summary: CaptureSummary }> {
    this.checkName(name);
    const version = this.nextVersion(name);
    const keys = keysFromCapture(changes.databases);
    const deletions = changes.deleted.map(rel);
    const opaqueDirs = changes.opaque.map(rel);
    const entries = [...changes.added, ...changes.modified, ...changes.metadata].sort((a, b) => a.path.localeCompare(b.path));
    const summary: CaptureSummary = {
      files: entries.filter((e) => e.type !== 'dir').length, bytes: entries.reduce((n, e) => n + (e.type === 'file' ? e.size : 0), 0),
      deletions: deletions.length, keys: countKeys(keys), skipped: changes.skipped.map((s) => `${s.path}: ${s.reason}`),
    };
    return this.make(name, version, async (scratch) => {
      const tree = join(scratch, 'tree');
      await buildTree(tree, upper, idShift, entries, [...changes.deleted, ...changes.opaque], this.content, progress);
      const createdAt = new Date().toISOString();
      const described = await describeTree(tree, { name, version: String(version), kind: 'app', createdAt, made, bases, deletions, opaqueDirs, keys: keys as unknown as Manifest['keys'] }, this.content);
      return { manifest: described.manifest, digest: described.digest, createdAt };
    }, deletions, opaqueDirs).then((v) => ({ version: v, summary }));
  }

  /** Makes a version from a template file (its bases already checked by the caller). */
  async importVersion(name: string, file: string, progress: (m: string) => void): Promise<AppVersion> {
    this.checkName(name);
    const version = this.nextVersion(name);
    let deletions: string[] = [];
    let opaqueDirs: string[] = [];
    return this.make(name, version, async (scratch) => {
      const result = await importTemplate(file, this.content, join(scratch, 'tree'), {
        onProgress: countProgress(progress),
      });
      checkAppManifest(result.manifest, file);
      ({ deletions, opaqueDirs } = result.manifest);
      if (this.store.listVersions(name).some((v) => v.digest === result.digest)) {
        throw new Conflict(`template ${name} already has this version (digest ${result.digest}): nothing to import`);
      }
      return { manifest: result.manifest, digest: result.digest, createdAt: result.manifest.createdAt };
    }, () => deletions, () => opaqueDirs);
  }

  private async make(
    name: string, version: number,
    fill: (scratch: string) => Promise<{ manifest: Manifest; digest: string; createdAt: string }>,
    deletions: string[] | (() => string[]), opaqueDirs: string[] | (() => string[]),
  ): Promise<AppVersion> {
    await fsp.mkdir(join(this.dir, name), { recursive: true, mode: 0o700 });
    const scratch = join(this.dir, name, `.build-v${version}-${randomBytes(4).toString('hex')}`);
    await fsp.mkdir(scratch, { mode: 0o755 });
    try {
      const { manifest, digest, createdAt } = await fill(scratch);
      const del = typeof deletions === 'function' ? deletions() : deletions;
      const opq = typeof opaqueDirs === 'function' ? opaqueDirs() : opaqueDirs;
      await writeWhiteouts(join(scratch, 'wh'), del, opq);
      const sizeBytes = await diskUsage(join(scratch, 'tree'));
      await fsp.rename(scratch, this.versionDir(name, version));
      const { files: _files, ...rest } = manifest;
      const record: AppVersionRecord = { template: name, version, digest, manifest: rest as unknown as Record<string, unknown>, sizeBytes, createdAt };
      const template: TemplateRecord = { name, kind: 'app', source: manifest.made.how, init: [], stopSignal: '', sizeBytes, meta: {}, createdAt };
      try {
        this.store.insertVersion(template, record);
      } catch (err) {
        await fsp.rm(this.versionDir(name, version), { recursive: true, force: true });
        throw err;
      }
      return this.toVersion(record);
    } finally {
      await fsp.rm(scratch, { recursive: true, force: true });
      if (!this.store.getTemplate(name)) await fsp.rm(join(this.dir, name), { recursive: true, force: true });
    }
  }

  /** Writes a version as a template file. */
  async export(v: AppVersion, outFile: string, progress: (m: string) => void): Promise<{ digest: string; bytes: number }> {
    const r = this.store.getVersion(v.name, v.version)!;
    const m = r.manifest as unknown as Omit<Manifest, 'files' | 'format' | 'totals'>;
    const result = await exportTemplate(v.tree, {
      name: v.name, version: m.version, kind: 'app', createdAt: m.createdAt, made: m.made, bases: m.bases,
      deletions: m.deletions, opaqueDirs: m.opaqueDirs, keys: m.keys,
    }, this.content, outFile, countProgress(progress));
    return { digest: result.digest, bytes: result.bytes };
  }

  /** Removes one version, or all; refused while a container uses it. */
  async remove(name: string, version?: number): Promise<number[]> {
    const versions = version === undefined ? this.store.listVersions(name).map((v) => v.version) : [this.get(name, version).version];
    for (const v of versions) {
      const users = this.store.containersUsingTemplate(name, v);
      if (users.length) throw new Conflict(`version ${v} of template ${name} is attached to ${users.join(', ')}: detach it (strata detach CT ${name}) or upgrade ${users.length === 1 ? 'that container' : 'those containers'} first`);
    }
    for (const v of versions) {
      this.store.deleteVersion(name, v);
      await fsp.rm(this.versionDir(name, v), { recursive: true, force: true });
    }
    if (!this.store.getTemplate(name)) await fsp.rm(join(this.dir, name), { recursive: true, force: true });
    return versions;
  }
}

const rel = (path: string): string => path.replace(/^\/+/, '');

/** What an application template file must hold beyond the format's own rules. */
export function checkAppManifest(m: Manifest, file: string): void {
  if (m.kind !== 'app') throw new InvalidArgument(`${file} holds an OS template`);
  const dbPaths = new Set(MERGE_RULES.map((r) => rel(r.path)));
  const dirs = new Set(m.files.filter((e) => e.type === 'dir').map((e) => e.path));
  for (const e of m.files) {
    if (dbPaths.has(e.path)) throw new InvalidArgument(`${file} holds /${e.path} as a whole file, but that database is merged per key: refusing it (recapture the template with Strata)`);
  }
  for (const path of [...m.deletions, ...m.opaqueDirs]) {
    const parent = path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : '.';
    if (!dirs.has(parent)) throw new InvalidArgument(`${file} deletes or hides /${path}, but does not hold its parent directory with its metadata: refusing it (recapture the template with Strata)`);
  }
  checkKeys(m.keys);
}

/**
 * The tree of a capture: each entry from the scratch container's private area `upper` (ids
 * shifted back by idShift) into the store, plus every parent directory with the metadata the
 * private area holds for it (overlayfs copied it up unchanged).
 */
async function buildTree(tree: string, upper: string, idShift: number, entries: Entry[], alsoParentsOf: string[], content: ContentStore, progress: (m: string) => void): Promise<void> {
  const wanted = new Map<string, Entry | null>();
  const addParents = (path: string): void => {
    const parts = path.split('/').filter(Boolean);
    for (let i = 1; i < parts.length; i++) {
      const p = `/${parts.slice(0, i).join('/')}`;
      if (!wanted.has(p)) wanted.set(p, null);
    }
  };
  for (const e of entries) { addParents(e.path); wanted.set(e.path, e); }
  for (const p of alsoParentsOf) addParents(p);
  const paths = [...wanted.keys()].sort((a, b) => a.split('/').length - b.split('/').length || a.localeCompare(b));
  await fsp.mkdir(tree, { mode: 0o755 });
  const rootSt = await fsp.lstat(upper);
  const dirs: Array<{ path: string; mode: number; uid: number; gid: number; xattrs?: Record<string, string>; mtime: Date }> = [
    { path: tree, mode: rootSt.mode & 0o7777, uid: rootSt.uid - idShift, gid: rootSt.gid - idShift, mtime: rootSt.mtime },
  ];
  let files = 0;
  let bytes = 0;
  for (const path of paths) {
    const e = wanted.get(path);
    const target = join(tree, path);
    const source = join(upper, path);
    if (!e || e.type === 'dir') {
      const st = await fsp.lstat(source);
      await fsp.mkdir(target, { mode: 0o700 });
      dirs.push({ path: target, mode: e?.mode ?? st.mode & 0o7777, uid: e?.uid ?? st.uid - idShift, gid: e?.gid ?? st.gid - idShift, xattrs: e?.xattrs, mtime: st.mtime });
    } else if (e.type === 'symlink') {
      await fsp.symlink(e.target!, target);
      await fsp.lchown(target, e.uid, e.gid);
    } else {
      const st = await fsp.lstat(source);
      const stored = await content.ingestFile(source, { mode: e.mode, uid: e.uid, gid: e.gid, xattrs: decodeManifestXattrs(e.xattrs), mtime: st.mtime });
      await content.linkInto(stored.digest, target);
      files++;
      bytes += e.size;
      if (files % 1000 === 0) progress(`stored ${files} files, ${(bytes / MiB).toFixed(1)} MiB`);
    }
  }
  // Deepest first, so that making entries does not change a directory's metadata afterwards.
  for (const d of dirs.reverse()) {
    if (d.uid < 0 || d.gid < 0) throw new FailedPrecondition(`${d.path} of the capture is owned by a host id outside the scratch container's range: capture again`);
    const fh = await fsp.open(d.path, fsc.O_RDONLY | fsc.O_DIRECTORY | fsc.O_NOFOLLOW);
    try {
      await fh.chown(d.uid, d.gid);
      await fh.chmod(d.mode);
      await fh.utimes(d.mtime, d.mtime);
    } finally {
      await fh.close();
    }
    if (d.xattrs && Object.keys(d.xattrs).length) await content.xattrs.write(d.path, decodeManifestXattrs(d.xattrs));
  }
}
