// Integration: Debian as it is by default, with systemd, in default (unprivileged) containers:
// bookworm and trixie boot to `running`, systemctl and hostnamectl work, strata stop halts it
// cleanly, reboot and poweroff inside behave like a machine's, and the limits Strata set hold
// from above. Also trixie with sysvinit (bookworm with sysvinit: templates.test.ts).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sharedDebian, sleep, useDaemon } from './harness.js';

interface View { state: string; pid: number | null; lastExit: { signal: string | null; byItself: boolean } | null; idMap: { hostBase: number } }

describe('systemd containers', () => {
  const d = useDaemon();

  /** Waits for `systemctl is-system-running` to settle; returns its answer and the seconds since `t0`. */
  async function settled(ct: string, t0: number): Promise<{ state: string; seconds: number }> {
    for (let i = 0; i < 300; i++) {
      const state = (await d.cli('exec', ct, '--', 'systemctl', 'is-system-running')).stdout.trim();
      if (state === 'running' || state === 'degraded') return { state, seconds: (Date.now() - t0) / 1000 };
      await sleep(100);
    }
    assert.fail(`${ct}: systemd did not finish booting within 30 s`);
  }

  for (const suite of ['bookworm', 'trixie']) {
    test(`${suite}: boots to running, systemctl and hostnamectl work, stop is clean, reboot and poweroff inside`, { timeout: 10 * 60_000 }, async () => {
      const tpl = `sd-${suite}`;
      const built = await sharedDebian(d, tpl, { suite });
      const t = await d.json<{ stopSignal: string }>('template', 'inspect', tpl);
      assert.equal(t.stopSignal, 'SIGRTMIN+3', 'the template says how systemd halts');
      const ct = `sd${suite.slice(0, 3)}`;
      await d.ok('create', ct, '--template', tpl, '--no-net', '--memory', '256M', '--hostname', `${ct}-host`);
      const t0 = Date.now();
      await d.ok('start', ct);
      const boot = await settled(ct, t0);
      const failed = (await d.ok('exec', ct, '--', 'systemctl', '--failed', '--plain', '--no-legend', '--no-pager')).trim();
      assert.equal(boot.state, 'running', `failed units: ${failed}`);
      assert.equal((await d.ok('exec', ct, '--', 'cat', '/proc/1/comm')).trim(), 'systemd');
      for (const unit of ['systemd-journald', 'systemd-logind', 'dbus']) assert.equal((await d.ok('exec', ct, '--', 'systemctl', 'is-active', unit)).trim(), 'active', unit);
      assert.match(await d.ok('exec', ct, '--', 'hostnamectl'), new RegExp(`Static hostname: ${ct}-host`));
      // A unit of the operator's own: enable, start, stop.
      await d.ok('exec', ct, '--', 'sh', '-c', 'printf "[Service]\\nExecStart=/bin/sleep infinity\\n[Install]\\nWantedBy=multi-user.target\\n" > /etc/systemd/system/strata-probe.service');
      await d.ok('exec', ct, '--', 'systemctl', 'daemon-reload');
      await d.ok('exec', ct, '--', 'systemctl', 'enable', '--now', 'strata-probe');
      assert.equal((await d.ok('exec', ct, '--', 'systemctl', 'is-active', 'strata-probe')).trim(), 'active');
      assert.equal((await d.ok('exec', ct, '--', 'systemctl', 'is-enabled', 'strata-probe')).trim(), 'enabled');
      await d.ok('exec', ct, '--', 'systemctl', 'stop', 'strata-probe');
      assert.notEqual((await d.cli('exec', ct, '--', 'systemctl', 'is-active', 'strata-probe')).status, 0);
      assert.ok((await d.json<Array<{ kind: string }>>('events')).length > 0);
      // The container's cgroup subtree is systemd's; the limit set by Strata cannot be raised from inside.
      const v = await d.json<View>('inspect', ct);
      assert.match(readFileSync(join('/sys/fs/cgroup/systemd', d.paths.cgroupParent, ct, 'init.scope', 'cgroup.procs'), 'utf8'), /\d/, 'systemd made its init.scope in its delegated subtree');
      const raise = await d.cli('exec', ct, '--', 'sh', '-c', 'echo 8589934592 > /sys/fs/cgroup/memory/memory.limit_in_bytes');
      assert.notEqual(raise.status, 0, 'raising the memory limit from inside fails');
      assert.equal(readFileSync(join('/sys/fs/cgroup/memory', d.paths.cgroupParent, ct, 'memory.limit_in_bytes'), 'utf8').trim(), String(256 << 20));
      // reboot inside: a new init, running again.
      await d.ok('exec', ct, '--', 'systemctl', 'reboot');
      for (let i = 0; i < 200; i++) {
        const now = await d.json<View>('inspect', ct);
        if (now.state === 'running' && now.pid !== v.pid) break;
        await sleep(100);
      }
      const again = await d.json<View>('inspect', ct);
      assert.equal(again.state, 'running');
      assert.notEqual(again.pid, v.pid);
      assert.equal(again.lastExit?.signal, 'SIGHUP');
      await settled(ct, Date.now());
      // strata stop: systemd halts on SIGRTMIN+3, quickly.
      const s0 = Date.now();
      await d.ok('stop', ct, '--timeout', '30');
      const stopSeconds = (Date.now() - s0) / 1000;
      assert.ok(stopSeconds < 10, `stopped in ${stopSeconds} s`);
      const stopped = await d.json<View>('inspect', ct);
      assert.deepEqual([stopped.lastExit?.signal, stopped.lastExit?.byItself], ['SIGINT', false], 'halted, not killed');
      // poweroff inside: stopped.
      await d.ok('start', ct);
      await settled(ct, Date.now());
      await d.ok('exec', ct, '--', 'poweroff');
      for (let i = 0; i < 200 && (await d.json<View>('inspect', ct)).state !== 'stopped'; i++) await sleep(100);
      assert.deepEqual([(await d.json<View>('inspect', ct)).state, (await d.json<View>('inspect', ct)).lastExit?.byItself], ['stopped', true]);
      console.log(`figure: ${suite} systemd: template ${built === null ? 'imported' : `built in ${built} s`}; boot to running ${boot.seconds.toFixed(2)} s; stop ${stopSeconds.toFixed(2)} s`);
      await d.ok('destroy', ct);
      assert.deepEqual(d.leftovers(), []);
    });
  }

  test('trixie with sysvinit: boots to its runlevel and stops on its signal', { timeout: 10 * 60_000 }, async () => {
    await sharedDebian(d, 'sv-trixie', { suite: 'trixie', init: 'sysvinit' });
    assert.equal((await d.json<{ stopSignal: string }>('template', 'inspect', 'sv-trixie')).stopSignal, 'SIGINT');
    await d.ok('create', 'svt', '--template', 'sv-trixie', '--no-net');
    const t0 = Date.now();
    await d.ok('start', 'svt');
    let runlevel = '';
    for (let i = 0; i < 100 && !/\b2\b/.test(runlevel); i++) {
      runlevel = (await d.cli('exec', 'svt', '--', 'runlevel')).stdout;
      if (!/\b2\b/.test(runlevel)) await sleep(100);
    }
    const boot = (Date.now() - t0) / 1000;
    assert.match(runlevel, /\b2\b/);
    assert.match(await d.ok('exec', 'svt', '--', 'cat', '/etc/debian_version'), /^13\./);
    const s0 = Date.now();
    await d.ok('stop', 'svt', '--timeout', '30');
    const stop = (Date.now() - s0) / 1000;
    assert.ok(stop < 25, `stopped in ${stop} s`);
    console.log(`figure: trixie sysvinit: boot to runlevel 2 ${boot.toFixed(2)} s; stop ${stop.toFixed(2)} s`);
    await d.ok('destroy', 'svt');
  });
});
