// Integration: every bad input gives one clear line, a non-zero status, and changes nothing.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mountPoints, runCli, untilLinks, useDaemon } from './harness.js';

describe('bad input', () => {
  const d = useDaemon({ template: 'bb' });
  before(async () => {
    await d.ok('create', 'used', '--template', 'bb');
    await d.ok('create', 'live', '--template', 'bb');
    await d.ok('start', 'live');
  });

  /** Runs a command that must fail: one line on stderr matching `message`, the given status, state unchanged. */
  async function refused(args: string[], status: number, message: RegExp): Promise<void> {
    const before = await d.ok('list', '--json');
    const tplBefore = await d.ok('template', 'list', '--json');
    const r = await d.cli(...args);
    assert.equal(r.status, status, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split('\n').length, 1, `one line, got: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, /at .*\.js:\d+/, 'no stack trace without --debug');
    const strip = (s: string): string => s.replace(/"startedAt": "[^"]*"/g, '');
    assert.equal(strip(await d.ok('list', '--json')), strip(before));
    assert.equal(await d.ok('template', 'list', '--json'), tplBefore);
  }

  test('invalid names', async () => {
    await refused(['create', 'Bad_Name', '--template', 'bb'], 2, /invalid container name "Bad_Name": use 1-63 characters/);
    await refused(['create', 'x'.repeat(64), '--template', 'bb'], 2, /invalid container name/);
    await refused(['template', 'build', 'UP', '--from', 'busybox'], 2, /invalid template name/);
    await refused(['create', 'okname', '--template', 'bb', '--hostname', 'bad host'], 2, /invalid hostname/);
  });

  test('unknown template, container and source', async () => {
    await refused(['create', 'c9', '--template', 'nope'], 3, /template nope does not exist/);
    await refused(['start', 'ghost'], 3, /container ghost does not exist/);
    await refused(['inspect', 'ghost'], 3, /container ghost does not exist/);
    await refused(['template', 'build', 't2', '--from', 'floppy'], 2, /unknown template source "floppy"/);
    await refused(['template', 'build', 't2', '--from', 'rootfs:/nonexistent.tar'], 2, /does not exist/);
  });

  test('duplicates and wrong states', async () => {
    await refused(['create', 'used', '--template', 'bb'], 4, /container used already exists/);
    await refused(['template', 'build', 'bb', '--from', 'busybox'], 4, /template bb already exists/);
    await refused(['start', 'live'], 6, /container live is already running/);
    await refused(['destroy', 'live'], 6, /container live is running: stop it first, or use 'strata destroy live --force'/);
    await refused(['exec', 'used', '--', 'true'], 6, /container used is not running: start it with 'strata start used'/);
    await refused(['stop', 'used'], 6, /container used is not running/);
    await refused(['template', 'rm', 'bb'], 5, /template bb is used by containers live, used: destroy them first/);
    await refused(['stop', 'live', '--timeout', '-3'], 2, /invalid --timeout/);
  });

  test('a missing daemon', async () => {
    const r = await runCli(join(d.root, 'no-such.sock'), ['list']);
    assert.equal(r.status, 7);
    assert.match(r.stderr, /cannot reach the Strata daemon at .*no-such\.sock.*start it with 'strata daemon'/);
  });

  test('--debug adds the stack trace', async () => {
    const r = await d.cli('start', 'ghost', '--debug');
    assert.equal(r.status, 3);
    assert.match(r.stderr, /NotFound/);
  });

  test('a create that fails half-way rolls back what it made, and only that', async () => {
    // Something (not ours) sits where the container's directory would go.
    const blocker = join(d.paths.containers, 'half');
    writeFileSync(blocker, 'in the way');
    try {
      // Refused with one line, and no record, address or template changed.
      await refused(['create', 'half', '--template', 'bb'], 5, /something is already at .*\/half, where the files of container half go/);
      // The rollback removed what it made, never what was there before it.
      assert.equal(readFileSync(blocker, 'utf8'), 'in the way');
    } finally {
      rmSync(blocker, { force: true });
    }
    // Once it is moved away, the next create of that name works.
    await d.ok('create', 'half', '--template', 'bb');
    await d.ok('destroy', 'half');
  });

  test('a start that fails half-way (runc create refuses an init that is gone) leaves no mount, cgroup, runtime state or attached adapter', async () => {
    await d.ok('create', 'broken', '--template', 'bb');
    await d.ok('start', 'broken');
    await d.ok('exec', 'broken', '--', 'rm', '/sbin/init');
    const port = (await d.json<{ adapters: Array<{ hostIfname: string }> }>('inspect', 'broken')).adapters[0].hostIfname;
    await d.ok('stop', 'broken', '--timeout', '1');
    const veths = (): string[] => readdirSync('/sys/class/net').filter((l) => l.startsWith('stv')).sort();
    // Its veth goes with its namespace, removed by the kernel just after the stop.
    const vethsBefore = await untilLinks(() => veths().filter((l) => l === port), []).then(() => veths());
    const r = await d.cli('start', 'broken');
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /init|no such file/i);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    const v = await d.json<{ state: string; pid: number | null }>('inspect', 'broken');
    assert.equal(v.state, 'stopped');
    assert.equal(v.pid, null);
    const p = d.paths;
    assert.deepEqual(mountPoints().filter((m) => m.startsWith(join(p.containers, 'broken'))), [], 'no mount of its root');
    assert.ok(!existsSync(join(p.runcRoot, 'broken')), 'no runtime state');
    for (const controller of readdirSync('/sys/fs/cgroup')) {
      assert.ok(!existsSync(join('/sys/fs/cgroup', controller, p.cgroupParent, 'broken')), `no cgroup in ${controller}`);
    }
    assert.deepEqual(veths(), vethsBefore, 'no adapter left on the host');
    await d.ok('destroy', 'broken');
  });
});
