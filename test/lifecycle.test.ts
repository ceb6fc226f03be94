// Integration: the whole container lifecycle through the CLI, real runc and kernel.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mountPoints, runIn, sleep, STRATA, useDaemon, zombies } from './harness.js';

interface View { name: string; state: string; pid: number | null; template: string; hostname: string; rootfs: string; privateArea: string; createdAt: string; startedAt: string | null; idMap: { hostBase: number; size: number } | null }

describe('container lifecycle', () => {
  const d = useDaemon({ template: 'bb' });

  test('template list and inspect describe the busybox template', async () => {
    const list = await d.json<Array<{ name: string; kind: string }>>('template', 'list');
    assert.deepEqual(list.map((t) => [t.name, t.kind]), [['bb', 'os']]);
    const t = await d.json<{ name: string; init: string[]; sizeBytes: number; usedBy: string[] }>('template', 'inspect', 'bb');
    assert.deepEqual(t.init, ['/sbin/init']);
    assert.ok(t.sizeBytes > 500_000 && t.sizeBytes < 20 << 20, `size ${t.sizeBytes}`);
    assert.deepEqual(t.usedBy, []);
  });

  test('create, start, inspect, list', async () => {
    await d.ok('create', 'web1', '--template', 'bb', '--hostname', 'web-one');
    let v = await d.json<View>('inspect', 'web1');
    assert.equal(v.state, 'created');
    assert.equal(v.pid, null);
    assert.equal(v.hostname, 'web-one');
    assert.equal(v.template, 'bb');
    assert.ok(existsSync(v.privateArea));
    assert.ok(!Number.isNaN(Date.parse(v.createdAt)));
    assert.equal(v.startedAt, null);
    await d.ok('start', 'web1');
    v = await d.json<View>('inspect', 'web1');
    assert.equal(v.state, 'running');
    assert.ok(v.pid && v.pid > 1);
    assert.ok(v.startedAt);
    assert.ok(existsSync(`${v.rootfs}bin/busybox`), 'the merged root is reachable from the host');
    const list = await d.json<View[]>('list');
    assert.deepEqual(list, [v]);
    const table = await d.ok('list');
    assert.match(table, /web1\s+running/);
  });

  test('the host mount table does not grow with running containers: roots are the containers\' own, no namespace pin, no layer', async () => {
    const before = mountPoints().sort();
    const names = ['mt1', 'mt2', 'mt3'];
    for (const n of names) {
      await d.ok('create', n, '--template', 'bb');
      await d.ok('start', n);
    }
    assert.deepEqual(mountPoints().sort(), before);
    for (const n of names) {
      // The root is reached through the container's init, and is the container's alone.
      const v = await d.json<View>('inspect', n);
      assert.equal(v.rootfs, `/proc/${v.pid}/root/`);
      writeFileSync(join(v.rootfs, 'tmp', 'mine'), n);
      assert.equal(await d.ok('exec', n, '--', 'cat', '/tmp/mine'), n);
    }
    for (const n of names) await d.ok('destroy', n, '--force');
    assert.deepEqual(mountPoints().sort(), before);
  });

  test('exec passes stdin, stdout, stderr and the exit status', async () => {
    const r = await d.cliInput('hello from stdin\n', 'exec', 'web1', '--', 'sh', '-c', 'cat; echo to-err >&2; exit 42');
    assert.equal(r.status, 42);
    assert.equal(r.stdout, 'hello from stdin\n');
    assert.match(r.stderr, /to-err/);
  });

  test('exec honours --user, --env and --cwd', async () => {
    const out = await d.ok('exec', 'web1', '--user', 'nobody', '--env', 'GREETING=hi', '--cwd', '/tmp', '--', 'sh', '-c', 'id -u; echo $GREETING; pwd');
    assert.deepEqual(out.trim().split('\n'), ['65534', 'hi', '/tmp']);
    const r = await d.cli('exec', 'web1', '--user', 'nosuchuser', '--', 'true');
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /user nosuchuser does not exist/);
  });

  test('exec of a missing program or with a bad --cwd answers like podman: 127/126 and one line', async () => {
    const cases: Array<[string[], number, RegExp]> = [
      [['--', 'no-such-program'], 127, /^strata: no-such-program: command not found in container web1\n$/],
      [['--', '/no/such/path'], 127, /^strata: \/no\/such\/path: command not found in container web1\n$/],
      [['--cwd', '/no-such-dir', '--', 'ls'], 126, /^strata: the working directory \/no-such-dir cannot be used in container web1: no such file or directory\n$/],
      [['--', '/etc/passwd'], 126, /^strata: \/etc\/passwd: permission denied in container web1/],
    ];
    for (const [args, status, message] of cases) {
      const r = await d.cli('exec', 'web1', ...args);
      assert.equal(r.status, status, args.join(' '));
      assert.match(r.stderr, message);
    }
  });

  test('the hostname is the one given, and /etc/hostname agrees', async () => {
    assert.equal((await d.ok('exec', 'web1', '--', 'hostname')).trim(), 'web-one');
    assert.equal((await d.ok('exec', 'web1', '--', 'cat', '/etc/hostname')).trim(), 'web-one');
  });

  test('logs show the console output', async () => {
    const logs = await d.ok('logs', 'web1');
    assert.match(logs, /web-one is up/, 'the init script\'s output reached the log');
  });

  test('the console log stays under its cap at every moment, whatever the rate; newest output kept', async () => {
    const v = await d.json<{ consoleLog: string }>('inspect', 'web1');
    // A chatty boot: an init script writes 10 MB to the console as fast as it goes.
    await d.ok('exec', 'web1', '--', 'sh', '-c', 'printf "#!/bin/sh\\nyes strata-flood-line | head -c 10000000\\necho\\necho newest-line\\n" > /etc/rc.d/S99flood && chmod +x /etc/rc.d/S99flood');
    try {
      await d.ok('restart', 'web1');
      let largest = 0;
      // The console is a terminal: lines end in \r\n there.
      for (let i = 0; i < 4000 && !/newest-line\r?\n/.test(readFileSync(v.consoleLog, 'utf8')); i++) {
        largest = Math.max(largest, statSync(v.consoleLog).size);
        await sleep(5);
      }
      assert.ok(largest > 256 << 10, `the flood reached the log (${largest} bytes at most)`);
      assert.ok(largest <= 1 << 20, `the log reached ${largest} bytes`);
      assert.ok(statSync(v.consoleLog).size <= 1 << 20);
      const logs = await d.ok('logs', 'web1');
      assert.match(logs, /\nnewest-line\r?\n/);
      assert.ok(logs.indexOf('strata-flood-line') < logs.search(/\nnewest-line\r?\n/), 'the newest output is kept');
      assert.doesNotMatch(logs, /web-one is up[^]*strata-flood-line/, 'the boot before the flood was dropped');
    } finally {
      await d.ok('exec', 'web1', '--', 'rm', '-f', '/etc/rc.d/S99flood');
    }
  });

  test('enter opens a login shell with a terminal', async () => {
    // script(1) gives the CLI a terminal, as a user's would be.
    const r = await runIn('script', ['-qec', `${process.execPath} ${STRATA} enter web1`, '/dev/null'], 'tty; echo entered-$((6*7)); exit\n', d.socket);
    assert.equal(r.status, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /\/dev\/pts\/\d+/);
    assert.match(r.stdout, /entered-42/);
  });

  test('stop, restart and start', async () => {
    await d.ok('stop', 'web1', '--timeout', '5');
    let v = await d.json<View>('inspect', 'web1');
    assert.equal(v.state, 'stopped');
    assert.equal(v.pid, null);
    assert.equal(d.leftovers().length, 0, d.leftovers().join('; '));
    await d.ok('start', 'web1');
    const first = (await d.json<View>('inspect', 'web1')).pid;
    await d.ok('restart', 'web1');
    v = await d.json<View>('inspect', 'web1');
    assert.equal(v.state, 'running');
    assert.notEqual(v.pid, first);
  });

  test('stopping an init that ignores its stop signal kills it after the timeout', async () => {
    await d.ok('create', 'stubborn', '--template', 'bb');
    await d.ok('start', 'stubborn');
    // Replace the shutdown path: SIGTERM goes to an init that we make ignore it by stopping it.
    const pid = (await d.json<View>('inspect', 'stubborn')).pid!;
    process.kill(pid, 'SIGSTOP');
    const t0 = Date.now();
    await d.ok('stop', 'stubborn', '--timeout', '1');
    const took = Date.now() - t0;
    assert.ok(took >= 900, `stop returned after ${took} ms, before the timeout`);
    assert.equal((await d.json<View>('inspect', 'stubborn')).state, 'stopped');
    await d.ok('destroy', 'stubborn');
  });

  test('events --follow prints each event of a container as it happens, and --since picks up after an id', async () => {
    const child = spawn(process.execPath, [STRATA, 'events', '--follow', '--json', '--container', 'ev1'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, STRATA_SOCKET: d.socket } });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (t: string) => { out += t; });
    const exited = new Promise((r) => child.once('exit', r));
    try {
      await sleep(300); // the stream is open before the first event
      await d.ok('create', 'ev1', '--template', 'bb');
      await d.ok('start', 'ev1');
      await d.ok('create', 'other', '--template', 'bb');
      for (let i = 0; i < 100 && !out.includes('container-started'); i++) await sleep(50);
      const seen = out.trim().split('\n').map((l) => JSON.parse(l) as { id: number; kind: string; subject: string });
      assert.deepEqual(seen.map((e) => [e.kind, e.subject]), [['container-created', 'ev1'], ['container-started', 'ev1']]);
      // What happened after the first one, asked for later by its id.
      const after = await d.json<Array<{ kind: string; subject: string }>>('events', '--since', String(seen[0].id));
      assert.deepEqual(after.map((e) => [e.kind, e.subject]), [['container-started', 'ev1'], ['container-created', 'other']]);
      const bad = await d.cli('events', '--since', 'yesterday-ish');
      assert.equal(bad.status, 2);
      assert.match(bad.stderr, /invalid --since "yesterday-ish": give an event id/);
    } finally {
      child.kill();
      await exited;
      await d.cli('destroy', 'ev1', '--force');
      await d.cli('destroy', 'other', '--force');
    }
  });

  test('no zombies are left by stopped containers', async () => {
    for (let i = 0; i < 3; i++) {
      await d.ok('create', `z${i}`, '--template', 'bb');
      await d.ok('start', `z${i}`);
    }
    const pids = await Promise.all([0, 1, 2].map(async (i) => (await d.json<View>('inspect', `z${i}`)).pid));
    for (let i = 0; i < 3; i++) await d.ok('destroy', `z${i}`, '--force');
    const z = zombies().filter((p) => pids.includes(p.pid));
    assert.deepEqual(z, []);
  });

  test('destroy leaves no trace', async () => {
    const v = await d.json<View>('inspect', 'web1');
    await d.ok('destroy', 'web1', '--force');
    assert.equal(existsSync(v.privateArea), false);
    assert.equal(existsSync(join(v.privateArea, '..', '..')), false, 'its directory is gone');
    assert.deepEqual(await d.json<View[]>('list'), []);
    assert.deepEqual(d.leftovers(), []);
    const tpl = await d.json<{ usedBy: string[] }>('template', 'inspect', 'bb');
    assert.deepEqual(tpl.usedBy, []);
  });

  test('the API socket is private to root', () => {
    assert.equal(statSync(d.socket).mode & 0o777, 0o600);
    assert.ok(readFileSync('/proc/mounts', 'utf8').length > 0);
  });
});
