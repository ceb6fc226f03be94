// Integration: real Debian services captured from apt (the mirror, as debootstrap uses) and
// composed in one container: nginx, redis-server and postgresql each answer their real client
// after a start, attached together at create and attached live to a running container, on
// Debian with systemd and with sysvinit.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { sharedDebian, sleep, TestDaemon } from './harness.js';

const PACKAGES = ['nginx', 'redis-server', 'postgresql'];

/** Tries `check` for up to 30 s (services start in the background after init). */
async function eventually(what: string, check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 150; i++) {
    if (await check()) return;
    await sleep(200);
  }
  assert.fail(`${what} did not answer within 30 s`);
}

async function curl(port: number): Promise<number> {
  try {
    return (await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(3000) })).status;
  } catch {
    return 0;
  }
}

for (const init of ['systemd', 'sysvinit'] as const) {
describe(`application templates of real Debian services (Debian with ${init})`, () => {
  const d = new TestDaemon();
  const port = 20000 + Math.floor(Math.random() * 20000);
  before(async () => {
    await d.start();
    await sharedDebian(d, 'deb', { init });
    for (const p of PACKAGES) {
      const t0 = Date.now();
      const r = await d.cli('template', 'capture', p, '--base', 'deb', '--net', 'default', '--', 'sh', '-c', `apt-get update -q && apt-get install -y -q ${p}`);
      assert.equal(r.status, 0, r.stderr.slice(-3000));
      console.log(`figure: ${init}: capture of ${p} ${((Date.now() - t0) / 1000).toFixed(1)} s: ${r.stdout.trim()}`);
    }
  });
  after(() => d.cleanup());

  const answers = async (ct: string, httpPort: number): Promise<void> => {
    await eventually(`nginx in ${ct}`, async () => (await curl(httpPort)) === 200);
    await eventually(`redis in ${ct}`, async () => /PONG/.test((await d.cli('exec', ct, '--', 'redis-cli', 'ping')).stdout));
    await eventually(`postgresql in ${ct}`, async () => (await d.cli('exec', ct, '--user', 'postgres', '--', 'psql', '-tAc', 'select 40+2')).stdout.trim() === '42');
  };

  test('a capture keeps the directories a service needs under volatile paths (/var/log/nginx)', async () => {
    await d.ok('create', 'cat0', '--template', 'deb', '--no-net', '--app', 'nginx');
    await d.ok('start', 'cat0');
    assert.match(await d.ok('exec', 'cat0', '--', 'stat', '-c', '%U:%G', '/var/log/nginx'), /root:adm/);
    await d.ok('destroy', 'cat0', '--force');
  });

  test('attached together at create, every service starts at boot and answers its client', { timeout: 5 * 60_000 }, async () => {
    await d.ok('create', 'cat1', '--template', 'deb', '--port', `${port}:80`, ...PACKAGES.flatMap((p) => ['--app', p]));
    const t0 = Date.now();
    await d.ok('start', 'cat1');
    await answers('cat1', port);
    console.log(`figure: ${init}: from start until nginx, redis and postgresql all answer: ${((Date.now() - t0) / 1000).toFixed(2)} s`);
    if (init === 'sysvinit') {
      // The boot order file lists every template's services, whichever template is on top.
      const targets = await d.ok('exec', 'cat1', '--', 'head', '-1', '/etc/init.d/.depend.start');
      for (const s of PACKAGES) assert.match(targets, new RegExp(`\\b${s}\\b`));
    } else {
      await eventually('systemd in cat1 to finish starting', async () => (await d.cli('exec', 'cat1', '--', 'systemctl', 'is-system-running')).stdout.trim() === 'running');
    }
    await d.ok('restart', 'cat1');
    await answers('cat1', port);
    await d.ok('destroy', 'cat1', '--force');
  });

  test('attached live to a running container, they answer at the next start too', { timeout: 5 * 60_000 }, async () => {
    await d.ok('create', 'cat2', '--template', 'deb', '--port', `${port + 1}:80`);
    await d.ok('start', 'cat2');
    for (const p of PACKAGES) await d.ok('attach', 'cat2', p);
    await d.ok('restart', 'cat2');
    await answers('cat2', port + 1);
    await d.ok('destroy', 'cat2', '--force');
    assert.deepEqual(d.leftovers(), []);
  });
});
}
