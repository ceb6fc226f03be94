/**
 * store: the content store of template files (objects by digest, ingest then commit) and the
 * template trees of hardlinks into it. The public face of this folder.
 */
export {
  isDigest,
  hexOf,
  objectDigest,
  objectHeader,
  sha256Digest,
  sortedNames,
  utimeOf,
  xattrRefusal,
  MAX_XATTR_VALUE_BYTES,
  OBJECT_HEADER_VERSION,
  type ObjectMeta,
  type Xattrs,
} from './digest.js';
export { capabilityRefusal, namespacedCapability, neutralCapability } from './capability.js';
export {
  ContentStore,
  hashFile,
  keptXattrs,
  type ContentStoreOptions,
  type GcResult,
  type IngestMeta,
  type IngestResult,
  type IngestStreamOptions,
  type StoreProgress,
  type StoreUsage,
  type VerifyResult,
} from './objects.js';
export { ingestTree, prepareDestination, treeDf, type IngestTreeResult, type TreeProgress, type TreeUsage } from './tree.js';
export { toolXattrs, readXattrsOf, type XattrIO } from './xattrs.js';
