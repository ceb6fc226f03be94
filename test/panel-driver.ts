/**
 * Driving the web panel in Debian's Chromium (playwright-core with /usr/bin/chromium; no browser is
 * ever downloaded): shared by the panel test, its benchmark and the screenshot script.
 */
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import { sleep } from './harness.js';

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
}

/** A page of its own (own session storage), taking the daemon's self-signed certificate. */
export async function newPage(browser: Browser, viewport = { width: 1280, height: 900 }, colorScheme: 'light' | 'dark' = 'light'): Promise<Page> {
  return (await browser.newContext({ ignoreHTTPSErrors: true, viewport, colorScheme })).newPage();
}

/** Waits until the locator's text matches; its text. */
export async function textMatches(l: Locator, re: RegExp, timeoutMs = 20_000): Promise<string> {
  const until = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < until) {
    last = (await l.innerText().catch(() => '')) ?? '';
    if (re.test(last)) return last;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${re} in: ${last.slice(-600)}`);
}

/**
 * page.goto, again when Chromium gave up because the host's network changed under it
 * (ERR_NETWORK_CHANGED: links come and go while containers start and stop on the same host).
 */
export async function goTo(p: Page, url: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await p.goto(url);
      return;
    } catch (err) {
      if (attempt >= 5 || !String(err).includes('ERR_NETWORK_CHANGED')) throw err;
      await sleep(200);
    }
  }
}

/** Logs in at the panel's address with a user's password. */
export async function logIn(p: Page, at: string, user: string, password: string): Promise<void> {
  await goTo(p, at);
  await p.getByLabel('User').fill(user);
  await p.getByLabel('Password').fill(password);
  await p.getByRole('button', { name: 'Sign in' }).click();
  await p.getByRole('link', { name: 'Containers' }).waitFor();
}

/** Waits for the terminal on the page to be open. */
export async function terminalOpen(page: Page): Promise<Locator> {
  await textMatches(page.locator('.terminal-wrap [role=status]'), /shell open|console attached/);
  return page.getByTestId('terminal');
}

/** Types a line into the xterm terminal on the page and waits for `expect` on its screen. */
export async function inTerminal(page: Page, line: string, expect: RegExp): Promise<string> {
  const term = await terminalOpen(page);
  await term.click();
  await page.keyboard.type(`${line}\n`, { delay: 5 });
  return textMatches(term.locator('.xterm-rows'), expect);
}
