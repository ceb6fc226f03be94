/**
 * Imports a container image into a root file system directory: an OCI image layout (a
 * directory or a tar of one) or a `docker save` archive. Everything in the image is untrusted:
 * its files are reached without leaving the image through a symlink, OCI blobs are checked
 * against their sha256 digests before any layer is applied, and layers go through
 * extractTar's layered, whiteout-aware extraction.
 *
 * It is not a registry client and keeps no content store; it picks one platform
 * (linux/amd64), and cannot verify docker save layers, which carry no digests.
 */

import { createHash } from 'node:crypto';
import { constants as fsc } from 'node:fs';
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidArgument, NotFound } from '../../errors/index.js';
import { extractTar } from './extract.js';

export interface OciImageInfo {
  layers: number;
  env: string[];
  entrypoint: string[];
  cmd: string[];
  workingDir?: string;
  user?: string;
}

const INDEX_TYPES = new Set([
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
]);
const MANIFEST_TYPES = new Set([
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
]);
const LAYER_TYPES = new Set([
  'application/vnd.oci.image.layer.v1.tar',
  'application/vnd.oci.image.layer.v1.tar+gzip',
  'application/vnd.oci.image.layer.v1.tar+zstd',
  'application/vnd.docker.image.rootfs.diff.tar.gzip',
]);
const PLATFORM = { os: 'linux', architecture: 'amd64' };
const MAX_JSON_BYTES = 16 * 1024 * 1024;
const MAX_INDEX_NESTING = 4;
const MAX_SYMLINKS = 40;

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { os?: unknown; architecture?: unknown };
}

interface Layer {
  /** The layer's digest or path in the image, for messages. */
  name: string;
  /** The layer file, resolved inside the image. */
  file: string;
}

/**
 * Applies the layers of the image at `source` in order into `dest` (an empty directory) and
 * returns the image's configuration. `work` is an existing scratch directory for unpacking a
 * tar source; the caller removes it, and on failure removes `dest` too.
 */
export async function importOciImage(
  source: string,
  dest: string,
  work: string,
  onProgress?: (msg: string) => void,
): Promise<OciImageInfo> {
  const root = await imageRoot(source, work, onProgress);
  const { config, layers } = await readImage(root, source);
  for (const [i, layer] of layers.entries()) {
    onProgress?.(`applying layer ${i + 1}/${layers.length} (${layer.name})`);
    await extractTar(layer.file, dest, { layered: true, whiteouts: true });
  }
  return imageInfo(config, layers.length);
}

function notAnImage(source: string): InvalidArgument {
  return new InvalidArgument(`${source} is not an OCI image layout or docker save archive: no index.json or manifest.json found`);
}

/** The directory holding the image: source itself, or where its tar is unpacked in work. */
async function imageRoot(source: string, work: string, onProgress?: (msg: string) => void): Promise<string> {
  const stat = await fs.stat(source).catch(() => undefined);
  if (stat === undefined) throw new NotFound(`image ${source} does not exist`);
  if (stat.isDirectory()) return source;
  if (!stat.isFile()) throw notAnImage(source);
  onProgress?.(`unpacking ${source}`);
  const root = join(work, 'image');
  await fs.mkdir(root, { recursive: true });
  await extractTar(source, root);
  return root;
}

/** The image's config and layers, from its OCI layout or its docker save manifest. */
async function readImage(root: string, source: string): Promise<{ config: unknown; layers: Layer[] }> {
  if ((await isFileIn(root, 'index.json')) && (await isFileIn(root, 'oci-layout'))) return readOciLayout(root, source);
  if (await isFileIn(root, 'manifest.json')) return readDockerSave(root);
  throw notAnImage(source);
}

