// Integration: OS templates from untrusted archives through the daemon — a root file system
// tarball and an OCI image layout that work, and hostile archives that are refused whole.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzip, tarOf } from '../src/templates/archive/testing.js';
import { useDaemon } from './harness.js';

const sha = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

describe('templates from archives', () => {
  const d = useDaemon({ template: 'bb' });
  let rootfsTar: Buffer;
  before(async () => {
    // A real root file system tarball: the busybox template's tree, as tar(1) writes it.
    rootfsTar = execFileSync('tar', ['-C', join(d.root, 'templates', 'bb', 'rootfs'), '-cf', '-', '.'], { maxBuffer: 1 << 28 });
  });

  test('rootfs:FILE (.tar.gz) builds a template whose container boots', async () => {
    // With device nodes under /dev, as every debootstrap or LXC tarball has: skipped, and said so.
    const file = join(d.root, 'rootfs.tar.gz');
    const devs = join(d.root, 'devs');
    mkdirSync(join(devs, 'dev'), { recursive: true });
    execFileSync('mknod', [join(devs, 'dev/null'), 'c', '1', '3']);
    execFileSync('mknod', [join(devs, 'dev/console'), 'c', '5', '1']);
    writeFileSync(`${file}.tar`, rootfsTar);
    execFileSync('tar', ['-rf', `${file}.tar`, '-C', devs, './dev/null', './dev/console']);
    writeFileSync(file, gzip(readFileSync(`${file}.tar`)));
    const r = await d.cli('template', 'build', 'fromtar', '--from', `rootfs:${file}`);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /skipped 2 device nodes under \/dev/);
    const t = await d.json<{ init: string[]; stopSignal: string }>('template', 'inspect', 'fromtar');
    assert.deepEqual(t.init, ['/sbin/init']);
    assert.equal(t.stopSignal, 'SIGTERM', 'busybox init recognised');
    await d.ok('create', 'ft', '--template', 'fromtar', '--no-net');
    await d.ok('start', 'ft');
    assert.equal((await d.ok('exec', 'ft', '--', 'cat', '/proc/1/comm')).trim(), 'init');
    await d.ok('destroy', 'ft', '--force');
  });

  test('oci:PATH (an OCI image layout with two layers and a whiteout) builds a template', async () => {
    const layout = join(d.root, 'oci');
    mkdirSync(join(layout, 'blobs', 'sha256'), { recursive: true });
    const blob = (data: Buffer | string): { digest: string; size: number } => {
      const buf = Buffer.isBuffer(data) ? data : Buffer.from(data);
      writeFileSync(join(layout, 'blobs', 'sha256', sha(buf)), buf);
      return { digest: `sha256:${sha(buf)}`, size: buf.length };
    };
    const layer1 = blob(gzip(rootfsTar));
    const layer2 = blob(gzip(await tarOf([{ name: 'etc/motd', body: 'from layer 2\n' }, { name: 'etc/.wh.shells', body: '' }])));
    const config = blob(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Env: ['PATH=/bin:/sbin', 'APP=demo'] }, rootfs: { type: 'layers', diff_ids: [] } }));
    const manifest = blob(JSON.stringify({
      schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
      layers: [layer1, layer2].map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...l })),
    }));
    writeFileSync(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    writeFileSync(join(layout, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, platform: { architecture: 'amd64', os: 'linux' } }] }));
    await d.ok('template', 'build', 'fromoci', '--from', `oci:${layout}`);
    await d.ok('create', 'fo', '--template', 'fromoci', '--no-net');
    await d.ok('start', 'fo');
    assert.equal((await d.ok('exec', 'fo', '--', 'cat', '/etc/motd')).trim(), 'from layer 2');
    assert.notEqual((await d.cli('exec', 'fo', '--', 'ls', '/etc/shells')).status, 0, 'the whiteout removed /etc/shells');
    await d.ok('destroy', 'fo', '--force');
  });

  test('hostile archives are refused with one line; nothing is written outside, nothing is left', async () => {
    const outside = join(d.root, 'outside');
    const cases: Array<[string, Buffer, RegExp]> = [
      ['parent path', await tarOf([{ name: '../outside/pwned', body: 'x' }]), /escapes|\.\./],
      ['absolute path', await tarOf([{ name: `${outside}/pwned`, body: 'x' }]), /absolute|escapes/],
      ['symlink pointing out, then written through', await tarOf([{ name: 'evil', type: 'symlink', linkname: outside }, { name: 'evil/pwned', body: 'x' }]), /symlink|through/],
      ['hardlink out', await tarOf([{ name: 'passwd', type: 'link', linkname: '/etc/passwd' }]), /hardlink|link/],
      ['device node outside /dev', await tarOf([{ name: 'srv/sda', type: 'block-device', devmajor: 8, devminor: 0 }]), /device node outside \/dev/],
    ];
    for (const [what, tar, message] of cases) {
      const file = join(d.root, 'bad.tar');
      writeFileSync(file, tar);
      const before = readdirSync(join(d.root, 'templates')).sort();
      const r = await d.cli('template', 'build', 'evil', '--from', `rootfs:${file}`);
      assert.notEqual(r.status, 0, what);
      assert.match(r.stderr, message, what);
      assert.equal(r.stderr.trim().split('\n').filter((l) => l.startsWith('strata:')).length, 1, `${what}: ${r.stderr}`);
      assert.deepEqual(readdirSync(join(d.root, 'templates')).sort(), before, `${what}: no template or scratch left`);
      assert.equal(existsSync(outside), false, `${what}: nothing outside`);
      assert.equal((await d.json<Array<{ name: string }>>('template', 'list')).some((t) => t.name === 'evil'), false);
    }
    assert.match(await d.ok('info'), /version/, 'the daemon is alive');
  });
});
