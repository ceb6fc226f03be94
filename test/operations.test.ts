// Integration: long work as operations on a real daemon — 202 + Location with Prefer:
// respond-async, listing and following; a cancelled import (by the API and by Ctrl-C) rolls back
// to nothing; a daemon restart marks a running operation interrupted; bulk create and launch;
// the CLI's --no-wait and operation verbs.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { Client } from '../src/api/client.js';
import { STRATA, sleep, useDaemon, useScratchDir } from './harness.js';

interface Op { id: string; kind: string; subject: string | null; state: string; error: { code: string; message: string } | null; result: unknown; progress: { line: string } | null }

/** One HTTP request over the daemon's socket, its status, headers and body as they came. */
function raw(socket: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = request({ socketPath: socket, method, path, headers: { ...headers, ...(data ? { 'content-type': 'application/json' } : {}) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(data);
  });
}

function objectFiles(root: string): string[] {
  const dir = join(root, 'store', 'objects', 'sha256');
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((sub) => readdirSync(join(dir, sub)));
}

describe('operations', () => {
  const d = useDaemon({ template: 'opsbb' });
  const work = useScratchDir('strata-test-ops-');
  const big = join(work, 'opsbig.strata');
  const client = (): Client => new Client(d.socket);

  /** A template file of 20 000 distinct small files: its import takes seconds, long enough to cancel or interrupt. */
  async function bigTemplateFile(): Promise<string> {
    if (existsSync(big)) return big;
    const tree = join(work, 'tree');
    for (let dir = 0; dir < 40; dir++) {
      mkdirSync(join(tree, 'data', `d${dir}`), { recursive: true });
      for (let i = 0; i < 500; i++) writeFileSync(join(tree, 'data', `d${dir}`, `f${i}`), `file ${dir}/${i}\n`);
    }
    const tar = join(work, 'tree.tar');
    assert.equal(spawnSync('tar', ['-C', tree, '-cf', tar, '.']).status, 0);
    await d.ok('template', 'build', 'opsbig', '--from', `rootfs:${tar}`);
    await d.ok('template', 'export', 'opsbig', '-o', big);
    await d.ok('template', 'rm', 'opsbig');
    return big;
  }

  /** Starts an import of the big file as an operation and resolves once it is storing objects. */
  async function importStarted(name: string): Promise<Op> {
    const op = await client().templates.startImport(await bigTemplateFile(), name);
    for (let i = 0; i < 300; i++) {
      const now = await client().operations.get(op.id) as Op;
      if (now.progress?.line.startsWith('objects:')) return now;
      assert.equal(now.state, 'running', `the import ended before it could be stopped: ${JSON.stringify(now)}`);
      await sleep(50);
    }
    throw new Error('the import never reported storing objects');
  }

  test('an export asked with Prefer: respond-async answers 202 and Location at once; it is listed, evented, and its log followed to the result', async () => {
    const file = join(work, 'opsbb.strata');
    const r = await raw(d.socket, 'POST', '/v1/templates/opsbb/exports', { file }, { prefer: 'respond-async' });
    assert.equal(r.status, 202, r.body);
    const op = JSON.parse(r.body) as Op;
    assert.equal(r.headers.location, `/v1/operations/${op.id}`);
    assert.deepEqual([op.kind, op.subject], ['template-export', 'opsbb']);
    const lines: string[] = [];
    const result = await client().operations.follow<{ file: string; bytes: number }>(op.id, (l) => lines.push(l));
    assert.equal(result.file, file);
    assert.ok(existsSync(file));
    assert.ok(lines.some((l) => l.startsWith('wrote ')), lines.join('\n'));
    const listed = await d.json<Op[]>('operation', 'list');
    assert.equal(listed.find((o) => o.id === op.id)?.state, 'succeeded');
    assert.match(await d.ok('operation', 'list'), new RegExp(`${op.id}\\s+template-export\\s+opsbb\\s+succeeded`));
    const events = await d.json<Array<{ kind: string; subject: string }>>('events', '--container', op.id);
    assert.deepEqual(events.map((e) => e.kind), ['operation-started', 'operation-finished']);
    // The old clients' stream is unchanged, and listed as an operation too.
    const streamed = await raw(d.socket, 'POST', '/v1/templates/opsbb/exports', { file: join(work, 'again.strata') });
    assert.equal(streamed.status, 200);
    const last = JSON.parse(streamed.body.trim().split('\n').at(-1)!) as { result: { file: string } };
    assert.equal(last.result.file, join(work, 'again.strata'));
    assert.equal((await d.json<Op[]>('operation', 'list', '--kind', 'template-export')).length, 2);
  });

  test('--no-wait prints the id; operation wait, show and logs follow it; cancelling an ended one is refused naming its state', async () => {
    const r = await d.cli('template', 'export', 'opsbb', '-o', join(work, 'nowait.strata'), '--no-wait');
    assert.equal(r.status, 0, r.stderr);
    const id = r.stdout.trim();
    assert.match(id, /^op-[0-9a-f]{16}$/);
    const waited = await d.cli('operation', 'wait', id);
    assert.equal(waited.status, 0, waited.stderr);
    assert.match(waited.stdout, new RegExp(`operation ${id} \\(template-export of opsbb\\) succeeded`));
    assert.match(await d.ok('operation', 'show', id.slice(0, 10)), /state:\s+succeeded/);
    assert.match(await d.ok('operation', 'logs', id), /wrote .*nowait\.strata[\s\S]*-- succeeded/);
    const refused = await d.cli('operation', 'cancel', id);
    assert.equal(refused.status, 6, refused.stderr);
    assert.equal(refused.stderr.trim(), `strata: operation ${id} has already succeeded: only a running operation can be cancelled`);
    const ghost = await d.cli('operation', 'show', 'op-0000000000000000');
    assert.equal(ghost.status, 3);
  });

  test('a cancelled import rolls back: no template, no tree, no object left; the operation says cancelled', async () => {
    await bigTemplateFile();
    const objectsBefore = objectFiles(d.root).length;
    const templatesBefore = readdirSync(join(d.root, 'templates')).sort();
    const op = await importStarted('opscancel');
    const r = await raw(d.socket, 'DELETE', `/v1/operations/${op.id}`);
    assert.equal(r.status, 200, r.body);
    const done = JSON.parse(r.body) as Op;
    assert.equal(done.state, 'cancelled');
    assert.equal(done.error?.code, 'cancelled');
    assert.equal((await d.json<Array<{ name: string }>>('template', 'list')).some((t) => t.name === 'opscancel'), false);
    assert.deepEqual(readdirSync(join(d.root, 'templates')).sort(), templatesBefore, 'no template tree or scratch left');
    assert.equal(objectFiles(d.root).length, objectsBefore, 'the objects it had stored were collected');
    assert.deepEqual(readdirSync(join(d.root, 'store', 'ingest')), []);
    const waited = await d.cli('operation', 'wait', op.id);
    assert.equal(waited.status, 9, 'waiting for a cancelled operation ends with the cancelled status');
  });

  test('Ctrl-C on a waiting command cancels its operation, which rolls back; the command ends with the cancelled status', async () => {
    const file = await bigTemplateFile();
    const child = spawn(process.execPath, [STRATA, 'template', 'import', file, '--name', 'opsctrlc'], { env: { ...process.env, STRATA_SOCKET: d.socket }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
      if (/objects: \d+/.test(stderr) && !child.killed) child.kill('SIGINT');
    });
    const status = await closed;
    assert.equal(status, 9, stderr);
    assert.match(stderr, /cancelling operation op-[0-9a-f]+: rolling back/);
    const op = (await d.json<Op[]>('operation', 'list', '--kind', 'template-import')).find((o) => o.subject === 'opsctrlc');
    assert.equal(op?.state, 'cancelled');
    assert.equal((await d.json<Array<{ name: string }>>('template', 'list')).some((t) => t.name === 'opsctrlc'), false);
  });

  test('an operation running when the daemon is killed is interrupted at its next start; one running at a clean stop is rolled back and interrupted', async () => {
    const killed = await importStarted('opskill');
    await d.kill9();
    await d.start();
    const after = (await client().operations.get(killed.id)) as Op;
    assert.equal(after.state, 'interrupted');
    assert.equal(after.error?.code, 'unavailable');
    assert.match(after.error?.message ?? '', /the daemon stopped before it ended; run it again/);
    const events = await d.json<Array<{ kind: string }>>('events', '--container', killed.id);
    assert.deepEqual(events.map((e) => e.kind), ['operation-started', 'operation-interrupted']);
    assert.equal((await d.json<Array<{ name: string }>>('template', 'list')).some((t) => t.name === 'opskill'), false, 'its half-made template was cleaned at the start');

    const stopped = await importStarted('opsstop');
    await d.stop();
    await d.start();
    const end = (await client().operations.get(stopped.id)) as Op;
    assert.equal(end.state, 'interrupted');
    assert.match(await d.ok('operation', 'logs', stopped.id), /the daemon is stopping: rolling back/);
    assert.equal((await d.json<Array<{ name: string }>>('template', 'list')).some((t) => t.name === 'opsstop'), false);
  });

  test('create --count 3 makes NAME-1…NAME-3; a bulk create that fails midway keeps what it made, names what failed, and exits non-zero', async () => {
    const r = await d.cli('create', 'opsw', '--template', 'opsbb', '--no-net', '--count', '3');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /3 containers created: opsw-1, opsw-2, opsw-3/);
    const names = (await d.json<Array<{ name: string }>>('list')).map((c) => c.name);
    for (const n of ['opsw-1', 'opsw-2', 'opsw-3']) assert.ok(names.includes(n), n);
    const op = (await d.json<Op[]>('operation', 'list', '--kind', 'container-create'))[0];
    assert.deepEqual(op.result, { created: ['opsw-1', 'opsw-2', 'opsw-3'] });
    for (const n of ['opsw-1', 'opsw-2', 'opsw-3']) await d.ok('destroy', n);

    // A /29 has 5 addresses for containers: the 6th of 7 finds none.
    await d.ok('network', 'create', 'opstiny', '--subnet', '10.231.197.0/29');
    const f = await d.cli('create', 'opsf', '--template', 'opsbb', '--net', 'opstiny', '--count', '7');
    assert.equal(f.status, 6, f.stderr);
    assert.match(f.stderr, /strata: creating opsf-6 \(6 of 7\) failed: network opstiny .* has no free address left.*; kept the 5 made \(opsf-1, opsf-2, opsf-3, opsf-4, opsf-5\); not made: opsf-7/);
    const made = (await d.json<Array<{ name: string }>>('list')).map((c) => c.name).filter((n) => n.startsWith('opsf-')).sort();
    assert.deepEqual(made, ['opsf-1', 'opsf-2', 'opsf-3', 'opsf-4', 'opsf-5']);
    const failed = (await d.json<Op[]>('operation', 'list', '--kind', 'container-create', '--state', 'failed'))[0];
    assert.equal(failed.subject, 'opsf');
    for (const n of made) await d.ok('destroy', n);
    await d.ok('network', 'rm', 'opstiny');
    // Names taken already: refused before anything is made.
    await d.ok('create', 'opsx-2', '--template', 'opsbb', '--no-net');
    const taken = await d.cli('create', 'opsx', '--template', 'opsbb', '--no-net', '--count', '2');
    assert.equal(taken.status, 4, taken.stderr);
    assert.match(taken.stderr, /container opsx-2 already exists: nothing was made/);
    assert.equal((await d.json<Array<{ name: string }>>('list')).some((c) => c.name === 'opsx-1'), false);
    await d.ok('destroy', 'opsx-2');
  });

  test('launch creates and starts in one command', async () => {
    const out = await d.ok('launch', 'opsbb', 'opsl', '--no-net');
    assert.match(out, /container opsl launched \(init pid \d+\)/);
    assert.equal((await d.json<{ state: string }>('inspect', 'opsl')).state, 'running');
    await d.ok('destroy', 'opsl', '--force');
    const bad = await d.cli('launch', 'opsnothere', 'opsl2', '--no-net');
    assert.equal(bad.status, 3, bad.stderr);
    assert.deepEqual(d.leftovers(), []);
  });
});
