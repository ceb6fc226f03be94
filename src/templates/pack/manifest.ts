/**
 * The manifest of a template file (see docs/template-format.md): its types, the strict
 * validation of an untrusted manifest, the canonical JSON form and the template digest. Pure
 * functions on plain data; no I/O.
 *
 * Validation refuses, with an InvalidArgument naming the field: unknown or mistyped fields;
 * paths that are absolute, not normalised, contain `..`, NUL or over-long names; an entry whose
 * parent is not a directory entry before it (so nothing is ever created through a symlink);
 * duplicate paths; hardlinks to anything but a regular file entry of the same manifest; device
 * nodes, FIFOs and sockets; xattrs other than user.* and security.capability (overlayfs private
 * ones in particular); a file whose digest does not follow from its metadata; totals that do not
 * add up or go over the limits.
 */
import { InvalidArgument } from '../../errors/index.js';
import { isDigest, MAX_XATTR_VALUE_BYTES, sha256Digest, xattrRefusal, type ObjectMeta, type Xattrs } from '../../store/index.js';
import { isValidName } from '../../util/names.js';

export const FORMAT = 'strata-template/1';

type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** How the template was made. */
export interface Made {
  /** busybox, debootstrap, rootfs, oci, host, capture, … */
  how: string;
  /** What it was made from (a suite, an archive name, a base template). */
  source?: string;
  /** The installer command of a capture. */
  command?: string[];
  /** The program that made it and its version, e.g. "strata 0.1.0". */
  tool?: string;
  notes?: string;
}

export interface BaseRef {
  name: string;
  version: string;
  /** The base's template digest. */
  digest: string;
}

/** xattrs by name, values in base64. */
export type ManifestXattrs = Record<string, string>;

export interface DirEntry {
  path: string;
  type: 'dir';
  mode: number;
  uid: number;
  gid: number;
  /** Milliseconds since the epoch. */
  mtime: number;
  xattrs?: ManifestXattrs;
}

export interface FileEntry {
  path: string;
  type: 'file';
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  size: number;
  /** The object digest: content and the metadata above (see src/store/digest.ts). */
  digest: string;
  xattrs?: ManifestXattrs;
}

interface SymlinkEntry {
  path: string;
  type: 'symlink';
  uid: number;
  gid: number;
  mtime: number;
  /** Where the link points, as the container will read it; never followed when unpacking. */
  target: string;
}

interface HardlinkEntry {
  path: string;
  type: 'hardlink';
  /** The path of a 'file' entry earlier in the manifest. */
  target: string;
}

export type ManifestEntry = DirEntry | FileEntry | SymlinkEntry | HardlinkEntry;

export interface Totals {
  /** 'file' and 'hardlink' entries. */
  files: number;
  dirs: number;
  symlinks: number;
  hardlinks: number;
  /** Distinct object digests: the object entries of the file. */
  objects: number;
  /** Sum of the sizes of all 'file' and 'hardlink' entries. */
  logicalBytes: number;
  /** Sum of the sizes of the distinct objects. */
  objectBytes: number;
}

/** How a container runs an OS template: its init and the signal that stops it. */
interface RunConfig {
  init: string[];
  stopSignal: string;
  env?: string[];
}

export interface Manifest {
  format: typeof FORMAT;
  name: string;
  version: string;
  kind: 'os' | 'app';
  /** ISO 8601, UTC. */
  createdAt: string;
  made: Made;
  bases: BaseRef[];
  files: ManifestEntry[];
  deletions: string[];
  opaqueDirs: string[];
  keys: Record<string, Record<string, JsonValue | null>>;
  totals: Totals;
  /** OS templates: how to run them (absent: /sbin/init, stopped with SIGTERM). */
  run?: RunConfig;
}

export interface ManifestLimits {
  /** Most 'file' + 'dir' + 'symlink' + 'hardlink' entries (default 2,000,000). */
  maxFiles: number;
  /** Most bytes of object contents (default 64 GiB). */
  maxBytes: number;
  /** Most archive entries: the manifest plus the objects (default 2,000,001). */
  maxEntries: number;
}

export const DEFAULT_LIMITS: ManifestLimits = { maxFiles: 2_000_000, maxBytes: 64 * 1024 ** 3, maxEntries: 2_000_001 };

