/**
 * capture: reading what an installer changed in a throw-away container (diff of the
 * overlay upper directory against the template layers below it).
 */
export { diffUpper, type ChangeSet, type DatabaseChange, type Entry } from './diff.js';
