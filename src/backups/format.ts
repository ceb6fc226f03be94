/**
 * The backup file (`strata-backup/1`, docs/backup-format.md): a POSIX tar whose first entry is
 * `backup.json` (this manifest, canonical JSON) and whose other entries are, in the manifest's
 * order, template files: `area.strata`, the container's own files as an application template
 * over its templates, and `templates/<hex>.strata` for each template included. Each entry's size
 * and sha256 are in the manifest, so a reader refuses anything else before using a byte of it;
 * the template files are then read by the template importer, with all its checks.
 *
 * The tar itself is not compressed: its entries are.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { extract as tarExtract, pack as tarPack } from 'tar-stream';
import { Type, type Static } from 'typebox';
import { Value } from 'typebox/value';
import { FailedPrecondition, Internal, InvalidArgument, NotFound, StrataError } from '../errors/index.js';
import { canonicalJson } from '../templates/pack/index.js';
import { hashFile } from '../store/index.js';

export const BACKUP_FORMAT = 'strata-backup/1';
const MANIFEST_ENTRY = 'backup.json';
export const AREA_ENTRY = 'area.strata';
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

const Digest = Type.String({ pattern: '^sha256:[0-9a-f]{64}$' });
const Name = Type.String({ pattern: '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$' });
const strict = { additionalProperties: false } as const;

const ContainerConfig = Type.Object({
  name: Name,
  hostname: Type.String({ minLength: 1, maxLength: 253 }),
  privileged: Type.Boolean(),
  autostart: Type.Boolean(),
  limits: Type.Record(Type.String({ pattern: '^[a-zA-Z]{1,32}$' }), Type.Union([Type.String({ maxLength: 256 }), Type.Number()])),
  tenant: Type.Union([Name, Type.Null()]),
  networks: Type.Array(Name, { maxItems: 64 }),
  netIn: Type.Union([Type.String({ maxLength: 64 }), Type.Null()]),
  netOut: Type.Union([Type.String({ maxLength: 64 }), Type.Null()]),
  ports: Type.Array(Type.String({ maxLength: 64 }), { maxItems: 1024 }),
  address: Type.Union([Type.Object({ ip: Type.String({ maxLength: 15 }), mac: Type.String({ maxLength: 17 }) }, strict), Type.Null()]),
  template: Type.Object({ name: Name, digest: Digest }, strict),
  apps: Type.Array(Type.Object({
    name: Name, version: Type.Integer({ minimum: 1 }), digest: Digest,
    applied: Type.Record(Type.String(), Type.Unknown()),
  }, strict), { maxItems: 256 }),
}, strict);

const Entry = Type.Object({
  name: Type.String({ pattern: '^(area|templates/[0-9a-f]{64})\\.strata$' }),
  bytes: Type.Integer({ minimum: 0 }),
  sha256: Type.String({ pattern: '^[0-9a-f]{64}$' }),
}, strict);

export const BackupManifest = Type.Object({
  format: Type.Literal(BACKUP_FORMAT),
  createdAt: Type.String({ format: 'date-time' }),
  tool: Type.String({ maxLength: 256 }),
  container: ContainerConfig,
  /** The private area's template digest, and what it holds. */
  area: Type.Object({
    digest: Digest,
    files: Type.Integer({ minimum: 0 }),
    logicalBytes: Type.Integer({ minimum: 0 }),
    /** Paths of the area left out: FIFOs and sockets, which a file cannot carry. */
    skipped: Type.Array(Type.String({ maxLength: 4096 }), { maxItems: 1000 }),
  }, strict),
  /** The backup this one is incremental on (its area's objects are left out here), or null. */
  parent: Type.Union([Type.Object({ digest: Digest, file: Type.String({ minLength: 1, maxLength: 255, pattern: '^[^/\\x00]+$' }) }, strict), Type.Null()]),
  entries: Type.Array(Entry, { minItems: 1, maxItems: 260 }),
}, strict);
export type BackupManifest = Static<typeof BackupManifest>;
export type ContainerConfig = Static<typeof ContainerConfig>;
export type BackupEntry = Static<typeof Entry>;

/** `templates/<hex>.strata` of a template digest. */
export function templateEntry(digest: string): string {
  return `templates/${digest.slice('sha256:'.length)}.strata`;
}

/** sha256 of the canonical manifest: what an incremental backup names its parent by. */
export function backupDigest(m: BackupManifest): string {
  return `sha256:${createHash('sha256').update(canonicalJson(m)).digest('hex')}`;
}

function refuse(file: string, why: string): InvalidArgument {
  return new InvalidArgument(`backup file ${file} ${why}: refusing it`);
}

/** Validates a parsed manifest: every field, no unknown one, the area first and no entry twice. */
function validateBackupManifest(value: unknown, file: string): BackupManifest {
  if (typeof value === 'object' && value !== null && (value as { format?: unknown }).format !== BACKUP_FORMAT) {
    throw refuse(file, `is of format ${JSON.stringify((value as { format?: unknown }).format)}, not ${BACKUP_FORMAT}`);
  }
  if (!Value.Check(BackupManifest, value)) {
    const first = [...Value.Errors(BackupManifest, value)].find((e) => e.keyword !== 'boolean') ?? Value.Errors(BackupManifest, value)[0];
    throw refuse(file, `has an invalid manifest (${first?.instancePath || '/'} ${first?.message ?? 'is not valid'})`);
  }
  const m = value;
  if (m.entries[0].name !== AREA_ENTRY) throw refuse(file, `does not hold ${AREA_ENTRY} first`);
  const names = m.entries.map((e) => e.name);
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice) throw refuse(file, `lists the entry ${twice} twice`);
  return m;
}

