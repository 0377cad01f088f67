// Writes oclif.manifest.json from the compiled commands (run by `npm run build`, after tsc). With it, oclif
// answers `fleetmon --version` and finds a command's flags without importing every command module (and with them
// ssh2, fastify, better-sqlite3…) at each start. bin/run.js removes it when it runs the sources instead, so a
// manifest older than an edit never describes flags the code no longer has.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Plugin } from '@oclif/core';

const root = fileURLToPath(new URL('..', import.meta.url));
const plugin = new Plugin({ root, type: 'core', isRoot: true, ignoreManifest: true, errorOnManifestCreate: true });
await plugin.load();
const count = Object.keys(plugin.manifest.commands).length;
if (count === 0) throw new Error('no commands found under dist/commands: run tsc first');
writeFileSync(new URL('oclif.manifest.json', new URL('..', import.meta.url)), `${JSON.stringify(plugin.manifest, null, 2)}\n`);
console.log(`oclif.manifest.json: ${count} commands`);
