/**
 * `fleetmon serve` without a configuration (the embedded default: this machine) as a user starts it: run as root it
 * sees every user's tmux sessions (sessions_scope all-users, the shipped helper), run as another account only that
 * account's own (own-account, with the reason). Real processes: bin/run.js serve, a real user's tmux server, HTTP.
 * Needs root (it creates the account and starts the server under its uid) and tmux.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Host } from '../../src/core/model.js';
import { freePort, tempDir, testDir } from '../helpers/common.js';

const bin = join(testDir, '..', 'bin', 'run.js');
const USER = `fmserve${process.pid % 100000}`;
const SESSION = 'serve scope job';
const skip = process.getuid?.() !== 0 ? 'needs root' : spawnSync('tmux', ['-V']).status !== 0 ? 'needs tmux' : false;
const data = tempDir();
let uid = -1;
let gid = -1;

const asUser = (args: string[]) =>
  spawnSync('runuser', ['-u', USER, '--', 'env', '-i', 'PATH=/usr/bin:/bin', 'HOME=/', 'tmux', ...args], { encoding: 'utf8' });

before(() => {
  if (skip) return;
  spawnSync('useradd', ['-M', '-s', '/bin/sh', USER]);
  const id = spawnSync('id', ['-u', USER], { encoding: 'utf8' });
  uid = Number(id.stdout.trim());
  gid = Number(spawnSync('id', ['-g', USER], { encoding: 'utf8' }).stdout.trim());
  const r = asUser(['new-session', '-d', '-s', SESSION, 'sleep', '600']);
  assert.equal(r.status, 0, r.stderr);
});

after(() => {
  if (skip) return;
  asUser(['kill-server']);
  spawnSync('userdel', ['-f', USER]);
  data.remove();
});

/** Starts `serve` (no --config) as the given account; resolves with its URL and API token once it listens. */
async function serve(dataDir: string, as?: { uid: number; gid: number }): Promise<{ child: ChildProcess; url: string; token: string }> {
  const port = await freePort();
  // As a login of that account would have it (the local host's session owner is the login name).
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: dataDir, FLEETMON_LOG_FORMAT: 'json', ...(as ? { USER, LOGNAME: USER } : {}) };
  delete env.FLEETMON_CONFIG;
  const child = spawn(process.execPath, [bin, 'serve', '--port', String(port), '--data-dir', dataDir], { env, ...(as ?? {}) });
  let stderr = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${stderr}`)), 60_000);
    child.stdout?.resume();
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
      const url = /dashboard and API on (\S+)/.exec(stderr)?.[1];
      const token = /Token: (\S+)/.exec(stderr)?.[1];
      if (url && token) {
        clearTimeout(timer);
        resolve({ child, url, token });
      }
    });
    child.on('exit', (code) => reject(new Error(`serve exited ${code}: ${stderr}`)));
  });
}

/** This machine as the server shows it after its first poll. */
async function polledHost(url: string, token: string): Promise<Host> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const hosts = (await (await fetch(`${url}/api/hosts`, { headers: { authorization: `Bearer ${token}` } })).json()) as Host[];
    if (hosts[0] && !hosts[0].pending) return hosts[0];
    if (Date.now() > deadline) throw new Error(`not polled: ${JSON.stringify(hosts[0]?.last_error)}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

test("serve without a configuration, as root: every user's sessions, each with its owner", { skip, timeout: 90_000 }, async () => {
  const dir = join(data.path, 'root');
  mkdirSync(dir);
  const { child, url, token } = await serve(dir);
  try {
    const host = await polledHost(url, token);
    assert.deepEqual(host.sessions_scope, { scope: 'all-users', reason: null });
    const job = host.sessions.find((s) => s.name === SESSION);
    assert.ok(job, JSON.stringify(host.sessions.map((s) => s.fleetmon_id)));
    assert.equal(job.user, USER);
    assert.equal(job.owner_uid, uid);
  } finally {
    child.kill('SIGTERM');
  }
});

test('serve without a configuration, as another account: its own sessions only, and it says so', { skip, timeout: 90_000 }, async () => {
  const dir = join(data.path, 'user');
  chmodSync(data.path, 0o755); // tempDir is the creator's only; the account must reach its data dir
  mkdirSync(dir);
  chownSync(dir, uid, gid);
  const { child, url, token } = await serve(dir, { uid, gid });
  try {
    const host = await polledHost(url, token);
    assert.equal(host.sessions_scope.scope, 'own-account');
    assert.match(host.sessions_scope.reason ?? '', /no all-users helper/);
    // Its own tmux server is still listed, under its own name.
    assert.deepEqual(host.sessions.map((s) => [s.name, s.user]), [[SESSION, USER]]);
  } finally {
    child.kill('SIGTERM');
  }
});
