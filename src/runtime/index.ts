/** runtime: OCI spec building and the runc driver. Storage hands it a root path; it hands back pids. */
export { buildSpec, type IdMap } from './spec.js';
export { Runc, isAlive, waitForExit } from './runc.js';
export { Monitor, type InitDeath } from './monitor.js';
