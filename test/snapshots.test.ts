// Integration: snapshots of containers' own files on a real daemon. A copy beside the container
// for a plain private area, an instant btrfs snapshot for a btrfs disk; a running container is
// frozen while it is taken; a restore brings back files, changes and deletions (overlay
// whiteouts) as they were, and refuses a running container or other application templates;
// destroy takes the snapshots with it.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { useDaemon } from './harness.js';

interface Snap { name: string; method: string; frozenMs: number | null; sizeBytes: number; apps: Array<{ template: string }> }

/** Takes a snapshot of a running container with data in it, changes the data, restores, and checks. */
async function roundTrip(d: ReturnType<typeof useDaemon>, ct: string, method: string): Promise<void> {
  await d.ok('exec', ct, '--', 'sh', '-c', 'mkdir -p /data && echo v1 > /data/f && rm /bin/vi');
  const s = await d.json<Snap>('snapshot', 'create', ct, 's1');
  assert.equal(s.method, method);
  assert.ok(s.frozenMs !== null && s.frozenMs >= 0, `a running container is frozen for it (${s.frozenMs} ms)`);
  assert.equal((await d.ok('exec', ct, '--', 'cat', '/data/f')).trim(), 'v1', 'and thawed after');
  await d.ok('exec', ct, '--', 'sh', '-c', 'echo v2 > /data/f && touch /data/new && ln -s /bin/busybox /bin/vi');

  const running = await d.cli('snapshot', 'restore', ct, 's1');
  assert.notEqual(running.status, 0);
  assert.match(running.stderr, new RegExp(`container ${ct} is running: stop it before restoring snapshot s1`));

  await d.ok('stop', ct);
  assert.match(await d.ok('snapshot', 'restore', ct, 's1'), new RegExp(`${ct} restored to snapshot s1`));
  await d.ok('start', ct);
  assert.equal((await d.ok('exec', ct, '--', 'cat', '/data/f')).trim(), 'v1', 'the file as it was');
  assert.notEqual((await d.cli('exec', ct, '--', 'ls', '/data/new')).status, 0, 'a later file is gone');
  assert.notEqual((await d.cli('exec', ct, '--', 'ls', '/bin/vi')).status, 0, 'a deletion of a template file (a whiteout) is kept');
  assert.match(await d.ok('events', '--container', ct), /snapshot s1 taken[\s\S]*snapshot s1 restored/);
}

describe('snapshots: a copy of a plain private area', () => {
  const d = useDaemon({ template: 'bb' });

  test('taken running (frozen), listed, restored stopped, refused running, removed', async () => {
    await d.ok('create', 'sn1', '--template', 'bb', '--no-net');
    await d.ok('start', 'sn1');
    await roundTrip(d, 'sn1', 'copy');
    const list = await d.json<Snap[]>('snapshot', 'list', 'sn1');
    assert.deepEqual(list.map((s) => s.name), ['s1']);
    assert.ok(list[0].sizeBytes > 0);
    assert.match(await d.ok('snapshot', 'list', 'sn1'), /^NAME\s+TAKEN\s+METHOD\s+SIZE/);
    const dir = join(d.paths.containers, 'sn1', 'snapshots', 's1');
    assert.ok(existsSync(dir));
    await d.ok('snapshot', 'rm', 'sn1', 's1');
    assert.ok(!existsSync(dir), 'its files are gone');
    assert.deepEqual(await d.json<Snap[]>('snapshot', 'list', 'sn1'), []);
  });

  test('bad input: a taken name, an invalid name, an unknown snapshot or container, each one sentence', async () => {
    await d.ok('snapshot', 'create', 'sn1', 'keep');
    const again = await d.cli('snapshot', 'create', 'sn1', 'keep');
    assert.notEqual(again.status, 0);
    assert.match(again.stderr, /container sn1 already has a snapshot keep: pick another name, or remove it first/);
    const bad = await d.cli('snapshot', 'create', 'sn1', 'Bad/Name');
    assert.match(bad.stderr, /snapshot name "Bad\/Name" is not valid/);
    const missing = await d.cli('snapshot', 'restore', 'sn1', 'nope');
    assert.match(missing.stderr, /container sn1 has no snapshot nope: see 'strata snapshot list sn1'/);
    const noCt = await d.cli('snapshot', 'create', 'ghost');
    assert.match(noCt.stderr, /container ghost does not exist/);
    assert.deepEqual((await d.json<Snap[]>('snapshot', 'list', 'sn1')).map((s) => s.name), ['keep'], 'nothing half-made');
  });

  test('a restore needs the application templates the snapshot was taken with', async () => {
    await d.ok('template', 'capture', 'snapapp', '--base', 'bb', '--', 'sh', '-c', 'echo app > /opt-app');
    await d.ok('stop', 'sn1');
    await d.ok('attach', 'sn1', 'snapapp');
    const refused = await d.cli('snapshot', 'restore', 'sn1', 'keep');
    assert.notEqual(refused.status, 0);
    assert.match(refused.stderr, /was taken with the application templates \[\] and it has \[snapapp@1\] now: attach or detach to match/);
  });

  test('destroy takes the snapshots with it', async () => {
    await d.ok('destroy', 'sn1', '--force');
    assert.ok(!existsSync(join(d.paths.containers, 'sn1')));
    assert.deepEqual(d.leftovers(), []);
  });
});

