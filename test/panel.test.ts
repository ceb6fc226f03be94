// End to end: the web panel in Debian's Chromium (playwright-core, /usr/bin/chromium; no browser
// is downloaded), served by a real daemon over TLS beside its API. A tenant's owner logs in,
// creates a container in the wizard, starts it, runs a command in its shell and sees the output,
// sees its graphs fill, stops and destroys it; the host administrator captures an application
// template in the capture wizard and attaches it; tenant A reaches nothing of tenant B's by any
// URL; and the terminal works through nginx as a reverse proxy under a path prefix.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { freePort, sleep, useDaemon, useScratchDir } from './harness.js';
import { goTo, inTerminal, launchChromium, logIn as logInAt, newPage, textMatches } from './panel-driver.js';

describe('the web panel in a browser', () => {
  const port = freePort();
  const d = useDaemon({ template: 'bb', args: ['--listen', `127.0.0.1:${port}`], env: { STRATA_METER_INTERVAL_MS: '500' } });
  const scratch = useScratchDir('strata-test-panel-');
  const origin = `https://127.0.0.1:${port}/`;
  let browser: Browser;
  let nginx: ChildProcess | null = null;

  before(async () => {
    await d.ok('tenant', 'create', 'pa', '--containers', '3');
    await d.ok('tenant', 'create', 'pb');
    await d.cliInput('alice-pw-123\n', 'user', 'create', 'alice', '--role', 'owner', '--tenant', 'pa', '--password-stdin');
    await d.cliInput('bob-pw-123\n', 'user', 'create', 'bob', '--role', 'owner', '--tenant', 'pb', '--password-stdin');
    await d.cliInput('admin-pw-123\n', 'user', 'create', 'padmin', '--role', 'admin', '--password-stdin');
    await d.ok('create', 'pb-secret', '--template', 'bb', '--tenant', 'pb', '--no-net');
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    if (nginx && nginx.exitCode === null) {
      const gone = new Promise((r) => nginx!.once('exit', r));
      nginx.kill('SIGTERM');
      await gone;
    }
  });

  const page = (): Promise<Page> => newPage(browser);
  const logIn = (p: Page, user: string, password: string, at = origin): Promise<void> => logInAt(p, at, user, password);

  test('a tenant owner creates a container in the wizard, starts it, runs a command in its shell, sees its graphs, stops and destroys it', async () => {
    const p = await page();
    await logIn(p, 'alice', 'alice-pw-123');
    await p.getByRole('link', { name: 'Containers' }).click();
    await p.getByRole('link', { name: 'Create container' }).click();
    await p.getByLabel('Name').fill('pa-web');
    await p.getByLabel('OS template').selectOption('bb');
    await p.getByRole('button', { name: 'Next' }).click();
    await p.getByLabel('Memory').fill('64M');
    await p.getByRole('button', { name: 'Next' }).click();
    await p.getByRole('button', { name: 'Next' }).click();
    await textMatches(p.getByLabel('quota of pa'), /Containers\s*1 of 3/);
    await p.getByRole('button', { name: 'Create' }).click();
    await p.getByRole('heading', { name: /pa-web/ }).waitFor();
    await textMatches(p.locator('h1'), /running/);

    await p.getByRole('button', { name: 'Open shell' }).click();
    const screen = await inTerminal(p, 'echo panel-$((6*7)); hostname', /panel-42/);
    assert.match(screen, /pa-web/, 'the hostname is the container\'s');

    // The console: what the container writes to /dev/console shows in the browser's terminal.
    await p.getByRole('button', { name: 'Attach console' }).click();
    await textMatches(p.locator('.terminal-wrap [role=status]'), /console attached/);
    await d.ok('exec', 'pa-web', '--', 'sh', '-c', 'echo on-the-console-$((2+3)) > /dev/console');
    await textMatches(p.getByTestId('terminal').locator('.xterm-rows'), /on-the-console-5/);
    await p.getByRole('button', { name: 'Detach console' }).click();

    // Every control on the page has a name a screen reader can say.
    const unnamed = await p.evaluate(() => [...document.querySelectorAll('input, select, button, textarea')]
      .filter((el) => !el.closest('.xterm') && !(el.getAttribute('aria-label') || el.closest('label') || (el.id && document.querySelector(`label[for="${el.id}"]`)) || (el.textContent ?? '').trim()))
      .map((el) => el.outerHTML.slice(0, 80)));
    assert.deepEqual(unnamed, [], 'unlabelled controls');

    // The meter reads every 500 ms here: the hour's graph gets points.
    await textMatches(p.locator('#graphs-title + * + p, section[aria-labelledby=graphs-title] p.muted'), /[1-9]\d* points at 10s/, 30_000);
    const drawn = await p.locator('.chart [data-points]').first().getAttribute('data-points');
    assert.ok(Number(drawn) > 0, `the CPU chart has points (${drawn})`);

    await p.getByRole('button', { name: 'Stop', exact: true }).click();
    await textMatches(p.locator('h1'), /stopped/);
    await textMatches(p.locator('ol.events'), /container-stopped/, 10_000); // from the event stream, live
    await p.getByRole('button', { name: 'Destroy' }).click();
    await p.getByRole('dialog').getByRole('button', { name: 'Destroy' }).click();
    await p.getByRole('heading', { name: 'Containers' }).waitFor();
    assert.doesNotMatch(await d.ok('list'), /pa-web/, 'destroyed');
    await p.context().close();
  });

  test('tenant A sees nothing of tenant B: the list, a detail URL, its console and a ticket are refused', async () => {
    const p = await page();
    await logIn(p, 'alice', 'alice-pw-123');
    await goTo(p, `${origin}#/containers`);
    await p.getByRole('table').waitFor();
    assert.doesNotMatch(await p.getByRole('table').innerText(), /pb-secret/);
    await goTo(p, `${origin}#/containers/pb-secret`);
    await textMatches(p.getByRole('alert'), /container pb-secret is not one of tenant pa's/);
    // The API the page uses, with the page's own token: every door about pb-secret is shut.
    const statuses = await p.evaluate(async () => {
      const h = { authorization: `Bearer ${sessionStorage.getItem('strata.token')}`, 'content-type': 'application/json' };
      const out: number[] = [];
      for (const [m, u, b] of [['GET', 'v1/containers/pb-secret'], ['GET', 'v1/containers/pb-secret/logs'], ['GET', 'v1/containers/pb-secret/usage/series'],
        ['POST', 'v1/containers/pb-secret/tickets', { kind: 'exec' }], ['POST', 'v1/containers/pb-secret/start'], ['DELETE', 'v1/containers/pb-secret']] as const) {
        out.push((await fetch(u, { method: m, headers: h, body: b ? JSON.stringify(b) : undefined })).status);
      }
      return out;
    });
    assert.deepEqual(statuses, [403, 403, 403, 403, 403, 403]);
    assert.match(await d.ok('list'), /pb-secret/, 'still there');
    await p.context().close();
  });

  test('the host administrator captures an application template in the wizard and attaches it to a container', async () => {
    await d.ok('create', 'pa-app', '--template', 'bb', '--tenant', 'pa', '--no-net');
    const p = await page();
    await logIn(p, 'padmin', 'admin-pw-123');
    await p.getByRole('link', { name: 'Templates' }).click();
    await p.getByRole('link', { name: 'Capture an application' }).click();
    await p.getByLabel('Template name').fill('hello-app');
    await p.getByLabel('Base (OS template)').selectOption('bb');
    await p.getByLabel('Network (for apt and downloads)').uncheck();
    await p.getByRole('button', { name: 'Open a shell in a throw-away container' }).click();
    await inTerminal(p, 'mkdir -p /opt/hello && echo hi-from-app > /opt/hello/greeting && echo installed-ok', /installed-ok/);
    await p.getByRole('button', { name: 'Capture', exact: true }).click();
    const summary = p.getByRole('region', { name: 'capture summary' });
    await textMatches(summary, /Captured hello-app version 1[\s\S]*Files\s*\d+/, 60_000);
    await p.getByLabel('container to attach to').selectOption('pa-app');
    await p.getByRole('button', { name: 'Attach', exact: true }).click();
    await textMatches(p.getByRole('status').filter({ hasText: 'attached' }), /hello-app attached to pa-app/);
    await d.ok('start', 'pa-app');
    assert.match(await d.ok('exec', 'pa-app', '--', 'cat', '/opt/hello/greeting'), /hi-from-app/);
    assert.doesNotMatch(await d.ok('list'), /capture/i, 'the throw-away container is gone');

    // Acting as a tenant: shown on every page, and the audit records it.
    await p.getByLabel('Act as tenant').selectOption('pa');
    await textMatches(p.getByRole('status').filter({ hasText: 'Acting as tenant' }), /Acting as tenant\s*pa\b/);
    await p.getByRole('link', { name: 'Containers' }).click();
    await textMatches(p.getByRole('status').filter({ hasText: 'Acting as tenant' }), /Acting as tenant\s*pa\b/);
    await p.getByRole('link', { name: 'pa-app' }).click();
    await p.getByRole('button', { name: 'Stop', exact: true }).click();
    await textMatches(p.locator('h1'), /stopped/);
    assert.match(await d.ok('audit'), /padmin.*pa.*POST \/v1\/containers\/pa-app\/stop|POST \/v1\/containers\/pa-app\/stop.*padmin/);
    await p.context().close();
    await d.ok('destroy', 'pa-app', '--force');
  });

  test('the terminal works through nginx as a reverse proxy under a path prefix', async () => {
    const proxyPort = freePort();
    const conf = join(scratch, 'nginx.conf');
    mkdirSync(join(scratch, 'tmp'), { recursive: true });
    writeFileSync(conf, `
daemon off;
pid ${scratch}/nginx.pid;
error_log ${scratch}/error.log;
events {}
http {
  access_log off;
  client_body_temp_path ${scratch}/tmp/body; proxy_temp_path ${scratch}/tmp/proxy;
  fastcgi_temp_path ${scratch}/tmp/fcgi; uwsgi_temp_path ${scratch}/tmp/uwsgi; scgi_temp_path ${scratch}/tmp/scgi;
  map $http_upgrade $connection_upgrade { default upgrade; '' close; }
  server {
    listen 127.0.0.1:${proxyPort};
    location /strata/ {
      proxy_pass https://127.0.0.1:${port}/;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_buffering off;
      proxy_read_timeout 1h;
    }
  }
}
`);
    nginx = spawn('/usr/sbin/nginx', ['-c', conf, '-p', scratch], { stdio: 'ignore' });
    await sleep(500);
    assert.equal(nginx.exitCode, null, 'nginx runs');
    await d.ok('create', 'pa-proxied', '--template', 'bb', '--tenant', 'pa', '--no-net');
    await d.ok('start', 'pa-proxied');
    const p = await page();
    await logIn(p, 'alice', 'alice-pw-123', `http://127.0.0.1:${proxyPort}/strata/`);
    await goTo(p, `http://127.0.0.1:${proxyPort}/strata/#/containers/pa-proxied`);
    await p.getByRole('button', { name: 'Open shell' }).click();
    await inTerminal(p, 'echo through-$((40+2))-proxy', /through-42-proxy/);
    // Resize reaches the pty: a narrower window, and stty reports the new width.
    await p.setViewportSize({ width: 700, height: 900 });
    await sleep(500);
    const screen = await inTerminal(p, 'stty size', /\n\d+ \d+\s*$/m);
    const cols = Number(/(\d+) (\d+)\s*$/m.exec(screen.trim())?.[2]);
    assert.ok(cols > 10 && cols < 90, `the pty follows the narrower terminal (${cols} columns)`);
    await p.context().close();
    await d.ok('destroy', 'pa-proxied', '--force');
  });
});
