#!/usr/bin/env node
// Writes docs/api.md from the OpenAPI document the routes generate (run after `npm run build`).
// The routes are only described, never called: the services are not needed.
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildServer } from '../dist/src/api/server.js';
import { apiReference } from '../dist/src/api/reference.js';

const top = join(dirname(fileURLToPath(import.meta.url)), '..');
const app = await buildServer({ info: {} });
await app.ready();
writeFileSync(join(top, 'docs', 'api.md'), apiReference(app.swagger()));
await app.close();
process.stdout.write('docs/api.md written\n');
