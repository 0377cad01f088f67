/**
 * `fleetmon apply` at its confirmation prompt on a real pseudo-terminal (util-linux script(1)), against the simulator:
 * the plan is shown first, `n` exits 0 with nothing changed — no request but reads reached Proxmox.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { shQuote } from '../../src/core/shell-quote.js';
import { TEST_KEY } from '../pve/helpers.js';
import { startPveSimulator, TEST_TOKEN, tokenHeaderValue, type PveSimulator } from '../pve/simulator.js';
import { testDir, waitFor } from '../helpers/common.js';
import { generateKey, makeTestDir, removeDir } from '../helpers/sshd.js';

let dir: string;
let sim: PveSimulator;

before(async () => {
  dir = makeTestDir('fleetmon-test-apply-prompt');
  generateKey(join(dir, 'id'), 'admin@test');
  writeFileSync(join(dir, 'root.pub'), `${TEST_KEY}\n`);
  sim = await startPveSimulator({ authFailDelayMs: 20, taskDurationMs: 10 });
  writeFileSync(
    join(dir, 'fleet.yml'),
    `proxmox: {url: ${sim.url}, fingerprint: "sha256//${sim.fingerprint.spki}"}\ncontainer: {ssh_public_key: ${join(dir, 'root.pub')}}\nhosts:\n  - {name: gpu1, address: 127.0.3.221}\n`,
  );
});

after(async () => {
  await sim?.close();
  removeDir(dir);
});

test('apply on a terminal shows the plan and asks; n changes nothing', async () => {
  const cmd = [process.execPath, '--import', 'tsx', '--no-warnings', join(testDir, '..', 'bin', 'dev.js'), 'apply', '-f', join(dir, 'fleet.yml'), '--identity', join(dir, 'id')].map(shQuote).join(' ');
  const child = spawn('script', ['-qfec', cmd, '/dev/null'], {
    cwd: join(testDir, '..'),
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, FLEETMON_PVE_TOKEN: tokenHeaderValue(TEST_TOKEN), SSH_AUTH_SOCK: '' },
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  try {
    await waitFor(() => out.includes('[y/N]'), 60_000, 'the confirmation prompt');
    child.stdin.write('n\r');
    const code = await Promise.race([exited, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no exit after the answer:\n${out}`)), 20_000))]);
    const text = stripVTControlCharacters(out).replace(/\r/g, '');
    assert.equal(code, 0, text);
    assert.match(text, /container: \+ create CT 200 'fleetmon' on pve/);
    assert.match(text, /\+ gpu1 \(127\.0\.3\.221:22\): deploy/);
    assert.match(text, /Apply these changes\? \[y\/N\]/);
    assert.match(text, /Nothing changed\./);
    assert.deepEqual(sim.requests.filter((q) => q.method !== 'GET').map((q) => `${q.method} ${q.path}`), []);
  } finally {
    child.kill('SIGKILL');
  }
});