export const ROOT = '.';
const MAX_PATH_BYTES = 4096;
const MAX_NAME_BYTES = 255;
const MAX_XATTRS = 64;
const MAX_BASES = 64;
const MAX_DATABASES = 64;
const MAX_JSON_DEPTH = 16;
const VERSION = /^[A-Za-z0-9][A-Za-z0-9._+~:-]{0,63}$/;
const HOW = /^[a-z][a-z0-9-]{0,31}$/;
const DATABASE = /^[a-z][a-z0-9_-]{0,63}$/;
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const MAX_MTIME = 8.64e15;

/** Canonical JSON (RFC 8785 for the values a manifest holds): keys sorted, no white space. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const object = value as Record<string, unknown>;
    const keys = Object.keys(object).filter((key) => object[key] !== undefined).sort();
    return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson(object[key])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** The template digest: sha256 of the canonical JSON of the manifest. */
export function templateDigest(manifest: Manifest): string {
  return sha256Digest(canonicalJson(manifest));
}

/** The store metadata of a file entry (its xattrs decoded). */
export function metaOf(entry: FileEntry | DirEntry): ObjectMeta {
  return { mode: entry.mode, uid: entry.uid, gid: entry.gid, xattrs: decodeXattrs(entry.xattrs) };
}

export function decodeXattrs(xattrs: ManifestXattrs | undefined): Xattrs {
  return Object.fromEntries(Object.entries(xattrs ?? {}).map(([name, value]) => [name, Buffer.from(value, 'base64')]));
}

export function encodeXattrs(xattrs: Xattrs): ManifestXattrs | undefined {
  const names = Object.keys(xattrs).sort();
  if (names.length === 0) return undefined;
  return Object.fromEntries(names.map((name) => [name, xattrs[name].toString('base64')]));
}

/** Sums what the entries hold. */
export function computeTotals(files: ManifestEntry[]): Totals {
  const totals: Totals = { files: 0, dirs: 0, symlinks: 0, hardlinks: 0, objects: 0, logicalBytes: 0, objectBytes: 0 };
  const sizes = new Map<string, number>();
  const byPath = new Map<string, FileEntry>();
  for (const entry of files) {
    if (entry.type === 'dir') {
      if (entry.path !== ROOT) totals.dirs++;
    } else if (entry.type === 'symlink') totals.symlinks++;
    else if (entry.type === 'file') {
      byPath.set(entry.path, entry);
      totals.files++;
      totals.logicalBytes += entry.size;
      if (!sizes.has(entry.digest)) {
        sizes.set(entry.digest, entry.size);
        totals.objectBytes += entry.size;
      }
    } else {
      totals.files++;
      totals.hardlinks++;
      totals.logicalBytes += byPath.get(entry.target)?.size ?? 0;
    }
  }
  totals.objects = sizes.size;
  return totals;
}

/** The objects a manifest needs: digest → the first file entry that has it. */
export function objectsOf(manifest: Manifest): Map<string, FileEntry> {
  const objects = new Map<string, FileEntry>();
  for (const entry of manifest.files) if (entry.type === 'file' && !objects.has(entry.digest)) objects.set(entry.digest, entry);
  return objects;
}

/** Parses and validates the text of an untrusted manifest. */
export function parseManifest(text: string, limits: ManifestLimits = DEFAULT_LIMITS): Manifest {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new InvalidArgument(`the template manifest is not valid JSON (${(err as Error).message.slice(0, 200)}): refusing the template file`, { cause: err });
  }
  return validateManifest(value, limits);
}

