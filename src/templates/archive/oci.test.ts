import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { InvalidArgument } from '../../errors/index.js';
import { importOciImage, type OciImageInfo } from './oci.js';
import { gzip, list, sandbox, tarOf, text, zstd, type TarEntry } from './testing.js';

const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';

const config = {
  architecture: 'amd64',
  os: 'linux',
  config: { Env: ['PATH=/usr/bin:/bin'], Entrypoint: ['/bin/sh', '-c'], Cmd: ['exec app'], WorkingDir: '/srv', User: '1000:1000' },
  rootfs: { type: 'layers', diff_ids: [] },
};
const expectedInfo = (layers: number): OciImageInfo => ({
  layers,
  env: ['PATH=/usr/bin:/bin'],
  entrypoint: ['/bin/sh', '-c'],
  cmd: ['exec app'],
  workingDir: '/srv',
  user: '1000:1000',
});

const lowerLayer = (): Promise<Buffer> => tarOf([
  { name: 'etc/', type: 'directory' },
  { name: 'etc/hello', body: 'v1' },
  { name: 'etc/gone', body: 'lower' },
  { name: 'opaque/old', body: 'lower' },
  { name: 'opaque/sub/deep', body: 'lower' },
]);
const upperLayer = (): Promise<Buffer> => tarOf([
  { name: 'etc/hello', body: 'v2' },
  { name: 'etc/.wh.gone', body: '' },
  { name: 'opaque/', type: 'directory' },
  { name: 'opaque/.wh..wh..opq', body: '' },
  { name: 'opaque/new', body: 'upper' },
]);

async function assertRootfs(dest: string): Promise<void> {
  assert.deepEqual(await list(join(dest, 'etc')), ['hello']);
  assert.equal(await text(join(dest, 'etc/hello')), 'v2');
  assert.deepEqual(await list(join(dest, 'opaque')), ['new']);
}

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { os: string; architecture: string };
}

async function writeBlob(layout: string, mediaType: string, content: Buffer | string): Promise<Descriptor> {
  const data = Buffer.from(content);
  const hex = createHash('sha256').update(data).digest('hex');
  await mkdir(join(layout, 'blobs/sha256'), { recursive: true });
  await writeFile(join(layout, 'blobs/sha256', hex), data);
  return { mediaType, digest: `sha256:${hex}`, size: data.length };
}

/**
 * An OCI layout whose index.json points at a nested index that lists an arm64 manifest (whose
 * blob is absent, so picking it fails) before the amd64 one. `edit` may tamper with the manifest.
 */
async function writeLayout(layout: string, edit: (manifest: { layers: Descriptor[] }) => void = () => {}): Promise<Descriptor[]> {
  await mkdir(layout, { recursive: true });
  const layers = [
    await writeBlob(layout, 'application/vnd.oci.image.layer.v1.tar+gzip', gzip(await lowerLayer())),
    await writeBlob(layout, 'application/vnd.oci.image.layer.v1.tar+zstd', zstd(await upperLayer())),
  ];
  const manifest = { schemaVersion: 2, mediaType: OCI_MANIFEST, config: await writeBlob(layout, OCI_CONFIG, JSON.stringify(config)), layers };
  edit(manifest);
  const amd64 = { ...(await writeBlob(layout, OCI_MANIFEST, JSON.stringify(manifest))), platform: { os: 'linux', architecture: 'amd64' } };
  const arm64 = { mediaType: OCI_MANIFEST, digest: `sha256:${'0'.repeat(64)}`, size: 10, platform: { os: 'linux', architecture: 'arm64' } };
  const nested = await writeBlob(layout, OCI_INDEX, JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [arm64, amd64] }));
  await writeFile(join(layout, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [nested] }));
  await writeFile(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  return layers;
}

/** The directory as tar entries, file contents included. */
async function entriesOf(dir: string): Promise<TarEntry[]> {
  const entries: TarEntry[] = [];
  for (const dirent of await readdir(dir, { withFileTypes: true, recursive: true })) {
    const path = join(dirent.parentPath, dirent.name);
    if (dirent.isFile()) entries.push({ name: relative(dir, path), body: await readFile(path) });
  }
  return entries;
}

test('imports an OCI image layout: nested index, platform choice, whiteouts, opaque directories', async (t) => {
  const { root, dest } = await sandbox(t);
  const layout = join(root, 'layout');
  await writeLayout(layout);
  const progress: string[] = [];
  const info = await importOciImage(layout, dest, join(root, 'work'), (msg) => progress.push(msg));
  assert.deepEqual(info, expectedInfo(2));
  await assertRootfs(dest);
  assert.equal(progress.length, 2);
  assert.match(progress[0], /^applying layer 1\/2 \(sha256:[0-9a-f]{64}\)$/);
});

