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
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../src/paths.js';
import type { DeployApplyResult } from '../../src/deploy/apply.js';
import type { DeployDestroyResult } from '../../src/deploy/destroy.js';
import type { DeployPlan } from '../../src/deploy/plan.js';
import { BLOCK_BEGIN } from '../../src/keys/authorized-keys.js';
import { startPveSimulator, TEST_TOKEN, tokenHeaderValue, type PveSimulator } from '../pve/simulator.js';
import { runCommand } from '../helpers/run-command.js';
import { generateKey, makeTestDir, removeDir, startSshd, type TestSshd } from '../helpers/sshd.js';
import { BRIDGE_ADDRESS, LxcUnavailable, lxcSkipReason, removeBridge, startContainer, type TestContainer } from '../helpers/lxc-container.js';

const skip = lxcSkipReason();
const ACCOUNT = 'fmtapply';
const LIB_DIR = '/usr/local/lib/fleetmon-test-apply';

function cleanupAccount(): void {
  spawnSync('pkill', ['-KILL', '-u', ACCOUNT]);
  spawnSync('userdel', [ACCOUNT]);
  removeDir(`/home/${ACCOUNT}`);
  removeDir(LIB_DIR);
}

describe('fleetmon apply -f fleet.yml: Proxmox API → container → provision → keys → polled', { skip: skip ?? false, timeout: 25 * 60_000 }, () => {
  let dir: string;
  let ct: TestContainer | undefined;
  let sim: PveSimulator;
  let fleetHost: TestSshd;
  let unavailable: string | undefined;
  let fleetFile: string;

  const writeFleet = (memory: number) =>
    writeFileSync(
      fleetFile,
      `proxmox: {url: ${sim.url}, ca_file: ${sim.caFile}}
container: {hostname: fleetmon, memory: ${memory}, ssh_public_key: ${join(dir, 'admin_key.pub')}}
monitor: {port: 8080, alerts: {gpu_temp_warning: 85}}
keys: {account: ${ACCOUNT}, lib_dir: ${LIB_DIR}}
hosts:
  - {name: bridge-host, address: ${BRIDGE_ADDRESS}, gpu: false}
`,
    );

  before(async () => {
    cleanupAccount();
    dir = makeTestDir('fleetmon-test-apply');
    const admin = generateKey(join(dir, 'admin_key'), 'admin@apply-test');
    writeFileSync(join(dir, 'admin_key.pub'), `${admin.publicKey}\n`);
    try {
      ct = await startContainer('fmtapply-ct1', 4, admin.publicKey);
    } catch (err) {
      if (!(err instanceof LxcUnavailable)) throw err;
      unavailable = err.message;
      return;
    }
    fleetHost = await startSshd({ address: BRIDGE_ADDRESS, dir, rootAuthorizedKeys: admin.publicKey, allowUsers: ['root', ACCOUNT] });
    sim = await startPveSimulator({ authFailDelayMs: 20, taskDurationMs: 20, addressDelayMs: 100, dhcpAddress: ct.address });
    const build = spawnSync('npm', ['run', 'build'], { cwd: packageRoot, encoding: 'utf8' });
    assert.equal(build.status, 0, `npm run build failed:\n${build.stdout}${build.stderr}`);
    fleetFile = join(dir, 'fleet.yml');
    writeFleet(1024);
  });

  after(async () => {
    await sim?.close();
    await fleetHost?.stop();
    ct?.destroy();
    removeBridge();
    cleanupAccount();
    removeDir(dir);
  });

  const run = (command: 'plan' | 'apply' | 'destroy', extra: string[] = []) =>
    runCommand(`src/commands/${command}.ts`, ['-f', fleetFile, '--identity', join(dir, 'admin_key'), '--json', ...extra], {
      env: { SSH_AUTH_SOCK: '', FLEETMON_PVE_TOKEN: tokenHeaderValue(TEST_TOKEN) },
      timeoutMs: 10 * 60_000,
    });
  const containerMemory = () => Number([...sim.state.guests.values()].find((g) => g.config.hostname === 'fleetmon')?.config.memory);

  test('plan on nothing: every stage would change (exit 2)', async (t) => {
    if (unavailable) return t.skip(unavailable);
    const r = await run('plan');
    assert.equal(r.code, 2, `${r.stdout}\n${r.stderr}`);
    const plan = JSON.parse(r.stdout) as DeployPlan;
    assert.equal(plan.container.action, 'create');
    assert.deepEqual(plan.hosts.map((h) => h.action), ['deploy']);
  });

  test('apply: the container is created and provisioned, the host gets the key, the monitor polls it', async (t) => {
    if (unavailable) return t.skip(unavailable);
    const r = await run('apply', ['--yes', '--poll-timeout', '2m']);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    const result = JSON.parse(r.stdout) as DeployApplyResult;
    assert.equal(result.container?.action, 'created');
    assert.equal(result.container?.address, ct!.address);
    assert.deepEqual(result.deployed.map((d) => d.ok), [true]);
    assert.equal(result.restarted, true);
    assert.equal(result.polled?.length, 2, JSON.stringify(result.polled));
    assert.ok(result.polled?.every((h) => h.status === 'online' || h.status === 'degraded'), JSON.stringify(result.polled));
    const config = ct!.attach(['cat', '/etc/fleetmon/hosts.yml']).stdout;
    assert.match(config, /host_key: SHA256:/);
    assert.match(config, /gate: true/);
    assert.match(config, /gpu_temp_warning: 85/);
    assert.equal(sim.invalidRequests().length, 0, 'every Proxmox request passed the schema');
  });

  test('plan afterwards: nothing would change (exit 0)', async (t) => {
    if (unavailable) return t.skip(unavailable);
    const r = await run('plan');
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.equal((JSON.parse(r.stdout) as DeployPlan).changed, false);
  });

  test('memory changed through the API: plan shows it, apply fixes it, the next plan is empty', async (t) => {
    if (unavailable) return t.skip(unavailable);
    [...sim.state.guests.values()].find((g) => g.config.hostname === 'fleetmon')!.config.memory = 3072;
    const p = await run('plan');
    assert.equal(p.code, 2, p.stderr);
    assert.deepEqual((JSON.parse(p.stdout) as DeployPlan).container.changes.map((d) => [d.key, d.current, d.wanted]), [['memory', '3072', '1024']]);
    const a = await run('apply', ['--yes']);
    assert.equal(a.code, 0, `${a.stdout}\n${a.stderr}`);
    assert.equal(containerMemory(), 1024);
    assert.equal((await run('plan')).code, 0);
  });

  test('destroy: the key is revoked and the container removed', async (t) => {
    if (unavailable) return t.skip(unavailable);
    const r = await run('destroy', ['--yes']);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    const result = JSON.parse(r.stdout) as DeployDestroyResult;
    assert.deepEqual(result.revoked.map((x) => [x.ok, x.removed]), [[true, true]]);
    assert.equal(result.container?.destroyed, true);
    assert.ok(![...sim.state.guests.values()].some((g) => g.config.hostname === 'fleetmon'));
    assert.ok(!readFileSync(`/home/${ACCOUNT}/.ssh/authorized_keys`, 'utf8').includes(BLOCK_BEGIN));
  });
});
