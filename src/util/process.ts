/** Processes of the host, by pid. */
import { promises as fsp } from 'node:fs';

/** True while `pid` is a live (not zombie) process. */
export async function isAlive(pid: number): Promise<boolean> {
  try {
    const stat = await fsp.readFile(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}
