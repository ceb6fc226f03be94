// Integration: every container has a console, a pty whose master the monitor holds: boot output
// lands in `strata logs`, `strata console` attaches through a real terminal (script(1)), logs in,
// runs a command and detaches with Ctrl-a q; several viewers may watch; an OCI image whose command
// is a shell stays up with that shell on its console.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sharedDebian, sleep, STRATA, TestDaemon, useDaemon, useScratchDir } from './harness.js';

/**
 * Runs `strata console CT` in a terminal made by script(1), typing `keys` (each after its delay,
 * in ms), and returns everything the terminal showed and the exit status.
 */
function consoleSession(d: TestDaemon, ct: string, keys: Array<[number, string]>): Promise<{ status: number | null; screen: string }> {
  return new Promise((resolve) => {
    const child = spawn('script', ['-qec', `${process.execPath} ${STRATA} --socket ${d.socket} console ${ct}`, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let screen = '';
    child.stdout.on('data', (b: Buffer) => { screen += b.toString(); });
    child.stderr.on('data', (b: Buffer) => { screen += b.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('close', (status) => { clearTimeout(timer); resolve({ status, screen }); });
    void (async () => {
      for (const [delay, text] of keys) {
        await sleep(delay);
        child.stdin.write(text);
      }
    })();
  });
}

describe('the console', () => {
  const d = useDaemon({ template: 'bb' });
  const work = useScratchDir('strata-test-console-');
  before(async () => {
    await sharedDebian(d, 'deb');
  });

  test('a Debian boot shows in strata logs; strata console logs in, runs a command and detaches', { timeout: 3 * 60_000 }, async () => {
    await d.ok('create', 'con1', '--template', 'deb', '--no-net');
    await d.ok('start', 'con1');
    for (let i = 0; i < 100 && !/login:/.test(await d.ok('logs', 'con1')); i++) await sleep(100);
    const logs = await d.ok('logs', 'con1');
    assert.match(logs, /Welcome to .*Debian GNU\/Linux 12/, 'systemd\'s boot output reached the log');
    assert.match(logs, /con1 login:/, 'a getty runs on the console');
    await d.ok('exec', 'con1', '--', 'passwd', '-d', 'root');
    const s = await consoleSession(d, 'con1', [[500, '\r'], [1000, 'root\r'], [2500, 'echo console-$((6*7))\r'], [1500, '\x01q']]);
    assert.equal(s.status, 0, s.screen);
    assert.match(s.screen, /attached to the console of con1; detach with Ctrl-a q/);
    assert.match(s.screen, /console-42/, 'the command ran on the console');
    assert.match(s.screen, /detached from the console of con1/);
    assert.equal((await d.json<{ state: string }>('inspect', 'con1')).state, 'running', 'detaching leaves it running');
    // Several viewers: both see what is written to /dev/console inside.
    const a = consoleSession(d, 'con1', [[2500, '\x01q']]);
    const b = consoleSession(d, 'con1', [[2500, '\x01q']]);
    await sleep(1200);
    await d.ok('exec', 'con1', '--', 'sh', '-c', 'echo to-every-viewer > /dev/console');
    for (const v of await Promise.all([a, b])) assert.match(v.screen, /to-every-viewer/);
    await d.ok('stop', 'con1');
    const r = await d.cli('console', 'con1');
    assert.equal(r.status, 6);
    assert.match(r.stderr, /container con1 is not running/);
    await d.ok('destroy', 'con1');
  });

  test('an OCI image whose command is a shell stays up, with the shell on its console', { timeout: 60_000 }, async () => {
    // An OCI layout: the busybox tree without an init, its command /bin/sh.
    const tree = join(work, 'tree');
    cpSync(join(d.root, 'templates', 'bb', 'rootfs'), tree, { recursive: true, verbatimSymlinks: true });
    rmSync(join(tree, 'sbin', 'init'));
    const layer = execFileSync('tar', ['-C', tree, '-cf', '-', '.'], { maxBuffer: 1 << 28 });
    const layout = join(work, 'oci');
    mkdirSync(join(layout, 'blobs', 'sha256'), { recursive: true });
    const blob = (data: Buffer | string): { digest: string; size: number } => {
      const buf = Buffer.isBuffer(data) ? data : Buffer.from(data);
      const hex = createHash('sha256').update(buf).digest('hex');
      writeFileSync(join(layout, 'blobs', 'sha256', hex), buf);
      return { digest: `sha256:${hex}`, size: buf.length };
    };
    const l = blob(layer);
    const config = blob(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['/bin/sh'], Env: ['PATH=/bin:/sbin'] }, rootfs: { type: 'layers', diff_ids: [] } }));
    const manifest = blob(JSON.stringify({
      schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...l }],
    }));
    writeFileSync(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    writeFileSync(join(layout, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, platform: { architecture: 'amd64', os: 'linux' } }] }));
    await d.ok('template', 'build', 'shimg', '--from', `oci:${layout}`);
    await d.ok('create', 'sh1', '--template', 'shimg', '--no-net');
    await d.ok('start', 'sh1');
    await sleep(2000);
    assert.equal((await d.json<{ state: string }>('inspect', 'sh1')).state, 'running', 'the shell waits on its console');
    const s = await consoleSession(d, 'sh1', [[500, 'echo shell-$((6*7))\r'], [1000, '\x01q']]);
    assert.match(s.screen, /shell-42/);
    await d.ok('destroy', 'sh1', '--force');
    assert.deepEqual(d.leftovers(), []);
  });
});
