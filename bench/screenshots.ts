/**
 * `npm run screenshots`: regenerates docs/panel/*.png, the web panel's main pages as the README and
 * docs/panel.md show them. A daemon of its own on a scratch data root (busybox containers, two
 * tenants, an application template captured from a script), Debian's Chromium, cleaned up after.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { freePort, sleep, TestDaemon, TOP } from '../test/harness.js';
import { inTerminal, launchChromium, logIn, newPage, textMatches } from '../test/panel-driver.js';

const OUT = join(TOP, 'docs', 'panel');

async function main(): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  const port = freePort();
  const d = new TestDaemon({ args: ['--listen', `127.0.0.1:${port}`], env: { STRATA_METER_INTERVAL_MS: '1000' } });
  const origin = `https://127.0.0.1:${port}/`;
  const browser = await launchChromium();
  const shot = async (p: Page, name: string): Promise<void> => {
    await sleep(400);
    await p.screenshot({ path: join(OUT, `${name}.png`), fullPage: false });
    process.stderr.write(`docs/panel/${name}.png\n`);
  };
  try {
    await d.start();
    await d.ok('template', 'build', 'busybox', '--from', 'busybox');
    await d.ok('template', 'capture', 'hello-web', '--base', 'busybox', '--', 'sh', '-c', "mkdir -p /srv/www && echo hello > /srv/www/index.html && echo 'www:x:33:33:www:/srv/www:/bin/false' >> /etc/passwd");
    await d.ok('tenant', 'create', 'acme', '--containers', '10', '--memory', '2G', '--ports', '5', '--traffic', '100G');
    await d.ok('tenant', 'create', 'globex', '--containers', '5');
    await d.cliInput('correct-horse\n', 'user', 'create', 'admin', '--role', 'admin', '--password-stdin');
    await d.cliInput('correct-horse\n', 'user', 'create', 'alice', '--role', 'owner', '--tenant', 'acme', '--password-stdin');
    for (const [name, tenant] of [['web1', 'acme'], ['web2', 'acme'], ['db1', 'acme'], ['shop', 'globex'], ['build', 'globex']]) {
      await d.ok('create', name, '--template', 'busybox', '--tenant', tenant, '--memory', '256M');
    }
    await d.ok('attach', 'web1', 'hello-web');
    for (const name of ['web1', 'web2', 'shop']) await d.ok('start', name);
    // Some work, so that the graphs have a shape.
    await d.ok('exec', 'web1', '--', 'sh', '-c', 'for i in 1 2 3 4 5 6; do dd if=/dev/zero of=/dev/null bs=1M count=300 2>/dev/null; sleep 1; done');

    const admin = await newPage(browser);
    await admin.goto(origin);
    await admin.getByLabel('User').fill('admin');
    await shot(admin, 'login');
    await logIn(admin, origin, 'admin', 'correct-horse');
    await textMatches(admin.locator('body'), /This host now[\s\S]*Memory/);
    await sleep(3000);
    await shot(admin, 'dashboard');
    await admin.getByRole('link', { name: 'Containers' }).click();
    await textMatches(admin.locator('body'), /usage at/);
    await sleep(4000);
    await shot(admin, 'containers');
    await admin.getByRole('link', { name: 'web1' }).click();
    await admin.getByRole('button', { name: 'Open shell' }).click();
    await inTerminal(admin, 'ls /srv/www && cat /srv/www/index.html', /hello/);
    await shot(admin, 'container');
    await admin.getByRole('link', { name: 'Templates' }).click();
    await admin.getByRole('heading', { name: 'hello-web' }).waitFor();
    await shot(admin, 'templates');
    await admin.getByRole('link', { name: 'Capture an application' }).click();
    await admin.getByLabel('Template name').fill('tools');
    await admin.getByLabel('Base (OS template)').selectOption('busybox');
    await admin.getByLabel('Network (for apt and downloads)').uncheck();
    await admin.getByRole('button', { name: 'Open a shell in a throw-away container' }).click();
    await inTerminal(admin, 'mkdir -p /opt/tools && echo installed', /installed/);
    await shot(admin, 'capture');
    await admin.getByRole('button', { name: 'Abort' }).click();
    await sleep(1000);

    const alice = await newPage(browser);
    await logIn(alice, origin, 'alice', 'correct-horse');
    await alice.getByRole('link', { name: 'Containers' }).click();
    await alice.getByRole('link', { name: 'Create container' }).click();
    await alice.getByLabel('Name').fill('web3');
    await alice.getByLabel('OS template').selectOption('busybox');
    await alice.getByRole('button', { name: 'Next' }).click();
    await alice.getByLabel('Memory').fill('512M');
    await alice.getByRole('button', { name: 'Next' }).click();
    await alice.getByLabel('Published ports').fill('8080:80');
    await alice.getByRole('button', { name: 'Next' }).click();
    await shot(alice, 'create');

    const phone = await newPage(browser, { width: 390, height: 800 }, 'dark');
    await logIn(phone, origin, 'alice', 'correct-horse');
    await phone.getByRole('link', { name: 'Containers' }).click();
    await textMatches(phone.locator('body'), /usage at/);
    await shot(phone, 'phone-dark');
  } finally {
    await browser.close();
    await d.cleanup();
  }
}

await main();
