#!/usr/bin/env node
// Production entry: runs the compiled commands from dist/. If dist/ is missing (a fresh clone), it falls back
// to the TypeScript sources through tsx so `./bin/run.js serve` works right after `npm install`.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
if (existsSync(join(root, 'dist', 'commands'))) {
  const { execute } = await import('@oclif/core');
  await execute({ dir: import.meta.url });
} else {
  const { register } = await import('tsx/esm/api');
  register();
  const { execute } = await import('@oclif/core');
  await execute({ development: true, dir: import.meta.url });
}