/** Checks every field of an untrusted manifest, or throws InvalidArgument naming the first bad one. */
export function validateManifest(value: unknown, limits: ManifestLimits = DEFAULT_LIMITS): Manifest {
  const m = object(value, '', ['format', 'name', 'version', 'kind', 'createdAt', 'made', 'bases', 'files', 'deletions', 'opaqueDirs', 'keys', 'totals', 'run']);
  if (m.format !== FORMAT) throw bad('format', `is ${show(m.format)}, not ${show(FORMAT)}: this is not a Strata template file, or one from a newer Strata`);
  if (typeof m.name !== 'string' || !isValidName(m.name)) throw bad('name', 'is not a template name (1-63 characters of a-z, 0-9 and -)');
  if (typeof m.version !== 'string' || !VERSION.test(m.version)) throw bad('version', 'is not 1-64 characters of A-Z, a-z, 0-9 and ._+~:- starting with a letter or digit');
  if (m.kind !== 'os' && m.kind !== 'app') throw bad('kind', 'is neither "os" nor "app"');
  if (typeof m.createdAt !== 'string' || !ISO_UTC.test(m.createdAt) || Number.isNaN(Date.parse(m.createdAt))) throw bad('createdAt', 'is not an ISO 8601 UTC time');
  const made = validateMade(m.made);
  const totals = validateTotals(m.totals, limits);
  const bases = array(m.bases, 'bases', MAX_BASES).map((item, i) => {
    const base = object(item, `bases[${i}]`, ['name', 'version', 'digest']);
    if (typeof base.name !== 'string' || !isValidName(base.name)) throw bad(`bases[${i}].name`, 'is not a template name');
    if (typeof base.version !== 'string' || !VERSION.test(base.version)) throw bad(`bases[${i}].version`, 'is not a version');
    if (!isDigest(base.digest)) throw bad(`bases[${i}].digest`, 'is not a sha256 digest');
    return { name: base.name, version: base.version, digest: base.digest } as BaseRef;
  });
  const files = validateFiles(m.files, limits);
  const computed = computeTotals(files);
  for (const key of Object.keys(computed) as Array<keyof Totals>) {
    if (computed[key] !== totals[key]) throw bad(`totals.${key}`, `says ${totals[key]} but the entries add up to ${computed[key]}`);
  }
  const entries = new Map(files.map((entry) => [entry.path, entry]));
  const deletions = uniquePaths(m.deletions, 'deletions');
  deletions.forEach((path, i) => {
    if (entries.has(path)) throw bad(`deletions[${i}]`, `deletes ${show(path)}, which the template also holds`);
  });
  const opaqueDirs = uniquePaths(m.opaqueDirs, 'opaqueDirs');
  opaqueDirs.forEach((path, i) => {
    if (entries.get(path)?.type !== 'dir') throw bad(`opaqueDirs[${i}]`, `names ${show(path)}, which is not a directory entry of the template`);
  });
  const keys = validateKeys(m.keys);
  if (m.kind === 'os') {
    if (bases.length > 0) throw bad('bases', 'is not empty, but an OS template has no base');
    if (deletions.length > 0 || opaqueDirs.length > 0 || Object.keys(keys).length > 0) throw bad('kind', 'is "os", but the manifest has deletions, opaque directories or key changes, which only an application template has');
  } else if (bases.length === 0) {
    throw bad('bases', 'is empty, but an application template needs the OS template it was made on');
  }
  const run = m.run === undefined ? undefined : validateRun(m.run);
  if (run && m.kind !== 'os') throw bad('run', 'is set, but only an OS template says how it runs');
  return { format: FORMAT, name: m.name, version: m.version, kind: m.kind, createdAt: m.createdAt, made, bases, files, deletions, opaqueDirs, keys, totals, ...(run ? { run } : {}) };
}

function validateRun(value: unknown): RunConfig {
  const run = object(value, 'run', ['init', 'stopSignal', 'env']);
  const init = array(run.init, 'run.init', 256).map((word, i) => string(word, `run.init[${i}]`, 4096));
  if (init.length === 0 || !init[0].startsWith('/')) throw bad('run.init', 'is not a command starting with an absolute path');
  if (typeof run.stopSignal !== 'string' || !/^SIG[A-Z0-9+]{2,12}$/.test(run.stopSignal)) throw bad('run.stopSignal', 'is not a signal name such as SIGTERM');
  const result: RunConfig = { init, stopSignal: run.stopSignal };
  if (run.env !== undefined) {
    result.env = array(run.env, 'run.env', 1024).map((e, i) => {
      const entry = string(e, `run.env[${i}]`, 65536);
      if (!/^[A-Za-z_][A-Za-z0-9_]*=/.test(entry)) throw bad(`run.env[${i}]`, 'is not KEY=VALUE');
      return entry;
    });
  }
  return result;
}

