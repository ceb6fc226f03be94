// Integration (root, real kernel): every OCI runtime of the registry passes the conformance
// suite, or says why it cannot run on this host (its declared cgroup layouts exclude this one).
import { test } from 'node:test';
import { cgroupLayout, RUNTIMES } from './index.js';
import { runtimeConformance } from './runtime.conformance.js';

const layout = cgroupLayout();
for (const [name, make] of Object.entries(RUNTIMES)) {
  const { cgroupLayouts } = make({ stateRoot: '/nonexistent', monitor: { run: () => Promise.resolve(1), closeConsole: () => Promise.resolve() } }).capabilities;
  if (cgroupLayouts.includes(layout)) runtimeConformance(name, make);
  else test(`OCI runtime ${name} (conformance): not run on this host`, { skip: `${name} runs on cgroup layouts ${cgroupLayouts.join(', ')}; this host's is ${layout}` }, () => undefined);
}
