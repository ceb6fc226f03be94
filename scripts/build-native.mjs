// Builds Strata's small native helpers (see native/*.c) with the host's C compiler.
import { execFileSync } from 'node:child_process';
import { mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const top = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(top, 'native', 'build');
mkdirSync(out, { recursive: true });
// name → its sources and the compiler's extra words. strata-hostd carries strata-idmount's code.
const helpers = {
  'strata-idmount': { sources: ['strata-idmount.c'], flags: [] },
  'strata-monitor': { sources: ['strata-monitor.c'], flags: [] },
  'strata-hostd': { sources: ['strata-hostd.c', 'strata-idmount.c'], flags: ['-DIDMOUNT_NO_MAIN', '-lnftables'] },
};
for (const [name, { sources, flags }] of Object.entries(helpers)) {
  const srcs = sources.map((s) => join(top, 'native', s));
  const bin = join(out, name);
  let fresh = false;
  try { fresh = srcs.every((s) => statSync(bin).mtimeMs >= statSync(s).mtimeMs); } catch { /* not built yet */ }
  if (!fresh) execFileSync('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', bin, ...srcs, ...flags], { stdio: 'inherit' });
}
