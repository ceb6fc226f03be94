/**
 * Reading and writing extended attributes. Node has no xattr API, so this drives getfattr and
 * setfattr from Debian's `attr` package: one getfattr per tree (not per file) when walking, one
 * setfattr per xattr when writing (few files carry any: capabilities on ping and friends).
 * Never follows symlinks. Only the XattrIO interface is used elsewhere, so that a native
 * implementation can replace this one.
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
    return parseDump(out).get(path) ?? {};
  },
  async readTree(root) {
    const out = await tool(['getfattr', '-R', '-P', '-h', '-d', '-m', '-', '-e', 'base64', '--absolute-names', '--', root], `reading the xattrs under ${root}`);
    return parseDump(out);
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

/** Parses `getfattr -d -e base64` output (LC_ALL=C, so that names are escaped as \ooo). */
export function parseDump(text: string): Map<string, Xattrs> {
  const result = new Map<string, Xattrs>();
  let current: Xattrs | undefined;
  for (const line of text.split('\n')) {
    if (line === '') {
      current = undefined;
    } else if (line.startsWith('# file: ')) {
      current = {};
      result.set(unescape(line.slice('# file: '.length)), current);
    } else if (current !== undefined) {
      const eq = line.indexOf('=');
      if (eq <= 0) continue;
      const name = line.slice(0, eq);
      const value = line.slice(eq + 1);
      if (value.startsWith('0s')) current[name] = Buffer.from(value.slice(2), 'base64');
      else if (value.startsWith('0x')) current[name] = Buffer.from(value.slice(2), 'hex');
      else current[name] = Buffer.alloc(0);
    }
  }
  return result;
}

/** getfattr writes bytes that are not printable ASCII, and the backslash, as \ooo. */
function unescape(text: string): string {
  if (!text.includes('\\')) return text;
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const octal = text.slice(i + 1, i + 4);
    if (text[i] === '\\' && /^[0-7]{3}$/.test(octal)) {
      bytes.push(parseInt(octal, 8));
      i += 3;
    } else {
      bytes.push(...Buffer.from(text[i], 'utf8'));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}
