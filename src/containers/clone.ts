/**
 * Moving a private area's files into another id range (a clone): every file owned inside the
 * source container's range is given the same id in the target's, setuid/setgid bits and file
 * capabilities (which chown clears) put back, capabilities tied to the source's root made the
 * target's. Files owned outside the range (overlay whiteouts, host root's) stay as they are.
 * A range based at 0 is the container's own view, as a backup holds it: capabilities there are
 * namespace-neutral.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { IdMap } from '../model/index.js';
import { namespacedCapability, neutralCapability, toolXattrs } from '../store/index.js';

const CAP = 'security.capability';

export async function moveIds(dir: string, from: IdMap, to: IdMap): Promise<void> {
  const move = (id: number): number => (id >= from.hostBase && id < from.hostBase + from.size ? id - from.hostBase + to.hostBase : id);
  // Capabilities first (chown drops them), as the target's root's own.
  const caps = new Map<string, Buffer>();
  for (const [path, x] of await toolXattrs.readTree(dir)) {
    const neutral = x[CAP] && neutralCapability(x[CAP], from.hostBase);
    const moved = neutral && (to.hostBase === 0 ? neutral : namespacedCapability(neutral, to.hostBase));
    if (moved) caps.set(path, moved);
  }
  const seen = new Set<number>();
  const walk = async (path: string): Promise<void> => {
    const st = await fsp.lstat(path);
    if (!st.isDirectory() && st.nlink > 1) {
      if (seen.has(st.ino)) return;
      seen.add(st.ino);
    }
    const uid = move(st.uid);
    const gid = move(st.gid);
    if (uid !== st.uid || gid !== st.gid) {
      await fsp.lchown(path, uid, gid);
      if (!st.isSymbolicLink() && st.mode & 0o6000) await fsp.chmod(path, st.mode & 0o7777);
    }
    if (st.isDirectory()) for (const entry of await fsp.readdir(path)) await walk(join(path, entry));
  };
  await walk(dir);
  for (const [path, cap] of caps) await toolXattrs.write(path, { [CAP]: cap });
}
