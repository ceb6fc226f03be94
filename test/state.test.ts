// Integration: the records follow reality. An init that ends by itself (killed, poweroff, a
// command that ends) makes its container stopped within a second, with how it ended; reboot
// from inside starts it again; an init that ended while no daemon watched is found at start.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sleep, useDaemon, useScratchDir } from './harness.js';

interface View { state: string; pid: number | null; lastExit: { status: number | null; signal: string | null; byItself: boolean } | null }
interface Event { kind: string; subject: string | null; message: string }

describe('state follows reality', () => {
  const d = useDaemon({ template: 'bb' });
  const work = useScratchDir('strata-test-state-');
  before(async () => {
    // A template whose init is a command that ends with status 3 after a moment.
    const tree = join(work, 'tree');
    cpSync(join(d.root, 'templates', 'bb', 'rootfs'), tree, { recursive: true, verbatimSymlinks: true });
    rmSync(join(tree, 'sbin', 'init'));
    writeFileSync(join(tree, 'sbin', 'init'), '#!/bin/sh\nsleep 1\nexit 3\n');
    chmodSync(join(tree, 'sbin', 'init'), 0o755);
    execFileSync('tar', ['-C', tree, '-czf', join(work, 'ends.tar.gz'), '.']);
    await d.ok('template', 'build', 'ends', '--from', `rootfs:${join(work, 'ends.tar.gz')}`);
  });

  /** Polls until the container is in `state` (or fails after `ms`); returns the view and the time it took. */
  async function until(name: string, state: string, ms: number): Promise<{ v: View; took: number }> {
    const t0 = Date.now();
    for (;;) {
      const v = await d.json<View>('inspect', name);
      if (v.state === state) return { v, took: Date.now() - t0 };
      if (Date.now() - t0 > ms) assert.fail(`${name} still ${v.state} after ${ms} ms`);
      await sleep(50);
    }
  }

  const lastEvent = async (name: string): Promise<Event> => (await d.json<Event[]>('events')).filter((e) => e.subject === name).at(-1)!;

  test('an init killed from the host: stopped within a second, with its signal, an event, nothing left', async () => {
    await d.ok('create', 'k1', '--template', 'bb');
    await d.ok('start', 'k1');
    const { pid } = await d.json<View>('inspect', 'k1');
    process.kill(pid!, 'SIGKILL');
    const { v, took } = await until('k1', 'stopped', 3000);
    assert.ok(took < 1000, `found stopped after ${took} ms`);
    assert.deepEqual({ ...v.lastExit, at: undefined }, { status: null, signal: 'SIGKILL', byItself: true, at: undefined });
    const e = await lastEvent('k1');
    assert.equal(e.kind, 'container-exited');
    assert.match(e.message, /stopped by itself: its init was killed by SIGKILL/);
    assert.deepEqual(d.leftovers(), [], 'mounts, cgroups and runc state went as on a stop');
    assert.match((await d.ok('inspect', 'k1')), /lastExit: +killed by SIGKILL, by itself/);
    // It starts again as usual, network included.
    await d.ok('start', 'k1');
    await d.ok('destroy', 'k1', '--force');
  });

  test('a command that ends: stopped with its exit status', async () => {
    await d.ok('create', 'c1', '--template', 'ends', '--no-net');
    await d.ok('start', 'c1');
    const { v } = await until('c1', 'stopped', 5000);
    assert.equal(v.lastExit?.status, 3);
    assert.equal(v.lastExit?.byItself, true);
    assert.match((await lastEvent('c1')).message, /its init exited with status 3/);
    await d.ok('destroy', 'c1');
  });

  test('poweroff inside stops the container; reboot inside starts it again', async () => {
    await d.ok('create', 'p1', '--template', 'bb', '--no-net');
    await d.ok('start', 'p1');
    const first = (await d.json<View>('inspect', 'p1')).pid;
    await d.ok('exec', 'p1', '--', 'reboot');
    for (let i = 0; i < 100; i++) {
      const v = await d.json<View>('inspect', 'p1');
      if (v.state === 'running' && v.pid !== first) break;
      await sleep(100);
    }
    const rebooted = await d.json<View>('inspect', 'p1');
    assert.equal(rebooted.state, 'running');
    assert.notEqual(rebooted.pid, first, 'a new init');
    assert.equal(rebooted.lastExit?.signal, 'SIGHUP');
    assert.ok((await d.json<Event[]>('events')).some((e) => e.subject === 'p1' && /rebooted itself/.test(e.message)));
    await d.ok('exec', 'p1', '--', 'poweroff');
    const { v } = await until('p1', 'stopped', 10_000);
    assert.equal(v.lastExit?.signal, 'SIGINT');
    await d.ok('destroy', 'p1');
  });

  test('a stop by Strata is recorded as such', async () => {
    await d.ok('create', 's1', '--template', 'bb', '--no-net');
    await d.ok('start', 's1');
    await d.ok('stop', 's1');
    const v = await d.json<View>('inspect', 's1');
    assert.equal(v.lastExit?.byItself, false);
    assert.equal((await lastEvent('s1')).kind, 'container-stopped');
    await d.ok('destroy', 's1');
  });

  test('an init that ends while the daemon is down (killed -9) is found at the next start, with its signal', async () => {
    await d.ok('create', 'd1', '--template', 'bb', '--no-net');
    await d.ok('start', 'd1');
    const { pid } = await d.json<View>('inspect', 'd1');
    await d.kill9();
    process.kill(pid!, 'SIGKILL');
    await sleep(300);
    await d.start();
    const v = await d.json<View>('inspect', 'd1');
    assert.equal(v.state, 'stopped');
    assert.deepEqual([v.lastExit?.signal, v.lastExit?.byItself], ['SIGKILL', true]);
    assert.match(d.log, /reconcile: d1: recorded running, but its init was killed by SIGKILL: marked stopped/);
    assert.deepEqual(d.leftovers(), []);
    await d.ok('destroy', 'd1');
  });
});
