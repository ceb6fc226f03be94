/**
 * File capabilities (`security.capability`) as stored on disk (linux/capability.h): a
 * little-endian header word whose top byte is the revision (1: 12 bytes, 2: 20 bytes, 3: 24
 * bytes, the last four the *root id* that owns it), then the permitted and inheritable sets.
 *
 * Templates keep namespace-neutral v2 capabilities, like their real owners: seen through a
 * container's idmapped mount they belong to that container's root. A v3 capability belongs to
 * one user namespace, the one whose root is its root id: a capture sees the ones its installer
 * set as v3 owned by the scratch container's root, and turns them back into v2. Copies written
 * into one container's private area get that container's root id, so that the file grants
 * nothing to whoever runs it outside the container.
 */
const REVISION_MASK = 0xff000000;
const V1 = 0x01000000;
const V2 = 0x02000000;
const V3 = 0x03000000;
const SIZES: Record<number, number> = { [V1]: 12, [V2]: 20, [V3]: 24 };

function revision(value: Buffer): number | null {
  if (value.length < 4) return null;
  const rev = (value.readUInt32LE(0) & REVISION_MASK) >>> 0;
  return SIZES[rev] === value.length ? rev : null;
}

/** Why a stored capability value is refused (malformed, or tied to a user namespace), or undefined. */
export function capabilityRefusal(value: Buffer): string | undefined {
  const rev = revision(value);
  if (rev === null) return 'is not a valid file capability (revision 1, 2 or 3 of the right size)';
  if (rev === V3) return `belongs to the user namespace of root id ${value.readUInt32LE(20)} (revision 3): Strata keeps namespace-neutral capabilities (revision 2), which each container's id mapping makes its own`;
  return undefined;
}

/**
 * The namespace-neutral form of a capability that root id `rootId` owns: v3 of that root id
 * becomes v2; v1 and v2 stay as they are. Null for a v3 of another root id, or a malformed value.
 */
export function neutralCapability(value: Buffer, rootId: number): Buffer | null {
  const rev = revision(value);
  if (rev === null) return null;
  if (rev !== V3) return value;
  if (value.readUInt32LE(20) !== rootId) return null;
  const out = Buffer.from(value.subarray(0, 20));
  out.writeUInt32LE(((value.readUInt32LE(0) & ~REVISION_MASK) | V2) >>> 0, 0);
  return out;
}

/** The capability owned by root id `rootId` (v3), from a namespace-neutral one; null if malformed. */
export function namespacedCapability(value: Buffer, rootId: number): Buffer | null {
  const rev = revision(value);
  if (rev === null) return null;
  if (rev === V3) return value.readUInt32LE(20) === rootId ? value : null;
  const out = Buffer.alloc(24);
  value.copy(out, 0, 0, value.length);
  out.writeUInt32LE(((value.readUInt32LE(0) & ~REVISION_MASK) | V3) >>> 0, 0);
  out.writeUInt32LE(rootId >>> 0, 20);
  return out;
}
