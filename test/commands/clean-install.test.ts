/**
 * A clean install is clean: on the running Node no locked package wants another engine (npm's EBADENGINE), and
 * `npm install` would not rewrite package-lock.json. semver is not a dependency of fleetmon (only of its
 * dependencies), so the ranges are read with npm's own copy: the rules npm applies when it warns.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { packageRoot } from '../../src/paths.js';
import { tempDir } from '../helpers/common.js';

interface Semver {
  satisfies(version: string, range: string, opts?: { includePrerelease?: boolean }): boolean;
}
interface LockEntry {
  version?: string;
  engines?: Record<string, string> | string[];
  optional?: boolean;
  dev?: boolean;
  link?: boolean;
  os?: string[];
  cpu?: string[];
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  name?: string;
}
interface Manifest {
  name: string;
  version: string;
  engines?: Record<string, string>;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
}

const npmRoot = spawnSync('npm', ['root', '-g'], { encoding: 'utf8' }).stdout.trim();
const semver = createRequire(join(npmRoot, 'npm', 'package.json'))('semver') as Semver;
const manifest = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as Manifest;
const lock = JSON.parse(readFileSync(join(packageRoot, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };

/** Whether npm installs this entry on this machine at all (platform-specific optional packages are skipped). */
const installsHere = (e: LockEntry) =>
  !(e.os && !e.os.some((o) => o === process.platform || (o.startsWith('!') ? o.slice(1) !== process.platform : false))) &&
  !(e.cpu && !e.cpu.some((c) => c === process.arch || (c.startsWith('!') ? c.slice(1) !== process.arch : false)));

/** The engines.node of a lock entry and of the package.json installed for it, checked as npm-install-checks does. */
function badEngines(packages: Record<string, LockEntry>, root: string, node: string): string[] {
  const bad: string[] = [];
  for (const [where, entry] of Object.entries(packages)) {
    if (where === '' || entry.link || !installsHere(entry)) continue;
    const installed = join(root, where, 'package.json');
    const ranges = new Set<string>();
    if (entry.engines && !Array.isArray(entry.engines) && entry.engines.node) ranges.add(entry.engines.node);
    if (existsSync(installed)) {
      const m = JSON.parse(readFileSync(installed, 'utf8')) as Manifest;
      if (m.engines?.node) ranges.add(m.engines.node);
    }
    for (const r of ranges) if (!semver.satisfies(node, r, { includePrerelease: true })) bad.push(`${where}@${entry.version}: engines.node ${r}`);
  }
  return bad;
}

test('every package in the lockfile (and as installed) accepts the running Node: no EBADENGINE', () => {
  const checked = Object.keys(lock.packages).filter((k) => k !== '').length;
  assert.ok(checked > 100, `only ${checked} packages in the lock`);
  assert.deepEqual(badEngines(lock.packages, packageRoot, process.version), [], `on Node ${process.version}`);
  // And the rule bites: the same check flags a package that wants a Node newer than this one.
  const newer = `>=${Number(process.versions.node.split('.')[0]) + 2}`;
  assert.deepEqual(badEngines({ 'node_modules/made-up': { version: '1.0.0', engines: { node: newer } } }, packageRoot, process.version), [
    `node_modules/made-up@1.0.0: engines.node ${newer}`,
  ]);
});

test('package.json and the lock agree: every range is met by the locked version, the root entry matches', () => {
  const root = lock.packages[''];
  assert.ok(root, 'the lock has a root entry');
  assert.equal(root.name, manifest.name);
  assert.equal(root.version, manifest.version);
  assert.deepEqual(root.engines, manifest.engines);
  for (const field of ['dependencies', 'devDependencies', 'optionalDependencies'] as const) {
    assert.deepEqual(root[field] ?? {}, manifest[field] ?? {}, `the lock's root ${field} are package.json's`);
    for (const [name, range] of Object.entries(manifest[field] ?? {})) {
      const locked = lock.packages[`node_modules/${name}`]?.version;
      assert.ok(locked, `${name} is not in the lock`);
      assert.ok(semver.satisfies(locked, range), `${field}.${name} ${range} is not met by the locked ${locked}: npm install would rewrite the lock`);
    }
  }
});

test('npm itself, offline, finds the lock up to date and warns of no engine', (t) => {
  // In a copy, so nothing in the tree can change; --package-lock-only resolves from the lock without node_modules.
  const dir = tempDir('fleetmon-lock-');
  t.after(dir.remove);
  for (const f of ['package.json', 'package-lock.json']) copyFileSync(join(packageRoot, f), join(dir.path, f));
  const r = spawnSync('npm', ['install', '--package-lock-only', '--ignore-scripts', '--offline', '--no-audit', '--no-fund'], {
    cwd: dir.path,
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, npm_config_loglevel: 'warn', npm_config_update_notifier: 'false' },
  });
  const out = `${r.stdout}${r.stderr}`;
  assert.equal(r.status, 0, out);
  assert.doesNotMatch(out, /EBADENGINE|npm warn/i, out);
  assert.equal(readFileSync(join(dir.path, 'package-lock.json'), 'utf8'), readFileSync(join(packageRoot, 'package-lock.json'), 'utf8'), 'npm rewrote the lock');
});
