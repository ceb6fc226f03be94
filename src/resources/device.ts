/**
 * The block device that holds a path, as the I/O limits need it: a whole disk
 * (blk-throttle and io.max refuse partitions), or none when the file system is
 * not on a block device (tmpfs, overlay, btrfs's anonymous device numbers).
 * Reads /sys; nothing else.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { decodeDev, type IoDevice } from '../model/index.js';

export { decodeDev };

/** The whole disk under `path`'s file system; undefined when there is no block device. */
export async function ioDeviceOf(path: string, sysRoot = '/sys'): Promise<IoDevice | undefined> {
  const { major, minor } = decodeDev((await fsp.stat(path)).dev);
  const node = join(sysRoot, 'dev', 'block', `${major}:${minor}`);
  try {
    await fsp.access(node);
  } catch {
    return undefined;
  }
  const isPartition = await fsp.access(join(node, 'partition')).then(() => true, () => false);
  const dir = isPartition ? join(await fsp.realpath(node), '..') : node;
  const text = (await fsp.readFile(join(dir, 'dev'), 'utf8')).trim();
  const m = /^(\d+):(\d+)$/.exec(text);
  return m ? { major: Number(m[1]), minor: Number(m[2]) } : undefined;
}
