/**
 * templates: OS templates (and, later, application templates). A template is
 * a read-only directory tree under <root>/templates/NAME/rootfs plus a record
 * in the state. Building happens in a scratch directory that is renamed into
 * place only when complete, so a failed or interrupted build leaves nothing.
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { AlreadyExists, Conflict, InvalidArgument, NotFound } from '../errors/index.js';
import type { Store, TemplateRecord } from '../state/index.js';
import { diskUsage, exists } from '../util/fs.js';
import { validateName } from '../util/names.js';
import { buildInto, parseSource, type Progress, type TemplateSource } from './builders.js';

export { parseSource, type Progress, type TemplateSource } from './builders.js';

export interface TemplateView extends TemplateRecord {
  path: string;
  usedBy: string[];
}

export class Templates {
  private building = new Set<string>();

  constructor(private readonly store: Store, private readonly dir: string) {}

  rootfsOf(name: string): string {
    return join(this.dir, name, 'rootfs');
  }

  get(name: string): TemplateRecord {
    const t = this.store.getTemplate(name);
    if (!t) throw new NotFound(`template ${name} does not exist: see 'strata template list', or build it with 'strata template build ${name} --from busybox'`);
    return t;
  }

  view(t: TemplateRecord): TemplateView {
    return { ...t, path: join(this.dir, t.name), usedBy: this.store.containersUsingTemplate(t.name) };
  }

  list(): TemplateView[] {
    return this.store.listTemplates().map((t) => this.view(t));
  }

  /** Checks a build request without starting it, so that bad input fails before any progress is shown. */
  async check(name: string, from: string): Promise<TemplateSource> {
    validateName('template', name);
    const source = parseSource(from);
    if (this.store.getTemplate(name) || this.building.has(name)) throw new AlreadyExists(`template ${name} already exists: remove it first with 'strata template rm ${name}' or pick another name`);
    const file = source.kind === 'rootfs' ? source.file : source.kind === 'oci' ? source.path : null;
    if (file && !(await exists(file))) throw new InvalidArgument(`${source.kind === 'oci' ? 'OCI image' : 'root file system archive'} ${file} does not exist: give the path of a file on the daemon's host`);
    return source;
  }

  async build(name: string, from: string, progress: Progress, signal?: AbortSignal): Promise<TemplateView> {
    const source = await this.check(name, from);
    this.building.add(name);
    const scratch = join(this.dir, `.build-${name}-${randomBytes(4).toString('hex')}`);
    const started = Date.now();
    try {
      await fsp.mkdir(this.dir, { recursive: true, mode: 0o711 });
      await fsp.mkdir(scratch, { mode: 0o755 });
      progress(`building template ${name} from ${from}`);
      const built = await buildInto(scratch, source, progress);
      signal?.throwIfAborted();
      progress('measuring');
      const sizeBytes = await diskUsage(scratch);
      await fsp.rename(scratch, join(this.dir, name));
      const record: TemplateRecord = {
        name, kind: 'os', source: from, init: built.init, stopSignal: built.stopSignal, sizeBytes,
        meta: { ...built.meta, buildSeconds: (Date.now() - started) / 1000 }, createdAt: new Date().toISOString(),
      };
      try {
        this.store.insertTemplate(record);
      } catch (err) {
        await fsp.rm(join(this.dir, name), { recursive: true, force: true });
        throw err;
      }
      progress(`template ${name} built in ${((Date.now() - started) / 1000).toFixed(1)} s, ${(sizeBytes / 1048576).toFixed(1)} MiB`);
      return this.view(record);
    } finally {
      await fsp.rm(scratch, { recursive: true, force: true });
      this.building.delete(name);
    }
  }

  async remove(name: string): Promise<void> {
    this.get(name);
    const users = this.store.containersUsingTemplate(name);
    if (users.length) throw new Conflict(`template ${name} is used by ${users.length === 1 ? 'container' : 'containers'} ${users.join(', ')}: destroy ${users.length === 1 ? 'it' : 'them'} first`);
    // Record first: a half-removed tree must never stay usable as a template.
    this.store.deleteTemplate(name);
    await fsp.rm(join(this.dir, name), { recursive: true, force: true });
  }

  /** Removes scratch directories left by builds that a crash interrupted. */
  async cleanScratch(): Promise<void> {
    for (const entry of await fsp.readdir(this.dir).catch(() => [] as string[])) {
      if (entry.startsWith('.build-')) await fsp.rm(join(this.dir, entry), { recursive: true, force: true });
    }
  }
}
