/**
 * merge: the per-key merge of system databases (users, groups, shadow entries, the
 * package database) for application templates. Pure functions on file texts; the
 * caller reads and writes the files and chowns template files by the id remap.
 */
export { DERIVED_FILES, derivedExcludes, regenerationScript, type DerivedFile } from './derived.js';
export { MERGE_RULES, ruleFor, packageKey, stanzaField, passwdRule, groupRule, shadowRule, gshadowRule, dpkgStatusRule, type MergeRule } from './rules.js';
export { keyChanges, applyKeyChanges, removeKeyChanges, isEmptyChanges, type KeyChanges, type KeyConflict, type MergeResult } from './keys.js';
export {
  planIdRemap, incomingIds, assertNoIdConflicts, remapRecord, remapKeyChanges, mapIds, ID_RULES,
  SYSTEM_ID_RANGE, NORMAL_ID_RANGE, NOBODY_ID, type IncomingIds, type IdRemap, type IdRemapPlan,
} from './ids.js';
