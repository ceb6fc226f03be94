/**
 * store: the content store of template files (objects by digest, ingest then commit) and the
 * template trees of hardlinks into it. The public face of this folder.
 */
export {
  isDigest,
  hexOf,
  objectDigest,
  sha256Digest,
  utimeOf,
  xattrRefusal,
  MAX_XATTR_VALUE_BYTES,
  type ObjectMeta,
  type Xattrs,
} from './digest.js';
export { namespacedCapability, neutralCapability } from './capability.js';
export {
  ContentStore,
  hashFile,
  keptXattrs,
} from './objects.js';
export { ingestTree, prepareDestination, treeDf } from './tree.js';
export { toolXattrs, readXattrsOf, type XattrIO } from './xattrs.js';
