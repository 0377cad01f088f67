#!/usr/bin/env -S node --max-semi-space-size=4
// Entry point. An installed fleetmon runs the compiled commands from dist/. In a source checkout (tsconfig.json
// beside it) dist/ is used only while it is newer than every file under src/, so a stale build never shadows an
// edit; otherwise oclif's development mode runs the TypeScript sources through tsx. That is what makes
// `npm install && ./bin/run.js serve` work in a fresh clone.
// The shebang's V8 flag is CLI_NODE_FLAGS (src/paths.ts); the systemd unit adds SERVE_NODE_FLAGS for the server.
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { flush, handle, run, settings } from '@oclif/core';

const root = new URL('..', import.meta.url);
// Written by `npm run build` after tsc succeeds.
const distStamp = new URL('dist/.built', root);

function newestSource(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(path));
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

function useCompiled() {
  if (!existsSync(distStamp)) return false;
  if (!existsSync(new URL('tsconfig.json', root))) return true;
  return statSync(distStamp).mtimeMs >= newestSource(new URL('src', root).pathname);
}

const compiled = useCompiled();
// The manifest (written by the build) describes the compiled commands; oclif would read it in development mode
// too, so a stale one would hide flags added since. Removed here; `npm run build` writes a fresh one.
if (!compiled) {
  rmSync(new URL('oclif.manifest.json', root), { force: true });
  // Compiling the sources on every start costs seconds; say why once, where a person is reading.
  if (process.stderr.isTTY && !process.env.FLEETMON_QUIET_DEV) {
    process.stderr.write('fleetmon: running from the TypeScript sources (dist/ is missing or older than src/); `npm run build` makes every start several times faster\n');
  }
}
// What oclif's execute({development}) does, less its debug setting: that prints a stack under every warning
// (an unknown command, say). FLEETMON_DEBUG=1 turns stacks back on.
if (!compiled) process.env.NODE_ENV = 'development';
settings.debug = Boolean(process.env.FLEETMON_DEBUG);
await run(process.argv.slice(2), import.meta.url)
  .then(() => flush())
  .catch((error) => handle(error));
