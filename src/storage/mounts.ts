/**
 * Mount descriptions as plain data, and the code that makes them real on the
 * host. Storage decides *what* to mount (a Mount[]); this file only performs it.
 */
import { promises as fsp } from 'node:fs';
import { run } from '../util/exec.js';

export type Mount =
  | { kind: 'idmap'; source: string; target: string; hostBase: number; size: number }
  | { kind: 'overlay'; lower: string[]; upper: string; work: string; target: string };

export async function mountAll(mounts: Mount[], idmountHelper: string): Promise<void> {
  const done: Mount[] = [];
  try {
    for (const m of mounts) {
      await fsp.mkdir(m.target, { recursive: true });
      if (m.kind === 'idmap') {
        await run([idmountHelper, 'map', String(m.hostBase), String(m.size), m.source, m.target, 'ro'], { context: `idmapping ${m.source}` });
      } else {
        // Lower layers are listed top first, as overlayfs wants them.
        const options = `lowerdir=${m.lower.join(':')},upperdir=${m.upper},workdir=${m.work}`;
        await run(['mount', '-t', 'overlay', 'overlay', '-o', options, m.target], { context: `mounting the root of ${m.target}` });
      }
      done.push(m);
    }
  } catch (err) {
    await unmountAll(done);
    throw err;
  }
}

/** Unmounts in reverse order; mounts that are already gone are fine. */
export async function unmountAll(mounts: Mount[]): Promise<void> {
  const mounted = await mountedTargets();
  for (const m of [...mounts].reverse()) {
    if (!mounted.has(m.target)) continue;
    const res = await run(['umount', m.target], { allowFailure: true });
    // Busy (a shell of the host admin sits in it): detach now, the kernel frees it when released.
    if (res.status !== 0) await run(['umount', '--lazy', m.target], { context: `unmounting ${m.target}` });
  }
}

/** Every mount point on the host, from /proc/self/mountinfo (octal escapes decoded). */
export async function mountedTargets(): Promise<Set<string>> {
  const text = await fsp.readFile('/proc/self/mountinfo', 'utf8');
  const targets = new Set<string>();
  for (const line of text.split('\n')) {
    const field = line.split(' ')[4];
    if (field) targets.add(field.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))));
  }
  return targets;
}
