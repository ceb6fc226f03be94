// Integration: strata clone on a real daemon. The clone shares the templates, gets the source's
// own files (moved into its own id range), limits, networks with a new address, and application
// templates at their versions; a running source is frozen while copied and keeps running; bad
// input and a full plan leave nothing behind.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, useDaemon } from './harness.js';

interface View {
  name: string; state: string; hostname: string; tenant: string | null; idMap: { hostBase: number } | null;
  limits: { memory?: number | null }; adapters: Array<{ network: string; address: string; mac: string }>;
  apps: Array<{ template: string; version: number }>; ports: unknown[];
}

describe('clone', () => {
  const d = useDaemon({ template: 'bb' });

  test('a running container cloned: its files in the clone\'s own id range, its limits, apps and network with a new address', async () => {
    await d.ok('template', 'capture', 'clapp', '--base', 'bb', '--', 'sh', '-c', 'echo app > /opt-app');
    await d.ok('create', 'cl1', '--template', 'bb', '--memory', '128M', '--app', 'clapp', '--port', `${freePort()}:80`);
    await d.ok('start', 'cl1');
    await d.ok('exec', 'cl1', '--', 'sh', '-c', 'mkdir -p /data && echo payload > /data/f && chown 1000:1000 /data/f && chmod 4755 /data/f');
    const out = await d.ok('clone', 'cl1', 'cl2');
    const src = await d.json<View>('inspect', 'cl1');
    const v = await d.json<View>('inspect', 'cl2');
    assert.match(out, new RegExp(`container cl2 cloned from cl1 \\(address ${v.adapters[0].address.replace(/[./]/g, '\\$&')}\\)`));
    assert.equal(src.state, 'running', 'the source kept running');
    assert.equal(v.state, 'created');
    assert.equal(v.limits.memory, 128 * 1024 * 1024);
    assert.deepEqual(v.apps.map((a) => `${a.template}@${a.version}`), ['clapp@1']);
    assert.equal(v.adapters[0].network, src.adapters[0].network);
    assert.notEqual(v.adapters[0].address, src.adapters[0].address, 'a new address');
    assert.notEqual(v.adapters[0].mac, src.adapters[0].mac, 'a new MAC');
    assert.deepEqual(v.ports, [], 'published ports stay with the source');
    assert.notEqual(v.idMap!.hostBase, src.idMap!.hostBase, 'its own id range');
    const onHost = statSync(join(d.paths.containers, 'cl2', 'private', 'root', 'data', 'f'));
    assert.equal(onHost.uid, v.idMap!.hostBase + 1000, 'owned in the clone\'s range on the host');
    assert.equal(onHost.mode & 0o7777, 0o4755, 'setuid kept across the chown');

    await d.ok('start', 'cl2');
    assert.equal((await d.ok('exec', 'cl2', '--', 'cat', '/data/f')).trim(), 'payload');
    assert.equal((await d.ok('exec', 'cl2', '--', 'stat', '-c', '%u:%g', '/data/f')).trim(), '1000:1000', 'the same ids inside');
    assert.equal((await d.ok('exec', 'cl2', '--', 'cat', '/opt-app')).trim(), 'app', 'the application template');
    assert.equal((await d.ok('exec', 'cl2', '--', 'hostname')).trim(), 'cl2', 'its own name');
    assert.equal((await d.ok('exec', 'cl1', '--', 'hostname')).trim(), 'cl1');
    assert.match(await d.ok('events', '--container', 'cl2'), /cloned from cl1/);
  });

  test('rename: a stopped container with a disk, a port and a snapshot keeps all of them, and its address, under the new name', async () => {
    const port = freePort();
    await d.ok('create', 'rn1', '--template', 'bb', '--disk', '32M', '--port', `${port}:80`);
    await d.ok('start', 'rn1');
    await d.ok('exec', 'rn1', '--', 'sh', '-c', 'echo kept > /k');
    await d.ok('snapshot', 'create', 'rn1', 's1');
    const running = await d.cli('rename', 'rn1', 'rn2');
    assert.notEqual(running.status, 0);
    assert.match(running.stderr, /container rn1 is running: stop it first to rename it/);
    const before = await d.json<View>('inspect', 'rn1');
    await d.ok('stop', 'rn1');
    assert.match(await d.ok('rename', 'rn1', 'rn2'), /container rn1 renamed to rn2/);
    const v = await d.json<View>('inspect', 'rn2');
    assert.equal(v.hostname, 'rn2', 'a hostname that was its name follows');
    assert.equal(v.adapters[0].address, before.adapters[0].address, 'the same address');
    assert.equal(v.idMap!.hostBase, before.idMap!.hostBase, 'the same id range');
    assert.equal(v.ports.length, 1, 'its published port');
    assert.notEqual((await d.cli('inspect', 'rn1')).status, 0, 'the old name is free');
    assert.deepEqual((await d.json<Array<{ name: string }>>('snapshot', 'list', 'rn2')).map((x) => x.name), ['s1']);
    await d.ok('start', 'rn2');
    assert.equal((await d.ok('exec', 'rn2', '--', 'cat', '/k')).trim(), 'kept');
    assert.equal((await d.ok('exec', 'rn2', '--', 'hostname')).trim(), 'rn2');
    assert.match(await d.ok('events', '--container', 'rn2'), /renamed from rn1/);
    const taken = await d.cli('rename', 'rn2', 'cl1');
    assert.match(taken.stderr, /container cl1 already exists: pick another name/);
    await d.ok('destroy', 'rn2', '--force');
    assert.deepEqual(readdirSync(d.paths.pool).filter((f) => f.startsWith('rn')), [], 'no disk image under either name');
    assert.deepEqual(d.leftovers().filter((l) => /rn[12]/.test(l)), []);
  });

  test('publish: what a running container changed by hand becomes an application template that another container gets', async () => {
    await d.ok('create', 'pb1', '--template', 'bb', '--no-net', '--app', 'clapp');
    await d.ok('start', 'pb1');
    await d.ok('exec', 'pb1', '--', 'sh', '-c', "mkdir -p /srv && echo site > /srv/index.html && echo 'web:x:1001:1001::/srv:/bin/false' >> /etc/passwd && rm /bin/vi");
    const out = await d.ok('publish', 'pb1', 'pubweb');
    assert.match(out, /template pubweb version 1 published from pb1: \d+ files/);
    assert.equal((await d.json<View>('inspect', 'pb1')).state, 'running', 'frozen, then thawed');
    const t = await d.json<{ versions: Array<{ bases: string[]; adds: { users: string[] } }> }>('template', 'inspect', 'pubweb');
    assert.deepEqual(t.versions[0].bases, ['bb@1', 'clapp@1'], 'its templates are the bases');
    assert.deepEqual(t.versions[0].adds.users, ['web']);
    await d.ok('create', 'pb2', '--template', 'bb', '--no-net', '--app', 'clapp', '--app', 'pubweb');
    await d.ok('start', 'pb2');
    assert.equal((await d.ok('exec', 'pb2', '--', 'cat', '/srv/index.html')).trim(), 'site');
    assert.match(await d.ok('exec', 'pb2', '--', 'grep', '^web:', '/etc/passwd'), /web:x:1001:1001/);
    assert.notEqual((await d.cli('exec', 'pb2', '--', 'ls', '/bin/vi')).status, 0, 'the deletion is published too');
    assert.equal((await d.ok('exec', 'pb2', '--', 'hostname')).trim(), 'pb2', 'its identity is its own, not pb1\'s');
    const bad = await d.cli('publish', 'pb1', 'Bad Name');
    assert.notEqual(bad.status, 0);
    for (const n of ['pb1', 'pb2']) await d.ok('destroy', n, '--force');
  });

  test('bad input and a full plan: one sentence each, nothing left behind', async () => {
    const taken = await d.cli('clone', 'cl1', 'cl2');
    assert.notEqual(taken.status, 0);
    assert.match(taken.stderr, /container cl2 already exists/);
    const missing = await d.cli('clone', 'ghost', 'cl3');
    assert.match(missing.stderr, /container ghost does not exist/);
    await d.ok('tenant', 'create', 'tc', '--containers', '1');
    await d.ok('create', 'tc1', '--template', 'bb', '--tenant', 'tc', '--no-net');
    const full = await d.cli('clone', 'tc1', 'tc2');
    assert.notEqual(full.status, 0);
    assert.match(full.stderr, /tenant tc has 1 of the 1 containers its plan allows/);
    const names = (await d.json<View[]>('list')).map((c) => c.name).sort();
    assert.deepEqual(names, ['cl1', 'cl2', 'tc1'], 'no clone was made');
    for (const n of names) await d.ok('destroy', n, '--force');
    assert.deepEqual(d.leftovers(), []);
  });
});
