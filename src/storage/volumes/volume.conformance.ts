/**
 * The one conformance suite of the VolumeDriver interface, run on the real kernel by every
 * driver's test (volumes.test.ts). Not a test file itself. What a driver declares in its
 * capabilities is what is checked: a hard limit, growing and shrinking online, and that
 * nothing of a removed volume is left.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { VolumeDriver } from './driver.js';
import { MiB } from '../../model/units.js';

/** Writes MiB blocks into `file` until the kernel refuses one; the MiB written. */
function fill(file: string, maxMiB: number): { mib: number; error: string } {
  const r = spawnSync('dd', ['if=/dev/zero', `of=${file}`, 'bs=1M', `count=${maxMiB}`, 'conv=fsync', 'oflag=append', 'conv=notrunc'], { encoding: 'utf8' });
  const m = /(\d+) bytes/.exec(r.stderr);
  return { mib: Math.floor(Number(m?.[1] ?? 0) / MiB), error: r.status === 0 ? '' : r.stderr };
}

export function volumeConformance(name: string, make: (poolDir: string) => VolumeDriver): void {
  describe(`volume driver ${name} (conformance)`, () => {
    const dir = mkdtempSync('/tmp/strata-test-pool-');
    const pool = join(dir, 'pool');
    const mnt = join(dir, 'private');
    let driver: VolumeDriver;
    const volume = 'strata-test-vol';
    before(() => { driver = make(pool); });
    after(async () => {
      // Whatever a failed test left: the volume, then every mount below the scratch directory.
      await driver.deactivate(mnt).catch(() => undefined);
      await driver.remove(volume).catch(() => undefined);
      const mounts = spawnSync('findmnt', ['-rno', 'TARGET'], { encoding: 'utf8' }).stdout.split('\n').filter((m) => m.startsWith(dir)).reverse();
      for (const m of mounts) spawnSync('umount', ['--lazy', m]);
      rmSync(dir, { recursive: true, force: true });
    });

    test('create and activate: an empty directory with the limit; the volume is listed', async () => {
      await driver.create(volume, 48 * MiB);
      await driver.activate(volume, mnt);
      await driver.activate(volume, mnt); // a second time changes nothing
      assert.ok(statSync(mnt).isDirectory());
      assert.deepEqual(await driver.list(), [volume]);
      const u = await driver.usage(volume, mnt);
      // A file system's own metadata may take some of it (ext4: about an eighth of 48 MiB).
      assert.ok(u && u.limitBytes > 36 * MiB && u.limitBytes <= 48 * MiB, `limit ${u?.limitBytes}`);
      const dev = await driver.device(volume);
      assert.ok(dev && dev.major > 0, 'a block device for I/O limits');
    });

    test('the limit is hard: writing stops near it with the kernel\'s error', () => {
      const { mib, error } = fill(join(mnt, 'big'), 100);
      assert.ok(mib >= 30 && mib <= 48, `${mib} MiB written`);
      assert.match(error, /No space left on device|Disk quota exceeded/);
    });

    test('usage counts what was written', async () => {
      const u = await driver.usage(volume, mnt);
      assert.ok(u && u.usedBytes >= 30 * MiB, `used ${u?.usedBytes}`);
    });

    test('growing while mounted gives room at once (when the driver says it can)', async (t) => {
      if (!driver.capabilities.growOnline) { t.diagnostic(`${name} grows offline only`); return; }
      try {
        await driver.resize(volume, mnt, 96 * MiB);
      } catch (err) {
        // ext4 grows online only for a process with CAP_SYS_RESOURCE, which this machine's root
        // lacks: the driver must then say so in one clear sentence and change nothing.
        assert.match(String(err), /CAP_SYS_RESOURCE/);
        t.diagnostic(`${name}: this host refuses an online grow (no CAP_SYS_RESOURCE); the refusal is clear`);
        const u = await driver.usage(volume, mnt);
        assert.ok(u && u.limitBytes <= 48 * MiB, 'unchanged');
        return;
      }
      const u = await driver.usage(volume, mnt);
      assert.ok(u && u.limitBytes > 80 * MiB, `limit ${u?.limitBytes}`);
      const { mib } = fill(join(mnt, 'more'), 20);
      assert.equal(mib, 20);
    });

    test('shrinking while mounted works where declared, and is refused otherwise', async () => {
      if (driver.capabilities.shrinkOnline) {
        await assert.rejects(driver.resize(volume, mnt, 20 * MiB), /holds|more than/, 'not below what it holds');
        await driver.resize(volume, mnt, 90 * MiB);
        const u = await driver.usage(volume, mnt);
        assert.ok(u && u.limitBytes <= 90 * MiB, `limit ${u?.limitBytes}`);
      } else {
        await assert.rejects(driver.resize(volume, mnt, 40 * MiB), /stop the container|in use/);
      }
    });

    test('deactivate and remove leave nothing: not mounted, not listed, no usage', async () => {
      await driver.deactivate(mnt);
      const mounted = spawnSync('findmnt', ['-rno', 'TARGET', mnt], { encoding: 'utf8' }).stdout.trim();
      assert.equal(mounted, '');
      await driver.remove(volume);
      assert.deepEqual(await driver.list(), []);
      assert.equal(await driver.usage(volume, mnt), null);
    });
  });
}
