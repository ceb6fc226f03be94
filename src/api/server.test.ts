// Unit: the routes through Fastify's inject, with stand-in services (no daemon, no container):
// bodies the schemas refuse are 400 invalid_argument; typed errors become their status and
// {code, message}; a streamed operation reports progress and then its error as NDJSON lines.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Cancelled, FailedPrecondition, NotFound, PermissionDenied } from '../errors/index.js';
import { readFileSync } from 'node:fs';
import { get, type IncomingMessage } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { apiReference } from './reference.js';
import { buildServer, type Services } from './server.js';
import { Operations } from '../operations/index.js';
import { Store } from '../state/index.js';

/** Services whose every call fails the test unless the test gave it. */
function services(given: Record<string, Record<string, unknown>>, log: string[] = []): Services {
  const stand = (group: string): unknown => new Proxy(given[group] ?? {}, {
    get: (target, prop) => (prop in target ? target[prop as string] : () => { throw new Error(`unexpected call ${group}.${String(prop)}`); }),
  });
  return {
    containers: stand('containers'), templates: stand('templates'), captures: stand('captures'), networks: stand('networks'), store: stand('store'),
    access: stand('access'), quota: stand('quota'),
    // Real operations, on a database of their own in memory: the long routes run as operations.
    operations: given.operations ?? new Operations(new Store(':memory:')),
    info: { version: 'test' }, log: (line: string) => log.push(line),
  } as unknown as Services;
}

test('a create body the schema refuses is 400 invalid_argument naming the problem; nothing is called', async () => {
  const app = await buildServer(services({}));
  for (const payload of [{ name: 'a' }, { name: 'a', template: 'bb', color: 'red' }, { name: 'a', template: 'bb', limits: 'big' }]) {
    const r = await app.inject({ method: 'POST', url: '/v1/containers', payload });
    assert.equal(r.statusCode, 400, JSON.stringify(payload));
    const body = r.json<{ code: string; message: string }>();
    assert.equal(body.code, 'invalid_argument');
    assert.match(body.message, /^invalid request: body/);
  }
  const capture = await app.inject({ method: 'POST', url: '/v1/templates-capture', payload: { name: 'x', bases: ['deb'], commands: ['true'] } });
  assert.match(capture.json<{ message: string }>().message, /body has an unknown field 'commands'/, 'a misspelt field is refused by name, not dropped');
  assert.equal(capture.statusCode, 400);
  await app.close();
});

test('typed errors become their HTTP status and {code, message}; an internal one is logged with its stack', async () => {
  const log: string[] = [];
  const app = await buildServer(services({
    containers: {
      inspect: (name: string) => {
        if (name === 'ghost') throw new NotFound('container ghost does not exist: see \'strata list\'');
        if (name === 'theirs') throw new PermissionDenied('container theirs belongs to another tenant');
        if (name === 'gone') throw new Cancelled('the client went away');
        throw new Error('disk on fire');
      },
    },
  }, log));
  const cases: Array<[string, number, string]> = [['ghost', 404, 'not_found'], ['theirs', 403, 'permission_denied'], ['gone', 499, 'cancelled'], ['boom', 500, 'internal']];
  for (const [name, status, code] of cases) {
    const r = await app.inject({ method: 'GET', url: `/v1/containers/${name}` });
    assert.equal(r.statusCode, status, name);
    assert.equal(r.json<{ code: string }>().code, code);
  }
  assert.equal(log.length, 1);
  assert.match(log[0], /^internal error: Error: disk on fire\n\s+at (Proxy\.)?inspect /, 'the stack of what was thrown');
  await app.close();
});

test('a streamed build answers 200 with NDJSON: progress lines, then the error as the last line', async () => {
  const app = await buildServer(services({
    templates: {
      check: async () => undefined,
      build: async (_name: string, _from: string, progress: (m: string) => void) => {
        progress('debootstrap: fetching');
        throw new FailedPrecondition('debootstrap is not installed: run \'npm run quickstart\'');
      },
    },
  }));
  const r = await app.inject({ method: 'POST', url: '/v1/templates', payload: { name: 'deb', from: 'debootstrap' } });
  assert.equal(r.statusCode, 200);
  assert.match(String(r.headers['content-type']), /application\/x-ndjson/);
  const lines = r.body.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(lines, [
    { progress: 'debootstrap: fetching' },
    { error: { code: 'failed_precondition', message: 'debootstrap is not installed: run \'npm run quickstart\'' } },
  ]);
  await app.close();
});

