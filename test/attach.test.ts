// Integration: a live attach that cannot complete changes nothing. Too little disk is refused
// before anything is copied; a failure in the middle of the copy (injected by the daemon's test
// failure point STRATA_FAULT_COPY_AFTER, standing in for a disk that fills up meanwhile) is
// rolled back: no copied file, no key, no record, and the files it replaced are back.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TestDaemon } from './harness.js';

interface View { apps: unknown[] }

describe('live attach that cannot complete', () => {
  const d = new TestDaemon({ env: { STRATA_FAULT_COPY_AFTER: '40' } });
  const work = mkdtempSync('/tmp/strata-test-attach-');
  const capture = async (name: string, script: string): Promise<void> => {
    const file = join(work, `${name}.sh`);
    writeFileSync(file, script);
    const r = await d.cli('template', 'capture', name, '--base', 'bb', '--script', file);
    assert.equal(r.status, 0, r.stderr);
  };
  before(async () => {
    await d.start();
    await d.ok('template', 'build', 'bb', '--from', 'busybox');
    await capture('big', 'head -c 40000000 /dev/urandom > /opt-big\n');
    // 60 files, a user, and a new version of a file the OS template has.
    await capture('many', 'mkdir -p /opt/many && for i in $(seq 60); do echo $i > /opt/many/f$i; done\necho "svc:x:900:900::/:/bin/false" >> /etc/passwd\necho "# changed" >> /etc/init.d/rcK\n');
  });
  after(async () => {
    await d.cleanup();
    rmSync(work, { recursive: true, force: true });
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

function spawnFind(dir: string, name: string): string {
  return spawnSync('find', [dir, '-name', `*${name}*`], { encoding: 'utf8' }).stdout.trim();
}
