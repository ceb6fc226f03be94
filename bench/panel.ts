/**
 * The web panel with N running containers (1000 in the full run), in Debian's Chromium against a
 * daemon serving it over TLS: the container list's time to first render and to interactive, how
 * often its usage refreshes, a search keystroke's filter time, the console keystroke round trip
 * (key received by the page → its echo from the container's shell in the terminal's DOM), and the
 * bundle's size.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Page } from 'playwright-core';
import { Client } from '../src/api/client.js';
import { freePort, sleep, TestDaemon, TOP } from '../test/harness.js';
import { goTo, launchChromium, newPage, terminalOpen } from '../test/panel-driver.js';
import { fmt, parallel, percentile, summarize, type BenchResult, type Context } from './lib.js';

const WIDTH = 4;

function bundle(): { js: number; jsGzip: number; css: number; cssGzip: number } {
  const dir = join(TOP, 'dist', 'panel', 'assets');
  const out = { js: 0, jsGzip: 0, css: 0, cssGzip: 0 };
  for (const f of readdirSync(dir)) {
    const data = readFileSync(join(dir, f));
    const kind = f.endsWith('.js') ? 'js' : f.endsWith('.css') ? 'css' : null;
    if (!kind) continue;
    out[kind] += data.length;
    out[`${kind}Gzip`] += gzipSync(data).length;
  }
  return out;
}

/** In-page milliseconds since navigation when `condition(n)` first holds, checked on every animation frame. */
async function when(page: Page, condition: (n: number) => number | false, n: number): Promise<number> {
  const h = await page.waitForFunction(condition, n, { timeout: 300_000, polling: 'raf' });
  return Number(await h.jsonValue());
}

const firstRow = (): number | false => (document.querySelector('table.containers tbody tr') ? performance.now() : false);
const allWithUsage = (n: number): number | false => (document.querySelectorAll('table.containers tbody tr').length === n && /usage at/.test(document.body.innerText) ? performance.now() : false);
const filtered = (n: number): number | false => (document.querySelectorAll('table.containers tbody tr').length < n || n < 2 ? performance.now() : false);

/** One console keystroke: from the keydown the page receives to the echo in the terminal's DOM. */
async function keystroke(page: Page, key: string): Promise<number> {
  const echoed = page.evaluate(() => new Promise<number>((resolve) => {
    const rows = document.querySelector('.xterm-rows')!;
    const before = rows.textContent;
    let down = 0;
    document.addEventListener('keydown', () => { down = performance.now(); }, { capture: true, once: true });
    const seen = new MutationObserver(() => {
      if (rows.textContent !== before && down) { seen.disconnect(); resolve(performance.now() - down); }
    });
    seen.observe(rows, { subtree: true, childList: true, characterData: true });
  }));
  await sleep(20);
  await page.keyboard.press(key);
  return echoed;
}

