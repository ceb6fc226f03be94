/**
 * The one conformance suite of the OciRuntime interface, run on the real kernel (as root) by
 * runtime.integration.test.ts for every runtime of RUNTIMES that this host's cgroup layout
 * allows. Not a test file itself. A container of a busybox root made here, with the spec Strata
 * gives a privileged container, goes through its whole life below a monitor of its own:
 * create → created with a pid → start → running → exec → kill → stopped → delete → gone; a bad
 * bundle is a ToolError; and nothing is left: no state, no cgroup, no process, no socket.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { pathsFor } from '../config/index.js';
import { StrataError, ToolError } from '../errors/index.js';
import { isAlive, waitForExit } from '../util/process.js';
import { Monitor } from './monitor.js';
import type { OciRuntime, RuntimeOptions } from './runtime.js';
import { buildSpec } from './spec.js';

const CGROUPS = '/sys/fs/cgroup';

/** The directories of cgroup `path` in every hierarchy (v1: one per controller; v2: one). */
function cgroupDirs(path: string): string[] {
  if (existsSync(join(CGROUPS, 'cgroup.controllers'))) return [join(CGROUPS, path)];
  return readdirSync(CGROUPS).map((h) => join(CGROUPS, h, path)).filter((d) => existsSync(d));
}

/** What the console printed so far (the monitor makes the log at the first output). */
const printed = (log: string): string => (existsSync(log) ? readFileSync(log, 'utf8') : '');