function validateMade(value: unknown): Made {
  const made = object(value, 'made', ['how', 'source', 'command', 'tool', 'notes']);
  if (typeof made.how !== 'string' || !HOW.test(made.how)) throw bad('made.how', 'is not a word of a-z, 0-9 and - (1-32 characters)');
  const result: Made = { how: made.how };
  if (made.source !== undefined) result.source = string(made.source, 'made.source', 4096);
  if (made.tool !== undefined) result.tool = string(made.tool, 'made.tool', 256);
  if (made.notes !== undefined) result.notes = string(made.notes, 'made.notes', 65536);
  if (made.command !== undefined) result.command = array(made.command, 'made.command', 256).map((word, i) => string(word, `made.command[${i}]`, 4096));
  return result;
}

function validateTotals(value: unknown, limits: ManifestLimits): Totals {
  const keys: Array<keyof Totals> = ['files', 'dirs', 'symlinks', 'hardlinks', 'objects', 'logicalBytes', 'objectBytes'];
  const raw = object(value, 'totals', keys);
  const totals = {} as Totals;
  for (const key of keys) {
    const n = raw[key];
    if (!Number.isSafeInteger(n) || (n as number) < 0) throw bad(`totals.${key}`, 'is not a non-negative integer');
    totals[key] = n as number;
  }
  const entries = totals.files + totals.dirs + totals.symlinks;
  if (entries > limits.maxFiles) throw bad('totals', `claims ${entries} files, directories and symlinks, over the limit of ${limits.maxFiles}`);
  if (totals.objectBytes > limits.maxBytes) throw bad('totals.objectBytes', `claims ${totals.objectBytes} bytes of contents, over the limit of ${limits.maxBytes}`);
  if (totals.objects + 1 > limits.maxEntries) throw bad('totals.objects', `claims ${totals.objects} objects, over the limit of ${limits.maxEntries - 1}`);
  return totals;
}

function validateFiles(value: unknown, limits: ManifestLimits): ManifestEntry[] {
  const items = array(value, 'files', limits.maxFiles + 1);
  const byPath = new Map<string, ManifestEntry>();
  const objectSizes = new Map<string, { size: number; path: string; meta: string }>();
  const files: ManifestEntry[] = [];
  items.forEach((item, i) => {
    const where = `files[${i}]`;
    const raw = item !== null && typeof item === 'object' && !Array.isArray(item) ? (item as Record<string, unknown>) : {};
    const type = raw.type;
    if (['char', 'block', 'character-device', 'block-device', 'device'].includes(type as string)) {
      throw bad(`${where}.type`, 'is a device node, which a template never holds (the runtime gives each container its /dev)');
    }
    if (type === 'fifo' || type === 'socket') throw bad(`${where}.type`, `is a ${type}, which a template never holds`);
    let entry: ManifestEntry;
    switch (type) {
      case 'dir': {
        const e = object(item, where, ['path', 'type', 'mode', 'uid', 'gid', 'mtime', 'xattrs']);
        entry = { path: rootOrPath(e.path, `${where}.path`), type, mode: mode(e.mode, where), uid: id(e.uid, `${where}.uid`), gid: id(e.gid, `${where}.gid`), mtime: mtime(e.mtime, where) };
        const x = xattrs(e.xattrs, where);
        if (x) entry.xattrs = x;
        break;
      }
      case 'file': {
        const e = object(item, where, ['path', 'type', 'mode', 'uid', 'gid', 'mtime', 'size', 'digest', 'xattrs']);
        const size = e.size;
        if (!Number.isSafeInteger(size) || (size as number) < 0 || (size as number) > limits.maxBytes) throw bad(`${where}.size`, `is not an integer from 0 to ${limits.maxBytes}`);
        if (!isDigest(e.digest)) throw bad(`${where}.digest`, 'is not a sha256 digest');
        entry = { path: normalPath(e.path, `${where}.path`), type, mode: mode(e.mode, where), uid: id(e.uid, `${where}.uid`), gid: id(e.gid, `${where}.gid`), mtime: mtime(e.mtime, where), size: size as number, digest: e.digest };
        const x = xattrs(e.xattrs, where);
        if (x) entry.xattrs = x;
        // One digest, one object: every entry naming it must agree on size and metadata.
        const meta = canonicalJson([entry.mode, entry.uid, entry.gid, entry.xattrs ?? {}]);
        const seen = objectSizes.get(entry.digest);
        if (seen === undefined) objectSizes.set(entry.digest, { size: entry.size, path: entry.path, meta });
        else if (seen.size !== entry.size || seen.meta !== meta) throw bad(where, `has the digest of ${show(seen.path)} but another size or metadata`);
        break;
      }
      case 'symlink': {
        const e = object(item, where, ['path', 'type', 'uid', 'gid', 'mtime', 'target']);
        const target = string(e.target, `${where}.target`, MAX_PATH_BYTES);
        if (target === '' || target.includes('\0')) throw bad(`${where}.target`, 'is empty or contains a NUL byte');
        entry = { path: normalPath(e.path, `${where}.path`), type, uid: id(e.uid, `${where}.uid`), gid: id(e.gid, `${where}.gid`), mtime: mtime(e.mtime, where), target };
        break;
      }
      case 'hardlink': {
        const e = object(item, where, ['path', 'type', 'target']);
        entry = { path: normalPath(e.path, `${where}.path`), type, target: normalPath(e.target, `${where}.target`) };
        if (byPath.get(entry.target)?.type !== 'file') {
          throw bad(`${where}.target`, `is ${show(entry.target)}, which is not a regular file entry earlier in this manifest`);
        }
        break;
      }
      default:
        throw bad(`${where}.type`, `is ${show(type)}, not one of "dir", "file", "symlink", "hardlink"`);
    }
    if (byPath.has(entry.path)) throw bad(`${where}.path`, `repeats ${show(entry.path)}`);
    if (entry.path === ROOT && i !== 0) throw bad(`${where}.path`, 'is the root ".", which may only be the first entry');
    if (entry.path !== ROOT) {
      const slash = entry.path.lastIndexOf('/');
      if (slash >= 0) {
        const parent = entry.path.slice(0, slash);
        if (byPath.get(parent)?.type !== 'dir') {
          throw bad(`${where}.path`, `is inside ${show(parent)}, which is not a directory entry earlier in this manifest (a symlink or file may not be a parent)`);
        }
      }
    }
    byPath.set(entry.path, entry);
    files.push(entry);
  });
  return files;
}

