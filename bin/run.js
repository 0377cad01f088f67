#!/usr/bin/env node
// Production entry: runs the compiled commands from dist/. In a fresh clone without dist/, oclif's development
// mode runs the TypeScript sources through tsx, so `./bin/run.js serve` works right after `npm install`.
import { existsSync } from 'node:fs';
import { execute } from '@oclif/core';

const compiled = existsSync(new URL('../dist/commands', import.meta.url));
await execute({ development: !compiled, dir: import.meta.url });
