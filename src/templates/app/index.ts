/**
 * apps: application templates. A version is a captured or imported tree in the content store
 * plus the per-key changes of the system databases; attaching makes it a read-only layer of a
 * container (stopped) or copies it through the container's root (running, until the next
 * start), and merges its keys into the container's own files. The orchestration of attach,
 * detach, upgrade and capture lives in src/containers, which owns containers' locks and mounts.
 */
export { AppTemplates, checkAppManifest, type AppVersion, type CaptureSummary } from './templates.js';
export { applyKeys, plannedKeys, planRemap, removeKeys, countKeys, type AppKeys, type DbFiles, type IdRemaps } from './databases.js';
export { copyThrough, undoCopy, restoreShared, upperDbFiles, mergedDbFiles, lstatInside, writeWhiteouts, type CopyJournal, type IdShift } from './files.js';
