// Unit: docs/errors.md's table, the error codes and the two edges' status tables agree.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { httpStatusOf } from '../api/errors.js';
import { exitStatusOf } from '../cli/exit.js';
import { asStrataError, ERROR_CODES, errorFromWire } from './index.js';

const docs = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'docs', 'errors.md');

test('docs/errors.md lists every code with its class, HTTP status and exit status, and nothing else', () => {
  const rows = readFileSync(docs, 'utf8').split('\n')
    .map((line) => /^\| `([a-z_]+)` \| `([A-Za-z]+)` \| (\d+) \| (\d+) \|/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ code: m[1], cls: m[2], http: Number(m[3]), exit: Number(m[4]) }));
  assert.deepEqual(rows.map((r) => r.code).sort(), [...ERROR_CODES].sort());
  for (const r of rows) {
    const code = r.code as (typeof ERROR_CODES)[number];
    assert.equal(errorFromWire(code, 'x').name, r.cls, `${code}: class`);
    assert.equal(httpStatusOf[code], r.http, `${code}: HTTP status`);
    assert.equal(exitStatusOf[code], r.exit, `${code}: exit status`);
  }
});

test('exit statuses are unique and follow the codes\' order; an abort becomes cancelled', () => {
  assert.deepEqual(ERROR_CODES.map((c) => exitStatusOf[c]), ERROR_CODES.map((_, i) => i + 1));
  const controller = new AbortController();
  controller.abort();
  let thrown: unknown;
  try { controller.signal.throwIfAborted(); } catch (err) { thrown = err; }
  assert.equal(asStrataError(thrown).code, 'cancelled');
  assert.equal(errorFromWire('no_such_code', 'm').code, 'internal');
});
