/**
 * capture: reading what an installer changed in a throw-away container (diff of the
 * overlay upper directory against the template layers below it).
 */
export { diffUpper, DEFAULT_VOLATILE, type ChangeSet, type DatabaseChange, type DiffOptions, type Entry, type EntryType, type Skipped } from './diff.js';
export { compileExcludes, globToRegExp } from './glob.js';
export { readXattrs, type Xattrs } from './xattrs.js';
