/**
 * The system databases of application templates: what a capture recorded per key, and how
 * attach, detach and upgrade merge it into a container's own files (see templates/merge for
 * the per-file rules and the three-way merge). Files are read and written through DbFiles, so
 * the same code serves a stopped container (its private area over its layers) and a running
 * one (its merged root).
 *
 * A template stores, per database and key, the record before and after its installer ran:
 *
 *   { "passwd": { "app": { "before": null, "after": "app:x:1001:1001::/opt/app:/bin/sh" } } }
 *
 * `before` is the three-way merge's base: a key whose current record is not `before` was
 * changed by the container (or another template), and the container's value wins.
 */
import { InvalidArgument } from '../../errors/index.js';
import {
  applyKeyChanges, assertNoIdConflicts, groupRule, incomingIds, keyChanges, MERGE_RULES, planIdRemap, remapKeyChanges, removeKeyChanges,
  passwdRule, type IdRemapPlan, type KeyChanges, type KeyConflict, type MergeRule,
} from '../merge/index.js';
import type { DatabaseChange } from '../capture/index.js';

interface KeyChange {
  before: string | null;
  after: string | null;
}

/** Database name → key → change. The names are the manifest's `keys` names. */
export type AppKeys = Record<string, Record<string, KeyChange>>;

/** Manifest database names of the merge rules (the manifest allows only [a-z0-9_-]). */
const NAMES: Record<string, string> = {
  '/etc/passwd': 'passwd',
  '/etc/group': 'group',
  '/etc/shadow': 'shadow',
  '/etc/gshadow': 'gshadow',
  '/var/lib/dpkg/status': 'dpkg-status',
  '/var/lib/apt/extended_states': 'apt-extended-states',
  '/var/lib/dpkg/triggers/File': 'dpkg-file-triggers',
  '/var/lib/dpkg/statoverride': 'dpkg-statoverride',
  '/var/lib/ucf/hashfile': 'ucf-hashfile',
  '/var/lib/ucf/registry': 'ucf-registry',
  '/etc/shells': 'shells',
  '/etc/ca-certificates.conf': 'ca-certificates-conf',
};

