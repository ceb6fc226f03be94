/**
 * Turning untrusted archives and container images into root file systems, safely.
 * The public face of this folder; nothing else is exported.
 */

export { extractTar, type ExtractOptions, type ExtractStats } from './extract.js';
export { importOciImage, type OciImageInfo } from './oci.js';
