/**
 * The NodeSource installer as rendered for provision, executed for real in a private mount namespace: /etc/apt is
 * a scratch tmpfs there and apt-get, dpkg and node are stubs that log their arguments, so the script's effects
 * (key file, sources, pin, apt calls, the version check) are observed without touching this machine or the network.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ProvisionFacts } from '../../src/provision/facts.js';
import { planProvision } from '../../src/provision/plan.js';
import { DEFAULT_SPEC } from '../../src/provision/spec.js';
import { templatesDir } from '../../src/paths.js';

function namespaceSkipReason(): string | null {
  if (process.getuid?.() !== 0) return 'needs root for a private mount namespace';
  // Stubs are bind-mounted over these (inside the namespace only), so they must exist.
  for (const f of ['/usr/bin/apt-get', '/usr/bin/dpkg', '/usr/bin/node']) if (!existsSync(f)) return `${f} is missing here`;
  const r = spawnSync('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', 'mount -t tmpfs none /mnt'], { encoding: 'utf8' });
  return r.status === 0 ? null : `cannot make a mount namespace here: ${r.stderr.trim() || r.error?.message}`;
}

const facts: ProvisionFacts = {
  os: { id: 'debian', version: '12', pretty: 'Debian 12' },
  machine: 'aarch64',
  glibc: '2.36',
  systemd: true,
  hostname: 'ct',
  packages: {},
  nodeRuntime: null,
  nodeSystem: 'v18.19.0',
  nodesourceRepo: false,
  userExists: false,
  dirs: { opt: 'missing', etc: 'missing', data: 'missing' },
  release: null,
  config: { sha: null, stamp: null, stat: 'missing' },
  key: { stat: 'missing', pub: null },
  unitSha: null,
  cliSha: null,
  service: null,
  applied: null,
};

// An x64 controller provisioning an arm64 container: the plan picks NodeSource, major 20.
const plan = planProvision(
  {
    ...DEFAULT_SPEC,
    address: 'ct',
    bundle: { id: '0123456789abcdef', version: '0.1.0' },
    controller: { version: 'v20.20.2', platform: 'linux', arch: 'x64', execPath: '/x', sharedLibraries: [], glibcCompiled: '2.28' },
  },
  facts,
);

function runScript(nodeMajor: string): { code: number | null; stderr: string; out: string; cleanup: () => void } {
  const out = mkdtempSync(join(tmpdir(), 'fleetmon-nodesource-'));
  writeFileSync(join(out, 'install.sh'), plan.files.nodesourceScript!);
  const stub = (name: string, body: string) => {
    writeFileSync(join(out, name), `#!/bin/sh\n${body}\n`);
    chmodSync(join(out, name), 0o755);
  };
  stub('apt-get', `printf 'apt-get %s\\n' "$*" >> ${out}/calls`);
  stub('dpkg', `printf 'dpkg %s\\n' "$*" >> ${out}/calls; echo arm64`);
  stub('node', `printf 'node %s\\n' "$*" >> ${out}/calls; echo ${nodeMajor}`);
  const setup = [
    'set -e',
    'mount -t tmpfs none /etc/apt',
    'mkdir /etc/apt/sources.list.d /etc/apt/preferences.d',
    `mount --bind ${out}/apt-get /usr/bin/apt-get`,
    `mount --bind ${out}/dpkg /usr/bin/dpkg`,
    `mount --bind ${out}/node /usr/bin/node`,
    `set +e; sh ${out}/install.sh; rc=$?`,
    `cp -r /etc/apt ${out}/apt`,
    'exit $rc',
  ].join('\n');
  const r = spawnSync('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', setup], { encoding: 'utf8' });
  return { code: r.status, stderr: r.stderr, out, cleanup: () => rmSync(out, { recursive: true, force: true }) };
}

const skip = namespaceSkipReason();

test('the rendered NodeSource script installs the pinned key, the repository, a pin, and nodejs', { skip: skip ?? false }, () => {
  const r = runScript('20');
  try {
    assert.equal(r.code, 0, r.stderr);
    assert.equal(readFileSync(join(r.out, 'apt', 'keyrings', 'nodesource.asc'), 'utf8').trim(), readFileSync(join(templatesDir, 'nodesource-repo.asc'), 'utf8').trim());
    assert.equal(
      readFileSync(join(r.out, 'apt', 'sources.list.d', 'nodesource.sources'), 'utf8'),
      'Types: deb\nURIs: https://deb.nodesource.com/node_20.x\nSuites: nodistro\nComponents: main\nArchitectures: arm64\nSigned-By: /etc/apt/keyrings/nodesource.asc\n',
    );
    assert.match(readFileSync(join(r.out, 'apt', 'preferences.d', 'nodesource.pref'), 'utf8'), /^Package: nodejs\nPin: origin deb\.nodesource\.com\nPin-Priority: 600\n$/);
    assert.deepEqual(readFileSync(join(r.out, 'calls'), 'utf8').trim().split('\n'), [
      'dpkg --print-architecture',
      'apt-get update -qq',
      'apt-get install -y -qq --no-install-recommends nodejs',
      'node -p process.versions.node.split(".")[0]',
    ]);
  } finally {
    r.cleanup();
  }
});

test('the NodeSource script fails loudly when apt installed another major', { skip: skip ?? false }, () => {
  const r = runScript('18');
  try {
    assert.equal(r.code, 1);
    assert.match(r.stderr, /fleetmon: installed Node\.js major 18, expected 20/);
  } finally {
    r.cleanup();
  }
});
