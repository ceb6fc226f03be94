// Integration: upgrading the daemon in place. 100 containers run (without networks, to keep the
// suite short: the network reconcile has its own tests) while clients keep asking; the daemon is
// stopped, a new schema migration is put beside the shipped ones (as an upgrade brings), and the
// new daemon starts: no container restarted (same init pids), the migration ran, every event
// before is still there in order, an exit that happened while no daemon ran is reported, and an
// event follower that reconnects with Last-Event-ID misses nothing.
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { TOP, useDaemon, sleep, type TestDaemon } from './harness.js';

const COUNT = 100;
const MIGRATION = join(TOP, 'dist', 'src', 'state', 'migrations', '900_upgrade_probe.sql');

function get(d: TestDaemon, path: string, headers: Record<string, string> = {}): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: d.socket, path, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end();
  });
}

interface Ev { id: number; kind: string; subject: string | null }

describe('upgrade in place', () => {
  const d = useDaemon({ template: 'bb' });
  after(() => rmSync(MIGRATION, { force: true }));

  test(`restarting the daemon with a schema migration while ${COUNT} containers run restarts none and loses no event`, async () => {
    const names = Array.from({ length: COUNT }, (_, i) => `up${i}`);
    for (const n of names) {
      await d.ok('create', n, '--template', 'bb', '--no-net');
      await d.ok('start', n);
    }
    const pids = new Map((await d.json<Array<{ name: string; pid: number }>>('list')).map((c) => [c.name, c.pid]));
    const before = JSON.parse((await get(d, '/v1/events?since=0')).text) as Ev[];
    const lastBefore = before[before.length - 1].id;

    // Clients keep asking while the daemon goes away and comes back: each answer is whole or a refusal to connect.
    let asking = true;
    let answered = 0;
    const load = (async () => {
      while (asking) {
        const r = await get(d, '/v1/containers?brief=true').catch(() => null);
        if (r) { assert.equal(r.status, 200); assert.equal((JSON.parse(r.text) as unknown[]).length, COUNT); answered++; }
        await sleep(20);
      }
    })();

    await d.stop();
    // While no daemon runs, one container's init ends: the monitor keeps the record.
    process.kill(pids.get('up7') as number, 'SIGKILL');
    writeFileSync(MIGRATION, 'CREATE TABLE upgrade_probe (x INTEGER);\n');
    await d.start();
    await sleep(500);
    asking = false;
    await load;
    assert.ok(answered > 0, 'the clients were answered');

    const db = new Database(d.paths.db, { readonly: true });
    assert.equal(db.pragma('user_version', { simple: true }), 900, 'the new migration ran');
    db.close();

    const now = new Map((await d.json<Array<{ name: string; pid: number; state: string }>>('list')).map((c) => [c.name, c]));
    for (const n of names) {
      if (n === 'up7') continue;
      assert.equal(now.get(n)?.state, 'running', n);
      assert.equal(now.get(n)?.pid, pids.get(n), `${n} kept its init: it was not restarted`);
    }
    assert.equal(now.get('up7')?.state, 'stopped');

    const after = JSON.parse((await get(d, '/v1/events?since=0')).text) as Ev[];
    assert.deepEqual(after.slice(0, before.length), before, 'every earlier event is still there, in order');
    const newer = after.filter((e) => e.id > lastBefore);
    assert.ok(newer.some((e) => e.subject === 'up7' && /exited|stopped/.test(e.kind)), `the exit while away is an event: ${JSON.stringify(newer.map((e) => e.kind))}`);
    assert.ok(!newer.some((e) => e.kind === 'container-started'), 'no container was started again');

    // A follower that reconnects with the last id it saw gets exactly what came after.
    const followed = await get(d, '/v1/events', { 'last-event-id': String(lastBefore) });
    assert.deepEqual((JSON.parse(followed.text) as Ev[]).map((e) => e.id), newer.map((e) => e.id));
    assert.equal((await d.ok('exec', 'up42', '--', 'echo', 'still here')).trim(), 'still here');
  });
});
