/**
 * Per-key changes of a system database and their three-way merge. Pure: text
 * in, text out, no I/O.
 *
 * Capture records, per merge rule, only the keys the installer changed:
 *
 *   const changes = keyChanges(passwdRule, before, after);   // { app: 'app:x:1001:…', games: null }
 *
 * Attach merges them into the container's current file. `base` is the file as
 * it was below the template when it was captured (the `before` of capture): a
 * key whose current record differs from it was changed by the container (or
 * by another template), and the container's value wins:
 *
 *   const { text, conflicts } = applyKeyChanges(passwdRule, current, changes, before);
 *
 * Detach takes the template's keys out again, restoring the base record, except
 * where the container changed the key since attach:
 *
 *   const { text, conflicts } = removeKeyChanges(passwdRule, current, applied, before);
 *
 * Pass to removeKeyChanges the changes as they were applied (after any uid/gid
 * remap, see ids.ts), not as they were captured.
 */
import { InvalidArgument } from '../../errors/index.js';
import type { MergeRule } from './rules.js';

/** Key → the key's new whole record, or null when the key was deleted. Only keys that differ. A plain (null-prototype) object, so it serialises to JSON as is. */
export type KeyChanges = Record<string, string | null>;

export interface KeyConflict {
  key: string;
  /** One readable sentence: what clashed and which value was kept. */
  reason: string;
  /** The record left in the file (null: the key is absent). */
  kept: string | null;
  /** The record the template wanted (null: the template wanted the key absent). */
  wanted: string | null;
}

export interface MergeResult {
  text: string;
  conflicts: KeyConflict[];
}

function entries(changes: KeyChanges): Array<[string, string | null]> {
  if (changes === null || typeof changes !== 'object') throw new InvalidArgument('key changes must be an object of key → record or null: recapture the template');
  return Object.entries(changes).map(([k, v]) => {
    if (v !== null && typeof v !== 'string') throw new InvalidArgument(`key change ${JSON.stringify(k)} is neither a record nor null: recapture the template`);
    return [k, v];
  });
}

/** The keys whose records differ between `before` (null: the file did not exist) and `after`. */
export function keyChanges(rule: MergeRule, before: string | null, after: string): KeyChanges {
  const b = rule.parse(before ?? '');
  const a = rule.parse(after);
  const changes: KeyChanges = Object.create(null) as KeyChanges;
  for (const [key, record] of a) if (b.get(key) !== record) changes[key] = record;
  for (const key of b.keys()) if (!a.has(key)) changes[key] = null;
  return changes;
}

/** True when there is nothing to merge. */
export function isEmptyChanges(changes: KeyChanges): boolean {
  return Object.keys(changes).length === 0;
}

const show = (record: string | null | undefined): string => (record == null ? 'absent' : JSON.stringify(record.split('\n')[0]));

/**
 * Three-way merge of a template's key changes into the container's file.
 * `base`: the file the template was captured over (null or '' when it did not exist).
 * For each changed key: when the container already has the template's value, nothing to do;
 * when the container's record differs from the base, the container changed the key and keeps
 * it, and a conflict is reported; otherwise the template's change is applied.
 */
export function applyKeyChanges(rule: MergeRule, current: string, changes: KeyChanges, base: string | null): MergeResult {
  const records = rule.parse(current);
  const baseRecords = rule.parse(base ?? '');
  const conflicts: KeyConflict[] = [];
  for (const [key, wanted] of entries(changes)) {
    const now = records.get(key);
    if ((now ?? null) === wanted) continue;
    if (now !== baseRecords.get(key)) {
      const what = now === undefined ? 'deleted' : baseRecords.has(key) ? 'changed' : 'added';
      conflicts.push({
        key,
        kept: now ?? null,
        wanted,
        reason: `${rule.path}: the container ${what} ${rule.noun} ${key} since the template's base; kept the container's value (${show(now)}) instead of the template's (${show(wanted)})`,
      });
      continue;
    }
    if (wanted === null) records.delete(key);
    else records.set(key, wanted);
  }
  return { text: rule.serialize(records, current), conflicts };
}

/**
 * Undoes applyKeyChanges for detach. For each key of `applied` (the changes as they were
 * applied): when the container still has the template's value, the base record is restored
 * (or the key removed when the base had none); when the container changed the key since,
 * its value is kept and a conflict is reported.
 */
export function removeKeyChanges(rule: MergeRule, current: string, applied: KeyChanges, base: string | null): MergeResult {
  const records = rule.parse(current);
  const baseRecords = rule.parse(base ?? '');
  const conflicts: KeyConflict[] = [];
  for (const [key, wanted] of entries(applied)) {
    const now = records.get(key) ?? null;
    const restore = baseRecords.get(key) ?? null;
    if (now === restore) continue;
    if (now !== wanted) {
      conflicts.push({
        key,
        kept: now,
        wanted: restore,
        reason: `${rule.path}: the container changed ${rule.noun} ${key} after the template was attached; kept the container's value (${show(now)}) instead of restoring ${show(restore)}`,
      });
      continue;
    }
    if (restore === null) records.delete(key);
    else records.set(key, restore);
  }
  return { text: rule.serialize(records, current), conflicts };
}
