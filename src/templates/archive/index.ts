/**
 * Turning untrusted archives and container images into root file systems, safely.
 * The public face of this folder; nothing else is exported.
 */

export { extractTar } from './extract.js';
export { importOciImage } from './oci.js';
