/**
 * Numeric user and group id collisions when templates compose. Pure.
 *
 * Two templates captured over the same base may each have created a user with
 * the same uid (both got the first free one, 1001, or 999 for system users). When the
 * second is attached, its user is new to the container but its uid already
 * belongs to someone else. planIdRemap allocates it a free id of the same class
 * and returns maps from the template's ids to the ids to use in this container:
 *
 *   const incoming = incomingIds(changes['/etc/passwd'], changes['/etc/group']);
 *   const plan = planIdRemap(currentPasswd, currentGroup, incoming);
 *   assertNoIdConflicts(plan);                         // Conflict: refuse to attach
 *   const passwd = remapKeyChanges(passwdRule, changes['/etc/passwd'], plan.uidMap, plan.gidMap);
 *   // …and the caller MUST chown every file of the template through the same maps
 *   // (mapIds(uid, gid, plan)) before the files are used in this container:
 *   // a file owned by a template's remapped uid would otherwise belong to somebody else.
 *
 * The maps are applied once, all entries at the same time, never chained:
 * {1001→1002, 1002→1003} moves a file of 1001 to 1002 and a file of 1002 to 1003.
 * Ids not in a map are kept.
 *
 * Rules: a user (group) whose name the container already has keeps the container's id
 * (the template's id is mapped to it); a new name whose id is free keeps its id; a new name
 * whose id is taken by another name gets the next id after the highest one in use in its
 * class (as useradd does, so that an id freed by a deleted account is not reused while free
 * ids remain above it): 100–999 for system ids (below 1000), 1000–59999 for the others;
 * 65534 (nobody) is never handed out.
 * A group prefers the id its same-named user got, as adduser does for user private groups.
 */
import { Conflict, FailedPrecondition, InvalidArgument } from '../../errors/index.js';
import type { MergeRule } from './rules.js';
import type { KeyChanges } from './keys.js';

export interface IncomingIds {
  /** User name → the template's uid and primary gid. */
  users: Map<string, { uid: number; gid: number }>;
  /** Group name → the template's gid. */
  groups: Map<string, number>;
}

interface IdRemap {
  kind: 'user' | 'group';
  name: string;
  from: number;
  to: number;
  /** One readable sentence, for the attach report. */
  reason: string;
}

export interface IdRemapPlan {
  /** The template's uid → the uid in this container (only ids that change). */
  uidMap: Map<number, number>;
  /** The template's gid → the gid in this container (only ids that change). */
  gidMap: Map<number, number>;
  /** What was remapped and why. */
  remaps: IdRemap[];
  /** Clashes no remap can resolve (one template id that would have to become two ids). Refuse to attach when not empty. */
  conflicts: string[];
}

const SYSTEM_ID_RANGE = { first: 100, last: 999 } as const;
const NORMAL_ID_RANGE = { first: 1000, last: 59999 } as const;
const NOBODY_ID = 65534;

function checkId(what: string, id: number): number {
  if (!Number.isSafeInteger(id) || id < 0 || id > 0xfffffffe) throw new InvalidArgument(`${what} has the id ${id}: give a whole number from 0 to 4294967294`);
  return id;
}

/** Name → id of field `index` of a colon file; lines whose id is not a number are skipped. */
function idsOf(text: string, index: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const fields = line.split(':');
    if (fields.length > index && fields[0] && /^\d+$/.test(fields[index]) && !out.has(fields[0])) out.set(fields[0], Number(fields[index]));
  }
  return out;
}

/** The users and groups a template adds or changes, from its captured key changes (deleted keys are skipped). */
export function incomingIds(passwdChanges: KeyChanges | undefined, groupChanges: KeyChanges | undefined): IncomingIds {
  const users = new Map<string, { uid: number; gid: number }>();
  const groups = new Map<string, number>();
  for (const [name, record] of Object.entries(passwdChanges ?? {})) {
    if (record === null) continue;
    const f = record.split(':');
    if (f.length < 4 || !/^\d+$/.test(f[2]) || !/^\d+$/.test(f[3])) throw new InvalidArgument(`the template's /etc/passwd entry of user ${name} has no numeric uid and gid: recapture the template`);
    users.set(name, { uid: Number(f[2]), gid: Number(f[3]) });
  }
  for (const [name, record] of Object.entries(groupChanges ?? {})) {
    if (record === null) continue;
    const f = record.split(':');
    if (f.length < 3 || !/^\d+$/.test(f[2])) throw new InvalidArgument(`the template's /etc/group entry of group ${name} has no numeric gid: recapture the template`);
    groups.set(name, Number(f[2]));
  }
  return { users, groups };
}

interface Side {
  kind: 'user' | 'group';
  existing: Map<string, number>;
  incoming: Map<string, number>;
  /** Preferred id for a name that must move (a group follows its user), if free. */
  prefer?: (name: string) => number | undefined;
}

