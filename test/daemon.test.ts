// Integration: the daemon's life — kill -9 and restart with containers running,
// reconciliation, two daemons side by side, concurrency.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { cgroupLayout } from '../src/runtime/index.js';
import { mountPoints, sleep, TestDaemon, useDaemon, zombies } from './harness.js';

interface View { name: string; state: string; pid: number | null }

describe('daemon', () => {
  const d = useDaemon({ template: 'bb' });
  const other = useDaemon({ start: false });

  test('containers keep running through kill -9 of the daemon, and a new daemon can stop them', async () => {
    await d.ok('create', 'k1', '--template', 'bb');
    await d.ok('start', 'k1');
    const before = await d.json<View>('inspect', 'k1');
    await d.kill9();
    const down = await d.cli('list');
    assert.equal(down.status, 7, 'a missing daemon is exit status 7 (unavailable)');
    assert.match(down.stderr, /cannot reach the Strata daemon/);
    process.kill(before.pid!, 0); // still alive
    await d.start();
    const after = await d.json<View>('inspect', 'k1');
    assert.equal(after.state, 'running');
    assert.equal(after.pid, before.pid);
    assert.equal((await d.ok('exec', 'k1', '--', 'hostname')).trim(), 'k1');
    await d.ok('stop', 'k1');
    assert.deepEqual(zombies().filter((z) => z.pid === before.pid), []);
  });

  test('a clean daemon stop leaves containers running too', async () => {
    await d.ok('start', 'k1');
    const pid = (await d.json<View>('inspect', 'k1')).pid!;
    await d.stop();
    process.kill(pid, 0);
    await d.start();
    assert.equal((await d.json<View>('inspect', 'k1')).state, 'running');
  });

  test('reconciliation: a running container\'s root still mounted on the host (an older Strata) is taken off the host; the container runs on', async () => {
    const pid = (await d.json<View>('inspect', 'k1')).pid!;
    const onHost = join(d.root, 'containers', 'k1', 'rootfs');
    await d.stop();
    // A tmpfs stands in for the host's copy of the root that an older Strata kept mounted.
    execFileSync('mount', ['-t', 'tmpfs', 'strata-test-old-root', onHost]);
    try {
      d.log = '';
      await d.start();
      assert.match(d.log, /reconcile: k1: runs with its root also mounted on the host \(an older Strata\): the host's mount was taken off/);
      assert.ok(!mountPoints().includes(onHost), 'the host mount is gone');
      assert.equal((await d.json<View>('inspect', 'k1')).pid, pid);
      assert.equal((await d.ok('exec', 'k1', '--', 'hostname')).trim(), 'k1');
    } finally {
      spawnSync('umount', [onHost]);
    }
  });

  test('reconciliation: a container that died while the daemon was away is reported and marked stopped', async () => {
    const pid = (await d.json<View>('inspect', 'k1')).pid!;
    await d.kill9();
    process.kill(pid, 'SIGKILL');
    for (let i = 0; i < 100; i++) {
      try { process.kill(pid, 0); } catch { break; }
      await sleep(20);
    }
    d.log = '';
    await d.start();
    assert.match(d.log, /reconcile: k1: recorded running, but its init was killed by SIGKILL: marked stopped/);
    assert.equal((await d.json<View>('inspect', 'k1')).state, 'stopped');
    assert.deepEqual(d.leftovers(), []);
    const events = await d.json<Array<{ kind: string; subject: string }>>('events');
    assert.ok(events.some((e) => e.kind === 'reconcile' && e.subject === 'k1'));
    await d.ok('start', 'k1');
  });

  test('the OCI runtime is configuration: info names it; an unknown one is refused at start, listing the known ones', async () => {
    assert.equal((await d.json<{ runtime: string }>('info')).runtime, 'runc');
    for (const bad of [new TestDaemon({ args: ['--runtime', 'kata'] }), new TestDaemon({ env: { STRATA_RUNTIME: 'kata' } })]) {
      try {
        await assert.rejects(bad.start(), /unknown runtime "kata": use one of runc, crun/);
        assert.equal(existsSync(bad.paths.run), false, 'refused before anything was made');
      } finally {
        await bad.cleanup();
      }
    }
  });

  // crun declares a pure cgroup v2 host (crun 1.8 refuses the hybrid layout).
  const layout = cgroupLayout();
  test(`--runtime crun on this ${layout} host: ${layout === 'v2' ? 'runs a container' : 'refused at start, naming --runtime runc'}`, async () => {
    const c = new TestDaemon({ args: ['--runtime', 'crun'] });
    try {
      if (layout === 'v2') {
        await c.start();
        assert.equal((await c.json<{ runtime: string }>('info')).runtime, 'crun');
        await c.ok('template', 'build', 'bb', '--from', 'busybox');
        await c.ok('create', 'c1', '--template', 'bb', '--no-net');
        await c.ok('start', 'c1');
        assert.equal((await c.ok('exec', 'c1', '--', 'hostname')).trim(), 'c1');
        await c.ok('destroy', 'c1', '--force');
      } else {
        await assert.rejects(c.start(), /the runtime crun runs on cgroup v2 only, and this host has .*: start the daemon with --runtime runc \(or STRATA_RUNTIME=runc\)/);
        assert.equal(existsSync(c.paths.run), false, 'refused before anything was made');
      }
    } finally {
      await c.cleanup();
    }
  });

  test('a second daemon on the same data root is refused', async () => {
    const twin = new TestDaemon({ shareRoot: d.root });
    try {
      await assert.rejects(twin.start(), /already serves the data root/);
    } finally {
      twin.daemon?.kill('SIGKILL');
      rmSync(dirname(twin.socket), { recursive: true, force: true });
    }
  });

  test('two daemons with different roots run side by side without touching each other', async () => {
    await other.start();
    await other.ok('template', 'build', 'bb', '--from', 'busybox');
    await other.ok('create', 'k1', '--template', 'bb');
    await other.ok('start', 'k1');
    const mine = await d.json<View>('inspect', 'k1');
    const theirs = await other.json<View>('inspect', 'k1');
    assert.notEqual(mine.pid, theirs.pid);
    assert.notEqual(d.paths.cgroupParent, other.paths.cgroupParent);
    await other.ok('destroy', 'k1', '--force');
    assert.equal((await d.json<View>('inspect', 'k1')).state, 'running', 'the other daemon did not touch ours');
    assert.equal((await d.ok('exec', 'k1', '--', 'true')), '');
  });

  test('operations on different containers run concurrently, on one container one at a time', async () => {
    const names = ['p1', 'p2', 'p3', 'p4'];
    const created = await Promise.all(names.map((n) => d.cli('create', n, '--template', 'bb')));
    assert.deepEqual(created.map((r) => r.status), [0, 0, 0, 0]);
    const started = await Promise.all(names.map((n) => d.cli('start', n)));
    assert.deepEqual(started.map((r) => r.status), [0, 0, 0, 0]);
    // Two starts of one container race: exactly one wins, the other is told it already runs.
    await d.ok('stop', 'p1', '--timeout', '0');
    const race = await Promise.all([d.cli('start', 'p1'), d.cli('start', 'p1')]);
    assert.deepEqual(race.map((r) => r.status).sort(), [0, 6]);
    assert.match(race.find((r) => r.status === 6)!.stderr, /already running/);
    await Promise.all(names.map((n) => d.ok('destroy', n, '--force')));
    const ids = new Set((await d.json<View[]>('list')).map((c) => c.name));
    for (const n of names) assert.ok(!ids.has(n));
  });
  test('after a host reboot (runtime directory gone) the daemon starts the --autostart containers, and only those', async () => {
    for (const c of await d.json<View[]>('list')) if (c.state === 'running') await d.ok('stop', c.name, '--timeout', '0');
    await d.ok('create', 'auto', '--template', 'bb', '--autostart');
    await d.ok('create', 'manual', '--template', 'bb');
    await d.ok('start', 'auto');
    await d.ok('start', 'manual');
    await d.ok('stop', 'auto', '--timeout', '0');
    await d.ok('stop', 'manual', '--timeout', '0');
    await d.stop();
    // What a reboot leaves: /run is empty again.
    rmSync(d.paths.run, { recursive: true, force: true });
    d.log = '';
    await d.start();
    assert.match(d.log, /autostarted: auto/);
    assert.equal((await d.json<View>('inspect', 'auto')).state, 'running');
    assert.equal((await d.json<View>('inspect', 'manual')).state, 'stopped');
    // A plain daemon restart is no reboot: nothing is started behind the operator's back.
    await d.ok('stop', 'auto', '--timeout', '0');
    await d.stop();
    await d.start();
    assert.equal((await d.json<View>('inspect', 'auto')).state, 'stopped');
    await d.ok('destroy', 'auto');
    await d.ok('destroy', 'manual');
  });
});
