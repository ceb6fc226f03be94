/**
 * Reading and writing extended attributes. Node has no xattr API, so this drives getfattr and
 * setfattr from Debian's `attr` package: one getfattr per tree (not per file) when walking, one
 * setfattr per xattr when writing (few files carry any: capabilities on ping and friends).
 * Never follows symlinks. The one reader of getfattr's dump in Strata (the capture's diff reads
 * many paths at once with readXattrsOf).
 */
import { FailedPrecondition, ToolError } from '../errors/index.js';
import { run } from '../util/exec.js';
import type { Xattrs } from './digest.js';

export interface XattrIO {
  /** Every xattr of the path itself (a symlink is not followed). */
  read(path: string): Promise<Xattrs>;
  /**
   * Every xattr of every path under `root` (root included) that has any, keyed by absolute path
   * (`root` joined with the relative path). Paths without xattrs are absent.
   */
  readTree(root: string): Promise<Map<string, Xattrs>>;
  /** Sets each xattr on the path itself (never through a symlink). */
  write(path: string, xattrs: Xattrs): Promise<void>;
}

const ENV = { ...process.env, LC_ALL: 'C' };

/** The XattrIO of the `attr` tools. */
export const toolXattrs: XattrIO = {
  async read(path) {
    const out = await tool(['getfattr', '-h', '-d', '-m', '-', '-e', 'base64', '--absolute-names', '--', path], `reading the xattrs of ${path}`);
    return parseGetfattrDump(out).get(path) ?? {};
  },
  async readTree(root) {
    const out = await tool(['getfattr', '-R', '-P', '-h', '-d', '-m', '-', '-e', 'base64', '--absolute-names', '--', root], `reading the xattrs under ${root}`);
    return parseGetfattrDump(out);
  },
  async write(path, xattrs) {
    for (const [name, value] of Object.entries(xattrs)) {
      await tool(['setfattr', '-h', '-n', name, '-v', `0s${value.toString('base64')}`, '--', path], `setting xattr ${name} on ${path}`);
    }
  },
};

async function tool(argv: string[], context: string): Promise<string> {
  try {
    return (await run(argv, { context, env: ENV })).stdout;
  } catch (err) {
    if (err instanceof ToolError && err.exitStatus === null && /ENOENT/.test(err.stderr)) {
      throw new FailedPrecondition(`${argv[0]} is not installed, and Strata needs it to keep file capabilities and user xattrs: run 'apt-get install attr'`, { cause: err });
    }
    throw err;
  }
}

/** Undoes getfattr's quoting of names and paths: `\ooo` octal escapes of bytes (backslash, newline, `=`, non-ASCII…). */
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

/** Parses `getfattr --dump -e base64 --absolute-names` output: path → attributes. Paths without attributes do not appear. */
export function parseGetfattrDump(text: string): Map<string, Xattrs> {
  const result = new Map<string, Xattrs>();
  let current: Xattrs | null = null;
  for (const line of text.split('\n')) {
    if (line.startsWith('# file: ')) {
      current = Object.create(null) as Xattrs;
      result.set(unquoteGetfattr(line.slice('# file: '.length)), current);
      continue;
    }
    if (!line || !current) continue;
    const eq = line.indexOf('=');
    const name = unquoteGetfattr(eq < 0 ? line : line.slice(0, eq));
    const value = eq < 0 ? '' : line.slice(eq + 1);
    if (value.startsWith('0s')) current[name] = Buffer.from(value.slice(2), 'base64');
    else if (value.startsWith('0x')) current[name] = Buffer.from(value.slice(2), 'hex');
    else if (value.startsWith('"') && value.endsWith('"')) current[name] = Buffer.from(value.slice(1, -1), 'utf8');
    else current[name] = Buffer.alloc(0);
  }
  return result;
}

/** The longest argument list handed to one getfattr run, in bytes (well below ARG_MAX). */
const BATCH_BYTES = 96 * 1024;

/**
 * The xattrs of each of many paths (absolute; symlinks themselves), one getfattr per batch of
 * paths: path → attributes, with an empty object for a path that has none.
 */
export async function readXattrsOf(paths: readonly string[]): Promise<Map<string, Xattrs>> {
  const result = new Map<string, Xattrs>();
  for (const p of paths) result.set(p, Object.create(null) as Xattrs);
  let batch: string[] = [];
  let bytes = 0;
  const flush = async (): Promise<void> => {
    if (!batch.length) return;
    const argv = ['getfattr', '--dump', '--match=-', '--absolute-names', '-h', '-e', 'base64', '--', ...batch];
    batch = [];
    bytes = 0;
    for (const [path, attrs] of parseGetfattrDump(await tool(argv, 'reading extended attributes'))) result.set(path, attrs);
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