test('asked with Prefer: respond-async or ?async=true, a long route answers 202 with the operation and its Location; it is listed, its log ends with the result, its cancel is refused once it ended', async () => {
  const operations = new Operations(new Store(':memory:'));
  let release!: () => void;
  const gate = new Promise<void>((r) => { release = r; });
  const app = await buildServer(services({
    operations: operations as unknown as Record<string, unknown>,
    templates: {
      get: () => ({ kind: 'os' }),
      export: async (name: string, file: string, progress: (m: string) => void) => { progress('objects: 1 of 2'); await gate; progress('objects: 2 of 2'); return { file, digest: 'sha256:x', bytes: 3 }; },
    },
  }));
  const r = await app.inject({ method: 'POST', url: '/v1/templates/deb/exports', headers: { prefer: 'respond-async, wait=5' }, payload: { file: '/tmp/x.strata' } });
  assert.equal(r.statusCode, 202);
  const op = r.json<{ id: string; kind: string; subject: string; state: string }>();
  assert.equal(r.headers.location, `/v1/operations/${op.id}`);
  assert.equal(r.headers['preference-applied'], 'respond-async');
  assert.deepEqual([op.kind, op.subject, op.state], ['template-export', 'deb', 'running']);
  const listed = (await app.inject({ method: 'GET', url: '/v1/operations?state=running' })).json<Array<{ id: string }>>();
  assert.deepEqual(listed.map((o) => o.id), [op.id]);
  const following = app.inject({ method: 'GET', url: `/v1/operations/${op.id}/log?follow=true` });
  setTimeout(release, 20);
  const log = (await following).body.trim().split('\n').map((l) => JSON.parse(l) as unknown);
  assert.deepEqual(log, [{ progress: 'objects: 1 of 2' }, { progress: 'objects: 2 of 2' }, { result: { file: '/tmp/x.strata', digest: 'sha256:x', bytes: 3 } }]);
  const done = (await app.inject({ method: 'GET', url: `/v1/operations/${op.id.slice(0, 7)}` })).json<{ state: string; progress: { done: number; total: number } }>();
  assert.equal(done.state, 'succeeded');
  assert.deepEqual([done.progress.done, done.progress.total], [2, 2]);
  const refused = await app.inject({ method: 'DELETE', url: `/v1/operations/${op.id}` });
  assert.equal(refused.statusCode, 412);
  assert.deepEqual(refused.json(), { code: 'failed_precondition', message: `operation ${op.id} has already succeeded: only a running operation can be cancelled` });
  const query = await app.inject({ method: 'POST', url: '/v1/templates/deb/exports?async=true', payload: { file: '/tmp/y.strata' } });
  assert.equal(query.statusCode, 202, '?async=true is the same switch');
  const ghost = await app.inject({ method: 'GET', url: '/v1/operations/op-nope' });
  assert.equal(ghost.statusCode, 404);
  await app.close();
});

test('a bulk create runs as an operation: count names NAME-1…NAME-N; a body naming both or neither is refused', async () => {
  const made: string[][] = [];
  const app = await buildServer(services({
    containers: {
      checkCreate: () => undefined,
      createMany: async (reqs: Array<{ name: string }>, progress: (m: string) => void) => { made.push(reqs.map((r) => r.name)); progress('containers: 3 of 3'); return { created: reqs.map((r) => r.name) }; },
    },
  }));
  const r = await app.inject({ method: 'POST', url: '/v1/containers', payload: { name: 'web', count: 3, template: 'bb' } });
  assert.equal(r.statusCode, 200);
  assert.deepEqual(r.body.trim().split('\n').map((l) => JSON.parse(l) as unknown), [{ progress: 'containers: 3 of 3' }, { result: { created: ['web-1', 'web-2', 'web-3'] } }]);
  for (const [payload, message] of [[{ names: ['a'], name: 'b', template: 'bb' }, /either `names`, or `name` and `count`/], [{ count: 2, template: 'bb' }, /`count` needs `name`/], [{ template: 'bb' }, /needs a name/], [{ name: 'w', count: 2, template: 'bb', ip: '10.0.0.5' }, /same hostname, address or published ports/]] as const) {
    const bad = await app.inject({ method: 'POST', url: '/v1/containers', payload });
    assert.equal(bad.statusCode, 400, JSON.stringify(payload));
    assert.match(bad.json<{ message: string }>().message, message);
  }
  assert.deepEqual(made, [['web-1', 'web-2', 'web-3']]);
  await app.close();
});

test('a check that fails before streaming is a plain error status, not a stream', async () => {
  const app = await buildServer(services({ templates: { check: async () => { throw new FailedPrecondition('template deb exists'); } } }));
  const r = await app.inject({ method: 'POST', url: '/v1/templates', payload: { name: 'deb', from: 'busybox' } });
  assert.equal(r.statusCode, 412);
  assert.deepEqual(r.json(), { code: 'failed_precondition', message: 'template deb exists' });
  await app.close();
});

