/**
 * The per-file merge table: system databases that are captured and merged per
 * key (user, group, package) instead of as whole files, so that several
 * application templates compose. Each rule is pure text in, text out; adding a
 * database means adding one entry to MERGE_RULES.
 *
 * A rule parses a file into key → record (the record is the whole text of the
 * entry: one line of /etc/passwd, one stanza of the dpkg status file) and writes
 * records back into the original text, keeping its order, its comments, blank
 * lines and anything it does not understand; keys that are new are appended.
 *
 *   const rule = ruleFor('/etc/passwd')!;
 *   const users = rule.parse(text);          // 'www-data' → 'www-data:x:33:33:…'
 *   users.set('app', 'app:x:1001:1001::/home/app:/bin/sh');
 *   rule.serialize(users, text);             // same file, one line more at the end
 *
 * It is not the three-way merge itself (keys.ts) nor uid/gid collision handling (ids.ts).
 */

export interface MergeRule {
  /** The file inside the container, e.g. /etc/passwd. */
  path: string;
  /** What one key is, for messages: 'user', 'group', 'package'. */
  noun: string;
  /** Key → whole record text. The first record of a key wins when a file repeats it. */
  parse(text: string): Map<string, string>;
  /** Writes `records` into `original`: original order, unknown lines and comments kept, removed keys dropped, new keys appended. */
  serialize(records: Map<string, string>, original: string): string;
  /**
   * Rewrites the numeric user and group ids in one record through the maps
   * (ids missing from a map stay). Only for files that hold ids.
   */
  remapIds?(record: string, uidMap: ReadonlyMap<number, number>, gidMap: ReadonlyMap<number, number>): string;
}

/** One piece of a file: a keyed record or anything else, kept verbatim. */
interface Chunk {
  key: string | null;
  text: string;
}

/** Rebuilds a file from its chunks with new records (see MergeRule.serialize). */
function rebuild(chunks: Chunk[], records: Map<string, string>, join: (parts: string[]) => string): string[] {
  const emitted = new Set<string>();
  const out: string[] = [];
  for (const c of chunks) {
    if (c.key === null) {
      out.push(c.text);
    } else if (!records.has(c.key)) {
      // removed: every copy of the key goes
    } else if (!emitted.has(c.key)) {
      out.push(records.get(c.key)!);
      emitted.add(c.key);
    } else {
      out.push(c.text); // a later duplicate, never parsed as the key's record: left alone
    }
  }
  const added = [...records].filter(([k]) => !emitted.has(k)).map(([, v]) => v);
  if (added.length) out.push(join(added));
  return out;
}

// ---- line files: one record per line, keyed by part of it (colon files: the first field)

function lineChunks(text: string, keyOf: (line: string) => string | null): Chunk[] {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines.map((line) => ({ key: line.startsWith('#') || line.trim() === '' ? null : keyOf(line), text: line }));
}

function lineFile(path: string, noun: string, keyOf: (line: string) => string | null, remapIds?: MergeRule['remapIds']): MergeRule {
  return {
    path,
    noun,
    parse(text) {
      const records = new Map<string, string>();
      for (const c of lineChunks(text, keyOf)) if (c.key !== null && !records.has(c.key)) records.set(c.key, c.text);
      return records;
    },
    serialize(records, original) {
      const lines = rebuild(lineChunks(original, keyOf), records, (added) => added.join('\n'));
      return lines.length ? `${lines.join('\n')}\n` : '';
    },
    remapIds,
  };
}

function colonFile(path: string, noun: string, remapIds?: MergeRule['remapIds']): MergeRule {
  return lineFile(path, noun, (line) => {
    const colon = line.indexOf(':');
    return colon > 0 ? line.slice(0, colon) : null;
  }, remapIds);
}

/** The last white-space separated field: the path of ucf's and dpkg's path-keyed lines. */
const lastField = (line: string): string | null => line.trim().split(/\s+/).pop() || null;

