/**
 * Fixtures for this folder's tests (and the template pack tests): throwaway directories and
 * small trees. Not exported from index.ts.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

/** A fresh directory, removed when the test ends. */
export async function tempDir(t: TestContext, prefix = 'strata-store-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Every file under dir, relative, sorted (directories end with '/'). */
export async function listTree(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    for (const entry of await readdir(join(dir, rel), { withFileTypes: true })) {
      const path = rel === '' ? entry.name : `${rel}/${entry.name}`;
      if (entry.isDirectory()) {
        out.push(`${path}/`);
        await walk(path);
      } else out.push(path);
    }
  };
  await walk('');
  return out.sort();
}
