// Integration: exec and console sessions over WebSockets, run by the daemon (a real daemon, busybox
// containers). Most go over the TLS listener with a token, as a remote CLI or a panel would; the
// CLI's remote exec is checked end to end; tickets are single-use and bound to one container.
import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { WebSocket } from 'ws';
import { Client } from '../src/api/client.js';
import { STRATA, sleep, useDaemon, useScratchDir, zombies, freePort } from './harness.js';

interface Outcome { stdout: Buffer; stderr: Buffer; exit: { status: number; signal: string | null; message?: string } | null; error: { code: string; message: string } | null }

/** Collects what a session sends until it closes. */
function collect(ws: WebSocket): Promise<Outcome> {
  const out: Outcome = { stdout: Buffer.alloc(0), stderr: Buffer.alloc(0), exit: null, error: null };
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (isBinary) {
      if (data[0] === 1) out.stdout = Buffer.concat([out.stdout, data.subarray(1)]);
      else out.stderr = Buffer.concat([out.stderr, data.subarray(1)]);
      return;
    }
    const m = JSON.parse(data.toString()) as { type: string };
    if (m.type === 'exit') out.exit = m as unknown as Outcome['exit'];
    if (m.type === 'error') out.error = m as unknown as Outcome['error'];
  });
  return new Promise((resolve) => ws.on('close', () => resolve(out)));
}

const port = freePort();

