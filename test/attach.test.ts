// Integration: a live attach that cannot complete changes nothing. Too little disk is refused
// before anything is copied; a failure in the middle of the copy (injected by the daemon's test
// failure point STRATA_FAULT_COPY_AFTER, standing in for a disk that fills up meanwhile) is
// rolled back: no copied file, no key, no record, and the files it replaced are back. A daemon
// killed in the middle of the copy (STRATA_FAULT_COPY_STALL_AFTER holds the copy there) undoes
// it at its next start, from the attach's journal.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sleep, useDaemon, useScratchDir } from './harness.js';

interface View { apps: unknown[] }

describe('live attach that cannot complete', () => {
  const d = useDaemon({ env: { STRATA_FAULT_COPY_AFTER: '40' }, template: 'bb' });
  const work = useScratchDir('strata-test-attach-');
  const capture = async (name: string, script: string): Promise<void> => {
    const file = join(work, `${name}.sh`);
    writeFileSync(file, script);
    const r = await d.cli('template', 'capture', name, '--base', 'bb', '--script', file);
    assert.equal(r.status, 0, r.stderr);
  };
  before(async () => {
    await capture('big', 'head -c 40000000 /dev/urandom > /opt-big\n');
    // 60 files, a user, and a new version of a file the OS template has.
    await capture('many', 'mkdir -p /opt/many && for i in $(seq 60); do echo $i > /opt/many/f$i; done\necho "svc:x:900:900::/:/bin/false" >> /etc/passwd\necho "# changed" >> /etc/init.d/rcK\n');
  });

  test('too little disk: refused up front in one line naming the space needed and free; nothing changed', async () => {
    await d.ok('create', 'small', '--template', 'bb', '--no-net', '--disk', '64M');
    await d.ok('start', 'small');
    await d.ok('exec', 'small', '--', 'dd', 'if=/dev/zero', 'of=/fill', 'bs=1M', 'count=30');
    const r = await d.cli('attach', 'small', 'big');
    assert.equal(r.status, 6, r.stderr);
    assert.match(r.stderr, /^strata: attaching big to the running small copies 38\.\d+ MiB into its private area, which has \d+(\.\d+)? MiB free: .*strata set small --disk/);
    assert.equal(r.stderr.trim().split('\n').length, 1);
    assert.notEqual((await d.cli('exec', 'small', '--', 'ls', '/opt-big')).status, 0);
    assert.deepEqual((await d.json<View>('inspect', 'small')).apps, []);
    // Stopped, nothing is copied: the same attach works.
    await d.ok('stop', 'small');
    await d.ok('attach', 'small', 'big');
    await d.ok('destroy', 'small');
  });

  test('a failure in the middle of the copy is rolled back completely', async () => {
    await d.ok('create', 'mid', '--template', 'bb', '--no-net');
    await d.ok('start', 'mid');
    const rck = await d.ok('exec', 'mid', '--', 'cat', '/etc/init.d/rcK');
    const passwd = await d.ok('exec', 'mid', '--', 'cat', '/etc/passwd');
    const r = await d.cli('attach', 'mid', 'many');
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /fault injected after 40 files/);
    assert.notEqual((await d.cli('exec', 'mid', '--', 'ls', '/opt/many')).status, 0, 'no copied file is left');
    assert.equal(await d.ok('exec', 'mid', '--', 'cat', '/etc/init.d/rcK'), rck, 'the file it replaced is back');
    assert.equal(await d.ok('exec', 'mid', '--', 'cat', '/etc/passwd'), passwd, 'no user was added');
    assert.deepEqual((await d.json<View>('inspect', 'mid')).apps, []);
    const upper = join(d.root, 'containers', 'mid', 'private', 'root');
    assert.equal(spawnFind(upper, 'strata-attach-'), '', 'nothing kept aside is left');
    await d.ok('destroy', 'mid', '--force');
    assert.deepEqual(d.leftovers(), []);
  });
});

describe('live attach interrupted by a killed daemon', () => {
  const d = useDaemon({ env: { STRATA_FAULT_COPY_STALL_AFTER: '40' }, template: 'bb' });
  const work = useScratchDir('strata-test-attach-');
  before(async () => {
    const file = join(work, 'many.sh');
    writeFileSync(file, 'mkdir -p /opt/many && for i in $(seq 60); do echo $i > /opt/many/f$i; done\necho "svc:x:900:900::/:/bin/false" >> /etc/passwd\necho "# changed" >> /etc/init.d/rcK\n');
    const r = await d.cli('template', 'capture', 'many', '--base', 'bb', '--script', file);
    assert.equal(r.status, 0, r.stderr);
  });

  test('is undone at the next start: no copied file, no user, the replaced file back; the container runs on', async () => {
    await d.ok('create', 'k1', '--template', 'bb', '--no-net');
    await d.ok('start', 'k1');
    const rck = await d.ok('exec', 'k1', '--', 'cat', '/etc/init.d/rcK');
    const passwd = await d.ok('exec', 'k1', '--', 'cat', '/etc/passwd');
    const pid = (await d.json<{ pid: number }>('inspect', 'k1')).pid;
    const attaching = d.cli('attach', 'k1', 'many');
    const journal = join(d.root, 'containers', 'k1', 'live-attach.journal');
    for (let i = 0; i < 100 && !(existsSync(journal) && readFileSync(journal, 'utf8').split('\n').length > 40); i++) await sleep(100);
    assert.match(await d.ok('exec', 'k1', '--', 'cat', '/etc/passwd'), /^svc:/m, 'the attach is half-way: its user is there');
    await d.kill9();
    assert.notEqual((await attaching).status, 0);
    await d.start();
    assert.match(d.log, /reconcile: k1: the attach of many version 1 to the running container was interrupted \(daemon stopped\): undone/);
    assert.equal((await d.json<{ pid: number }>('inspect', 'k1')).pid, pid, 'the container ran on');
    assert.notEqual((await d.cli('exec', 'k1', '--', 'ls', '/opt/many')).status, 0, 'no copied file is left');
    assert.equal(await d.ok('exec', 'k1', '--', 'cat', '/etc/init.d/rcK'), rck, 'the file it replaced is back');
    assert.equal(await d.ok('exec', 'k1', '--', 'cat', '/etc/passwd'), passwd, 'the user is gone');
    assert.deepEqual((await d.json<View>('inspect', 'k1')).apps, []);
    assert.equal(existsSync(journal), false);
    assert.equal(spawnFind(join(d.root, 'containers', 'k1', 'private', 'root'), 'strata-attach-'), '', 'nothing kept aside is left');
    await d.ok('destroy', 'k1', '--force');
    assert.deepEqual(d.leftovers(), []);
  });
});

function spawnFind(dir: string, name: string): string {
  return spawnSync('find', [dir, '-name', `*${name}*`], { encoding: 'utf8' }).stdout.trim();
}
