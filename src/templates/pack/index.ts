/**
 * Template files: one self-describing, compressed file per template (manifest + objects), for
 * `strata template export` and `import`. See docs/template-format.md. The public face of this
 * folder.
 */
export {
  canonicalJson,
  computeTotals,
  DEFAULT_LIMITS,
  FORMAT,
  parseManifest,
  templateDigest,
  validateManifest,
  type BaseRef,
  type DirEntry,
  type FileEntry,
  type HardlinkEntry,
  type JsonValue,
  type Made,
  type Manifest,
  type ManifestEntry,
  type ManifestLimits,
  type SymlinkEntry,
  type Totals,
} from './manifest.js';
export { countProgress, describeTree, exportTemplate, type TreeDescription, type ExportResult, type ManifestBase, type PackProgress } from './export.js';
export { DEFAULT_IMPORT_LIMITS, importTemplate, readTemplateFile, type ImportLimits, type ImportOptions, type ImportResult } from './import.js';