describe('exec and console over WebSockets', () => {
  const d = useDaemon({ template: 'bb', args: ['--listen', `127.0.0.1:${port}`] });
  const config = useScratchDir('strata-test-sessions-');
  let remote: Client;
  let token = '';
  let fingerprint = '';

  before(async () => {
    for (const n of ['s1', 's2']) {
      await d.ok('create', n, '--template', 'bb', '--no-net');
      await d.ok('start', n);
    }
    await d.ok('user', 'create', 'ops', '--role', 'admin');
    token = (await d.ok('token', 'create', '--user', 'ops')).trim();
    fingerprint = (await d.json<{ tls: { fingerprint: string } }>('info')).tls.fingerprint;
    remote = new Client({ url: `https://127.0.0.1:${port}`, token, fingerprint });
  });

  const exec = async (start: Record<string, unknown>, then?: (ws: WebSocket) => Promise<void>): Promise<Outcome> => {
    const ws = await remote.containers.execSession('s1');
    const done = collect(ws);
    ws.send(JSON.stringify({ type: 'start', ...start }));
    if (then) await then(ws);
    return done;
  };

  test('with a pty: the terminal has the size asked, a resize reaches it, the exit status comes back', async () => {
    // runc sizes the command's terminal just after it starts: the command waits a moment first.
    let seen = '';
    const o = await exec({ tty: true, rows: 17, cols: 91, args: ['sh', '-c', 'tty; sleep 0.3; stty size; read x; stty size; exit 7'] }, async (ws) => {
      ws.on('message', (data: Buffer, isBinary: boolean) => { if (isBinary) seen += data.subarray(1).toString(); });
      for (let i = 0; i < 50 && !/\d+ \d+/.test(seen); i++) await sleep(100);
      ws.send(JSON.stringify({ type: 'resize', rows: 30, cols: 100 }));
      await sleep(300);
      ws.send(Buffer.from('\r'), { binary: true });
    });
    const text = o.stdout.toString();
    assert.match(text, /\/dev\/pts\/\d+/, 'the command has a terminal');
    assert.match(text, /17 91/);
    assert.match(text, /30 100/, 'the resize reached the command\'s terminal');
    assert.deepEqual(o.exit, { type: 'exit', status: 7, signal: null });
  });

  test('a command that is not there is 127 with the one sentence the local CLI prints', async () => {
    for (const tty of [false, true]) {
      const o = await exec({ tty, args: ['no-such-cmd'] });
      assert.equal(o.exit?.status, 127, `tty ${tty}: ${JSON.stringify(o)}`);
      assert.match(o.exit?.message ?? '', /no-such-cmd: command not found in container s1/);
    }
  });

  test('without a pty: stdout and stderr apart, stdin binary-safe (all 256 byte values), its end closes it', async () => {
    const sep = await exec({ args: ['sh', '-c', 'echo out; echo err >&2; exit 3'] });
    assert.equal(sep.stdout.toString(), 'out\n');
    assert.equal(sep.stderr.toString(), 'err\n');
    assert.equal(sep.exit?.status, 3);
    const bytes = Buffer.from(Array.from({ length: 4096 }, (_, i) => i % 256));
    const o = await exec({ args: ['cat'] }, async (ws) => {
      ws.send(bytes.subarray(0, 1000), { binary: true });
      ws.send(bytes.subarray(1000), { binary: true });
      ws.send(JSON.stringify({ type: 'close-stdin' }));
    });
    assert.equal(o.exit?.status, 0);
    assert.ok(o.stdout.equals(bytes), `cat gave back ${o.stdout.length} bytes, the same ones`);
  });

  test('closing the socket mid-command ends the command in the container; no zombie is left in the daemon', async () => {
    const ws = await remote.containers.execSession('s1');
    ws.send(JSON.stringify({ type: 'start', args: ['sleep', '4242'] }));
    await sleep(700);
    const running = (): string => spawnSync(process.execPath, [STRATA, 'ps', 's1'], { env: { ...process.env, STRATA_SOCKET: d.socket }, encoding: 'utf8' }).stdout;
    assert.match(running(), /sleep 4242/);
    ws.close();
    let gone = false;
    for (let i = 0; i < 50 && !gone; i++) { await sleep(100); gone = !/sleep 4242/.test(running()); }
    assert.ok(gone, 'the command ended with its session');
    const pid = d.daemon?.pid;
    assert.deepEqual(zombies().filter((z) => z.ppid === pid), [], 'the daemon reaped what it ran');
  });

  test('the console over a WebSocket shows what the container writes to it; closing detaches', async () => {
    const ws = await remote.containers.consoleSession('s1', 24, 80);
    const done = collect(ws);
    await sleep(300);
    await d.ok('exec', 's1', '--', 'sh', '-c', 'echo to-the-console > /dev/console');
    await sleep(500);
    ws.close();
    const o = await done;
    assert.match(o.stdout.toString(), /to-the-console/);
    assert.equal((await d.json<{ state: string }>('inspect', 's1')).state, 'running', 'detaching leaves it running');
  });

  test('tickets: a browser opens a session with one, once, for that container only', async () => {
    const t = await remote.containers.ticket('s1', 'exec');
    assert.match(t.path, /^\/v1\/containers\/s1\/exec\?ticket=[\w-]{43}$/);
    const open = (path: string): Promise<WebSocket | { status: number; body: string }> => new Promise((resolve) => {
      const ws = new WebSocket(`wss://127.0.0.1:${port}${path}`, { rejectUnauthorized: false });
      ws.once('open', () => resolve(ws));
      ws.once('unexpected-response', (req, res) => {
        let body = '';
        res.on('data', (c: Buffer) => { body += c.toString(); });
        res.on('end', () => { req.destroy(); resolve({ status: res.statusCode ?? 0, body }); });
      });
    });
    const first = await open(t.path);
    assert.ok(first instanceof WebSocket, 'the ticket opens the session without a token');
    const done = collect(first);
    first.send(JSON.stringify({ type: 'start', args: ['echo', 'by-ticket'] }));
    assert.equal((await done).stdout.toString(), 'by-ticket\n');
    const again = await open(t.path);
    assert.ok(!(again instanceof WebSocket) && again.status === 401 && /not valid, or was used already/.test(again.body), 'a ticket is used once');
    const other = await remote.containers.ticket('s1', 'exec');
    const wrong = await open(other.path.replace('/s1/', '/s2/'));
    assert.ok(!(wrong instanceof WebSocket) && wrong.status === 401 && /for the exec of container s1, not the exec of s2/.test(wrong.body));
    const none = await open('/v1/containers/s1/exec');
    assert.ok(!(none instanceof WebSocket) && none.status === 401, 'without a ticket or a token: 401');
  });

  test('events as a WebSocket: each new event as a JSON frame, in order, after `since`', async () => {
    const last = (await d.json<Array<{ id: number }>>('events')).pop()?.id ?? 0;
    const ws = new WebSocket(`ws+unix://${d.socket}:/v1/events?since=${last}&container=s2`);
    const got: Array<{ id: number; kind: string; subject: string }> = [];
    ws.on('message', (data: Buffer) => got.push(JSON.parse(data.toString()) as { id: number; kind: string; subject: string }));
    await new Promise((r) => ws.once('open', r));
    await d.ok('stop', 's2');
    await d.ok('start', 's2');
    for (let i = 0; i < 50 && got.length < 2; i++) await sleep(100);
    ws.close();
    assert.deepEqual(got.map((e) => e.kind), ['container-stopped', 'container-started']);
    assert.ok(got[0].id > last && got[1].id > got[0].id, 'in order, after since');
  });

  test('the CLI runs exec on a remote daemon through the session: stdin, stdout, exit status', async () => {
    const env = { ...process.env, STRATA_CONFIG_DIR: config, STRATA_SOCKET: '' };
    const add = spawnSync(process.execPath, [STRATA, 'remote', 'add', 'here', `https://127.0.0.1:${port}`, '--token', token, '--accept-certificate', fingerprint], { env, encoding: 'utf8' });
    assert.equal(add.status, 0, add.stderr);
    const cat = spawnSync(process.execPath, [STRATA, '--remote', 'here', 'exec', 's1', '--', 'cat'], { env, input: 'through-tls\n', encoding: 'utf8' });
    assert.equal(cat.stdout, 'through-tls\n', cat.stderr);
    assert.equal(cat.status, 0);
    const status = spawnSync(process.execPath, [STRATA, '--remote', 'here', 'exec', 's1', '--', 'sh', '-c', 'echo e >&2; exit 5'], { env, encoding: 'utf8' });
    assert.deepEqual([status.status, status.stderr], [5, 'e\n']);
    const missing = spawnSync(process.execPath, [STRATA, '--remote', 'here', 'exec', 's1', '--', 'nope'], { env, encoding: 'utf8' });
    assert.equal(missing.status, 127);
    assert.match(missing.stderr, /nope: command not found in container s1/);
  });
});