test('imports an OCI image layout from a tar', async (t) => {
  const { root, dest } = await sandbox(t);
  const layout = join(root, 'layout');
  await writeLayout(layout);
  const archive = join(root, 'image.tar');
  await writeFile(archive, await tarOf(await entriesOf(layout)));
  const work = join(root, 'work');
  await mkdir(work);
  assert.deepEqual(await importOciImage(archive, dest, work), expectedInfo(2));
  await assertRootfs(dest);
});

test('imports a docker save archive, following a duplicate layer symlink inside it', async (t) => {
  const { root, dest } = await sandbox(t);
  const archive = join(root, 'docker.tar');
  const manifest = [{ Config: 'abc.json', RepoTags: ['app:latest'], Layers: ['l1/layer.tar', 'l2/layer.tar', 'l3/layer.tar'] }];
  await writeFile(archive, await tarOf([
    { name: 'manifest.json', body: JSON.stringify(manifest) },
    { name: 'abc.json', body: JSON.stringify(config) },
    { name: 'l1/layer.tar', body: await lowerLayer() },
    { name: 'l2/layer.tar', body: gzip(await upperLayer()) },
    { name: 'l3/layer.tar', type: 'symlink', linkname: '../l2/layer.tar' },
  ]));
  const work = join(root, 'work');
  await mkdir(work);
  assert.deepEqual(await importOciImage(archive, dest, work), expectedInfo(3));
  await assertRootfs(dest);
});

test('refuses docker save layer paths that leave the image', async (t) => {
  const { root } = await sandbox(t);
  for (const [name, layer, extra] of [
    ['dotdot', '../outside/layer.tar', []],
    ['absolute-link', 'l1/layer.tar', [{ name: 'l1/layer.tar', type: 'symlink', linkname: '/etc/passwd' }]],
    ['escaping-link', 'l1/layer.tar', [{ name: 'l1/layer.tar', type: 'symlink', linkname: '../../outside/layer.tar' }]],
  ] as const) {
    const archive = join(root, `${name}.tar`);
    await writeFile(archive, await tarOf([
      { name: 'manifest.json', body: JSON.stringify([{ Config: 'abc.json', Layers: [layer] }]) },
      { name: 'abc.json', body: JSON.stringify(config) },
      ...extra,
    ]));
    const work = join(root, `work-${name}`);
    const dest = join(root, `dest-${name}`);
    await mkdir(work);
    await mkdir(dest);
    await assert.rejects(
      importOciImage(archive, dest, work),
      (err: Error) => err instanceof InvalidArgument && /not inside the image|leaves the image/.test(err.message),
    );
    assert.deepEqual(await list(dest), []);
  }
});

test('refuses a layer whose content does not match its digest, before applying any layer', async (t) => {
  const { root, dest } = await sandbox(t);
  const layout = join(root, 'layout');
  const [, upper] = await writeLayout(layout);
  const blob = join(layout, 'blobs/sha256', upper.digest.slice('sha256:'.length));
  await writeFile(blob, Buffer.alloc((await stat(blob)).size));
  await assert.rejects(
    importOciImage(layout, dest, join(root, 'work')),
    (err: Error) => err instanceof InvalidArgument && err.message.includes(`layer ${upper.digest} does not match its digest`),
  );
  assert.deepEqual(await list(dest), []);
});

test('refuses a digest that is not sha256 hex, such as a path', async (t) => {
  const { root, dest } = await sandbox(t);
  const layout = join(root, 'layout');
  await writeLayout(layout, (manifest) => {
    manifest.layers[1] = { ...manifest.layers[1], digest: 'sha256:../../../../etc/passwd' };
  });
  await assert.rejects(
    importOciImage(layout, dest, join(root, 'work')),
    (err: Error) => err instanceof InvalidArgument && /"sha256:\.\.\/\.\.\/\.\.\/\.\.\/etc\/passwd", which is not sha256:<64 hex digits>/.test(err.message),
  );
  assert.deepEqual(await list(dest), []);
});

test('refuses what is neither an OCI layout nor a docker save archive', async (t) => {
  const { root, dest, outside } = await sandbox(t);
  await assert.rejects(
    importOciImage(outside, dest, join(root, 'work')),
    (err: Error) => err instanceof InvalidArgument && err.message === `${outside} is not an OCI image layout or docker save archive: no index.json or manifest.json found`,
  );
});
