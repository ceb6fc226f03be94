// The web panel's build: `npm run build` runs it into dist/panel, which the daemon serves at /.
// base './': every asset and API path is relative, so a reverse proxy may serve it under a prefix.
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';
import { fileURLToPath } from 'node:url';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: './',
  plugins: [react()],
  build: { outDir: fileURLToPath(new URL('../dist/panel', import.meta.url)), emptyOutDir: true, chunkSizeWarningLimit: 1024 },
  logLevel: 'warn',
});
