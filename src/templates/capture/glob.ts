/**
 * Path globs for capture excludes, matched against absolute paths inside the
 * container ("/var/cache/apt/x.bin"). Not a general glob library: no braces,
 * no extglobs.
 *
 * - `*` matches any characters but `/` (dot-files too), `?` one such character,
 *   `[abc]`, `[a-z]`, `[!abc]` a class, `\x` the character x itself.
 * - `**` as a whole segment matches any number of segments; a trailing `/**`
 *   matches everything below a directory but not the directory itself.
 * - A pattern that does not start with `/` matches at any depth (`*.pyc` is `**\/*.pyc`).
 * - A pattern excludes the paths it matches and everything below them:
 *   `/tmp` excludes /tmp and /tmp/a/b.
 */
import { InvalidArgument } from '../../errors/index.js';

function segmentSource(segment: string, pattern: string): string {
  let out = '';
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i];
    if (c === '*') {
      out += '[^/]*';
    } else if (c === '?') {
      out += '[^/]';
    } else if (c === '\\') {
      i++;
      if (i >= segment.length) throw new InvalidArgument(`exclude pattern ${JSON.stringify(pattern)} ends with a lone backslash: remove it or escape it as \\\\`);
      out += escapeRegExp(segment[i]);
    } else if (c === '[') {
      const end = segment.indexOf(']', i + 2);
      if (end < 0) throw new InvalidArgument(`exclude pattern ${JSON.stringify(pattern)} has an unclosed [: close the class with ] or escape it as \\[`);
      let body = segment.slice(i + 1, end);
      const negate = body.startsWith('!') || body.startsWith('^');
      if (negate) body = body.slice(1);
      out += `[${negate ? '^/' : ''}${body.replace(/[\\\]^]/g, (m) => `\\${m}`)}]`;
      i = end;
    } else {
      out += escapeRegExp(c);
    }
  }
  return out;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/** The regular expression of one glob, matching the path itself (not its descendants). */
export function globToRegExp(pattern: string): RegExp {
  if (typeof pattern !== 'string' || pattern === '') throw new InvalidArgument('an exclude pattern is empty: give a glob such as /var/cache/** or *.pyc');
  const anchored = pattern.startsWith('/');
  const segments = pattern.split('/').filter((s) => s !== '');
  if (!anchored) segments.unshift('**');
  if (!segments.length) return /^\/$/;
  let source = '';
  segments.forEach((s, i) => {
    if (s === '**') source += i === segments.length - 1 ? '(?:/[^/]+)+' : '(?:/[^/]+)*';
    else source += `/${segmentSource(s, pattern)}`;
  });
  return new RegExp(`^${source}$`, 's');
}

/** A predicate telling whether an absolute path, or any directory above it, matches one of the globs. */
export function compileExcludes(patterns: readonly string[]): (path: string) => boolean {
  const res = patterns.map(globToRegExp);
  if (!res.length) return () => false;
  return (path: string): boolean => {
    for (let p = path; ; ) {
      if (res.some((re) => re.test(p))) return true;
      if (p === '/' || p === '') return false;
      const slash = p.lastIndexOf('/');
      p = slash <= 0 ? '/' : p.slice(0, slash);
    }
  };
}
