/** runtime: OCI spec building and the runc driver. Storage hands it a root path; it hands back pids. */
export { buildSpec, type SpecInput, type IdMap, type OciSpec } from './spec.js';
export { Runc, isAlive, waitForExit, type RuntimeState, type ExecOptions } from './runc.js';
export { Monitor, parseDeath, type InitDeath } from './monitor.js';