async function readOciLayout(root: string, source: string): Promise<{ config: unknown; layers: Layer[] }> {
  const manifestDescriptor = await findManifest(root, await readJson(join(root, 'index.json'), 'index.json'), 'index.json', 0);
  if (manifestDescriptor === undefined) {
    throw new InvalidArgument(`${source} has no image manifest for ${PLATFORM.os}/${PLATFORM.architecture}`);
  }
  const manifest = await readJsonBlob(root, manifestDescriptor, 'image manifest');
  const what = `image manifest ${manifestDescriptor.digest}`;
  if (!isObject(manifest) || !Array.isArray(manifest.layers)) throw new InvalidArgument(`${what} has no layers list`);
  const config = await readJsonBlob(root, descriptor(manifest.config, `the config of ${what}`), 'image config');
  const layers: Layer[] = [];
  for (const [i, value] of manifest.layers.entries()) {
    const layer = descriptor(value, `layer ${i + 1} of ${what}`);
    if (!LAYER_TYPES.has(layer.mediaType)) {
      throw new InvalidArgument(`layer ${layer.digest} has media type ${JSON.stringify(layer.mediaType)}, which Strata cannot apply`);
    }
    layers.push({ name: layer.digest, file: await verifiedBlob(root, layer, 'layer') });
  }
  return { config, layers };
}

/** The first image manifest for our platform, following nested image indexes. */
async function findManifest(root: string, index: unknown, what: string, nesting: number): Promise<Descriptor | undefined> {
  if (nesting > MAX_INDEX_NESTING) throw new InvalidArgument(`${what} nests image indexes more than ${MAX_INDEX_NESTING} deep`);
  if (!isObject(index) || !Array.isArray(index.manifests)) throw new InvalidArgument(`${what} has no manifests list`);
  for (const [i, value] of index.manifests.entries()) {
    const found = descriptor(value, `manifest ${i + 1} of ${what}`);
    const { platform } = found;
    if (platform && (platform.os !== PLATFORM.os || platform.architecture !== PLATFORM.architecture)) continue;
    if (MANIFEST_TYPES.has(found.mediaType)) return found;
    if (INDEX_TYPES.has(found.mediaType)) {
      const nested = await readJsonBlob(root, found, 'image index');
      const manifest = await findManifest(root, nested, `image index ${found.digest}`, nesting + 1);
      if (manifest) return manifest;
    }
  }
  return undefined;
}

async function readDockerSave(root: string): Promise<{ config: unknown; layers: Layer[] }> {
  const manifest = await readJson(join(root, 'manifest.json'), 'manifest.json');
  const image: unknown = Array.isArray(manifest) ? manifest[0] : undefined;
  if (!isObject(image) || typeof image.Config !== 'string' || !isStrings(image.Layers)) {
    throw new InvalidArgument('manifest.json of the docker save archive has no image with a Config and Layers');
  }
  const config = await readJson(await resolveInside(root, image.Config, 'image config'), `image config ${image.Config}`);
  const layers: Layer[] = [];
  for (const path of image.Layers) layers.push({ name: path, file: await resolveInside(root, path, 'layer') });
  return { config, layers };
}

function imageInfo(config: unknown, layers: number): OciImageInfo {
  const settings = isObject(config) && isObject(config.config) ? config.config : {};
  const strings = (field: string): string[] => {
    const value = settings[field];
    if (value === undefined || value === null) return [];
    if (!isStrings(value)) throw new InvalidArgument(`image config field ${field} is not a list of strings`);
    return value;
  };
  const info: OciImageInfo = { layers, env: strings('Env'), entrypoint: strings('Entrypoint'), cmd: strings('Cmd') };
  if (typeof settings.WorkingDir === 'string' && settings.WorkingDir !== '') info.workingDir = settings.WorkingDir;
  if (typeof settings.User === 'string' && settings.User !== '') info.user = settings.User;
  return info;
}

/** Validates a descriptor; its digest must be sha256, so it is a safe blob path too. */
function descriptor(value: unknown, what: string): Descriptor {
  if (!isObject(value)) throw new InvalidArgument(`${what} is not a descriptor`);
  const { mediaType, digest, size } = value;
  if (typeof digest !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(digest)) {
    throw new InvalidArgument(`${what} has the digest ${JSON.stringify(digest)}, which is not sha256:<64 hex digits>: refusing the image`);
  }
  if (typeof mediaType !== 'string') throw new InvalidArgument(`${what} (${digest}) has no media type`);
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw new InvalidArgument(`${what} (${digest}) has an invalid size`);
  }
  const platform = isObject(value.platform) ? value.platform : undefined;
  return { mediaType, digest, size, platform };
}