export async function panelBenchmarks(ctx: Context): Promise<BenchResult[]> {
  const n = ctx.mode === 'tiny' ? 3 : ctx.sizes.density;
  const loads = ctx.mode === 'tiny' ? 1 : 3;
  const watchS = ctx.mode === 'tiny' ? 8 : 30;
  const port = freePort();
  const d = new TestDaemon({ args: ['--listen', `127.0.0.1:${port}`] });
  const origin = `https://127.0.0.1:${port}/`;
  const browser = await launchChromium();
  try {
    await d.start();
    await d.ok('template', 'build', 'bb', '--from', 'busybox');
    await d.ok('network', 'create', 'pbench', '--subnet', '10.124.0.0/20');
    await d.ok('user', 'create', 'benchadm', '--role', 'admin');
    const token = (await d.ok('token', 'create', '--user', 'benchadm')).trim();
    const api = new Client(d.socket);
    ctx.log(`panel: starting ${n} containers`);
    await parallel(n, WIDTH, async (i) => {
      await api.containers.create({ name: `p${i}`, template: 'bb', nets: ['pbench'] });
      await api.containers.start(`p${i}`);
    });
    const ttfr: number[] = [];
    const tti: number[] = [];
    const filter: number[] = [];
    let refreshS = 0;
    for (let run = 0; run < loads; run++) {
      const page = await newPage(browser);
      await page.addInitScript((t) => sessionStorage.setItem('strata.token', t), token);
      await goTo(page, `${origin}#/containers`);
      ttfr.push(await when(page, firstRow, n));
      // Interactive: every row there, their usage read, and the page answering a search.
      tti.push(await when(page, allWithUsage, n));
      const t0 = await page.evaluate(() => performance.now());
      await page.getByRole('searchbox').fill('p1');
      filter.push(await when(page, filtered, n) - t0);
      if (run === 0) {
        await page.getByRole('searchbox').fill('');
        const stamps = new Set<string>();
        const until = Date.now() + watchS * 1000;
        while (Date.now() < until) {
          stamps.add(/usage at ([\d:APM ]+)/.exec(await page.locator('body').innerText())?.[1] ?? '');
          await sleep(200);
        }
        refreshS = watchS / Math.max(1, stamps.size - 1);
      }
      await page.context().close();
    }
    ctx.log(`panel: list of ${n}: first render ${fmt(summarize(ttfr).median)} ms, interactive ${fmt(summarize(tti).median)} ms, usage every ${fmt(refreshS, 1)} s`);

    const page = await newPage(browser);
    await page.addInitScript((t) => sessionStorage.setItem('strata.token', t), token);
    await goTo(page, `${origin}#/containers/p0`);
    await page.getByRole('button', { name: 'Open shell' }).click();
    await (await terminalOpen(page)).click();
    await sleep(500);
    const rtt: number[] = [];
    for (let i = 0; i < (ctx.mode === 'tiny' ? 5 : 40); i++) rtt.push(await keystroke(page, 'x'));
    await page.keyboard.press('Control+U');
    await page.context().close();
    ctx.log(`panel: console keystroke round trip p50 ${fmt(percentile(rtt, 0.5))} ms, p95 ${fmt(percentile(rtt, 0.95))} ms`);
    const b = bundle();

    ctx.log(`panel: destroying ${n} containers`);
    await parallel(n, WIDTH, (i) => api.containers.destroy(`p${i}`, true));
    await d.ok('network', 'rm', 'pbench');
    const left = d.leftovers();
    return [{
      id: 'panel', title: `Web panel: the container list with ${n} running containers`,
      method: `${n} running busybox containers on one bridge; the panel served by the daemon over TLS, loaded ${loads} time(s) in Debian's Chromium (headless, playwright-core) `
        + 'with an administrator\'s token: first render = the first row drawn, interactive = every row drawn and their usage shown, both in page time since navigation; '
        + `a search typed, until the list is filtered; the usage refresh interval watched for ${watchS} s; the console keystroke round trip from the page's keydown to the `
        + 'shell\'s echo in the terminal\'s DOM (exec over the WebSocket, a pty); the bundle\'s size as built, and gzipped.',
      measures: [
        { label: 'container list: first render', unit: 'ms', summary: summarize(ttfr) },
        { label: 'container list: interactive', unit: 'ms', summary: summarize(tti) },
        { label: 'search: list filtered', unit: 'ms', summary: summarize(filter) },
        { label: 'usage refresh interval', unit: 's', summary: summarize([refreshS]) },
        { label: 'console keystroke round trip', unit: 'ms', summary: summarize(rtt), note: `p95 ${fmt(percentile(rtt, 0.95))} ms` },
        { label: 'bundle: JavaScript (gzipped)', unit: 'KiB', summary: summarize([b.jsGzip / 1024]), note: `${fmt(b.js / 1024, 0)} KiB as built` },
        { label: 'bundle: CSS (gzipped)', unit: 'KiB', summary: summarize([b.cssGzip / 1024]), note: `${fmt(b.css / 1024, 0)} KiB as built` },
      ],
      goals: [
        { text: 'nothing left behind', met: left.length === 0, measured: left.length ? left.join(', ') : 'nothing' },
      ],
      skipped: [],
    }];
  } finally {
    await browser.close();
    await d.cleanup();
  }
}
