/**
 * Extended attributes of files, read without following symlinks. Node has no
 * xattr API, so this spawns `getfattr` (Debian package `attr`) once per batch
 * of paths and parses its dump: `getfattr --dump --match=- --absolute-names
 * -h -e base64 -- PATH...`. It reads; it never sets attributes.
 */
import { FailedPrecondition, ToolError } from '../../errors/index.js';
import { run } from '../../util/exec.js';

/** Attribute name → raw value, base64-encoded. */
export type Xattrs = Record<string, string>;

/** The longest argument list handed to one getfattr run, in bytes (well below ARG_MAX). */
const BATCH_BYTES = 96 * 1024;

/** Undoes getfattr's quoting of names: `\ooo` octal escapes of bytes (backslash, newline, `=`…). */
export function unquoteGetfattr(text: string): string {
  if (!text.includes('\\')) return text;
  const bytes: number[] = [];
  const raw = Buffer.from(text, 'utf8');
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] === 0x5c && i + 3 < raw.length && /^[0-7]{3}$/.test(raw.subarray(i + 1, i + 4).toString('latin1'))) {
      bytes.push(parseInt(raw.subarray(i + 1, i + 4).toString('latin1'), 8));
      i += 3;
    } else {
      bytes.push(raw[i]);
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/** Parses the output of `getfattr --dump -e base64 --absolute-names`: path → attributes. Paths without attributes do not appear. */
export function parseGetfattrDump(output: string): Map<string, Xattrs> {
  const result = new Map<string, Xattrs>();
  let current: Xattrs | null = null;
  for (const line of output.split('\n')) {
    if (line.startsWith('# file: ')) {
      current = Object.create(null) as Xattrs;
      result.set(unquoteGetfattr(line.slice('# file: '.length)), current);
      continue;
    }
    if (!line || !current) continue;
    const eq = line.indexOf('=');
    const name = unquoteGetfattr(eq < 0 ? line : line.slice(0, eq));
    let value = eq < 0 ? '' : line.slice(eq + 1);
    if (value.startsWith('0s')) value = value.slice(2);
    else if (value.startsWith('"') && value.endsWith('"')) value = Buffer.from(value.slice(1, -1), 'utf8').toString('base64');
    current[name] = value;
  }
  return result;
}

/**
 * Reads the extended attributes of every path (all namespaces: user, trusted,
 * security, system), symlinks themselves rather than their targets. Every path
 * must exist. Returns path → attributes, with an empty object for paths that
 * have none.
 */
export async function readXattrs(paths: readonly string[]): Promise<Map<string, Xattrs>> {
  const result = new Map<string, Xattrs>();
  for (const p of paths) result.set(p, Object.create(null) as Xattrs);
  let batch: string[] = [];
  let bytes = 0;
  const flush = async (): Promise<void> => {
    if (!batch.length) return;
    const argv = ['getfattr', '--dump', '--match=-', '--absolute-names', '-h', '-e', 'base64', '--', ...batch];
    batch = [];
    bytes = 0;
    let out: string;
    try {
      out = (await run(argv, { context: 'reading extended attributes' })).stdout;
    } catch (err) {
      if (err instanceof ToolError && err.exitStatus === null && /ENOENT/.test(err.stderr)) {
        throw new FailedPrecondition('getfattr is not installed: install the Debian package attr (apt-get install attr)', { cause: err });
      }
      throw err;
    }
    for (const [path, attrs] of parseGetfattrDump(out)) result.set(path, attrs);
  };
  for (const p of paths) {
    if (!p.startsWith('/')) throw new FailedPrecondition(`cannot read extended attributes of ${p}: give an absolute path`);
    const size = Buffer.byteLength(p) + 1;
    if (bytes + size > BATCH_BYTES) await flush();
    batch.push(p);
    bytes += size;
  }
  await flush();
  return result;
}
