// Bundles the CLI into one file (dist/src/cli/strata.bundle.cjs) with rolldown, and writes V8's
// code cache of it (strata.bundle.cache) from a run of `strata --help`: every `strata` command is a
// new node process, and loading ~40 modules from dist/ and compiling them cost more than the
// command itself. bin/strata loads the bundle with that cache (node 20 has no compile cache of its
// own). The bundle sits beside main.js, so paths found from import.meta.url (config's project
// top) stay right. `strata daemon` does not use it: bin/strata runs that one from dist/ as it is.
import { execFileSync } from 'node:child_process';
import { readdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'rolldown';

const top = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(top, 'dist', 'src', 'cli');
const started = Date.now();
for (const f of readdirSync(out)) if (f.startsWith('strata.bundle')) rmSync(join(out, f));
await build({
  input: join(out, 'main.js'),
  platform: 'node',
  logLevel: 'warn',
  external: [/^node:/],
  plugins: [{
    name: 'daemon-stays-outside',
    resolveId: (source) => (source.endsWith('/daemon/index.js') ? { id: '../daemon/index.js', external: true } : null),
  }],
  // One file: the code cache covers it all. Class names are kept (errors are named in --debug's traces).
  // What the bundle loads when used (node:tls, node:readline) is required then: a dynamic import()
  // from a script compiled with a code cache has no loader on node 20.
  output: { file: join(out, 'strata.bundle.cjs'), format: 'cjs', codeSplitting: false, dynamicImportInCjs: false, minify: true, keepNames: true },
});
// Every command group is built for --help: their code is compiled, and goes in the cache.
execFileSync(process.execPath, [join(top, 'bin', 'strata'), '--help'], { env: { ...process.env, STRATA_CLI_WRITE_CACHE: '1' }, stdio: 'ignore' });
const kib = (f) => (statSync(join(out, f)).size / 1024).toFixed(0);
process.stdout.write(`cli bundle: ${kib('strata.bundle.cjs')} KiB, its code cache ${kib('strata.bundle.cache')} KiB, in ${Date.now() - started} ms\n`);
