// Integration: the storage driver of new disks is configuration (--storage-driver, or
// STRATA_STORAGE_DRIVER), and each disk keeps the driver that made it: a btrfs disk's limit holds
// inside the container and grows while it runs; after the default changes back to loop-ext4 the
// btrfs container still starts on its disk, new disks are loop-ext4, and destroying both leaves
// no volume.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { TestDaemon, useDaemon } from './harness.js';

interface Pool { driver: string; volumes: number; volumesByDriver: Record<string, number>; capabilities: Record<string, boolean> }

describe('storage drivers', () => {
  const d = useDaemon({ env: { STRATA_STORAGE_DRIVER: 'btrfs' }, template: 'bb' });

  test('a btrfs disk: the limit holds inside, and grows while the container runs', async () => {
    assert.equal((await d.json<{ storageDriver: string }>('info')).storageDriver, 'btrfs');
    await d.ok('create', 'b1', '--template', 'bb', '--no-net', '--disk', '64M');
    await d.ok('start', 'b1');
    const full = await d.cli('exec', 'b1', '--', 'dd', 'if=/dev/zero', 'of=/big', 'bs=1M', 'count=100', 'conv=fsync');
    assert.notEqual(full.status, 0);
    assert.match(full.stderr, /Disk quota exceeded|No space left/);
    await d.ok('exec', 'b1', '--', 'rm', '/big');
    await d.ok('set', 'b1', '--disk', '128M');
    assert.equal((await d.cli('exec', 'b1', '--', 'dd', 'if=/dev/zero', 'of=/big', 'bs=1M', 'count=100', 'conv=fsync')).status, 0, 'room after a live grow');
    const pool = await d.json<Pool>('pool');
    assert.equal(pool.driver, 'btrfs');
    assert.deepEqual(pool.volumesByDriver, { btrfs: 1 });
    assert.equal(pool.capabilities.snapshots, true);
  });

  test('changing the default strands nothing: the btrfs disk still serves its container', async () => {
    await d.stop();
    delete d.env.STRATA_STORAGE_DRIVER;
    await d.start();
    await d.ok('restart', 'b1');
    assert.equal((await d.ok('exec', 'b1', '--', 'ls', '/big')).trim(), '/big', 'its files are there');
    await d.ok('create', 'e1', '--template', 'bb', '--no-net', '--disk', '32M');
    const pool = await d.json<Pool>('pool');
    assert.equal(pool.driver, 'loop-ext4');
    assert.deepEqual(pool.volumesByDriver, { btrfs: 1, 'loop-ext4': 1 });
    await d.ok('destroy', 'b1', '--force');
    await d.ok('destroy', 'e1');
    assert.equal((await d.json<Pool>('pool')).volumes, 0);
    assert.deepEqual(d.leftovers(), []);
  });

  test('an unknown driver is refused at daemon start in one sentence', async () => {
    const bad = new TestDaemon({ env: { STRATA_STORAGE_DRIVER: 'zfs' } });
    try {
      await assert.rejects(bad.start(), /unknown storage driver "zfs": use one of loop-ext4, btrfs/);
    } finally {
      await bad.cleanup();
    }
  });
});
