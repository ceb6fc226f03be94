/** Processes of the host, by pid. */
import { promises as fsp, readFileSync } from 'node:fs';

/** Whether /proc/<pid>/stat's text says a live process: its state is neither zombie nor dead. */
function liveState(stat: string): boolean {
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return state !== 'Z' && state !== 'X';
}

/** True while `pid` is a live (not zombie) process. */
export async function isAlive(pid: number): Promise<boolean> {
  try {
    return liveState(await fsp.readFile(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** isAlive, read at once (for a caller that must not wait on node's thread pool). */
export function isAliveNow(pid: number): boolean {
  try {
    return liveState(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** Waits until `pid` has ended (or is a zombie); false when it still lives after `timeoutMs`. */
export async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  // Short polls first: a SIGKILLed init is gone within a millisecond or two.
  for (let wait = 1; Date.now() < deadline; wait = Math.min(wait * 2, 25)) {
    if (!(await isAlive(pid))) return true;
    await new Promise((r) => setTimeout(r, wait));
  }
  return !(await isAlive(pid));
}
