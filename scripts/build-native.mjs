// Builds Strata's two small native helpers (see native/*.c) with the host's C compiler.
import { execFileSync } from 'node:child_process';
import { mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const top = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(top, 'native', 'build');
mkdirSync(out, { recursive: true });
for (const name of ['strata-idmount', 'strata-monitor']) {
  const src = join(top, 'native', `${name}.c`);
  const bin = join(out, name);
  let fresh = false;
  try { fresh = statSync(bin).mtimeMs >= statSync(src).mtimeMs; } catch { /* not built yet */ }
  if (!fresh) execFileSync('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', bin, src], { stdio: 'inherit' });
}