describe('snapshots: instant on a btrfs disk', () => {
  const d = useDaemon({ env: { STRATA_STORAGE_DRIVER: 'btrfs' }, template: 'bb' });

  test('a btrfs snapshot of a running container: restored, removed, and none left by destroy', async () => {
    await d.ok('create', 'sb1', '--template', 'bb', '--no-net', '--disk', '64M');
    await d.ok('start', 'sb1');
    await roundTrip(d, 'sb1', 'volume');
    const snaps = join(d.paths.pool, 'btrfs', '.snapshots', 'sb1');
    assert.deepEqual(readdirSync(snaps), ['s1'], 'a subvolume beside the disk');
    assert.equal((await d.json<{ capabilities: { snapshots: boolean } }>('pool')).capabilities.snapshots, true);
    await d.ok('snapshot', 'create', 'sb1', 's2');
    await d.ok('snapshot', 'rm', 'sb1', 's1');
    assert.deepEqual(readdirSync(snaps), ['s2']);
    await d.ok('destroy', 'sb1', '--force');
    assert.ok(!existsSync(snaps), 'destroy removed the snapshot subvolumes');
    assert.deepEqual(d.leftovers(), []);
  });
  test('a clone of a container on a btrfs disk is a snapshot of its disk (instant), in its own id range', async () => {
    await d.ok('create', 'cb1', '--template', 'bb', '--no-net', '--disk', '64M');
    await d.ok('start', 'cb1');
    await d.ok('exec', 'cb1', '--', 'sh', '-c', 'head -c 20000000 /dev/urandom > /big && chown 1000 /big && md5sum /big > /big.md5');
    await d.ok('clone', 'cb1', 'cb2');
    const show = (v: string): string => execFileSync('btrfs', ['subvolume', 'show', join(d.paths.pool, 'btrfs', v)], { encoding: 'utf8' });
    const uuid = /^\s*UUID:\s*(\S+)/m.exec(show('cb1'))![1];
    assert.equal(/^\s*Parent UUID:\s*(\S+)/m.exec(show('cb2'))![1], uuid, 'the clone\'s disk is a snapshot of the source\'s');
    await d.ok('start', 'cb2');
    assert.equal((await d.ok('exec', 'cb2', '--', 'md5sum', '-c', '/big.md5')).trim(), '/big: OK');
    assert.equal((await d.ok('exec', 'cb2', '--', 'stat', '-c', '%u', '/big')).trim(), '1000', 'owned as in the source, in the clone\'s range');
    assert.match(JSON.stringify(await d.json('inspect', 'cb2')), /"disk":67108864/, 'the same disk limit');
    for (const ct of ['cb2', 'cb1']) await d.ok('destroy', ct, '--force');
    assert.deepEqual(d.leftovers(), []);
  });

  test('snapshots count in disk use and in the tenant\'s disk quota: one over the plan is refused', async () => {
    await d.ok('tenant', 'create', 'tsq', '--disk', '100M');
    await d.ok('create', 'sq1', '--template', 'bb', '--no-net', '--disk', '64M', '--tenant', 'tsq');
    await d.ok('start', 'sq1');
    await d.ok('exec', 'sq1', '--', 'dd', 'if=/dev/urandom', 'of=/big', 'bs=1M', 'count=24');
    const s1 = await d.json<Snap>('snapshot', 'create', 'sq1', 's1');
    assert.ok(s1.sizeBytes >= 24 * 2 ** 20, `its size is what the files take (${s1.sizeBytes})`);
    const held = (await d.json<{ holdings: { disk: number; snapshots: number } }>('tenant', 'show', 'tsq')).holdings;
    assert.equal(held.snapshots, s1.sizeBytes);
    assert.equal(held.disk, 64 * 2 ** 20 + s1.sizeBytes, 'the disk limit plus the snapshot');
    assert.equal((await d.json<{ snapshotBytes: number }>('stats', 'sq1')).snapshotBytes, s1.sizeBytes);
    const over = await d.cli('snapshot', 'create', 'sq1', 's2');
    assert.notEqual(over.status, 0);
    assert.match(over.stderr, /tenant tsq would have .* of disk, over its plan's 100 MiB .*: remove older snapshots \(strata snapshot rm\), or ask the host for a larger plan/);
    assert.deepEqual((await d.json<Snap[]>('snapshot', 'list', 'sq1')).map((s) => s.name), ['s1'], 'nothing half-made');
    await d.ok('snapshot', 'rm', 'sq1', 's1');
    assert.equal((await d.json<{ holdings: { snapshots: number } }>('tenant', 'show', 'tsq')).holdings.snapshots, 0);
    await d.ok('snapshot', 'create', 'sq1', 's2');
    await d.ok('destroy', 'sq1', '--force');
    await d.ok('tenant', 'rm', 'tsq');
    assert.deepEqual(d.leftovers(), []);
  });
});

describe('snapshots on a schedule', () => {
  const d = useDaemon({ template: 'bb', env: { STRATA_METER_INTERVAL_MS: '500' } });

  test('taken every interval, the newest --keep of them kept, a manual one never pruned, --off stops them', async () => {
    await d.ok('create', 'sc1', '--template', 'bb', '--no-net');
    await d.ok('start', 'sc1');
    await d.ok('snapshot', 'create', 'sc1', 'mine');
    const tooOften = await d.cli('snapshot', 'create', 'sc1', '--schedule', '5s');
    assert.match(tooOften.stderr, /a snapshot schedule needs an interval of 10s or more/);
    const keepAlone = await d.cli('snapshot', 'create', 'sc1', '--keep', '2');
    assert.match(keepAlone.stderr, /--keep goes with --schedule/);
    assert.match(await d.ok('snapshot', 'create', 'sc1', '--schedule', '10s', '--keep', '1'), /snapshots of sc1 every 10s, the newest 1 kept/);
    // Two scheduled snapshots (10 s apart, checked after every meter reading): the first pruned for the second.
    const deadline = Date.now() + 60_000;
    let events = '';
    while (Date.now() < deadline) {
      events = await d.ok('events', '--container', 'sc1', '--kind', 'snapshot-created,snapshot-removed');
      if ((events.match(/snapshot auto-\S+ taken/g) ?? []).length >= 2 && /snapshot auto-\S+ removed/.test(events)) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    assert.equal((events.match(/snapshot auto-\S+ taken/g) ?? []).length, 2, events);
    const names = (await d.json<Snap[]>('snapshot', 'list', 'sc1')).map((s) => s.name);
    assert.equal(names.length, 2, `the manual one and the newest scheduled one: ${names.join(', ')}`);
    assert.equal(names[0], 'mine');
    assert.match(names[1], /^auto-\d{8}-\d{6}$/);
    assert.match(await d.ok('snapshot', 'list', 'sc1'), /snapshots of sc1 every 10s, the newest 1 kept \(last/);
    await d.ok('snapshot', 'schedule', 'sc1', '--off');
    assert.match(await d.ok('snapshot', 'schedule', 'sc1'), /sc1 has no snapshot schedule/);
    await d.ok('destroy', 'sc1', '--force');
    assert.deepEqual(d.leftovers(), []);
  });
});
