/**
 * `fleetmon plan/apply/destroy -f fleet.yml` end to end, as test/up/up-lxc.test.ts does for `up`: the Proxmox
 * simulator answers the API and reports the address of a real Debian 12 LXC container (booted with systemd on a bridge
 * this test makes); apply provisions this checkout into it over SSH, deploys the key to a fleet host (a real sshd on
 * the bridge address, this machine), writes the monitor's hosts.yml and ends when the monitor polls the host. Then:
 * plan → exit 0; memory changed through the simulator's API → plan shows it, apply fixes it; destroy → nothing left.
 * Needs LXC (run by the integrator, like test/up/*).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DeployApplyResult } from '../../src/deploy/apply.js';
import type { DeployDestroyResult } from '../../src/deploy/destroy.js';
import type { DeployPlan } from '../../src/deploy/plan.js';
import { BLOCK_BEGIN } from '../../src/keys/authorized-keys.js';
import { TEST_TOKEN, tokenHeaderValue } from '../pve/simulator.js';
import { runCommand } from '../helpers/run-command.js';
import { BRIDGE_ADDRESS, lxcSkipReason } from '../helpers/lxc-container.js';
import { LxcStage } from '../helpers/lxc-stage.js';

const skip = lxcSkipReason();
const ACCOUNT = 'fmtapply';
const LIB_DIR = '/usr/local/lib/fleetmon-test-apply';

describe('fleetmon apply -f fleet.yml: Proxmox API → container → provision → keys → polled', { skip: skip ?? false, timeout: 25 * 60_000 }, () => {
  const stage = new LxcStage({ tag: 'fleetmon-test-apply', container: 'fmtapply-ct1', index: 4, account: ACCOUNT, libDir: LIB_DIR });
  let fleetFile: string;

  const writeFleet = (memory: number) =>
    writeFileSync(
      fleetFile,
      `proxmox: {url: ${stage.sim.url}, ca_file: ${stage.sim.caFile}}
container: {hostname: fleetmon, memory: ${memory}, ssh_public_key: ${stage.adminPublicKey}}
monitor: {port: 8080, alerts: {gpu_temp_warning: 85}}
keys: {account: ${ACCOUNT}, lib_dir: ${LIB_DIR}}
hosts:
  - {name: bridge-host, address: ${BRIDGE_ADDRESS}, gpu: false}
`,
    );

  before(async () => {
    await stage.start();
    if (stage.unavailable) return;
    fleetFile = join(stage.dir, 'fleet.yml');
    writeFleet(1024);
  });

  after(() => stage.stop());

  const run = (command: 'plan' | 'apply' | 'destroy', extra: string[] = []) =>
    runCommand(`src/commands/${command}.ts`, ['-f', fleetFile, '--identity', stage.adminKey, '--json', ...extra], {
      env: { SSH_AUTH_SOCK: '', FLEETMON_PVE_TOKEN: tokenHeaderValue(TEST_TOKEN) },
      timeoutMs: 10 * 60_000,
    });
  const containerMemory = () => Number([...stage.sim.state.guests.values()].find((g) => g.config.hostname === 'fleetmon')?.config.memory);

  test('plan on nothing: every stage would change (exit 2)', async (t) => {
    if (stage.unavailable) return t.skip(stage.unavailable);
    const r = await run('plan');
    assert.equal(r.code, 2, `${r.stdout}\n${r.stderr}`);
    const plan = JSON.parse(r.stdout) as DeployPlan;
    assert.equal(plan.container.action, 'create');
    assert.deepEqual(plan.hosts.map((h) => h.action), ['deploy']);
  });

  test('apply: the container is created and provisioned, the host gets the key, the monitor polls it', async (t) => {
    if (stage.unavailable) return t.skip(stage.unavailable);
    const r = await run('apply', ['--yes', '--poll-timeout', '2m']);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    const result = JSON.parse(r.stdout) as DeployApplyResult;
    assert.equal(result.container?.action, 'created');
    assert.equal(result.container?.address, stage.ct!.address);
    assert.deepEqual(result.deployed.map((d) => d.ok), [true]);
    assert.equal(result.restarted, true);
    assert.equal(result.polled?.length, 2, JSON.stringify(result.polled));
    assert.ok(result.polled?.every((h) => h.status === 'online' || h.status === 'degraded'), JSON.stringify(result.polled));
    const config = stage.ct!.attach(['cat', '/etc/fleetmon/hosts.yml']).stdout;
    assert.match(config, /host_key: SHA256:/);
    assert.match(config, /gate: true/);
    assert.match(config, /gpu_temp_warning: 85/);
    assert.equal(stage.sim.invalidRequests().length, 0, 'every Proxmox request passed the schema');
  });

  test('plan afterwards: nothing would change (exit 0)', async (t) => {
    if (stage.unavailable) return t.skip(stage.unavailable);
    const r = await run('plan');
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.equal((JSON.parse(r.stdout) as DeployPlan).changed, false);
  });

  test('memory changed through the API: plan shows it, apply fixes it, the next plan is empty', async (t) => {
    if (stage.unavailable) return t.skip(stage.unavailable);
    [...stage.sim.state.guests.values()].find((g) => g.config.hostname === 'fleetmon')!.config.memory = 3072;
    const p = await run('plan');
    assert.equal(p.code, 2, p.stderr);
    assert.deepEqual((JSON.parse(p.stdout) as DeployPlan).container.changes.map((d) => [d.key, d.current, d.wanted]), [['memory', '3072', '1024']]);
    const a = await run('apply', ['--yes']);
    assert.equal(a.code, 0, `${a.stdout}\n${a.stderr}`);
    assert.equal(containerMemory(), 1024);
    assert.equal((await run('plan')).code, 0);
  });

  test('destroy: the key is revoked and the container removed', async (t) => {
    if (stage.unavailable) return t.skip(stage.unavailable);
    const r = await run('destroy', ['--yes']);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    const result = JSON.parse(r.stdout) as DeployDestroyResult;
    assert.deepEqual(result.revoked.map((x) => [x.ok, x.removed]), [[true, true]]);
    assert.equal(result.container?.destroyed, true);
    assert.ok(![...stage.sim.state.guests.values()].some((g) => g.config.hostname === 'fleetmon'));
    assert.ok(!readFileSync(`/home/${ACCOUNT}/.ssh/authorized_keys`, 'utf8').includes(BLOCK_BEGIN));
  });
});
