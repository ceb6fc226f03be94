// Integration: OS templates in the content store — sharing, df, verify, export and import between
// two data roots, hostile template files, and collection of unreferenced objects.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, statSync, writeFileSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { useDaemon } from './harness.js';

interface Df { templates: Array<{ name: string; files: number; logicalBytes: number }>; logicalBytes: number; storedBytes: number; objects: number }

function objectFiles(root: string): string[] {
  const dir = join(root, 'store', 'objects', 'sha256');
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((sub) => readdirSync(join(dir, sub)).map((f) => join(dir, sub, f)));
}

describe('content store', () => {
  const a = useDaemon({ templates: { bb1: 'busybox', bb2: 'busybox' } });
  const b = useDaemon();

  test('identical files of two templates are one object, hardlinked into both trees', async () => {
    const one = statSync(join(a.root, 'templates', 'bb1', 'rootfs', 'bin', 'busybox'));
    const two = statSync(join(a.root, 'templates', 'bb2', 'rootfs', 'bin', 'busybox'));
    assert.equal(one.ino, two.ino);
    assert.equal(one.nlink, 3, 'the object and two trees');
    const df = await a.json<Df>('template', 'df');
    assert.equal(df.templates.length, 2);
    assert.ok(df.storedBytes < df.logicalBytes * 0.6, `stored ${df.storedBytes} of logical ${df.logicalBytes}`);
    assert.match(await a.ok('template', 'df'), /logical .* stored .* saved/);
  });

  test('verify passes, then names a damaged object', async () => {
    assert.match(await a.ok('template', 'verify'), /all \d+ objects verified/);
    const victim = objectFiles(a.root).find((f) => statSync(f).size > 0 && statSync(f).size < 100_000)!;
    const bytes = readFileSync(victim);
    bytes[0] ^= 0xff;
    writeFileSync(victim, bytes);
    const r = await a.cli('template', 'verify');
    assert.equal(r.status, 6);
    assert.match(r.stdout, /1 of \d+ objects are damaged/);
    assert.match(r.stderr, /damaged objects in the content store/);
    bytes[0] ^= 0xff;
    writeFileSync(victim, bytes);
  });

  test('export, then import into another data root; a container runs from it', async () => {
    const file = join(a.root, 'bb1.strata');
    const out = await a.ok('template', 'export', 'bb1', '-o', file);
    assert.match(out, /sha256:[0-9a-f]{64}/);
    assert.ok(statSync(file).size > 100_000);
    await b.ok('template', 'import', file, '--name', 'moved');
    const t = await b.json<{ name: string; init: string[]; stopSignal: string; meta: { digest: string } }>('template', 'inspect', 'moved');
    assert.deepEqual(t.init, ['/sbin/init']);
    assert.equal(t.stopSignal, 'SIGTERM');
    assert.match(out, new RegExp(t.meta.digest.replace('sha256:', '')));
    await b.ok('create', 'from-file', '--template', 'moved');
    await b.ok('start', 'from-file');
    assert.equal((await b.ok('exec', 'from-file', '--', 'cat', '/etc/hostname')).trim(), 'from-file');
    assert.equal((await b.ok('exec', 'from-file', '--', 'stat', '-c', '%a %u', '/bin/busybox')).trim(), '755 0');
    await b.ok('destroy', 'from-file', '--force');
    const again = await b.cli('template', 'import', file, '--name', 'moved');
    assert.equal(again.status, 4);
  });

  test('a host-linked template cannot be exported', async () => {
    await a.ok('template', 'build', 'hosty', '--from', 'host');
    const r = await a.cli('template', 'export', 'hosty', '-o', join(a.root, 'h.strata'));
    assert.equal(r.status, 8);
    assert.match(r.stderr, /host-linked/);
    assert.equal(existsSync(join(a.root, 'h.strata')), false);
  });

  test('hostile template files are refused, nothing is written, the daemon stays up', async () => {
    const bad = join(b.root, 'bad.strata');
    const outside = join(b.root, 'outside');
    const cases: Array<[string, () => void]> = [
      ['random bytes', () => writeFileSync(bad, Buffer.alloc(4096, 7))],
      ['a zstd bomb of zeros', () => {
        spawnSync('sh', ['-c', `head -c 300000000 /dev/zero | zstd -q -19 -o ${bad} -f`]);
      }],
      ['a tar whose manifest escapes', () => {
        const dir = join(b.root, 'mk');
        rmSync(dir, { recursive: true, force: true });
        spawnSync('mkdir', ['-p', dir]);
        writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ format: 'strata-template/1', name: 'evil', version: '1', kind: 'os', createdAt: '2026-01-01T00:00:00Z', made: { how: 'busybox' }, bases: [], files: [{ path: '../../etc/evil', type: 'dir', mode: 493, uid: 0, gid: 0, mtime: 0 }], deletions: [], opaqueDirs: [], keys: {}, totals: { files: 0, dirs: 1, symlinks: 0, hardlinks: 0, objects: 0, logicalBytes: 0, objectBytes: 0 } }));
        spawnSync('sh', ['-c', `cd ${dir} && tar -cf - manifest.json | zstd -q -o ${bad} -f`]);
      }],
    ];
    for (const [what, make] of cases) {
      make();
      const before = readdirSync(join(b.root, 'templates')).sort();
      const r = await b.cli('template', 'import', bad, '--name', 'evil');
      assert.notEqual(r.status, 0, what);
      assert.equal(r.stderr.trim().split('\n').length, 1, `${what}: ${r.stderr}`);
      assert.deepEqual(readdirSync(join(b.root, 'templates')).sort(), before, what);
      assert.equal(existsSync(outside), false);
      assert.equal(existsSync('/etc/evil'), false);
      assert.match(await b.ok('info'), /version/, `${what}: the daemon is alive`);
    }
    assert.deepEqual(readdirSync(join(b.root, 'store', 'ingest')), []);
  });

  test('removing templates collects their objects', async () => {
    const before = objectFiles(a.root).length;
    await a.ok('template', 'rm', 'bb2');
    assert.equal(objectFiles(a.root).length, before, 'bb1 still uses every object of bb2');
    await a.ok('template', 'rm', 'bb1');
    await a.ok('template', 'rm', 'hosty');
    assert.equal(objectFiles(a.root).length, 0);
  });
});