/** Maps field `index` of a colon record through `map` when it is a plain decimal id found in the map. */
function remapField(record: string, index: number, map: ReadonlyMap<number, number>): string {
  const fields = record.split(':');
  if (fields.length <= index || !/^\d+$/.test(fields[index])) return record;
  const to = map.get(Number(fields[index]));
  if (to === undefined) return record;
  fields[index] = String(to);
  return fields.join(':');
}

export const passwdRule = colonFile('/etc/passwd', 'user', (record, uidMap, gidMap) => remapField(remapField(record, 2, uidMap), 3, gidMap));
export const groupRule = colonFile('/etc/group', 'group', (record, _uidMap, gidMap) => remapField(record, 2, gidMap));
export const shadowRule = colonFile('/etc/shadow', 'shadow entry');
export const gshadowRule = colonFile('/etc/gshadow', 'group shadow entry');

// ---- the dpkg status file: deb822 stanzas separated by blank lines

/** Field value of a stanza (first occurrence, case-insensitive name), or undefined. */
function stanzaField(stanza: string, field: string): string | undefined {
  const want = field.toLowerCase();
  for (const line of stanza.split('\n')) {
    if (line.startsWith(' ') || line.startsWith('\t') || line.startsWith('#')) continue;
    const colon = line.indexOf(':');
    if (colon > 0 && line.slice(0, colon).trim().toLowerCase() === want) return line.slice(colon + 1).trim();
  }
  return undefined;
}

/** Key of a package stanza: `Package:Architecture` (`libc6:amd64`), or the bare package name when it has no architecture. */
export function packageKey(stanza: string): string | null {
  const pkg = stanzaField(stanza, 'Package');
  if (!pkg) return null;
  const arch = stanzaField(stanza, 'Architecture');
  return arch ? `${pkg}:${arch}` : pkg;
}

/** A stanza and the run of blank lines after it; a leading run of blank lines is a unit without a stanza. */
interface StanzaUnit {
  key: string | null;
  stanza: string | null;
  separator: string | null;
}

function stanzaUnits(text: string): StanzaUnit[] {
  const units: StanzaUnit[] = [];
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  let i = 0;
  while (i < lines.length) {
    const blank = lines[i].trim() === '';
    let j = i;
    while (j < lines.length && (lines[j].trim() === '') === blank) j++;
    const body = lines.slice(i, j).join('\n');
    const last = units[units.length - 1];
    if (!blank) units.push({ key: packageKey(body), stanza: body, separator: null });
    else if (last && last.separator === null) last.separator = body;
    else units.push({ key: null, stanza: null, separator: body });
    i = j;
  }
  return units;
}

function stanzaFile(path: string, noun: string): MergeRule {
  return {
    path,
    noun,
    parse(text) {
      const records = new Map<string, string>();
      for (const u of stanzaUnits(text)) if (u.key !== null && !records.has(u.key)) records.set(u.key, u.stanza!);
      return records;
    },
    serialize(records, original) {
      const out: StanzaUnit[] = [];
      const emitted = new Set<string>();
      for (const u of stanzaUnits(original)) {
        if (u.key === null) {
          out.push({ ...u });
        } else if (!records.has(u.key)) {
          // removed with the blank lines after it; the last stanza takes the ones before it instead
          const prev = out[out.length - 1];
          if (u.separator === null && prev && prev.stanza !== null) prev.separator = null;
        } else if (!emitted.has(u.key)) {
          out.push({ ...u, stanza: records.get(u.key)! });
          emitted.add(u.key);
        } else {
          out.push({ ...u }); // a later duplicate, never parsed as the key's record: left alone
        }
      }
      for (const [key, stanza] of records) {
        if (emitted.has(key)) continue;
        const prev = out[out.length - 1];
        if (prev && prev.stanza !== null && prev.separator === null) prev.separator = '';
        out.push({ key, stanza, separator: null });
      }
      const lines = out.flatMap((u) => [u.stanza, u.separator].filter((x): x is string => x !== null));
      return lines.length ? `${lines.join('\n')}\n` : '';
    },
  };
}

