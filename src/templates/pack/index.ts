/**
 * Template files: one self-describing, compressed file per template (manifest + objects), for
 * `strata template export` and `import`. See docs/template-format.md. The public face of this
 * folder.
 */
export {
  canonicalJson,
  objectsOf,
  templateDigest,
  type BaseRef,
  type Made,
  type Manifest,
} from './manifest.js';
export { countProgress, describeTree, exportTemplate, type ManifestBase } from './export.js';
export { importTemplate, readTemplateFile } from './import.js';
