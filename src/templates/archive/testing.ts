/**
 * Fixtures for this folder's tests: archives built in memory, compressors, and throwaway
 * directories. Not used by the module itself and not exported from index.ts.
 */

import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { gzipSync } from 'node:zlib';
import { pack, type Header } from 'tar-stream';

export type TarEntry = Partial<Header> & { name: string; body?: string | Buffer };

/** A tar archive of the entries, in order. */
export async function tarOf(entries: TarEntry[]): Promise<Buffer> {
  const packer = pack();
  for (const { body, ...header } of entries) {
    if (body === undefined) packer.entry(header);
    else packer.entry(header, body);
  }
  packer.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of packer) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export const gzip = (data: Buffer): Buffer => gzipSync(data);
export const xz = (data: Buffer): Buffer => execFileSync('xz', ['-c'], { input: data, maxBuffer: 1 << 30 });
export const zstd = (data: Buffer): Buffer => execFileSync('zstd', ['-c', '-q'], { input: data, maxBuffer: 1 << 30 });

export interface Sandbox {
  root: string;
  /** An empty directory to extract into. */
  dest: string;
  /** A sentinel directory next to dest that attacks aim at; it must stay empty. */
  outside: string;
}

/** A fresh directory holding dest and outside, removed when the test ends. */
export async function sandbox(t: TestContext): Promise<Sandbox> {
  const root = await mkdtemp(join(tmpdir(), 'strata-archive-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const dest = join(root, 'dest');
  const outside = join(root, 'outside');
  await mkdir(dest);
  await mkdir(outside);
  return { root, dest, outside };
}

/** The names in a directory, sorted. */
export async function list(dir: string): Promise<string[]> {
  return (await readdir(dir)).sort();
}

export const text = (path: string): Promise<string> => readFile(path, 'utf8');

/** The child processes of this process, so that tests can assert none is left behind. */
export async function children(): Promise<string[]> {
  const pids: string[] = [];
  for (const task of await readdir('/proc/self/task')) {
    pids.push(...(await text(`/proc/self/task/${task}/children`)).split(' ').filter(Boolean));
  }
  return pids;
}
