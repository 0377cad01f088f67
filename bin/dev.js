#!/usr/bin/env node
// Development entry: oclif registers tsx itself and runs src/commands/*.ts directly.
import { execute } from '@oclif/core';

await execute({ development: true, dir: import.meta.url });