/** The name of a rule in manifests: a known one, else its path made safe. */
function databaseName(rule: MergeRule): string {
  return NAMES[rule.path] ?? rule.path.replace(/^\//, '').replace(/[^a-z0-9_-]+/g, '-');
}

function ruleNamed(name: string): MergeRule {
  const rule = MERGE_RULES.find((r) => databaseName(r) === name);
  if (!rule) throw new InvalidArgument(`the template changes the database ${name}, which this version of Strata does not know how to merge: upgrade Strata or recapture the template`);
  return rule;
}

/** Reads and writes the container's database files by path inside the container. */
export interface DbFiles {
  /** The file's text, or null when the container has none. */
  read(path: string): Promise<string | null>;
  write(path: string, text: string): Promise<void>;
}

/** The per-key changes of a capture's database diffs. */
export function keysFromCapture(changes: DatabaseChange[]): AppKeys {
  const out: AppKeys = {};
  for (const change of changes) {
    const rule = MERGE_RULES.find((r) => r.path === change.file);
    if (!rule) continue;
    const before = rule.parse(change.before ?? '');
    const diff = keyChanges(rule, change.before, change.after);
    const keys: Record<string, KeyChange> = {};
    for (const [key, after] of Object.entries(diff)) keys[key] = { before: before.get(key) ?? null, after };
    if (Object.keys(keys).length) out[databaseName(rule)] = keys;
  }
  return out;
}

export function countKeys(keys: AppKeys): number {
  return Object.values(keys).reduce((n, k) => n + Object.keys(k).length, 0);
}

/** Checks a manifest's `keys` (untrusted) and returns them typed. */
export function checkKeys(value: unknown): AppKeys {
  const out: AppKeys = {};
  for (const [db, keys] of Object.entries((value ?? {}) as Record<string, unknown>)) {
    ruleNamed(db);
    const checked: Record<string, KeyChange> = {};
    for (const [key, change] of Object.entries((keys ?? {}) as Record<string, unknown>)) {
      const c = change as Partial<KeyChange> | null;
      const ok = c !== null && typeof c === 'object' && (c.before === null || typeof c.before === 'string') && (c.after === null || typeof c.after === 'string');
      if (!ok) throw new InvalidArgument(`key ${key} of database ${db} is not {"before": record|null, "after": record|null}: recapture the template`);
      checked[key] = { before: c.before ?? null, after: c.after ?? null };
    }
    out[db] = checked;
  }
  return out;
}

const afterOf = (keys: Record<string, KeyChange> | undefined): KeyChanges => {
  const out = Object.create(null) as KeyChanges;
  for (const [k, c] of Object.entries(keys ?? {})) out[k] = c.after;
  return out;
};

/** The base file of the three-way merge: the template's `before` records. */
function baseText(rule: MergeRule, keys: Record<string, KeyChange>): string {
  const records = new Map<string, string>();
  for (const [k, c] of Object.entries(keys)) if (c.before !== null) records.set(k, c.before);
  return rule.serialize(records, '');
}

export interface IdRemaps {
  uid: Array<[number, number]>;
  gid: Array<[number, number]>;
}

export interface AppliedKeys {
  /** The keys as applied: `after` with ids remapped. */
  keys: AppKeys;
  remaps: IdRemaps;
  /** One sentence per id that was changed, for the report. */
  remapNotes: string[];
  conflicts: KeyConflict[];
}

/**
 * Plans the uid/gid remap of a template against the container's users and groups: a template
 * user whose id another user of the container already has gets a free id. Refuses (Conflict)
 * when one template id would need two container ids.
 */
export async function planRemap(files: DbFiles, keys: AppKeys, template: string): Promise<IdRemapPlan> {
  const passwd = (await files.read(passwdRule.path)) ?? '';
  const group = (await files.read(groupRule.path)) ?? '';
  const plan = planIdRemap(passwd, group, incomingIds(afterOf(keys[databaseName(passwdRule)]), afterOf(keys[databaseName(groupRule)])));
  assertNoIdConflicts(plan, `template ${template}`);
  return plan;
}

/** The keys as applyKeys applies them with `plan`'s id maps (what removeKeys takes out again). */
export function plannedKeys(keys: AppKeys, uidMap: ReadonlyMap<number, number>, gidMap: ReadonlyMap<number, number>): AppKeys {
  const planned: AppKeys = {};
  for (const [db, changes] of Object.entries(keys)) {
    const remapped = remapKeyChanges(ruleNamed(db), afterOf(changes), uidMap, gidMap);
    planned[db] = Object.fromEntries(Object.entries(changes).map(([k, c]) => [k, { before: c.before, after: remapped[k] }]));
  }
  return planned;
}

/** Merges the template's keys into the container's files (after planRemap). */
export async function applyKeys(files: DbFiles, keys: AppKeys, plan: IdRemapPlan): Promise<AppliedKeys> {
  const applied = plannedKeys(keys, plan.uidMap, plan.gidMap);
  const conflicts: KeyConflict[] = [];
  for (const [db, changes] of Object.entries(keys)) {
    const rule = ruleNamed(db);
    const current = (await files.read(rule.path)) ?? '';
    const result = applyKeyChanges(rule, current, afterOf(applied[db]), baseText(rule, changes));
    if (result.text !== current) await files.write(rule.path, result.text);
    conflicts.push(...result.conflicts);
  }
  return {
    keys: applied,
    remaps: { uid: [...plan.uidMap], gid: [...plan.gidMap] },
    remapNotes: plan.remaps.map((r) => r.reason),
    conflicts,
  };
}

/**
 * Takes a template's applied keys out again; keys the container changed since stay, as conflicts.
 * Users and groups go or stay whole: a user the container changed in /etc/passwd or /etc/shadow
 * keeps both lines, a group likewise in /etc/group and /etc/gshadow, and a group stays while a
 * remaining user has it as its primary group. Never a passwd line whose shadow line or group is gone.
 */
export async function removeKeys(files: DbFiles, applied: AppKeys): Promise<KeyConflict[]> {
  const current = new Map<string, string | null>();
  for (const db of Object.keys(applied)) current.set(db, await files.read(ruleNamed(db).path));
  const { keep, notes } = wholeUnits(applied, current);
  const conflicts: KeyConflict[] = [];
  for (const [db, changes] of Object.entries(applied)) {
    const rule = ruleNamed(db);
    const text = current.get(db) ?? null;
    if (text === null) continue;
    const going = Object.fromEntries(Object.entries(changes).filter(([k]) => !keep.get(db)?.has(k)));
    const result = removeKeyChanges(rule, text, afterOf(going), baseText(rule, going));
    if (result.text !== text) await files.write(rule.path, result.text);
    conflicts.push(...result.conflicts);
  }
  return [...conflicts, ...notes];
}

/** Would removeKeyChanges keep this key as the container's (it changed it since)? */
function changedSince(rule: MergeRule, text: string | null, key: string, change: KeyChange): boolean {
  const now = rule.parse(text ?? '').get(key) ?? null;
  return now !== change.before && now !== change.after;
}

/** The keys of users and groups that stay whole at a detach (see removeKeys), and a note for each line kept only for that. */
function wholeUnits(applied: AppKeys, current: Map<string, string | null>): { keep: Map<string, Set<string>>; notes: KeyConflict[] } {
  const keep = new Map<string, Set<string>>();
  const notes: KeyConflict[] = [];
  const units: Array<{ dbs: string[]; noun: string; why: (key: string) => string | null }> = [];
  const unit = (dbs: string[], noun: string): void => {
    units.push({
      dbs,
      noun,
      why: (key) => {
        const changed = dbs.find((db) => applied[db]?.[key] && changedSince(ruleNamed(db), current.get(db) ?? null, key, applied[db][key]));
        return changed ? `${noun} ${key} stays whole, as the container changed it in ${ruleNamed(changed).path}` : null;
      },
    });
  };
  unit(['passwd', 'shadow'], 'user');
  unit(['group', 'gshadow'], 'group');
  const keepUnit = (dbs: string[], noun: string, key: string, why: string): void => {
    for (const db of dbs) {
      const change = applied[db]?.[key];
      if (!change) continue;
      keep.set(db, (keep.get(db) ?? new Set()).add(key));
      const rule = ruleNamed(db);
      const now = rule.parse(current.get(db) ?? '').get(key) ?? null;
      const reason = changedSince(rule, current.get(db) ?? null, key, change)
        ? `${rule.path}: the container changed ${rule.noun} ${key} after the template was attached; kept the container's value (${JSON.stringify((now ?? 'absent').split('\n')[0])})`
        : `${rule.path}: kept ${rule.noun} ${key}: ${why}`;
      notes.push({ key, kept: now, wanted: change.before, reason });
    }
  };
  for (const { dbs, noun, why } of units) {
    const keys = new Set(dbs.flatMap((db) => Object.keys(applied[db] ?? {})));
    for (const key of keys) {
      const reason = why(key);
      if (reason) keepUnit(dbs, noun, key, reason);
    }
  }
  // A group stays while a user that stays has it as its primary group.
  const passwd = passwdRule.parse(current.get('passwd') ?? '');
  const groups = groupRule.parse(current.get('group') ?? '');
  const leaving = (name: string): boolean => {
    const c = applied.passwd?.[name];
    return !!c && c.before === null && !keep.get('passwd')?.has(name);
  };
  const primaryGids = new Set([...passwd].filter(([name]) => !leaving(name)).map(([, line]) => line.split(':')[3]));
  for (const key of new Set([...Object.keys(applied.group ?? {}), ...Object.keys(applied.gshadow ?? {})])) {
    if (keep.get('group')?.has(key) || applied.group?.[key]?.before !== null) continue;
    const gid = groups.get(key)?.split(':')[2];
    if (gid === undefined || !primaryGids.has(gid)) continue;
    const users = [...passwd].filter(([name, line]) => !leaving(name) && line.split(':')[3] === gid).map(([name]) => name);
    keepUnit(['group', 'gshadow'], 'group', key, `user ${users.join(', ')}, which stays, has it as primary group`);
  }
  return { keep, notes };
}