async function until(what: string, ok: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export function runtimeConformance(name: string, make: (opts: RuntimeOptions) => OciRuntime): void {
  describe(`OCI runtime ${name} (conformance)`, () => {
    const dir = mkdtempSync('/tmp/strata-test-runtime-');
    const runDir = join(dir, 'run');
    const stateRoot = join(runDir, name);
    const rootfs = join(dir, 'rootfs');
    const bundle = join(dir, 'bundle');
    const consoleLog = join(dir, 'console.log');
    const id = `conformance-${process.pid}`;
    // A parent of our own, so that what the runtime leaves in the cgroup tree can be seen (and removed).
    const cgroupParent = `strata-test-runtime-${process.pid}`;
    const monitor = new Monitor(join(runDir, 'monitor.sock'), pathsFor('/tmp').helpers.monitor);
    let rt: OciRuntime;
    let pid = 0;

    before(async () => {
      // A busybox-ish root: the static busybox and a shell.
      mkdirSync(join(rootfs, 'bin'), { recursive: true });
      copyFileSync('/bin/busybox', join(rootfs, 'bin', 'busybox'));
      symlinkSync('busybox', join(rootfs, 'bin', 'sh'));
      await monitor.ensureRunning();
      rt = make({ stateRoot, monitor });
    });

    after(async () => {
      // Whatever a failed test left: the containers, the monitor, the cgroups, the files.
      for (const ct of [id, `${id}-bad`, `${id}-dead`]) await rt?.delete(ct, true).catch(() => undefined);
      if (pid) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
      await monitor.quit();
      for (const d of cgroupDirs(cgroupParent).reverse()) {
        for (const sub of readdirSync(d, { withFileTypes: true })) if (sub.isDirectory()) spawnSync('rmdir', [join(d, sub.name)]);
        spawnSync('rmdir', [d]);
      }
      rmSync(dir, { recursive: true, force: true });
    });

    test('version: the binary answers', async () => {
      assert.match(await rt.version(), /\d+\.\d+/);
    });

    test('create: state created with the init\'s pid, which waits to be started', async () => {
      await rt.writeBundle(bundle, buildSpec({
        hostname: 'conformance', rootfs, cgroupsPath: `/${cgroupParent}/${id}`,
        args: ['/bin/busybox', 'sh', '-c', 'echo init-started; exec /bin/busybox sleep 1000'],
      }));
      assert.ok(existsSync(join(bundle, 'config.json')));
      pid = await rt.create(id, bundle, consoleLog);
      assert.ok(pid > 1 && (await isAlive(pid)), `init pid ${pid} alive`);
      const state = await rt.state(id);
      assert.deepEqual(state, { id, status: 'created', pid, bundle });
      assert.deepEqual((await rt.list()).map((s) => [s.id, s.status]), [[id, 'created']]);
      assert.ok(cgroupDirs(join(cgroupParent, id)).length > 0, 'its cgroup exists');
      assert.doesNotMatch(printed(consoleLog), /init-started/, 'the init has not run its command yet');
    });

    test('start: running, and the init runs its command (its console goes to the log)', async () => {
      await rt.start(id, pid);
      assert.equal((await rt.state(id))?.status, 'running');
      await until('the init wrote to its console', () => printed(consoleLog).includes('init-started'));
    });

    test('exec: the argv runs a process inside, as the user and in the directory asked', () => {
      const argv = rt.execArgv(id, { tty: false, user: { uid: 1234, gid: 2345 }, env: ['PATH=/bin', 'PROBE=yes'], cwd: '/bin', args: ['/bin/busybox', 'sh', '-c', 'echo "$(hostname) $(id -u):$(id -g) $(pwd) $PROBE"'] });
      const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', timeout: 10_000 });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout.trim(), 'conformance 1234:2345 /bin yes');
    });

    test('kill: the init ends and the state says stopped; signalling a stopped container is no error', async () => {
      await rt.kill(id, 'SIGKILL');
      assert.ok(await waitForExit(pid, 5000), 'the init ended');
      await until('the state says stopped', async () => (await rt.state(id))?.status === 'stopped');
      await rt.kill(id, 'SIGKILL');
    });

    test('delete: the runtime forgets the container and removes its cgroup; deleting again is no error', async () => {
      await rt.delete(id);
      assert.equal(await rt.state(id), null);
      assert.deepEqual(await rt.list(), []);
      assert.deepEqual(cgroupDirs(join(cgroupParent, id)), [], 'its cgroup is gone');
      await rt.delete(id);
      await rt.kill(id, 'SIGKILL');
      await rt.closeConsole(consoleLog);
    });

    test('start of a container whose init died while it waited: an error, not a wait without end', async () => {
      const dead = `${id}-dead`;
      const deadBundle = join(dir, 'dead-bundle');
      await rt.writeBundle(deadBundle, buildSpec({ hostname: 'dead', rootfs, cgroupsPath: `/${cgroupParent}/${dead}`, args: ['/bin/busybox', 'sleep', '1000'] }));
      const deadPid = await rt.create(dead, deadBundle, join(dir, 'dead.log'));
      process.kill(deadPid, 'SIGKILL');
      assert.ok(await waitForExit(deadPid, 5000));
      await assert.rejects(rt.start(dead, deadPid), (err: Error) => {
        assert.ok(err instanceof StrataError, `${err.name}: ${err.message}`);
        return true;
      });
      await rt.delete(dead, true);
      await rt.closeConsole(join(dir, 'dead.log'));
      assert.equal(await rt.state(dead), null);
    });

    test('a bad bundle (its root does not exist): a ToolError with the runtime\'s reason, and no container', async () => {
      const bad = join(dir, 'bad-bundle');
      await rt.writeBundle(bad, buildSpec({ hostname: 'bad', rootfs: join(dir, 'no-such-root'), cgroupsPath: `/${cgroupParent}/${id}-bad`, args: ['/bin/busybox', 'true'] }));
      await assert.rejects(rt.create(`${id}-bad`, bad, join(dir, 'bad.log')), (err: Error) => {
        assert.ok(err instanceof ToolError, `${err.name}: ${err.message}`);
        assert.notEqual(err.exitStatus, 0);
        assert.match(err.message, new RegExp(`creating container ${id}-bad: .+ exited with status \\d+: .*no-such-root`));
        return true;
      });
      await rt.delete(`${id}-bad`, true);
      assert.equal(await rt.state(`${id}-bad`), null);
    });

    test('nothing is left: no state, no console socket, no cgroup, no process, and the monitor can go', async () => {
      assert.deepEqual(existsSync(stateRoot) ? readdirSync(stateRoot) : [], [], 'no runtime state');
      assert.deepEqual(readdirSync(runDir).filter((f) => f.startsWith('tty-')), [], 'no console socket');
      for (const d of cgroupDirs(cgroupParent)) {
        assert.deepEqual(readdirSync(d, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name), [], `nothing below ${d}`);
      }
      assert.equal(await isAlive(pid), false);
      await monitor.quit();
      assert.equal(await monitor.ping(), null, 'the monitor exited: nothing was below it');
    });
  });
}
