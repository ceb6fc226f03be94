/**
 * Fixtures for this folder's tests: template files crafted by hand (hostile ones included), and
 * small trees. Not used by the module itself and not exported from index.ts.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmod, chown, lutimes, mkdir, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { objectDigest, sha256Digest } from '../../store/index.js';
import { tarOf, type TarEntry } from '../archive/testing.js';
import { canonicalJson, computeTotals, FORMAT, type FileEntry, type Manifest, type ManifestEntry } from './manifest.js';

export const MTIME = Date.parse('2022-03-04T05:06:07.089Z');

/** A file entry with the right digest for `body`. */
export function fileEntry(path: string, body: string, meta: Partial<FileEntry> = {}): FileEntry {
  const entry: FileEntry = { path, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: MTIME, size: Buffer.byteLength(body), digest: '', ...meta };
  entry.digest = objectDigest({ mode: entry.mode, uid: entry.uid, gid: entry.gid }, sha256Digest(body));
  return entry;
}

export function dirEntry(path: string, meta: Partial<ManifestEntry> = {}): ManifestEntry {
  return { path, type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: MTIME, ...meta } as ManifestEntry;
}

/** An application manifest holding `files`, totals computed. */
export function manifestOf(files: ManifestEntry[], extra: Partial<Manifest> = {}): Manifest {
  return {
    format: FORMAT, name: 'nginx', version: '1.22.1-9', kind: 'app', createdAt: '2024-01-02T03:04:05.000Z',
    made: { how: 'capture', command: ['apt-get', 'install', '-y', 'nginx'] },
    bases: [{ name: 'debian12', version: '12.5', digest: sha256Digest('base') }],
    files, deletions: [], opaqueDirs: [], keys: {}, totals: computeTotals(files), ...extra,
  };
}

/** The object entry of a body: its tar name under the object digest of `entry`. */
export function objectOf(entry: FileEntry, body: string | Buffer): TarEntry {
  return { name: `objects/sha256/${entry.digest.slice(7)}`, body: Buffer.from(body) };
}

/** Writes a template file: the manifest (an object, or raw text) first, then the entries, zstd-compressed. */
export async function craft(path: string, manifest: unknown, entries: TarEntry[] = [], opts: { trailingZeros?: number } = {}): Promise<string> {
  const text = typeof manifest === 'string' ? manifest : canonicalJson(manifest);
  const tar = await tarOf([{ name: 'manifest.json', body: Buffer.from(text) }, ...entries]);
  const child = spawn('zstd', ['-q', '-c', '-1', '-o', path], { stdio: ['pipe', 'ignore', 'inherit'] });
  const write = async (chunk: Buffer): Promise<void> => {
    if (!child.stdin.write(chunk)) await once(child.stdin, 'drain');
  };
  await write(tar);
  const zeros = Buffer.alloc(1 << 20);
  for (let left = opts.trailingZeros ?? 0; left > 0; left -= zeros.length) await write(zeros);
  child.stdin.end();
  const [code] = await once(child, 'close');
  if (code !== 0) throw new Error(`zstd exited with ${code}`);
  return path;
}

/** A small tree of plain files (not store-backed): dirs, modes, owners, a symlink, identical files. */
export async function plainTree(dir: string): Promise<void> {
  for (const sub of ['etc', 'usr', 'usr/bin', 'srv', 'srv/www']) await mkdir(join(dir, sub), { recursive: true });
  const files: Array<[string, string, number, number]> = [
    ['etc/motd', 'hello\n', 0o644, 0], ['usr/bin/tool', '#!/bin/sh\n', 0o4755, 0],
    ['srv/www/a.html', '<p>same</p>\n', 0o644, 33], ['srv/www/b.html', '<p>same</p>\n', 0o644, 33], ['srv/www/c.html', '<p>same</p>\n', 0o644, 33],
  ];
  for (const [path, body, mode, uid] of files) {
    await writeFile(join(dir, path), body);
    await chown(join(dir, path), uid, uid);
    await chmod(join(dir, path), mode);
    await utimes(join(dir, path), MTIME / 1000, MTIME / 1000);
  }
  await symlink('../usr/bin/tool', join(dir, 'etc/tool'));
  await lutimes(join(dir, 'etc/tool'), MTIME / 1000, MTIME / 1000);
  await chown(join(dir, 'srv/www'), 33, 33);
  await chmod(join(dir, 'srv/www'), 0o2750);
  for (const sub of ['srv/www', 'srv', 'usr/bin', 'usr', 'etc', '']) await utimes(join(dir, sub), MTIME / 1000, MTIME / 1000);
}
