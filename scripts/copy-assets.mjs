// Copies the non-TypeScript files the built code reads at run time (SQL migrations) into dist/.
import { cpSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const top = join(dirname(fileURLToPath(import.meta.url)), '..');
cpSync(join(top, 'src', 'state', 'migrations'), join(top, 'dist', 'src', 'state', 'migrations'), { recursive: true });
