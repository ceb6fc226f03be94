/** Small file-system helpers shared across modules. */
import { promises as fsp } from 'node:fs';

export async function exists(path: string): Promise<boolean> {
  try {
    await fsp.lstat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Disk use of a tree in bytes (allocated blocks, hardlinks counted once), like `du -s`. Entries
 * that go while it walks (a running container's files) are skipped, as du does.
 */
export async function diskUsage(path: string): Promise<number> {
  const seen = new Set<string>();
  let total = 0;
  const gone = (err: unknown): undefined => {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  };
  const walk = async (p: string): Promise<void> => {
    const st = await fsp.lstat(p, { bigint: false }).catch(gone);
    if (!st) return;
    const key = `${st.dev}:${st.ino}`;
    if (seen.has(key)) return;
    seen.add(key);
    total += st.blocks * 512;
    if (st.isDirectory()) {
      for (const name of (await fsp.readdir(p).catch(gone)) ?? []) await walk(`${p}/${name}`);
    }
  };
  await walk(path);
  return total;
}