test('a capture by its resource path takes the name from the path; the older path still works the same', async () => {
  const runs: Array<{ name: string; bases: string[] }> = [];
  const app = await buildServer(services({
    captures: {
      check: () => undefined,
      run: async (req: { name: string; bases: string[] }, progress: (m: string) => void) => { runs.push(req); progress('installing'); return { template: req.name, version: 1 }; },
    },
  }));
  const fresh = await app.inject({ method: 'POST', url: '/v1/templates/web/captures', payload: { bases: ['deb'], command: ['true'] } });
  const older = await app.inject({ method: 'POST', url: '/v1/templates-capture', payload: { name: 'web', bases: ['deb'], command: ['true'] } });
  for (const r of [fresh, older]) assert.deepEqual(r.body.trim().split('\n').map((l) => JSON.parse(l) as unknown), [{ progress: 'installing' }, { result: { template: 'web', version: 1 } }]);
  assert.deepEqual(runs.map((r) => [r.name, r.bases]), [['web', ['deb']], ['web', ['deb']]]);
  const named = await app.inject({ method: 'POST', url: '/v1/templates/web/captures', payload: { name: 'other', bases: ['deb'] } });
  assert.equal(named.statusCode, 400, 'the name is the path\'s, not a body field');
  await app.close();
});

test('answers keep fields their schema does not name, and nulls stay null', async () => {
  const view = {
    name: 'a', state: 'stopped', pid: null, template: 'bb', hostname: 'a', privileged: false, autostart: false, rootfs: '/r', privateArea: '/p',
    consoleLog: '/c', idMap: null, limits: { memory: null, cpus: 1.5 }, adapters: [], ports: [], apps: [], netIn: null, netOut: null,
    createdAt: 'now', startedAt: null, stoppedAt: null, lastExit: null, tenant: null, futureField: { nested: [1, 2] },
  };
  const app = await buildServer(services({ containers: { inspect: () => view } }));
  const r = await app.inject({ method: 'GET', url: '/v1/containers/a' });
  assert.equal(r.statusCode, 200);
  assert.deepEqual(r.json(), view);
  await app.close();
});

test('the OpenAPI document names resources, marks the older paths deprecated and gives every operation a summary and its error answer', async () => {
  const app = await buildServer(services({}));
  const r = await app.inject({ method: 'GET', url: '/v1/openapi.json' });
  assert.equal(r.statusCode, 200);
  const doc = r.json<{ openapi: string; paths: Record<string, Record<string, { summary?: string; deprecated?: boolean; responses: Record<string, unknown> }>> }>();
  assert.match(doc.openapi, /^3\./);
  for (const path of ['/v1/templates/{name}/captures', '/v1/templates/{name}/captures/{session}/finish', '/v1/templates/{name}/exports', '/v1/template-imports', '/v1/template-usage', '/v1/containers/{name}/apps/{template}']) {
    assert.ok(doc.paths[path], `${path} is in the document`);
  }
  for (const path of ['/v1/templates-capture', '/v1/templates-df', '/v1/templates-import', '/v1/templates-verify']) {
    assert.equal(doc.paths[path].post?.deprecated ?? doc.paths[path].get?.deprecated, true, `${path} is deprecated`);
  }
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      assert.ok(op.summary || op.deprecated, `${method} ${path} has a summary`);
      assert.ok(op.responses['4XX'] ?? op.responses['4xx'], `${method} ${path} declares its error answer`);
    }
  }
  await app.close();
});

test('docs/api.md is the reference rendered from the routes (node scripts/api-doc.mjs rewrites it)', async () => {
  const app = await buildServer(services({}));
  await app.ready();
  const docs = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'docs', 'api.md');
  assert.equal(readFileSync(docs, 'utf8'), apiReference(app.swagger() as Parameters<typeof apiReference>[0]), 'docs/api.md is out of step: run npm run build && node scripts/api-doc.mjs');
  await app.close();
});

test('a refused body that may also be empty names its real problem, not the alternatives', async () => {
  const app = await buildServer(services({}));
  const unknown = await app.inject({ method: 'POST', url: '/v1/containers/web/stop', payload: { timeout: 5, when: 'now' } });
  assert.equal(unknown.statusCode, 400);
  assert.equal(unknown.json<{ message: string }>().message, "invalid request: body has an unknown field 'when' (see docs/api.md)");
  const wrong = await app.inject({ method: 'POST', url: '/v1/containers/web/stop', payload: { timeout: 'soon' } });
  assert.equal(wrong.statusCode, 400);
  assert.match(wrong.json<{ message: string }>().message, /^invalid request: body\.timeout must be number$/);
  await app.close();
});

