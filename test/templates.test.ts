// Integration: OS templates other than busybox — host-linked and debootstrap — on real containers.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { useDaemon } from './harness.js';

interface Tpl { name: string; sizeBytes: number; meta: { buildSeconds: number; hostUsr?: string } }

describe('OS templates', () => {
  const d = useDaemon();

  test('host-linked: the host\'s /usr in place, built in under a second, a few MiB', async () => {
    const t0 = Date.now();
    await d.ok('template', 'build', 'hosty', '--from', 'host');
    const took = Date.now() - t0;
    const t = await d.json<Tpl>('template', 'inspect', 'hosty');
    assert.ok(t.meta.buildSeconds < 1, `built in ${t.meta.buildSeconds} s`);
    assert.ok(t.sizeBytes < 8 << 20, `takes ${t.sizeBytes} bytes`);
    assert.equal(t.meta.hostUsr, '/usr');
    assert.ok(took < 5000);
  });

  test('a host-linked container sees host files with their real owners, copy-on-write', async () => {
    await d.ok('create', 'hc', '--template', 'hosty');
    await d.ok('start', 'hc');
    const inside = (await d.ok('exec', 'hc', '--', 'stat', '-c', '%u:%g:%s', '/usr/bin/passwd')).trim();
    const st = statSync('/usr/bin/passwd');
    assert.equal(inside, `${st.uid}:${st.gid}:${st.size}`);
    // The host's own programs run inside.
    assert.match(await d.ok('exec', 'hc', '--', 'ls', '--version'), /coreutils/);
    await d.ok('exec', 'hc', '--', 'sh', '-c', 'echo mine > /usr/share/strata-test-file && echo x >> /usr/share/doc/README.strata 2>/dev/null; true');
    assert.throws(() => statSync('/usr/share/strata-test-file'), 'the host\'s /usr is untouched');
    assert.equal((await d.ok('exec', 'hc', '--', 'cat', '/usr/share/strata-test-file')).trim(), 'mine');
    const v = await d.json<{ privateArea: string }>('inspect', 'hc');
    assert.equal(readFileSync(`${v.privateArea}/usr/share/strata-test-file`, 'utf8'), 'mine\n');
    await d.ok('destroy', 'hc', '--force');
    assert.deepEqual(d.leftovers(), []);
  });

  test('debootstrap: a Debian template with sysvinit that boots, runs services and stops', { timeout: 20 * 60_000 }, async () => {
    const r = await d.cli('template', 'build', 'deb', '--from', 'debootstrap:bookworm', '--init', 'sysvinit');
    assert.equal(r.status, 0, r.stderr.slice(-2000));
    assert.match(r.stderr, /Retriev|Extract|Install/, 'debootstrap progress was shown');
    const t = await d.json<Tpl>('template', 'inspect', 'deb');
    assert.ok(t.sizeBytes > 50 << 20);
    await d.ok('create', 'dc', '--template', 'deb');
    await d.ok('start', 'dc');
    // sysvinit is pid 1 and reached its runlevel.
    let runlevel = '';
    for (let i = 0; i < 50 && !/2/.test(runlevel); i++) {
      runlevel = (await d.cli('exec', 'dc', '--', 'runlevel')).stdout;
      await new Promise((res) => setTimeout(res, 200));
    }
    assert.match(runlevel, /\b2\b/);
    assert.equal((await d.ok('exec', 'dc', '--', 'cat', '/proc/1/comm')).trim(), 'init');
    assert.match(await d.ok('exec', 'dc', '--', 'cat', '/etc/debian_version'), /^12\./);
    const t0 = Date.now();
    await d.ok('stop', 'dc', '--timeout', '30');
    assert.ok(Date.now() - t0 < 25_000, 'sysvinit halted on its stop signal before the timeout');
    await d.ok('destroy', 'dc');
    assert.deepEqual(d.leftovers(), []);
  });

  test('a real package install (dpkg -i) captured on the Debian template runs after attach', { timeout: 10 * 60_000 }, async () => {
    // The .deb is fetched on the host (apt-get download) and handed to the installer inside the script.
    const dir = mkdtempSync('/tmp/strata-test-deb-');
    try {
      const dl = spawnSync('apt-get', ['download', 'hello'], { cwd: dir, encoding: 'utf8' });
      assert.equal(dl.status, 0, `apt-get download hello: ${dl.stderr}`);
      const deb = readdirSync(dir).find((f) => f.endsWith('.deb'))!;
      const b64 = readFileSync(join(dir, deb)).toString('base64').replace(/.{76}/g, '$&\n');
      const script = join(dir, 'install.sh');
      writeFileSync(script, `set -e\nbase64 -d > /tmp/hello.deb <<'EOF'\n${b64}\nEOF\ndpkg -i /tmp/hello.deb\n`);
      const r = await d.cli('template', 'capture', 'hello-app', '--base', 'deb', '--script', script);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, /Setting up hello/, 'the installer\'s output was shown');
      assert.match(r.stdout, /database keys/);
      await d.ok('create', 'dh', '--template', 'deb', '--no-net', '--app', 'hello-app');
      await d.ok('start', 'dh');
      assert.equal((await d.ok('exec', 'dh', '--', 'hello')).trim(), 'Hello, world!');
      assert.match(await d.ok('exec', 'dh', '--', 'dpkg', '-s', 'hello'), /Status: install ok installed/);
      // The package database keeps every base package and gains this one.
      const count = Number((await d.ok('exec', 'dh', '--', 'sh', '-c', 'dpkg -l | grep -c ^ii')).trim());
      assert.ok(count > 80, `${count} packages installed`);
      await d.ok('destroy', 'dh', '--force');
      await d.ok('template', 'rm', 'hello-app');
      assert.deepEqual(d.leftovers(), []);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
