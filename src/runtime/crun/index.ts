/**
 * crun: runc's command line (../oci-cli.ts) in C, with its own capabilities and error dialect.
 * crun 1.8 (Debian 12) refuses the hybrid cgroup layout ("cgroups in hybrid mode not
 * supported"), seen on the development host; a pure v1 host is not tried, so only v2 is
 * declared, and the daemon refuses crun elsewhere. The conformance suite runs it on a v2 host;
 * on others it says why it did not.
 */
import { OciCliRuntime, type CliRuntime } from '../oci-cli.js';
import type { OciRuntime, RuntimeOptions } from '../runtime.js';

const CRUN: CliRuntime = {
  name: 'crun',
  binary: 'crun',
  capabilities: { cgroupLayouts: ['v2'], checkpoint: false, idmappedMounts: false, consoleSocket: true },
  install: '\'apt-get install crun\'',
  // `crun state|delete|kill` of an id it does not know (seen here): "error opening file
  // `…/ID/status`: No such file or directory" or "cannot open directory '…/ID': No such file or directory".
  unknownContainer: /No such file or directory/,
  // `crun kill` signals the pid of its status file: one whose init ended fails with kill(2)'s
  // ESRCH, "kill container: No such process" (libcrun_container_kill; not seen here, see above).
  // Not tried on a host crun runs on (it refuses this one's cgroup layout): `crun start` it is.
  execFifo: false,
  alreadyStopped: /No such process/,
};

export const crun = (opts: RuntimeOptions): OciRuntime => new OciCliRuntime(CRUN, opts);
