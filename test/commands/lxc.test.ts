/**
 * The real commands, as a user runs them: `bin/dev.js lxc create|destroy` in a child process against the simulator
 * in this process. Checks stdout (JSON or the human summary) and the exit status.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXIT } from '../../src/core/errors.js';
import { makePki, type TestPki } from '../pve/cert.js';
import { TEST_KEY } from '../pve/helpers.js';
import { startPveSimulator, TEST_TOKEN, tokenHeaderValue, type PveSimulator, type PveSimulatorOptions } from '../pve/simulator.js';

let pki: TestPki;
let home: string;
before(() => {
  pki = makePki();
  // The default key lookup (~/.ssh/id_ed25519.pub) is exercised through HOME.
  home = mkdtempSync(join(tmpdir(), 'fleetmon-lxc-home-'));
  mkdirSync(join(home, '.ssh'));
  writeFileSync(join(home, '.ssh', 'id_ed25519.pub'), `${TEST_KEY}\n`);
});
after(() => {
  pki.cleanup();
  rmSync(home, { recursive: true, force: true });
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function fleetmon(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--no-warnings', 'bin/dev.js', ...args], {
      env: { PATH: process.env.PATH ?? '', HOME: home, FLEETMON_PVE_TOKEN: tokenHeaderValue(TEST_TOKEN), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 40_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

async function withSim(opts: PveSimulatorOptions, fn: (sim: PveSimulator, conn: string[]) => Promise<void>): Promise<void> {
  const sim = await startPveSimulator({ pki, authFailDelayMs: 30, taskDurationMs: 15, addressDelayMs: 50, ...opts });
  try {
    await fn(sim, ['--proxmox', sim.url, '--fingerprint', `sha256//${sim.fingerprint.spki}`]);
  } finally {
    await sim.close();
  }
}

const json = (r: Run) => {
  try {
    return JSON.parse(r.stdout) as Record<string, unknown>;
  } catch {
    assert.fail(`stdout is not JSON (exit ${r.code}):\n${r.stdout}\n--- stderr:\n${r.stderr}`);
  }
};

describe('fleetmon lxc create / destroy', () => {
  test('create --json prints one object; a re-run reports the same container; destroy removes it, twice is fine', async () => {
    await withSim({}, async (sim, conn) => {
      const r = await fleetmon(['lxc', 'create', ...conn, '--ssh-port', String(sim.sshPort), '--json']);
      assert.equal(r.code, 0, r.stderr);
      const out = json(r);
      assert.equal(out.vmid, 200);
      assert.equal(out.action, 'created');
      assert.equal(out.address, '127.0.0.1');
      assert.equal(out.next, 'fleetmon provision --host 127.0.0.1');
      assert.equal(out.templateDownloaded, true);
      assert.equal(sim.state.guests.get(200)?.status, 'running');

      const again = await fleetmon(['lxc', 'create', ...conn, '--ssh-port', String(sim.sshPort), '--json']);
      assert.equal(again.code, 0, again.stderr);
      assert.equal(json(again).action, 'existing');
      assert.equal(sim.state.guests.size, 1);

      // Never without asking: --json (or no terminal) needs --yes, and --node must match.
      const unasked = await fleetmon(['lxc', 'destroy', '200', ...conn, '--json']);
      assert.equal(unasked.code, 2, unasked.stderr);
      assert.match(unasked.stdout + unasked.stderr, /CONFIRMATION_REQUIRED|without confirmation/);
      const elsewhere = await fleetmon(['lxc', 'destroy', '200', ...conn, '--node', 'pve2', '--yes', '--json']);
      assert.notEqual(elsewhere.code, 0);
      assert.match(elsewhere.stdout + elsewhere.stderr, /on node pve, not pve2/);
      assert.equal(sim.state.guests.size, 1, 'still there');

      const d = await fleetmon(['lxc', 'destroy', '200', ...conn, '--node', 'pve', '--yes', '--json']);
      assert.equal(d.code, 0, d.stderr);
      assert.deepEqual({ ...json(d), tasks: undefined }, { vmid: 200, node: 'pve', hostname: 'fleetmon', destroyed: true, alreadyGone: false, stopped: true, tasks: undefined });
      const d2 = await fleetmon(['lxc', 'destroy', '200', ...conn, '--yes', '--json']);
      assert.equal(d2.code, 0);
      assert.equal(json(d2).alreadyGone, true);
      assert.deepEqual(sim.invalidRequests(), []);
    });
  });

  test('without --json: listr2 progress as plain lines (not a TTY) and the next command', async () => {
    await withSim({ templatesPresent: ['debian-12-standard_12.12-1_amd64.tar.zst'] }, async (sim, conn) => {
      const r = await fleetmon(['lxc', 'create', '210', ...conn, '--ssh-port', String(sim.sshPort), '--hostname', 'mon2']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /✔ Proxmox VE 9\.1\.2, node pve: will create CT 210 'mon2'/);
      assert.match(r.stdout, /✔ Create CT 210 'mon2' on pve/);
      assert.match(r.stdout, /✔ SSH answers on 127\.0\.0\.1:/);
      assert.match(r.stdout, /CT 210 'mon2' on pve: created, running/);
      assert.match(r.stdout, /Next: fleetmon provision --host 127\.0\.0\.1\n/);
    });
  });

  test('a wrong token exits 9 with a JSON error', async () => {
    await withSim({}, async (_sim, conn) => {
      const r = await fleetmon(['lxc', 'create', ...conn, '--json'], { FLEETMON_PVE_TOKEN: 'fleetmon@pve!ci=00000000-0000-4000-8000-000000000000' });
      assert.equal(r.code, EXIT.auth, r.stderr);
      const err = json(r).error as { code: string; message: string; suggestions: string[] };
      assert.equal(err.code, 'PVE_AUTH_FAILED');
      assert.match(err.message, /invalid token value!/);
      assert.ok(err.suggestions.length > 0);
    });
  });

  test('a pin mismatch exits 9 before any request is sent', async () => {
    await withSim({}, async (sim) => {
      const wrong = `sha256//${Buffer.alloc(32, 9).toString('base64')}`;
      const r = await fleetmon(['lxc', 'create', '--proxmox', sim.url, '--fingerprint', wrong]);
      assert.equal(r.code, EXIT.auth);
      assert.match(r.stderr, /Error: .*does not match the pinned fingerprint/);
      assert.equal(sim.requests.length, 0);
    });
  });

  test('an address that never comes exits 7 after --address-timeout', async () => {
    await withSim({ addressDelayMs: Infinity, templatesPresent: ['debian-12-standard_12.12-1_amd64.tar.zst'] }, async (_sim, conn) => {
      const r = await fleetmon(['lxc', 'create', ...conn, '--address-timeout', '2s', '--json']);
      assert.equal(r.code, EXIT.timeout, r.stderr);
      const err = json(r).error as { code: string; suggestions: string[] };
      assert.equal(err.code, 'LXC_NO_ADDRESS');
      assert.ok(err.suggestions.some((s) => s.includes('DHCP')));
    });
  });

  test('usage errors exit 2 with a short JSON error that does not echo flag values (the token)', async () => {
    const missing = await fleetmon(['lxc', 'create', '--json'], { FLEETMON_PVE_TOKEN: '' });
    assert.equal(missing.code, EXIT.usage);
    assert.match((json(missing).error as { message: string }).message, /Missing required flag proxmox/);
    const noGateway = await fleetmon(['lxc', 'create', '--proxmox', 'pve1', '--ip', '10.0.0.5/24', '--json']);
    assert.equal(noGateway.code, EXIT.usage);
    const err = json(noGateway).error as { code: string; message: string };
    assert.equal(err.code, 'USAGE');
    assert.match(err.message, /--gateway/);
    assert.ok(!noGateway.stdout.includes(TEST_TOKEN.secret), 'the token secret is not printed');
  });
});
