/**
 * Mount descriptions as plain data, and the code that makes them real on the
 * host. Storage decides *what* to mount (a Mount[]); this file only performs it.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { hostd } from '../util/hostd.js';

export type Mount =
  /** uidMap/gidMap: explicit "DISK HOST COUNT,…" ranges instead of one shift (see idmapRanges). */
  | { kind: 'idmap'; source: string; target: string; hostBase: number; size: number; uidMap?: string; gidMap?: string }
  | { kind: 'overlay'; lower: string[]; upper: string; work: string; target: string };

/** Performs the mounts in order, all in one request to the resident helper; on failure none stays mounted. */
export async function mountAll(mounts: Mount[]): Promise<void> {
  if (!mounts.length) return;
  const argv = ['batch'];
  for (const m of mounts) {
    // Targets below an earlier mount appear only once it is mounted; the helper's mount(2) needs them then.
    if (!mounts.some((o) => o !== m && m.target.startsWith(`${o.target}/`))) mkdirSync(m.target, { recursive: true });
    if (argv.length > 1) argv.push('--');
    if (m.kind === 'idmap' && (m.uidMap || m.gidMap)) {
      const plain = `0 ${m.hostBase} ${m.size}`;
      argv.push('mapx', m.uidMap ?? plain, m.gidMap ?? plain, m.source, m.target, 'ro');
    } else if (m.kind === 'idmap') argv.push('map', String(m.hostBase), String(m.size), m.source, m.target, 'ro');
    // Lower layers are listed top first, as overlayfs wants them.
    else argv.push('overlay', m.lower.join(':'), m.upper, m.work, m.target);
  }
  // An overlay keeps private clones of its layers: the idmapped layer mounts can go from the
  // host's mount table at once. Fewer host mounts make every later mount namespace (each
  // container start copies the host's) cheaper: start time stays flat with 1000 containers.
  for (const m of mounts) {
    if (m.kind === 'idmap' && mounts.some((o) => o.kind === 'overlay' && o.lower.includes(m.target))) argv.push('--', 'drop', m.target);
  }
  try {
    await hostd().idmount(argv, `mounting ${mounts[mounts.length - 1].target}`);
  } catch (err) {
    await unmountTargets([...mounts].reverse().map((m) => m.target));
    throw err;
  }
}

/**
 * Unmounts the mount points `order`, in that order (an overlay before the layers below it);
 * those not mounted (per `known`, the mount table if given) are skipped.
 */
export async function unmountTargets(order: string[], known?: Set<string>): Promise<void> {
  const mounted = known ?? mountedTargets();
  const targets = order.filter((t) => mounted.has(t));
  // One request for all of them; one that is busy (a shell of the host admin sits in it) is
  // detached now, and the kernel frees it when released.
  await hostd().unmount(targets, `unmounting ${targets.join(', ')}`);
}

/** Every mount point on the host, from /proc/self/mountinfo (octal escapes decoded); read at once, it is the kernel's. */
export function mountedTargets(): Set<string> {
  const text = readFileSync('/proc/self/mountinfo', 'utf8');
  const targets = new Set<string>();
  for (const line of text.split('\n')) {
    const field = line.split(' ')[4];
    if (field) targets.add(field.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))));
  }
  return targets;
}

/**
 * The ranges of an idmapped mount that shows on-disk id N as hostBase+N, except the ids of
 * `remap` (disk id → container id): those show as hostBase+remap(N). Ids that are remap targets
 * but not sources are left unmapped (they would collide); files of theirs show as nobody.
 * Returns "DISK HOST COUNT,…" for strata-idmount mapx.
 */
export function idmapRanges(hostBase: number, size: number, remap: ReadonlyMap<number, number>): string {
  const special = new Set<number>([...remap.keys(), ...remap.values()]);
  const cuts = [...special].filter((id) => id >= 0 && id < size).sort((a, b) => a - b);
  const ranges: string[] = [];
  let from = 0;
  for (const id of cuts) {
    if (id > from) ranges.push(`${from} ${hostBase + from} ${id - from}`);
    from = id + 1;
  }
  if (from < size) ranges.push(`${from} ${hostBase + from} ${size - from}`);
  for (const [disk, to] of [...remap].sort((a, b) => a[0] - b[0])) {
    if (disk < size && to < size) ranges.push(`${disk} ${hostBase + to} 1`);
  }
  return ranges.join(',');
}
