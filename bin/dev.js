#!/usr/bin/env node
// Development entry: oclif registers tsx itself and runs src/commands/*.ts directly.
// An oclif.manifest.json left by a build (npm run build, npm pack, the bundle tests) names the commands under dist/:
// oclif would load those compiled, possibly older, files instead of the sources. It goes, as in bin/run.js when
// that runs the sources; the next build writes a fresh one.
import { rmSync } from 'node:fs';
import { execute } from '@oclif/core';

rmSync(new URL('../oclif.manifest.json', import.meta.url), { force: true });
await execute({ development: true, dir: import.meta.url });