function validateKeys(value: unknown): Manifest['keys'] {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw bad('keys', 'is not an object');
  const databases = Object.entries(value as Record<string, unknown>);
  if (databases.length > MAX_DATABASES) throw bad('keys', `has more than ${MAX_DATABASES} databases`);
  const keys: Manifest['keys'] = {};
  for (const [database, changes] of databases) {
    if (!DATABASE.test(database)) throw bad(`keys.${show(database)}`, 'is not a database name (a-z, 0-9, _ and -)');
    if (changes === null || typeof changes !== 'object' || Array.isArray(changes)) throw bad(`keys.${database}`, 'is not an object of key changes');
    const out: Record<string, JsonValue | null> = {};
    for (const [key, change] of Object.entries(changes as Record<string, unknown>)) {
      if (key === '' || key.includes('\0') || Buffer.byteLength(key) > MAX_PATH_BYTES || /\p{Cs}/u.test(key)) throw bad(`keys.${database}`, `has the invalid key ${show(key)}`);
      out[key] = jsonValue(change, `keys.${database}.${show(key)}`, 0);
    }
    keys[database] = out;
  }
  return keys;
}

function jsonValue(value: unknown, where: string, depth: number): JsonValue {
  if (depth > MAX_JSON_DEPTH) throw bad(where, `nests deeper than ${MAX_JSON_DEPTH} levels`);
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return value;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw bad(where, 'is not a finite number');
    return value;
  }
  if (Array.isArray(value)) return value.map((item) => jsonValue(item, where, depth + 1));
  if (typeof value === 'object') {
    const out: Record<string, JsonValue> = {};
    for (const [key, item] of Object.entries(value as Record<string, unknown>)) out[key] = jsonValue(item, where, depth + 1);
    return out;
  }
  throw bad(where, 'is not a JSON value');
}

function uniquePaths(value: unknown, where: string): string[] {
  const paths = array(value, where, DEFAULT_LIMITS.maxFiles).map((item, i) => normalPath(item, `${where}[${i}]`));
  const seen = new Set<string>();
  paths.forEach((path, i) => {
    if (seen.has(path)) throw bad(`${where}[${i}]`, `repeats ${show(path)}`);
    seen.add(path);
  });
  return paths;
}

