// Integration: the fallback for kernels without idmapped mounts. This kernel has them, so the
// daemon is told to act as if it had not (STRATA_DISABLE_IDMAP=1): a stand-in for the missing
// kernel feature, not for anything Strata does.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { useDaemon } from './harness.js';

interface View { pid: number; idMap: { hostBase: number; size: number } }

describe('without idmapped mounts', () => {
  const d = useDaemon({ env: { STRATA_DISABLE_IDMAP: '1' }, template: 'bb', templates: { hosty: 'host' } });

  test('the daemon says so, and containers share one range with a shifted template copy', async () => {
    assert.match(d.log, /NOTICE: no idmapped mounts.*ONE host id range/);
    const info = await d.json<{ idmappedMounts: boolean }>('info');
    assert.equal(info.idmappedMounts, false);
    for (const n of ['f1', 'f2']) {
      await d.ok('create', n, '--template', 'bb');
      await d.ok('start', n);
    }
    const a = await d.json<View>('inspect', 'f1');
    const b = await d.json<View>('inspect', 'f2');
    assert.equal(a.idMap.hostBase, b.idMap.hostBase, 'one shared range');
    const map = (await d.ok('exec', 'f1', '--', 'cat', '/proc/self/uid_map')).trim().split(/\s+/).map(Number);
    assert.deepEqual(map, [0, a.idMap.hostBase, 65536]);
    // Files show their real owners inside, from the shifted copy; the template keeps real ids.
    assert.equal((await d.ok('exec', 'f1', '--', 'stat', '-c', '%u:%g %a', '/etc/shadow')).trim(), '0:0 640');
    const shifted = join(d.root, 'templates', 'bb', `shifted-${a.idMap.hostBase}`);
    assert.ok(existsSync(shifted));
    assert.equal(statSync(join(shifted, 'etc', 'shadow')).uid, a.idMap.hostBase);
    assert.equal(statSync(join(d.root, 'templates', 'bb', 'rootfs', 'etc', 'shadow')).uid, 0);
    const status = readFileSync(`/proc/${a.pid}/status`, 'utf8');
    assert.equal(Number(/^Uid:\s+(\d+)/m.exec(status)![1]), a.idMap.hostBase);
  });

  test('a host-linked template needs idmapped mounts: a clear error, nothing left running', async () => {
    await d.ok('create', 'fh', '--template', 'hosty');
    const r = await d.cli('start', 'fh');
    assert.equal(r.status, 8);
    assert.match(r.stderr, /cannot idmap mounts, which a host-linked template needs/);
    assert.equal((await d.json<{ state: string }>('inspect', 'fh')).state, 'created');
    const p = await d.cli('create', 'fhp', '--template', 'hosty', '--privileged');
    assert.equal(p.status, 0);
    await d.ok('start', 'fhp');
    await d.ok('destroy', 'fhp', '--force');
  });
});
