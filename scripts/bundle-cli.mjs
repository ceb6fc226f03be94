// Bundles the CLI into one module (dist/src/cli/strata.bundle.mjs) with rolldown: every `strata`
// command is a new node process, and loading ~40 modules from dist/ costs more than the command.
// The bundle sits beside main.js, so paths found from import.meta.url (config's project top)
// stay right; the daemon is not in it (`strata daemon` loads dist/src/daemon/ as it is).
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
  // What only some commands use (yaml, ws, tar-stream) goes in chunks of its own, loaded when used;
  // class names are kept (errors are named in --debug's traces).
  output: { dir: out, entryFileNames: 'strata.bundle.mjs', chunkFileNames: 'strata.bundle-[name]-[hash].mjs', format: 'esm', minify: true, keepNames: true },
});
const kib = statSync(join(out, 'strata.bundle.mjs')).size / 1024;
process.stdout.write(`cli bundle: ${kib.toFixed(0)} KiB in ${Date.now() - started} ms\n`);
