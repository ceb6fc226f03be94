// Integration: what a container sees of the host and of its neighbours, and copy-on-write.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { useDaemon } from './harness.js';

interface View { pid: number; rootfs: string; privateArea: string; idMap: { hostBase: number; size: number } | null }

describe('isolation', () => {
  const d = useDaemon({ template: 'bb' });
  let a: View;
  let b: View;
  before(async () => {
    for (const n of ['iso-a', 'iso-b']) {
      await d.ok('create', n, '--template', 'bb');
      await d.ok('start', n);
    }
    a = await d.json<View>('inspect', 'iso-a');
    b = await d.json<View>('inspect', 'iso-b');
  });

  test('the init is pid 1 and only the container\'s processes are visible', async () => {
    const out = await d.ok('exec', 'iso-a', '--', 'ps', '-o', 'pid,comm');
    const rows = out.trim().split('\n').slice(1).map((l) => l.trim().split(/\s+/));
    assert.deepEqual(rows[0], ['1', 'init']);
    assert.ok(rows.length <= 3, `unexpected processes: ${out}`);
    assert.ok(!/node|strata-monitor|runc/.test(out));
  });

  test('each container has its own disjoint 65536-id range, and root is unprivileged on the host', async () => {
    assert.ok(a.idMap && b.idMap);
    assert.equal(a.idMap.size, 65536);
    assert.ok(a.idMap.hostBase >= 1 << 24);
    assert.ok(a.idMap.hostBase + a.idMap.size <= b.idMap.hostBase || b.idMap.hostBase + b.idMap.size <= a.idMap.hostBase);
    const map = (await d.ok('exec', 'iso-a', '--', 'cat', '/proc/self/uid_map')).trim().split(/\s+/).map(Number);
    assert.deepEqual(map, [0, a.idMap.hostBase, 65536]);
    const status = readFileSync(`/proc/${a.pid}/status`, 'utf8');
    const uid = Number(/^Uid:\s+(\d+)/m.exec(status)![1]);
    assert.equal(uid, a.idMap.hostBase, 'container root is the first id of its range on the host');
  });

  test('template files keep their real ids on disk and show as root inside (idmapped)', async () => {
    const out = await d.ok('exec', 'iso-a', '--', 'stat', '-c', '%u:%g', '/etc/passwd');
    assert.equal(out.trim(), '0:0');
    const tpl = join(d.root, 'templates', 'bb', 'rootfs', 'etc', 'passwd');
    assert.equal(statSync(tpl).uid, 0, 'the template on disk is still owned by real root');
  });

  test('each container has its own namespaces', async () => {
    for (const ns of ['pid', 'mnt', 'uts', 'ipc', 'net', 'user', 'cgroup']) {
      const inside = (await d.ok('exec', 'iso-a', '--', 'readlink', `/proc/self/ns/${ns}`)).trim();
      const host = readlinkSync(`/proc/self/ns/${ns}`);
      assert.notEqual(inside, host, `${ns} namespace is the host's`);
    }
  });

  test('the host\'s sensitive /proc paths are masked or read-only', async () => {
    const keys = await d.cli('exec', 'iso-a', '--', 'cat', '/proc/timer_list');
    assert.equal(keys.stdout, '', 'masked paths read empty');
    const sys = await d.cli('exec', 'iso-a', '--', 'sh', '-c', 'echo 1 > /proc/sys/kernel/printk');
    assert.notEqual(sys.status, 0);
    const fw = await d.ok('exec', 'iso-a', '--', 'ls', '/sys/firmware');
    assert.equal(fw.trim(), '');
  });

  test('devices outside the allow-list cannot be made or opened', async () => {
    const r = await d.cli('exec', 'iso-a', '--', 'sh', '-c', 'mknod /tmp/sda b 8 0 && cat /tmp/sda');
    assert.notEqual(r.status, 0);
    assert.equal((await d.ok('exec', 'iso-a', '--', 'sh', '-c', 'echo ok > /dev/null && echo fine')).trim(), 'fine');
  });

  test('copy-on-write: changes land in the private area only', async () => {
    await d.ok('exec', 'iso-a', '--', 'sh', '-c', 'echo new > /root/new-file && echo changed >> /etc/profile && rm /etc/shells');
    const tpl = join(d.root, 'templates', 'bb', 'rootfs');
    assert.equal(existsSync(join(tpl, 'root', 'new-file')), false);
    assert.doesNotMatch(readFileSync(join(tpl, 'etc', 'profile'), 'utf8'), /changed/);
    assert.ok(existsSync(join(tpl, 'etc', 'shells')), 'the template keeps the deleted file');
    assert.equal(readFileSync(join(a.privateArea, 'root', 'new-file'), 'utf8'), 'new\n');
    assert.match(readFileSync(join(a.privateArea, 'etc', 'profile'), 'utf8'), /changed/);
    // The sibling sees the template, not iso-a's changes.
    const sib = await d.ok('exec', 'iso-b', '--', 'sh', '-c', 'ls /root; grep -c changed /etc/profile; ls /etc/shells');
    assert.deepEqual(sib.trim().split('\n'), ['0', '/etc/shells']);
    // Files written inside belong to the container's range on the host.
    assert.equal(statSync(join(a.privateArea, 'root', 'new-file')).uid, a.idMap!.hostBase);
  });

  test('a privileged container has no user namespace', async () => {
    const w = await d.cli('create', 'priv', '--template', 'bb', '--privileged');
    assert.equal(w.status, 0);
    assert.match(w.stderr, /root on the host/);
    await d.ok('start', 'priv');
    const map = (await d.ok('exec', 'priv', '--', 'cat', '/proc/self/uid_map')).trim().split(/\s+/).map(Number);
    assert.deepEqual(map, [0, 0, 4294967295]);
    await d.ok('destroy', 'priv', '--force');
  });
});
