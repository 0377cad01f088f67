/** The app bundle: production modules only, an id that follows content, and a tar stream with exactly those files. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { bundleStream, collectBundle, productionModules } from '../../src/provision/bundle.js';
import { FleetmonError } from '../../src/core/errors.js';

function fakePackage(): string {
  const root = mkdtempSync(join(tmpdir(), 'fleetmon-bundle-'));
  const files: Record<string, string> = {
    'package.json': '{"name":"fleetmon","version":"1.2.3"}',
    'package-lock.json': JSON.stringify({
      packages: {
        '': {},
        'node_modules/yaml': {},
        'node_modules/@scope/pkg': {},
        'node_modules/@scope/pkg/node_modules/inner': {},
        'node_modules/typescript': { dev: true },
        'node_modules/cpu-features': { optional: true },
      },
    }),
    'bin/run.js': '#!/usr/bin/env node\n',
    'dist/commands/serve.js': 'export default 1;\n',
    'templates/fleetmon.service.hbs': '[Unit]\n',
    'src/server/public/index.html': '<!doctype html>\n',
    'src/protocol/probe.sh': '#!/bin/sh\n',
    'src/protocol/gate.sh': '#!/bin/sh\n',
    'src/server/collector/parse.ts': 'compiled into dist, not shipped as source\n',
    'src/core/config.ts': 'not shipped\n',
    'node_modules/yaml/index.js': 'yaml\n',
    'node_modules/@scope/pkg/index.js': 'pkg\n',
    'node_modules/@scope/pkg/node_modules/inner/index.js': 'inner\n',
    'node_modules/typescript/lib.js': 'dev only\n',
    'test/x.test.ts': 'not shipped\n',
  };
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), content);
  }
  return root;
}

test('production modules come from the lockfile: dev-only left out, nested ones travel with their parent', () => {
  assert.deepEqual(
    productionModules({
      packages: {
        '': {},
        'node_modules/a': {},
        'node_modules/a/node_modules/b': {},
        'node_modules/dev': { dev: true },
        'node_modules/@s/c': { optional: true },
      },
    }),
    ['node_modules/@s/c', 'node_modules/a'],
  );
});

test('the bundle lists shipped files and production modules; its id follows the content', async () => {
  const root = fakePackage();
  try {
    const b = collectBundle(root);
    assert.equal(b.version, '1.2.3');
    assert.match(b.id, /^[0-9a-f]{16}$/);
    // cpu-features is optional and not installed here: left out.
    assert.deepEqual(b.paths, ['package.json', 'package-lock.json', 'bin', 'dist', 'templates', 'src/server/public', 'src/protocol/probe.sh', 'src/protocol/gate.sh', 'node_modules/@scope/pkg', 'node_modules/yaml']);
    assert.equal(collectBundle(root).id, b.id, 'stable for the same content');
    writeFileSync(join(root, 'dist', 'commands', 'serve.js'), 'export default 2;\n');
    const changed = collectBundle(root);
    assert.notEqual(changed.id, b.id, 'a changed file changes the id');
    writeFileSync(join(root, 'test', 'x.test.ts'), 'changed, but not shipped\n');
    assert.equal(collectBundle(root).id, changed.id);

    const { stream, done } = bundleStream(changed);
    const chunks: Buffer[] = [];
    for await (const c of stream) chunks.push(c as Buffer);
    await done;
    const list = spawnSync('tar', ['-tzf', '-'], { input: Buffer.concat(chunks), encoding: 'utf8' });
    assert.equal(list.status, 0, list.stderr);
    const files = list.stdout.split('\n').filter((f) => f && !f.endsWith('/')).sort();
    assert.deepEqual(files, [
      'bin/run.js',
      'dist/commands/serve.js',
      'node_modules/@scope/pkg/index.js',
      'node_modules/@scope/pkg/node_modules/inner/index.js',
      'node_modules/yaml/index.js',
      'package-lock.json',
      'package.json',
      'src/protocol/gate.sh',
      'src/protocol/probe.sh',
      'src/server/public/index.html',
      'templates/fleetmon.service.hbs',
    ]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('the tar stream keeps its data when read only after tar has exited', async () => {
  const root = fakePackage();
  try {
    const { stream, done } = bundleStream(collectBundle(root));
    await done; // tar is gone before anyone reads: Node would resume (and drop) an unread child stdout
    await new Promise((r) => setTimeout(r, 50));
    const chunks: Buffer[] = [];
    for await (const c of stream) chunks.push(c as Buffer);
    const list = spawnSync('tar', ['-tzf', '-'], { input: Buffer.concat(chunks), encoding: 'utf8' });
    assert.equal(list.status, 0, list.stderr);
    assert.match(list.stdout, /^bin\/run\.js$/m);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('an unbuilt checkout is refused with the fix', () => {
  const root = fakePackage();
  try {
    rmSync(join(root, 'dist'), { recursive: true });
    assert.throws(() => collectBundle(root), (e) => e instanceof FleetmonError && e.code === 'NOT_BUILT' && e.suggestions[0] === 'run `npm run build` first');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
