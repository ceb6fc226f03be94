// Unit: the routes through Fastify's inject, with stand-in services (no daemon, no container):
// bodies the schemas refuse are 400 invalid_argument; typed errors become their status and
// {code, message}; a streamed operation reports progress and then its error as NDJSON lines.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Cancelled, FailedPrecondition, NotFound, PermissionDenied } from '../errors/index.js';
import { buildServer, type Services } from './server.js';

/** Services whose every call fails the test unless the test gave it. */
function services(given: Record<string, Record<string, unknown>>, log: string[] = []): Services {
  const stand = (group: string): unknown => new Proxy(given[group] ?? {}, {
    get: (target, prop) => (prop in target ? target[prop as string] : () => { throw new Error(`unexpected call ${group}.${String(prop)}`); }),
  });
  return {
    containers: stand('containers'), templates: stand('templates'), captures: stand('captures'), networks: stand('networks'), store: stand('store'),
    info: { version: 'test' }, log: (line: string) => log.push(line),
  } as unknown as Services;
}

test('a create body the schema refuses is 400 invalid_argument naming the problem; nothing is called', async () => {
  const app = buildServer(services({}));
  for (const payload of [{ name: 'a' }, { name: 'a', template: 'bb', color: 'red' }, { name: 'a', template: 'bb', limits: 'big' }]) {
    const r = await app.inject({ method: 'POST', url: '/v1/containers', payload });
    assert.equal(r.statusCode, 400, JSON.stringify(payload));
    const body = r.json<{ code: string; message: string }>();
    assert.equal(body.code, 'invalid_argument');
    assert.match(body.message, /^invalid request: body/);
  }
  const capture = await app.inject({ method: 'POST', url: '/v1/templates-capture', payload: { name: 'x', bases: ['deb'], commands: ['true'] } });
  assert.match(capture.json<{ message: string }>().message, /additional properties/, 'a misspelt field is refused, not dropped');
  assert.equal(capture.statusCode, 400);
  await app.close();
});

test('typed errors become their HTTP status and {code, message}; an internal one is logged with its stack', async () => {
  const log: string[] = [];
  const app = buildServer(services({
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
  const app = buildServer(services({
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

test('a check that fails before streaming is a plain error status, not a stream', async () => {
  const app = buildServer(services({ templates: { check: async () => { throw new FailedPrecondition('template deb exists'); } } }));
  const r = await app.inject({ method: 'POST', url: '/v1/templates', payload: { name: 'deb', from: 'busybox' } });
  assert.equal(r.statusCode, 412);
  assert.deepEqual(r.json(), { code: 'failed_precondition', message: 'template deb exists' });
  await app.close();
});