async function readJsonBlob(root: string, blob: Descriptor, what: string): Promise<unknown> {
  if (blob.size > MAX_JSON_BYTES) throw new InvalidArgument(`${what} ${blob.digest} is larger than ${MAX_JSON_BYTES} bytes`);
  return readJson(await verifiedBlob(root, blob, what), `${what} ${blob.digest}`);
}

/** The blob's file, once its size and sha256 match the descriptor. */
async function verifiedBlob(root: string, blob: Descriptor, what: string): Promise<string> {
  const file = await resolveInside(root, `blobs/sha256/${blob.digest.slice('sha256:'.length)}`, `${what} ${blob.digest}`);
  const handle = await fs.open(file, fsc.O_RDONLY | fsc.O_NOFOLLOW);
  try {
    const { size } = await handle.stat();
    if (size !== blob.size) {
      throw new InvalidArgument(`${what} ${blob.digest} has ${size} bytes, not the ${blob.size} its descriptor says: refusing the image`);
    }
    const hash = createHash('sha256');
    for await (const chunk of handle.createReadStream({ autoClose: false }) as AsyncIterable<Buffer>) hash.update(chunk);
    const actual = `sha256:${hash.digest('hex')}`;
    if (actual !== blob.digest) {
      throw new InvalidArgument(`${what} ${blob.digest} does not match its digest (its content is ${actual}): refusing the image`);
    }
  } finally {
    await handle.close();
  }
  return file;
}

/**
 * The regular file at `path` inside the image root. Symlinks on the way are followed only
 * while they stay inside the root (old `docker save` archives link duplicate layers).
 */
async function resolveInside(root: string, path: string, what: string): Promise<string> {
  const parts = path.split('/');
  if (path.startsWith('/') || path.includes('\0') || parts.includes('..') || parts.every((part) => part === '' || part === '.')) {
    throw new InvalidArgument(`${what} has the path ${JSON.stringify(path)}, which is not inside the image: refusing the image`);
  }
  const resolved: string[] = [];
  let symlinks = 0;
  for (let part = parts.shift(); part !== undefined; part = parts.shift()) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (resolved.pop() === undefined) throw new InvalidArgument(`${what} (${path}) is reached through a symlink that leaves the image: refusing the image`);
      continue;
    }
    const file = join(root, ...resolved, part);
    const stat = await fs.lstat(file).catch(() => undefined);
    if (stat === undefined) throw new InvalidArgument(`${what} (${path}) is missing from the image`);
    if (stat.isSymbolicLink()) {
      const target = await fs.readlink(file);
      if (++symlinks > MAX_SYMLINKS || target.startsWith('/')) {
        throw new InvalidArgument(`${what} (${path}) is reached through a symlink that leaves the image: refusing the image`);
      }
      parts.unshift(...target.split('/'));
      continue;
    }
    if (parts.length > 0 ? !stat.isDirectory() : !stat.isFile()) {
      throw new InvalidArgument(`${what} (${path}) is not a regular file in the image`);
    }
    resolved.push(part);
  }
  return join(root, ...resolved);
}

async function readJson(file: string, what: string): Promise<unknown> {
  const handle = await fs.open(file, fsc.O_RDONLY | fsc.O_NOFOLLOW);
  try {
    const { size } = await handle.stat();
    if (size > MAX_JSON_BYTES) throw new InvalidArgument(`${what} is larger than ${MAX_JSON_BYTES} bytes`);
    return JSON.parse(await handle.readFile('utf8'));
  } catch (err) {
    if (err instanceof SyntaxError) throw new InvalidArgument(`${what} is not valid JSON: ${err.message}`, { cause: err });
    throw err;
  } finally {
    await handle.close();
  }
}

async function isFileIn(root: string, name: string): Promise<boolean> {
  const stat = await fs.lstat(join(root, name)).catch(() => undefined);
  return stat?.isFile() ?? false;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isStrings(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}
