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
import { InvalidArgument } from '../errors/index.js';
import {
  applyKeyChanges, assertNoIdConflicts, groupRule, incomingIds, keyChanges, MERGE_RULES, planIdRemap, remapKeyChanges, removeKeyChanges,
  passwdRule, type IdRemapPlan, type KeyChanges, type KeyConflict, type MergeRule,
} from '../templates/merge/index.js';
import type { DatabaseChange } from '../templates/capture/index.js';

export interface KeyChange {
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
};

/** The name of a rule in manifests: a known one, else its path made safe. */
export function databaseName(rule: MergeRule): string {
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

/** Merges the template's keys into the container's files (after planRemap). */
export async function applyKeys(files: DbFiles, keys: AppKeys, plan: IdRemapPlan): Promise<AppliedKeys> {
  const applied: AppKeys = {};
  const conflicts: KeyConflict[] = [];
  for (const [db, changes] of Object.entries(keys)) {
    const rule = ruleNamed(db);
    const remapped = remapKeyChanges(rule, afterOf(changes), plan.uidMap, plan.gidMap);
    const current = (await files.read(rule.path)) ?? '';
    const result = applyKeyChanges(rule, current, remapped, baseText(rule, changes));
    if (result.text !== current) await files.write(rule.path, result.text);
    conflicts.push(...result.conflicts);
    applied[db] = Object.fromEntries(Object.entries(changes).map(([k, c]) => [k, { before: c.before, after: remapped[k] }]));
  }
  return {
    keys: applied,
    remaps: { uid: [...plan.uidMap], gid: [...plan.gidMap] },
    remapNotes: plan.remaps.map((r) => r.reason),
    conflicts,
  };
}

/** Takes a template's applied keys out again; keys the container changed since stay, as conflicts. */
export async function removeKeys(files: DbFiles, applied: AppKeys): Promise<KeyConflict[]> {
  const conflicts: KeyConflict[] = [];
  for (const [db, changes] of Object.entries(applied)) {
    const rule = ruleNamed(db);
    const current = await files.read(rule.path);
    if (current === null) continue;
    const result = removeKeyChanges(rule, current, afterOf(changes), baseText(rule, changes));
    if (result.text !== current) await files.write(rule.path, result.text);
    conflicts.push(...result.conflicts);
  }
  return conflicts;
}