/** Writes the manifest and the entries (each from its file) as a tar, aside, then renamed into place. */
export async function writeBackupFile(outFile: string, manifest: BackupManifest, sources: Map<string, string>): Promise<number> {
  const tmp = join(dirname(outFile), `.${basename(outFile)}.tmp-${process.pid}-${Date.now()}`);
  const packer = tarPack();
  let out: fs.FileHandle;
  try {
    out = await fs.open(tmp, 'wx', 0o600);
  } catch (err) {
    throw new FailedPrecondition(`cannot write the backup file ${outFile}: ${(err as Error).message}`, { cause: err });
  }
  const writing = pipeline(packer, out.createWriteStream());
  try {
    const text = Buffer.from(canonicalJson(manifest));
    packer.entry({ name: MANIFEST_ENTRY, size: text.length, mode: 0o644, mtime: new Date(0) }, text);
    for (const e of manifest.entries) {
      const sink = packer.entry({ name: e.name, size: e.bytes, mode: 0o644, mtime: new Date(0) });
      await pipeline(createReadStream(sources.get(e.name)!), sink);
    }
    packer.finalize();
    await writing;
    await fs.rename(tmp, outFile);
    return (await fs.stat(outFile)).size;
  } catch (err) {
    packer.destroy();
    await writing.catch(() => undefined);
    await fs.unlink(tmp).catch(() => undefined);
    if (err instanceof StrataError) throw err;
    throw new Internal(`cannot write the backup file ${outFile}: ${(err as Error).message}`, { cause: err });
  }
}

/** sha256 (hex) and size of a file. */
export async function fileSum(path: string): Promise<{ bytes: number; sha256: string }> {
  const [digest, st] = await Promise.all([hashFile(path), fs.stat(path)]);
  return { bytes: st.size, sha256: digest.slice('sha256:'.length) };
}

async function openChecked(file: string): Promise<void> {
  let st;
  try {
    st = await fs.stat(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFound(`backup file ${file} does not exist`);
    throw new FailedPrecondition(`cannot read the backup file ${file}: ${(err as Error).message}`, { cause: err });
  }
  if (!st.isFile()) throw new InvalidArgument(`${file} is not a regular file: give the path of a backup file (strata backup CT -o FILE)`);
}

/**
 * Reads a backup file: the manifest (validated), then, when `into` is given, each entry the
 * manifest lists (in its order, of its size and sha256) into `into/<name>` (only the entries
 * `wanted` accepts; the others are read past). Anything else in the file is refused.
 */
export async function readBackupFile(file: string, into?: { dir: string; wanted: (name: string) => boolean }): Promise<BackupManifest> {
  await openChecked(file);
  const parser = tarExtract();
  const input = createReadStream(file);
  input.on('error', (err) => parser.destroy(err));
  input.pipe(parser as unknown as NodeJS.WritableStream);
  let manifest: BackupManifest | undefined;
  let index = 0;
  try {
    for await (const entry of parser) {
      const h = entry.header;
      if (index === 0) {
        if (h.name !== MANIFEST_ENTRY || h.type !== 'file') throw refuse(file, `starts with ${JSON.stringify(h.name)}, not ${MANIFEST_ENTRY} (is it a backup file?)`);
        if (h.size > MAX_MANIFEST_BYTES) throw refuse(file, `has a manifest of ${h.size} bytes, over the limit of ${MAX_MANIFEST_BYTES}`);
        const chunks: Buffer[] = [];
        for await (const chunk of entry as AsyncIterable<Buffer>) chunks.push(chunk);
        let parsed: unknown;
        try {
          parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          throw refuse(file, `has a manifest that is not JSON`);
        }
        manifest = validateBackupManifest(parsed, file);
        if (!into) break;
      } else {
        const want = manifest!.entries[index - 1];
        if (!want) throw refuse(file, `has more entries than the ${manifest!.entries.length} its manifest lists`);
        if (h.type !== 'file' || h.name !== want.name) throw refuse(file, `has the entry ${JSON.stringify(h.name)} where its manifest lists ${want.name}`);
        if (h.size !== want.bytes) throw refuse(file, `holds ${want.name} with ${h.size} bytes, but its manifest says ${want.bytes}`);
        if (into!.wanted(want.name)) {
          const target = extracted(into!.dir, want.name);
          const hash = createHash('sha256');
          const sink = await fs.open(target, 'wx', 0o600);
          try {
            for await (const chunk of entry as AsyncIterable<Buffer>) {
              hash.update(chunk);
              await sink.write(chunk);
            }
          } finally {
            await sink.close();
          }
          if (hash.digest('hex') !== want.sha256) throw refuse(file, `holds ${want.name} damaged (its sha256 differs from the manifest's)`);
        } else {
          for await (const _chunk of entry as AsyncIterable<Buffer>);
        }
      }
      index++;
    }
  } catch (err) {
    if (err instanceof StrataError) throw err;
    throw refuse(file, `is not a valid backup archive (${(err as Error).message})`);
  } finally {
    input.destroy();
    parser.destroy();
  }
  if (!manifest) throw refuse(file, 'holds no manifest (empty, or not a backup file)');
  if (into && index - 1 < manifest.entries.length) throw refuse(file, `lacks ${manifest.entries[index - 1].name} that its manifest lists (truncated?)`);
  return manifest;
}

/** Where readBackupFile put an entry. */
export function extracted(dir: string, name: string): string {
  return join(dir, name.replace('/', '-'));
}