test('events: filtered by container and kind after an id; with follow, a server-sent stream of the backlog and then of each new event', async () => {
  type E = { id: number; time: string; kind: string; subject: string | null; message: string };
  const all: E[] = [
    { id: 1, time: 't1', kind: 'container-created', subject: 'a', message: 'created' },
    { id: 2, time: 't2', kind: 'container-started', subject: 'a', message: 'started' },
    { id: 3, time: 't3', kind: 'container-started', subject: 'b', message: 'started' },
  ];
  const listeners = new Set<(e: E) => void>();
  const app = await buildServer(services({
    store: {
      listEvents: () => all,
      eventsAfter: (id: number) => all.filter((e) => e.id > id),
      onEvent: (l: (e: E) => void) => { listeners.add(l); return () => listeners.delete(l); },
    },
  }));
  const filtered = await app.inject({ method: 'GET', url: '/v1/events?since=1&container=a' });
  assert.deepEqual(filtered.json<E[]>().map((e) => e.id), [2]);
  const kinds = await app.inject({ method: 'GET', url: '/v1/events?kind=container-started,container-exited' });
  assert.deepEqual(kinds.json<E[]>().map((e) => e.id), [2, 3]);
  assert.equal((await app.inject({ method: 'GET', url: '/v1/events?since=-1' })).statusCode, 400);

  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as { port: number };
  /** A followed stream, read as it comes (a plain connection, as the CLI makes). */
  const follow = (path: string, headers: Record<string, string> = {}) => new Promise<{ res: IncomingMessage; text: () => string; next: (re: RegExp) => Promise<void> }>((resolve, reject) => {
    get({ host: '127.0.0.1', port, path, headers, agent: false }, (res) => {
      let text = '';
      const waiting: Array<() => void> = [];
      res.setEncoding('utf8');
      res.on('data', (d: string) => { text += d; for (const w of waiting.splice(0)) w(); });
      const next = async (re: RegExp): Promise<void> => { while (!re.test(text)) await new Promise<void>((r) => waiting.push(r)); };
      resolve({ res, text: () => text, next });
    }).on('error', reject);
  });
  const stream = await follow('/v1/events?follow=true&kind=container-started', { 'last-event-id': '2' });
  assert.match(String(stream.res.headers['content-type']), /text\/event-stream/);
  await stream.next(/id: 3\n/);
  assert.doesNotMatch(stream.text(), /id: [12]\n/, 'Last-Event-ID 2: only later events');
  for (const l of listeners) l({ id: 4, time: 't4', kind: 'container-exited', subject: 'b', message: 'exited' });
  for (const l of listeners) l({ id: 5, time: 't5', kind: 'container-started', subject: 'c', message: 'started' });
  await stream.next(/id: 5\n/);
  assert.doesNotMatch(stream.text(), /id: 4\n/, 'a kind not asked for is not sent');
  assert.match(stream.text(), /event: container-started\ndata: \{"id":5,/);
  // A client going away unsubscribes its stream.
  const other = await follow('/v1/events?follow=true');
  await other.next(/strata events/);
  assert.equal(listeners.size, 2);
  other.res.destroy();
  for (let i = 0; i < 100 && listeners.size > 1; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(listeners.size, 1, 'the stream of the client that went away unsubscribed');
  // The daemon stopping ends the stream (it would otherwise keep the close waiting), and unsubscribes it.
  const ended = new Promise((r) => stream.res.on('end', r));
  await app.close();
  await ended;
  assert.equal(listeners.size, 0, 'the stream unsubscribed when the server closed');
});

test('malformed JSON, a huge body, another media type and an unknown route are refused with a clear message, never as internal errors', async () => {
  const log: string[] = [];
  const app = await buildServer(services({}, log));
  const cases: Array<[string, string, string, number, RegExp]> = [
    ['/v1/containers', '{"name": "a",', 'application/json', 400, /^invalid request: the body is not valid JSON$/],
    ['/v1/containers', 'x'.repeat(2 << 20), 'application/json', 400, /^invalid request: the body is larger than 1 MiB$/],
    ['/v1/containers', 'name=a', 'application/x-www-form-urlencoded', 400, /^invalid request: send the body as application\/json$/],
    ['/v1/no-such-thing', '{}', 'application/json', 404, /^there is no API route POST \/v1\/no-such-thing: see docs\/api\.md/],
  ];
  for (const [url, payload, type, status, message] of cases) {
    const r = await app.inject({ method: 'POST', url, payload, headers: { 'content-type': type } });
    assert.equal(r.statusCode, status, url);
    assert.match(r.json<{ message: string }>().message, message);
    assert.notEqual(r.json<{ code: string }>().code, 'internal');
  }
  assert.deepEqual(log, [], 'nothing logged as an internal error');
  await app.close();
});