/** A path relative to the template root, exactly in normal form: a/b/c, no ., .., // or trailing /. */
function normalPath(value: unknown, where: string): string {
  if (typeof value !== 'string') throw bad(where, 'is not a string');
  if (value === '') throw bad(where, 'is empty');
  if (value.includes('\0')) throw bad(where, 'contains a NUL byte');
  if (value.startsWith('/')) throw bad(where, `is the absolute path ${show(value)}; paths are relative to the template root`);
  if (/\p{Cs}/u.test(value)) throw bad(where, 'is not valid Unicode');
  if (Buffer.byteLength(value) > MAX_PATH_BYTES) throw bad(where, `is longer than ${MAX_PATH_BYTES} bytes`);
  const parts = value.split('/');
  if (parts.includes('..')) throw bad(where, `is ${show(value)}, which escapes the template root`);
  if (parts.some((part) => part === '' || part === '.')) throw bad(where, `is ${show(value)}, which is not in normal form (no ".", empty names or trailing "/")`);
  if (parts.some((part) => Buffer.byteLength(part) > MAX_NAME_BYTES)) throw bad(where, `has a name longer than ${MAX_NAME_BYTES} bytes`);
  return value;
}

function rootOrPath(value: unknown, where: string): string {
  return value === ROOT ? ROOT : normalPath(value, where);
}

function object(value: unknown, where: string, allowed: string[]): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw bad(where, 'is not an object');
  for (const key of Object.keys(value)) if (!allowed.includes(key)) throw bad(where, `has the unknown field ${show(key)}`);
  return value as Record<string, unknown>;
}

function array(value: unknown, where: string, max: number): unknown[] {
  if (!Array.isArray(value)) throw bad(where, 'is not an array');
  if (value.length > max) throw bad(where, `has ${value.length} items, over the limit of ${max}`);
  return value;
}

function string(value: unknown, where: string, maxBytes: number): string {
  if (typeof value !== 'string') throw bad(where, 'is not a string');
  if (Buffer.byteLength(value) > maxBytes) throw bad(where, `is longer than ${maxBytes} bytes`);
  return value;
}

function id(value: unknown, where: string): number {
  if (!Number.isSafeInteger(value) || (value as number) < 0 || (value as number) >= 0xffffffff) throw bad(where, 'is not a user or group id (0 to 4294967294)');
  return value as number;
}

function mode(value: unknown, where: string): number {
  if (!Number.isSafeInteger(value) || (value as number) < 0 || (value as number) > 0o7777) throw bad(`${where}.mode`, 'is not a mode from 0 to 07777 (permission, setuid, setgid and sticky bits)');
  return value as number;
}

function mtime(value: unknown, where: string): number {
  if (!Number.isSafeInteger(value) || Math.abs(value as number) > MAX_MTIME) throw bad(`${where}.mtime`, 'is not a time in milliseconds since the epoch');
  return value as number;
}

function xattrs(value: unknown, where: string): ManifestXattrs | undefined {
  if (value === undefined) return undefined;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw bad(`${where}.xattrs`, 'is not an object');
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length > MAX_XATTRS) throw bad(`${where}.xattrs`, `has more than ${MAX_XATTRS} xattrs`);
  if (entries.length === 0) throw bad(`${where}.xattrs`, 'is empty: leave it out');
  const out: ManifestXattrs = {};
  for (const [name, raw] of entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const why = xattrRefusal(name);
    if (why) throw bad(`${where}.xattrs`, `has the xattr ${show(name)}, which ${why}`);
    if (typeof raw !== 'string' || !BASE64.test(raw)) throw bad(`${where}.xattrs.${name}`, 'is not base64');
    if (Buffer.from(raw, 'base64').length > MAX_XATTR_VALUE_BYTES) throw bad(`${where}.xattrs.${name}`, `is longer than ${MAX_XATTR_VALUE_BYTES} bytes`);
    out[name] = raw;
  }
  return out;
}

function bad(field: string, why: string): InvalidArgument {
  const what = field === '' ? 'the template manifest' : `template manifest field ${field}`;
  return new InvalidArgument(`${what} ${why}: refusing the template file`);
}

/** A value for a message: JSON, cut if long. */
function show(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 120 ? `${text.slice(0, 116)}…` : text;
}
