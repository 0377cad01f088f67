/**
 * `fleetmon up` end to end: the Proxmox simulator answers the API and reports the address of a real Debian 12 LXC
 * container (booted with systemd on a bridge this test makes); provision installs this checkout into it over SSH;
 * keys deploy sets up a fleet host (a real sshd on the bridge address, this machine) through the gate; and the
 * monitor inside the container polls that host through the gate. A second run changes nothing.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { UpResult } from '../../src/up.js';
import { TEST_TOKEN, tokenHeaderValue } from '../pve/simulator.js';
import { runCommand } from '../helpers/run-command.js';
import { BRIDGE_ADDRESS, lxcSkipReason } from '../helpers/lxc-container.js';
import { LxcStage } from '../helpers/lxc-stage.js';

const skip = lxcSkipReason();
const ACCOUNT = 'fmtup';
const LIB_DIR = '/usr/local/lib/fleetmon-test-up';

describe('fleetmon up: Proxmox API → container → provision → keys → polled', { skip: skip ?? false, timeout: 20 * 60_000 }, () => {
  const stage = new LxcStage({ tag: 'fleetmon-test-up', container: 'fmtup-ct1', index: 3, account: ACCOUNT, libDir: LIB_DIR });
  let args: string[];

  before(async () => {
    await stage.start();
    if (stage.unavailable) return;
    args = [
      '--proxmox', stage.sim.url, '--ca-file', stage.sim.caFile,
      '--ssh-public-key', stage.adminPublicKey, '--identity', stage.adminKey,
      '--account', ACCOUNT, '--lib-dir', LIB_DIR, '--poll-timeout', '2m',
      '--json', BRIDGE_ADDRESS,
    ];
  });

  after(() => stage.stop());

  const run = () =>
    runCommand('src/commands/up.ts', args, {
      env: { SSH_AUTH_SOCK: '', FLEETMON_PVE_TOKEN: tokenHeaderValue(TEST_TOKEN) },
      timeoutMs: 8 * 60_000,
    });

  test('one command: the container is created and provisioned, the host gets the key, the monitor polls it', async (t) => {
    if (stage.unavailable) return t.skip(stage.unavailable);
    const r = await run();
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    const result = JSON.parse(r.stdout) as UpResult;
    assert.equal(result.container.address, stage.ct!.address);
    assert.equal(result.container.action, 'created');
    assert.deepEqual(result.keys.map((k) => k.ok), [true]);
    assert.equal(result.configChanged, true);
    // The container itself (local transport) and the fleet host (SSH through the gate), both polled.
    assert.equal(result.hosts.length, 2, JSON.stringify(result.hosts));
    assert.ok(result.hosts.every((h) => h.status === 'online' || h.status === 'degraded'), JSON.stringify(result.hosts));
    assert.equal(stage.sim.invalidRequests().length, 0, 'every Proxmox request passed the schema');
    // The container's config pins the host and uses the gate.
    const config = stage.ct!.attach(['cat', '/etc/fleetmon/hosts.yml']).stdout;
    assert.match(config, new RegExp(`address: ${BRIDGE_ADDRESS.replace(/\./g, '\\.')}`));
    assert.match(config, /host_key: SHA256:/);
    assert.match(config, /gate: true/);
    assert.match(config, new RegExp(`user: "?${ACCOUNT}"?`));
  });

  test('a second run finds everything in place and changes nothing', async (t) => {
    if (stage.unavailable) return t.skip(stage.unavailable);
    const posts = stage.sim.requests.filter((q) => q.method !== 'GET').length;
    const r = await run();
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    const result = JSON.parse(r.stdout) as UpResult;
    assert.equal(result.container.action, 'existing');
    assert.equal(result.provision.changed, false);
    assert.equal(result.configChanged, false);
    assert.equal(stage.sim.requests.filter((q) => q.method !== 'GET').length, posts, 'no changing Proxmox request');
  });
});
