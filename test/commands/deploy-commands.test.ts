/**
 * `fleetmon plan|apply|discover` as a user runs them (a child process) against the simulator in this process: exit
 * statuses (plan: 0 nothing to do, 2 changes), --json output, the confirmation rule, fleet.yml errors, discover --write.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EXIT } from '../../src/core/errors.js';
import type { DeployPlan } from '../../src/deploy/plan.js';
import type { DiscoverResult } from '../../src/deploy/discover.js';
import { parseFleetText } from '../../src/deploy/fleet-file.js';
import { TEST_KEY } from '../pve/helpers.js';
import { startPveSimulator, TEST_TOKEN, tokenHeaderValue, type PveSimulator } from '../pve/simulator.js';
import { runCommand } from '../helpers/run-command.js';
import { generateKey, makeTestDir, removeDir } from '../helpers/sshd.js';

describe('deploy commands', () => {
  let dir: string;
  let sim: PveSimulator;
  let fleetFile: string;
  const env = () => ({ FLEETMON_PVE_TOKEN: tokenHeaderValue(TEST_TOKEN), SSH_AUTH_SOCK: '' });

  before(async () => {
    dir = makeTestDir('fleetmon-test-deploy-cmd');
    generateKey(join(dir, 'id'), 'admin@test');
    writeFileSync(join(dir, 'root.pub'), `${TEST_KEY}\n`);
    sim = await startPveSimulator({
      authFailDelayMs: 20,
      taskDurationMs: 10,
      containers: [{ vmid: 150, hostname: 'gpu-ct', status: 'running', config: { net0: 'name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:00:96,ip=10.0.0.15/24,type=veth' } }],
    });
    fleetFile = join(dir, 'fleet.yml');
    writeFileSync(
      fleetFile,
      `proxmox: {url: ${sim.url}, fingerprint: "sha256//${sim.fingerprint.spki}"}\ncontainer: {hostname: fleetmon, ssh_public_key: ${join(dir, 'root.pub')}}\nhosts:\n  - {name: gpu1, address: 127.0.3.220}\n`,
    );
  });
  after(async () => {
    await sim?.close();
    removeDir(dir);
  });

  test('plan on nothing: exit 2 and the plan as data; nothing is changed', async () => {
    const r = await runCommand('src/commands/plan.ts', ['-f', fleetFile, '--identity', join(dir, 'id'), '--json'], { env: env() });
    assert.equal(r.code, 2, `${r.stdout}\n${r.stderr}`);
    const plan = JSON.parse(r.stdout) as DeployPlan;
    assert.equal(plan.changed, true);
    assert.equal(plan.container.action, 'create');
    assert.deepEqual(plan.hosts.map((h) => [h.name, h.action]), [['gpu1', 'deploy']]);
    assert.deepEqual(sim.requests.filter((q) => q.method !== 'GET'), [], 'plan only reads');
    assert.deepEqual(sim.invalidRequests(), []);
  });

  test('plan in words, stage by stage', async () => {
    const r = await runCommand('src/commands/plan.ts', ['-f', fleetFile, '--identity', join(dir, 'id')], { env: env() });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stdout, /^container: \+ create CT 200 'fleetmon' on pve$/m);
    assert.match(r.stdout, /^provision: install/m);
    assert.match(r.stdout, /^ {2}\+ gpu1 \(127\.0\.3\.220:22\): deploy$/m);
    assert.match(r.stdout, /^Plan: changes to apply\.$/m);
  });

  test('a bad fleet.yml: every problem at once, exit 3', async () => {
    const bad = join(dir, 'bad.yml');
    writeFileSync(bad, `proxmox: {url: ${sim.url}}\ncontainer: {cores: 0}\nhosts:\n  - {name: gpu1}\n`);
    const r = await runCommand('src/commands/plan.ts', ['-f', bad, '--identity', join(dir, 'id')], { env: env() });
    assert.equal(r.code, EXIT.config, r.stderr);
    assert.match(r.stderr, /bad\.yml: 2 problems:/);
    assert.match(r.stderr, /bad\.yml:2:20: container\.cores must be a whole number from 1 to 8192/);
    assert.match(r.stderr, /bad\.yml:4:5: hosts\[0\] \(gpu1\)\.address is required: add `address: 192\.168\.1\.20`/);
  });

  test('no token in the environment: says which variable', async () => {
    const r = await runCommand('src/commands/plan.ts', ['-f', fleetFile, '--identity', join(dir, 'id')], { env: { ...env(), FLEETMON_PVE_TOKEN: '' } });
    assert.equal(r.code, EXIT.usage);
    assert.match(r.stderr, /the Proxmox API token is not set: fleet\.yml reads it from \$FLEETMON_PVE_TOKEN/);
  });

  test('apply under --json without --yes refuses before touching anything', async () => {
    const before = sim.requests.length;
    const r = await runCommand('src/commands/apply.ts', ['-f', fleetFile, '--identity', join(dir, 'id'), '--json'], { env: env() });
    assert.equal(r.code, EXIT.usage);
    assert.equal((JSON.parse(r.stdout) as { error: { code: string } }).error.code, 'CONFIRMATION_REQUIRED');
    assert.equal(sim.requests.length, before);
  });

  test('discover --write: a fleet.yml to start from, never over an existing file', async () => {
    const out = join(dir, 'discovered.yml');
    const conn = ['--proxmox', sim.url, '--fingerprint', `sha256//${sim.fingerprint.spki}`];
    const r = await runCommand('src/commands/discover.ts', [...conn, '--write', out, '--json'], { env: env() });
    assert.equal(r.code, 0, r.stderr);
    const d = JSON.parse(r.stdout) as DiscoverResult;
    assert.deepEqual(d.hosts, [{ name: 'gpu-ct', address: '10.0.0.15' }]);
    assert.ok(existsSync(out));
    const f = parseFleetText(readFileSync(out, 'utf8'), out);
    assert.deepEqual(f.hosts.map((h) => [h.name, h.address]), [['gpu-ct', '10.0.0.15']]);
    assert.equal(f.proxmox.fingerprint, `sha256//${sim.fingerprint.spki}`);
    const again = await runCommand('src/commands/discover.ts', [...conn, '--write', out], { env: env() });
    assert.equal(again.code, EXIT.usage);
    assert.match(again.stderr, /exists; discover does not overwrite it/);
  });
});
