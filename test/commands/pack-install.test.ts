/**
 * The package as a user gets it: `npm pack`, `npm install -g` into a temporary prefix, then `fleetmon --version`
 * and `fleetmon serve` from another folder. Before prepack built dist/, the packed CLI had no commands at all.
 * Dependencies come from npm's cache where it has them (--prefer-offline), so this takes about a minute.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { freePort, tempDir, testDir, waitFor } from '../helpers/common.js';

const repo = join(testDir, '..');
const work = tempDir('fleetmon-pack-');
after(() => work.remove());

test('npm pack → npm install -g → fleetmon --version and fleetmon serve from another folder', { timeout: 600_000 }, async (t) => {
  const npm = spawnSync('npm', ['--version'], { encoding: 'utf8' });
  if (npm.status !== 0) return t.skip('npm is not on PATH');
  // prepack builds dist/ and oclif.manifest.json where it runs. Not in the checkout: while they stood there, every
  // other test's bin/run.js would run that build, and lose it mid-run when it went. So the package is made from a
  // copy of the working tree (what git tracks or would add) with the checkout's node_modules beside it.
  const copy = join(work.path, 'checkout');
  const files = spawnSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: repo, encoding: 'utf8' });
  assert.equal(files.status, 0, `git ls-files: ${files.stderr}`);
  for (const f of files.stdout.split('\0').filter(Boolean)) {
    if (!existsSync(join(repo, f)) || f === 'node_modules') continue; // deleted in the working tree but not yet in git
    mkdirSync(dirname(join(copy, f)), { recursive: true });
    cpSync(join(repo, f), join(copy, f), { verbatimSymlinks: true });
  }
  symlinkSync(join(repo, 'node_modules'), join(copy, 'node_modules'));
  const pack = spawnSync('npm', ['pack', '--pack-destination', work.path, '--silent'], { cwd: copy, encoding: 'utf8', env: { ...process.env, npm_config_loglevel: 'error' } });
  assert.equal(pack.status, 0, pack.stderr);
  const tarball = readdirSync(work.path).find((f) => f.endsWith('.tgz'));
  assert.ok(tarball, `npm pack wrote no tarball: ${pack.stdout}`);

  const prefix = join(work.path, 'prefix');
  const install = spawnSync('npm', ['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', join(work.path, tarball)], {
    cwd: work.path,
    encoding: 'utf8',
  });
  assert.equal(install.status, 0, install.stderr);
  assert.doesNotMatch(install.stderr, /EBADENGINE/, 'a dependency does not support this Node version');
  const fleetmon = join(prefix, 'bin', 'fleetmon');
  assert.ok(existsSync(fleetmon), 'npm install -g made no fleetmon command');

  const elsewhere = tempDir('fleetmon-elsewhere-');
  t.after(() => elsewhere.remove());
  const version = spawnSync(fleetmon, ['--version'], { cwd: elsewhere.path, encoding: 'utf8' });
  assert.equal(version.status, 0, version.stderr);
  assert.match(version.stdout, /^fleetmon\/\d+\.\d+\.\d+ /);
  const help = spawnSync(fleetmon, ['--help'], { cwd: elsewhere.path, encoding: 'utf8' });
  assert.match(help.stdout, /serve\s+Run the monitor/, 'the installed CLI lists no commands');

  const port = await freePort();
  const serve = spawn(fleetmon, ['serve', '--port', String(port), '--data-dir', join(elsewhere.path, 'data')], { cwd: elsewhere.path, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  serve.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  t.after(() => serve.kill('SIGKILL'));
  const health = await waitFor(
    async () => {
      if (serve.exitCode !== null) throw new Error(`serve exited ${serve.exitCode}: ${stderr}`);
      const res = await fetch(`http://127.0.0.1:${port}/health`).catch(() => null);
      return res?.ok ? ((await res.json()) as { status?: string }) : null;
    },
    60_000,
    'the installed fleetmon serve to answer /health',
  );
  assert.equal(health.status, 'ok');
  const hosts = (await (await fetch(`http://127.0.0.1:${port}/api/hosts`)).json()) as unknown[];
  assert.equal(hosts.length, 1, 'the embedded default monitors this one machine');
  serve.kill('SIGTERM');
  await new Promise((r) => serve.once('close', r));
});
