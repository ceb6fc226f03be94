/**
 * merge: the per-key merge of system databases (users, groups, shadow entries, the
 * package database) for application templates. Pure functions on file texts; the
 * caller reads and writes the files and chowns template files by the id remap.
 */
export { derivedExcludes, regenerationScript } from './derived.js';
export { MERGE_RULES, passwdRule, groupRule, type MergeRule } from './rules.js';
export { keyChanges, applyKeyChanges, removeKeyChanges, type KeyChanges, type KeyConflict } from './keys.js';
export {
  planIdRemap, incomingIds, assertNoIdConflicts, remapKeyChanges, mapIds,
       type IdRemapPlan,
} from './ids.js';
