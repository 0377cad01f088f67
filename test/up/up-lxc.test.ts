/**
 * `fleetmon up` end to end: the Proxmox simulator answers the API and reports the address of a real Debian 12 LXC
 * container (booted with systemd on a bridge this test makes); provision installs this checkout into it over SSH;
 * keys deploy sets up a fleet host (a real sshd on the bridge address, this machine) through the gate; and the
 * monitor inside the container polls that host through the gate. A second run changes nothing.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../src/paths.js';
import type { UpResult } from '../../src/up.js';
import { startPveSimulator, TEST_TOKEN, tokenHeaderValue, type PveSimulator } from '../pve/simulator.js';
import { runCommand } from '../helpers/run-command.js';
import { generateKey, makeTestDir, removeDir, startSshd, type TestSshd } from '../helpers/sshd.js';
import { BRIDGE_ADDRESS, LxcUnavailable, lxcSkipReason, removeBridge, startContainer, type TestContainer } from '../helpers/lxc-container.js';

const skip = lxcSkipReason();
const ACCOUNT = 'fmtup';
const LIB_DIR = '/usr/local/lib/fleetmon-test-up';

function cleanupAccount(): void {
  spawnSync('pkill', ['-KILL', '-u', ACCOUNT]);
  spawnSync('userdel', [ACCOUNT]);
  removeDir(`/home/${ACCOUNT}`);
  removeDir(LIB_DIR);
}

describe('fleetmon up: Proxmox API → container → provision → keys → polled', { skip: skip ?? false, timeout: 20 * 60_000 }, () => {
  let dir: string;
  let ct: TestContainer | undefined;
  let sim: PveSimulator;
  let fleetHost: TestSshd;
  let unavailable: string | undefined;
  let args: string[];

  before(async () => {
    cleanupAccount();
    dir = makeTestDir('fleetmon-test-up');
    const admin = generateKey(join(dir, 'admin_key'), 'admin@up-test');
    writeFileSync(join(dir, 'admin_key.pub'), `${admin.publicKey}\n`);
    try {
      ct = await startContainer('fmtup-ct1', 3, admin.publicKey);
    } catch (err) {
      if (!(err instanceof LxcUnavailable)) throw err;
      unavailable = err.message;
      return;
    }
    // The fleet host: this machine, reached from the container over the bridge.
    fleetHost = await startSshd({ address: BRIDGE_ADDRESS, dir, rootAuthorizedKeys: admin.publicKey, allowUsers: ['root', ACCOUNT] });
    sim = await startPveSimulator({ authFailDelayMs: 20, taskDurationMs: 20, addressDelayMs: 100, dhcpAddress: ct.address });
    const build = spawnSync('npm', ['run', 'build'], { cwd: packageRoot, encoding: 'utf8' });
    assert.equal(build.status, 0, `npm run build failed:\n${build.stdout}${build.stderr}`);
    args = [
      '--proxmox', sim.url, '--ca-file', sim.caFile,
      '--ssh-public-key', join(dir, 'admin_key.pub'), '--identity', join(dir, 'admin_key'),
      '--account', ACCOUNT, '--lib-dir', LIB_DIR, '--poll-timeout', '2m',
      '--json', BRIDGE_ADDRESS,
    ];
  });

  after(async () => {
    await sim?.close();
    await fleetHost?.stop();
    ct?.destroy();
    removeBridge();
    cleanupAccount();
    removeDir(dir);
  });

  const run = () =>
    runCommand('src/commands/up.ts', args, {
      env: { SSH_AUTH_SOCK: '', FLEETMON_PVE_TOKEN: tokenHeaderValue(TEST_TOKEN) },
      timeoutMs: 8 * 60_000,
    });

  test('one command: the container is created and provisioned, the host gets the key, the monitor polls it', async (t) => {
    if (unavailable) return t.skip(unavailable);
    const r = await run();
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    const result = JSON.parse(r.stdout) as UpResult;
    assert.equal(result.container.address, ct!.address);
    assert.equal(result.container.action, 'created');
    assert.deepEqual(result.keys.map((k) => k.ok), [true]);
    assert.equal(result.configChanged, true);
    // The container itself (local transport) and the fleet host (SSH through the gate), both polled.
    assert.equal(result.hosts.length, 2, JSON.stringify(result.hosts));
    assert.ok(result.hosts.every((h) => h.status === 'online' || h.status === 'degraded'), JSON.stringify(result.hosts));
    assert.equal(sim.invalidRequests().length, 0, 'every Proxmox request passed the schema');
    // The container's config pins the host and uses the gate.
    const config = ct!.attach(['cat', '/etc/fleetmon/hosts.yml']).stdout;
    assert.match(config, new RegExp(`address: ${BRIDGE_ADDRESS.replace(/\./g, '\\.')}`));
    assert.match(config, /host_key: SHA256:/);
    assert.match(config, /gate: true/);
    assert.match(config, new RegExp(`user: "?${ACCOUNT}"?`));
  });

  test('a second run finds everything in place and changes nothing', async (t) => {
    if (unavailable) return t.skip(unavailable);
    const posts = sim.requests.filter((q) => q.method !== 'GET').length;
    const r = await run();
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    const result = JSON.parse(r.stdout) as UpResult;
    assert.equal(result.container.action, 'existing');
    assert.equal(result.provision.changed, false);
    assert.equal(result.configChanged, false);
    assert.equal(sim.requests.filter((q) => q.method !== 'GET').length, posts, 'no changing Proxmox request');
  });
});
