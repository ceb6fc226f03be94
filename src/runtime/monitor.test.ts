// The real strata-monitor binary (no containers): one monitor per socket, QUIT that a returning
// daemon cancels, and a monitor that nobody can reach any more exits by itself.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathsFor } from '../config/index.js';
import { Monitor } from './monitor.js';

const binary = pathsFor('/tmp').helpers.monitor;
const dir = mkdtempSync('/tmp/strata-test-monitor-');
const started: ChildProcess[] = [];

after(() => {
  for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

function startMonitor(socket: string): ChildProcess {
  const child = spawn(binary, [socket], { stdio: ['ignore', 'ignore', 'pipe'] });
  started.push(child);
  return child;
}

function exited(child: ChildProcess, ms: number): Promise<number | null | 'running'> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve('running'), ms);
    child.once('exit', (code) => { clearTimeout(timer); resolve(code); });
  });
}

/** Sends request lines on one connection; resolves with the first line answered. */
function ask(socket: string, lines: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const conn = createConnection(socket);
    let got = '';
    conn.setEncoding('utf8');
    conn.on('connect', () => conn.write(lines.map((l) => `${l}\n`).join('')));
    conn.on('data', (d: string) => {
      got += d;
      if (got.includes('\n')) { conn.destroy(); resolve(got.split('\n')[0]); }
    });
    conn.on('error', reject);
  });
}

async function answering(monitor: Monitor): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const pid = await monitor.ping();
    if (pid) return pid;
    await sleep(10);
  }
  throw new Error('the monitor did not answer');
}

test('a second monitor on the same socket exits at once with status 3, the first goes on', async () => {
  const socket = join(dir, 'one.sock');
  const first = startMonitor(socket);
  const pid = await answering(new Monitor(socket, binary));
  assert.equal(pid, first.pid);
  const second = startMonitor(socket);
  let stderr = '';
  second.stderr?.on('data', (d: Buffer) => { stderr += d.toString(); });
  assert.equal(await exited(second, 5000), 3);
  assert.match(stderr, /another monitor already serves/);
  assert.equal(await new Monitor(socket, binary).ping(), first.pid, 'the first still answers on its socket');
  await ask(socket, ['QUIT']);
  assert.equal(await exited(first, 5000), 0);
});

test('a daemon that comes back cancels a QUIT: the monitor stays after its children end', async () => {
  const socket = join(dir, 'two.sock');
  const monitor = startMonitor(socket);
  await answering(new Monitor(socket, binary));
  // A child that outlives the QUIT, as a running container does.
  const running = ask(socket, ['OUT /dev/null', 'ARG /bin/sleep', 'ARG 1', 'RUN']);
  await sleep(100);
  assert.equal(await ask(socket, ['QUIT']), 'OK');
  assert.match(await ask(socket, ['PING']), /^PONG \d+$/, 'a quitting monitor still answers');
  assert.equal(await running, 'EXIT 0');
  assert.equal(await exited(monitor, 1500), 'running', 'the PING cancelled the QUIT');
  await ask(socket, ['QUIT']);
  assert.equal(await exited(monitor, 5000), 0, 'a QUIT with nothing below exits');
});

test('a CLOSE after QUIT (a daemon on its way out letting a console go) does not keep the monitor', async () => {
  const socket = join(dir, 'five.sock');
  const monitor = startMonitor(socket);
  await answering(new Monitor(socket, binary));
  const running = ask(socket, ['OUT /dev/null', 'ARG /bin/sleep', 'ARG 1', 'RUN']);
  await sleep(100);
  assert.equal(await ask(socket, ['QUIT']), 'OK');
  assert.equal(await ask(socket, ['CLOSE /nonexistent/console.log']), 'OK');
  assert.equal(await running, 'EXIT 0');
  assert.equal(await exited(monitor, 5000), 0);
});

test('a monitor whose socket was removed (its run directory deleted) exits by itself', async () => {
  const socket = join(dir, 'three.sock');
  const monitor = startMonitor(socket);
  await answering(new Monitor(socket, binary));
  rmSync(socket);
  assert.equal(await exited(monitor, 8000), 0);
});

test('ensureRunning starts one monitor, and finds it the next time', async () => {
  const socket = join(dir, 'four.sock');
  const a = new Monitor(socket, binary);
  await a.ensureRunning();
  const pid = await a.ping();
  await new Monitor(socket, binary).ensureRunning();
  assert.equal(await a.ping(), pid);
  const count = spawnSync('pgrep', ['-f', `strata-monitor ${socket}`]).stdout.toString().trim().split('\n').filter(Boolean).length;
  assert.equal(count, 1);
  await a.quit();
});
