/**
 * Digests of the content store: what names an object, and how it is computed. Pure functions
 * on plain data; no I/O.
 *
 * A digest is written `sha256:<64 lowercase hex>`. Two digests are in use:
 *
 * - the content digest of a file: `sha256:` + sha256(the file's bytes);
 * - the object digest, which names an object in the store: `sha256:` + sha256 of the canonical
 *   object header below. It covers the content (through its content digest) and every piece of
 *   metadata that an inode carries and that a hardlink therefore shares: permission bits,
 *   owner, group and the kept xattrs. Two files with the same bytes but another owner or mode
 *   are two objects.
 *
 *     strata-object-v1\n
 *     mode <mode & 07777, octal, 4 digits>\n
 *     uid <decimal>\n
 *     gid <decimal>\n
 *     xattr <name> <value, base64 with padding>\n      one line per xattr, names sorted bytewise
 *     content sha256:<hex>\n
 *
 * The modification time is not part of an object's identity (two Debian releases share a file
 * whose package version, and so whose mtime, differs); an object keeps the mtime of the first
 * copy stored.
 */
import { createHash } from 'node:crypto';
import { capabilityRefusal } from './capability.js';
import { InvalidArgument } from '../errors/index.js';

/** Extended attributes by name; only the names `keptXattr` accepts are ever stored. */
export type Xattrs = Record<string, Buffer>;

/** The metadata that is part of an object's identity. */
export interface ObjectMeta {
  /** Permission bits, setuid, setgid and sticky (mode & 0o7777); the file type is always regular. */
  mode: number;
  uid: number;
  gid: number;
  xattrs?: Xattrs;
}

const OBJECT_HEADER_VERSION = 'strata-object-v1';
const DIGEST = /^sha256:[0-9a-f]{64}$/;
/** Linux limits an xattr value to 64 KiB. */
export const MAX_XATTR_VALUE_BYTES = 65536;
const MAX_XATTR_NAME_BYTES = 255;

export function isDigest(value: unknown): value is string {
  return typeof value === 'string' && DIGEST.test(value);
}

/** The hex part of a digest. */
export function hexOf(digest: string): string {
  if (!isDigest(digest)) throw new InvalidArgument(`invalid digest ${JSON.stringify(digest).slice(0, 100)}: expected sha256:<64 lowercase hex digits>`);
  return digest.slice('sha256:'.length);
}

export function sha256Digest(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** The canonical object header (see the module comment); its sha256 is the object digest. */
export function objectHeader(meta: ObjectMeta, contentDigest: string): string {
  checkMeta(meta);
  hexOf(contentDigest);
  const lines = [
    OBJECT_HEADER_VERSION,
    `mode ${(meta.mode & 0o7777).toString(8).padStart(4, '0')}`,
    `uid ${meta.uid}`,
    `gid ${meta.gid}`,
  ];
  for (const name of sortedNames(meta.xattrs ?? {})) lines.push(`xattr ${name} ${meta.xattrs![name].toString('base64')}`);
  lines.push(`content ${contentDigest}`);
  return `${lines.join('\n')}\n`;
}

export function objectDigest(meta: ObjectMeta, contentDigest: string): string {
  return sha256Digest(objectHeader(meta, contentDigest));
}

/** Xattr names sorted bytewise (as UTF-8), the order of the object header. */
function sortedNames(xattrs: Xattrs): string[] {
  return Object.keys(xattrs).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}

/**
 * Whether an xattr is kept in the store: `user.*` and `security.capability` are; everything
 * else (`trusted.*`, `security.selinux`, ACLs in `system.*`) is not. The overlayfs private
 * names (`trusted.overlay.*`, `user.overlay.*`) are never kept: in a lower layer they would make
 * overlayfs hide or redirect files. Returns undefined for a kept name, or why it is not kept.
 */
export function xattrRefusal(name: string): string | undefined {
  if (!/^[\x21-\x7e]+$/.test(name) || name.includes('=') || Buffer.byteLength(name) > MAX_XATTR_NAME_BYTES) {
    return 'has a name that is not 1-255 printable ASCII characters without "="';
  }
  if (name.startsWith('trusted.overlay.') || name.startsWith('user.overlay.')) {
    return 'is private to overlayfs (it would hide or redirect files in a lower layer)';
  }
  if (name.startsWith('trusted.')) return 'is in the trusted.* namespace, which only the host may use';
  if (name === 'security.capability') return undefined;
  if (name.startsWith('user.') && name.length > 'user.'.length) return undefined;
  return 'is not kept by Strata (only user.* and security.capability are)';
}

function checkMeta(meta: ObjectMeta): void {
  const id = (v: unknown): boolean => Number.isSafeInteger(v) && (v as number) >= 0 && (v as number) < 0xffffffff;
  if (!Number.isSafeInteger(meta.mode) || meta.mode < 0 || meta.mode > 0o7777) throw new InvalidArgument(`invalid object mode ${meta.mode}: expected 0 to 07777`);
  if (!id(meta.uid) || !id(meta.gid)) throw new InvalidArgument(`invalid object owner ${meta.uid}:${meta.gid}: expected ids from 0 to 4294967294`);
  for (const [name, value] of Object.entries(meta.xattrs ?? {})) {
    const why = xattrRefusal(name);
    if (why) throw new InvalidArgument(`xattr ${JSON.stringify(name).slice(0, 300)} ${why}`);
    if (!Buffer.isBuffer(value) || value.length > MAX_XATTR_VALUE_BYTES) throw new InvalidArgument(`xattr ${name} has a value that is not a buffer of at most ${MAX_XATTR_VALUE_BYTES} bytes`);
    const capability = name === 'security.capability' ? capabilityRefusal(value) : undefined;
    if (capability) throw new InvalidArgument(`the file capability ${capability}`);
  }
}

/**
 * A time in milliseconds as the seconds that utimes(2) wrappers take, such that the file's
 * mtime reads back as the same millisecond: Node hands libuv a double, which truncates to
 * nanoseconds, so 1646370367.089 would read back as …088.999986. Whole seconds are exact.
 */
export function utimeOf(ms: number): number {
  return ms % 1000 === 0 ? ms / 1000 : ms / 1000 + 5e-7;
}
