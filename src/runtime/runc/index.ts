/**
 * runc, the default OCI runtime: runc's command line (../oci-cli.ts) with runc's capabilities and
 * its error dialect. One entry of RUNTIMES; passes runtime.conformance.ts on this host.
 */
import { OciCliRuntime, type CliRuntime } from '../oci-cli.js';
import type { OciRuntime, RuntimeOptions } from '../runtime.js';

const RUNC: CliRuntime = {
  name: 'runc',
  binary: 'runc',
  // runc 1.1: every cgroup layout; no CRIU on this kernel; idmapped mounts only from runc 1.2.
  capabilities: { cgroupLayouts: ['v1', 'hybrid', 'v2'], checkpoint: false, idmappedMounts: false, consoleSocket: true },
  install: 'run \'npm run quickstart\' or \'apt-get install runc\'',
  unknownContainer: /does not exist|not found/i,
  alreadyStopped: /not running|process already finished|container not running/i,
  execFifo: true,
};

export const runc = (opts: RuntimeOptions): OciRuntime => new OciCliRuntime(RUNC, opts);