export const dpkgStatusRule = stanzaFile('/var/lib/dpkg/status', 'package');

// ---- insserv's boot order files: /etc/init.d/.depend.{boot,start,stop}
//
// Derived from the installed services, so each capture carries a whole new copy, and the top
// template's would hide every other's services (startpar starts only the TARGETS listed). Merged
// as sets instead: one key per target (`target nginx`), per interactive target and per edge
// (`edge rc.local nginx`: rc.local starts after nginx), so templates add and remove their own.

function dependKeys(text: string): string[] {
  const keys: string[] = [];
  for (const line of text.split('\n')) {
    const list = /^(TARGETS|INTERACTIVE)\s*=(.*)$/.exec(line);
    if (list) {
      for (const t of list[2].trim().split(/\s+/).filter(Boolean)) keys.push(`${list[1] === 'TARGETS' ? 'target' : 'interactive'} ${t}`);
      continue;
    }
    const dep = /^([^\s:#=]+):(.*)$/.exec(line);
    if (dep) for (const d of dep[2].trim().split(/\s+/).filter(Boolean)) keys.push(`edge ${dep[1]} ${d}`);
  }
  return keys;
}

function dependFile(path: string): MergeRule {
  return {
    path,
    noun: 'boot order entry',
    parse(text) {
      return new Map(dependKeys(text).map((k) => [k, k]));
    },
    serialize(records, original) {
      // The original's order first, then new keys; the file is written whole, as insserv does.
      const keys = [...new Set([...dependKeys(original).filter((k) => records.has(k)), ...records.keys()])];
      const listed = (kind: string): string => keys.filter((k) => k.startsWith(`${kind} `)).map((k) => ` ${k.split(' ')[1]}`).join('');
      const edges = new Map<string, string[]>();
      for (const k of keys.filter((x) => x.startsWith('edge '))) {
        const [, from, to] = k.split(' ');
        edges.set(from, [...(edges.get(from) ?? []), to]);
      }
      const lines = [`TARGETS =${listed('target')}`];
      if (/^INTERACTIVE\s*=/m.test(original) || listed('interactive')) lines.push(`INTERACTIVE =${listed('interactive')}`);
      for (const [from, to] of edges) lines.push(`${from}: ${to.join(' ')}`);
      return `${lines.join('\n')}\n`;
    },
  };
}

export const dependRules: readonly MergeRule[] = ['boot', 'start', 'stop'].map((k) => dependFile(`/etc/init.d/.depend.${k}`));

// ---- package bookkeeping derived from the installed set, one key per package or path (the
// derived-files table, derived.ts, holds the files that are recomputed instead)

const packageStateRules: readonly MergeRule[] = [
  stanzaFile('/var/lib/apt/extended_states', 'automatic-install mark'),
  lineFile('/var/lib/dpkg/triggers/File', 'file trigger', (line) => line.trim()),
  lineFile('/var/lib/dpkg/statoverride', 'permission override', lastField),
  lineFile('/var/lib/ucf/hashfile', 'configuration file hash', lastField),
  lineFile('/var/lib/ucf/registry', 'configuration file owner', lastField),
  lineFile('/etc/shells', 'login shell', (line) => line.trim()),
  lineFile('/etc/ca-certificates.conf', 'CA certificate choice', (line) => line.trim().replace(/^!/, '')),
];

/** The merge table: the files captured and attached per key. Order does not matter; paths are unique. */
export const MERGE_RULES: readonly MergeRule[] = [passwdRule, groupRule, shadowRule, gshadowRule, dpkgStatusRule, ...dependRules, ...packageStateRules];

/** The rule for a path inside the container, or undefined when the file is captured as a plain file. */
export function ruleFor(path: string, rules: readonly MergeRule[] = MERGE_RULES): MergeRule | undefined {
  return rules.find((r) => r.path === path);
}
