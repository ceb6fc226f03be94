// Unit: the remotes file (a scratch directory; no daemon).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { addRemote, checkNewRemote, chosenRemote, readRemotes, removeRemote, switchRemote } from './remotes.js';

test('remotes: add, switch, choose, remove; the file is its owner\'s only; bad names and URLs are refused before anything', () => {
  const dir = mkdtempSync('/tmp/strata-test-remotes-unit-');
  const saved = process.env.STRATA_REMOTE;
  delete process.env.STRATA_REMOTE;
  try {
    assert.deepEqual(readRemotes(dir), { current: 'local', remotes: {} });
    assert.equal(chosenRemote(undefined, dir), null, 'no file: the local socket');
    assert.throws(() => checkNewRemote('Bad_Name', 'https://h:1', dir), /invalid remote name/);
    assert.throws(() => checkNewRemote('local', 'https://h:1', dir), /built-in name/);
    assert.throws(() => checkNewRemote('h', 'http://h:1', dir), /TLS only: give https:\/\/h:1/);
    assert.throws(() => checkNewRemote('h', 'https://h:1/v1', dir), /without a path/);
    assert.throws(() => checkNewRemote('h', 'not a url', dir), /invalid URL/);
    const r = { url: 'https://h:8443', token: 'strata_x_y', fingerprint: 'AB', addedAt: 'now' };
    addRemote('h', r, dir);
    assert.equal(statSync(join(dir, 'remotes.json')).mode & 0o777, 0o600);
    assert.throws(() => checkNewRemote('h', 'https://h:1', dir), /already exists/);
    assert.deepEqual(chosenRemote('h', dir), { ...r, name: 'h' });
    switchRemote('h', dir);
    assert.equal(chosenRemote(undefined, dir)?.name, 'h');
    process.env.STRATA_REMOTE = 'local';
    assert.equal(chosenRemote(undefined, dir), null, '$STRATA_REMOTE wins over the current one');
    delete process.env.STRATA_REMOTE;
    assert.throws(() => chosenRemote('gone', dir), /there is no remote gone/);
    assert.throws(() => switchRemote('gone', dir), /there is no remote gone/);
    removeRemote('h', dir);
    assert.equal(readRemotes(dir).current, 'local', 'removing the current one falls back to local');
    writeFileSync(join(dir, 'remotes.json'), '{oops');
    assert.throws(() => readRemotes(dir), /is not valid JSON/);
    assert.equal(readFileSync(join(dir, 'remotes.json'), 'utf8'), '{oops');
  } finally {
    if (saved !== undefined) process.env.STRATA_REMOTE = saved;
    rmSync(dir, { recursive: true, force: true });
  }
});
