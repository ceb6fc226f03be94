/**
 * Extended attributes as the capture's diff compares them: attribute name → base64 value, read
 * by the content store's getfattr reader (store/xattrs.ts), many paths per run, never through a
 * symlink. It reads; it never sets attributes.
 */
import { readXattrsOf } from '../../store/index.js';

/** Attribute name → raw value, base64-encoded. */
export type Xattrs = Record<string, string>;

/** The attributes of every path (all namespaces), an empty object for a path without any. */
export async function readXattrs(paths: readonly string[]): Promise<Map<string, Xattrs>> {
  const result = new Map<string, Xattrs>();
  for (const [path, attrs] of await readXattrsOf(paths)) {
    const encoded = Object.create(null) as Xattrs;
    for (const [name, value] of Object.entries(attrs)) encoded[name] = value.toString('base64');
    result.set(path, encoded);
  }
  return result;
}