function plan(side: Side, map: Map<number, number>, remaps: IdRemap[], conflicts: string[]): Map<string, number> {
  const { kind } = side;
  const file = kind === 'user' ? '/etc/passwd' : '/etc/group';
  const owners = new Map<number, Set<string>>();
  for (const [name, id] of side.existing) {
    if (!owners.has(id)) owners.set(id, new Set());
    owners.get(id)!.add(name);
  }
  const used = new Set<number>([...side.existing.values(), ...side.incoming.values()]);
  const final = new Map<string, number>();
  const moving: Array<[string, number]> = [];
  for (const [name, idIn] of side.incoming) {
    const id = checkId(`${kind} ${name}`, idIn);
    const have = side.existing.get(name);
    if (have !== undefined) {
      final.set(name, have);
      if (have !== id) remaps.push({ kind, name, from: id, to: have, reason: `${kind} ${name} has id ${have} in the container and ${id} in the template; the container's id is kept and the template's files of ${id} are given to ${have}` });
    } else if (owners.has(id)) {
      moving.push([name, id]);
    } else {
      final.set(name, id);
    }
  }
  const nextFree = (range: { first: number; last: number }, name: string): number => {
    const preferred = side.prefer?.(name);
    if (preferred !== undefined && preferred >= range.first && preferred <= range.last && !used.has(preferred)) return preferred;
    // after the highest id of the class in use, as useradd does: an id freed by a deleted
    // account (whose files may remain) is handed out only when the top of the range is reached
    let top = range.first - 1;
    for (const id of used) if (id >= range.first && id <= range.last && id > top) top = id;
    for (let id = top + 1; id <= range.last; id++) if (id !== NOBODY_ID && !used.has(id)) return id;
    for (let id = range.first; id <= top; id++) if (id !== NOBODY_ID && !used.has(id)) return id;
    throw new FailedPrecondition(
      `no free ${kind} id left from ${range.first} to ${range.last} for ${kind} ${name} of the template (its id is taken in the container's ${file}): remove unused ${kind}s from the container or detach a template first`,
    );
  };
  for (const [name, id] of moving) {
    const to = nextFree(id < NORMAL_ID_RANGE.first ? SYSTEM_ID_RANGE : NORMAL_ID_RANGE, name);
    used.add(to);
    final.set(name, to);
    remaps.push({ kind, name, from: id, to, reason: `${kind} ${name} of the template has id ${id}, which is ${[...owners.get(id)!].join(', ')} in the container; ${name} gets the free id ${to} and the template's files of ${id} are given to ${to}` });
  }
  // One template id must go to one container id, or file ownership is ambiguous.
  const targets = new Map<number, Map<number, string[]>>();
  for (const [name, idIn] of side.incoming) {
    const to = final.get(name)!;
    if (!targets.has(idIn)) targets.set(idIn, new Map());
    const byTarget = targets.get(idIn)!;
    byTarget.set(to, [...(byTarget.get(to) ?? []), name]);
  }
  for (const [from, byTarget] of targets) {
    if (byTarget.size > 1) {
      const parts = [...byTarget].map(([to, names]) => `${names.join(', ')} → ${to}`).join('; ');
      conflicts.push(`the template's ${kind}s sharing id ${from} would need different ids in the container (${parts}), so the owner of the template's files of ${from} is ambiguous: attach the template to a container where these ${kind}s have one id, or recapture it with distinct ids`);
      continue;
    }
    const [to] = byTarget.keys();
    if (to !== from) map.set(from, to);
  }
  return final;
}

/**
 * Plans the id remap for attaching a template whose users and groups are `incoming` to a
 * container whose current files are `existingPasswd` and `existingGroup`.
 * Throws FailedPrecondition when a class of ids has no free id left.
 */
export function planIdRemap(existingPasswd: string, existingGroup: string, incoming: IncomingIds): IdRemapPlan {
  const uidMap = new Map<number, number>();
  const gidMap = new Map<number, number>();
  const remaps: IdRemap[] = [];
  const conflicts: string[] = [];
  const users = new Map([...incoming.users].map(([n, u]) => [n, u.uid]));
  const finalUids = plan({ kind: 'user', existing: idsOf(existingPasswd, 2), incoming: users }, uidMap, remaps, conflicts);
  plan({ kind: 'group', existing: idsOf(existingGroup, 2), incoming: incoming.groups, prefer: (name) => finalUids.get(name) }, gidMap, remaps, conflicts);
  return { uidMap, gidMap, remaps, conflicts };
}

/** Refuses (Conflict) a plan that has conflicts; returns quietly otherwise. */
export function assertNoIdConflicts(plan: IdRemapPlan, template = 'the template'): void {
  if (plan.conflicts.length) throw new Conflict(`cannot attach ${template}: ${plan.conflicts.join('; ')}`);
}

/** Rewrites the ids in one record of `rule` (passwd: uid and gid; group: gid; others unchanged). */
export function remapRecord(rule: MergeRule, record: string, uidMap: ReadonlyMap<number, number>, gidMap: ReadonlyMap<number, number>): string {
  return rule.remapIds ? rule.remapIds(record, uidMap, gidMap) : record;
}

/** remapRecord over every record of a template's key changes. */
export function remapKeyChanges(rule: MergeRule, changes: KeyChanges, uidMap: ReadonlyMap<number, number>, gidMap: ReadonlyMap<number, number>): KeyChanges {
  const out: KeyChanges = Object.create(null) as KeyChanges;
  for (const [key, record] of Object.entries(changes)) out[key] = record === null ? null : remapRecord(rule, record, uidMap, gidMap);
  return out;
}

/** The owner a template file of (uid, gid) gets in this container: the single place the maps are applied to files. */
export function mapIds(uid: number, gid: number, plan: { uidMap: ReadonlyMap<number, number>; gidMap: ReadonlyMap<number, number> }): { uid: number; gid: number } {
  return { uid: plan.uidMap.get(uid) ?? uid, gid: plan.gidMap.get(gid) ?? gid };
}

