// `serve` without a configuration, as root: the local transport's probe runs the shipped helper and lists other
// users' tmux servers; with a configuration (allUsers off) it stays with its own account. Needs root and tmux.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { probeScriptPath } from '../../../src/paths.js';
import { parseTmuxUsers, splitProbeResponse } from '../../../src/server/collector/parse.js';
import { LocalTransport } from '../../../src/server/collector/transport.js';

const probe = readFileSync(probeScriptPath, 'utf8');
const USER = `fmlocal${process.pid % 100000}`;
const skip = process.getuid?.() !== 0 ? 'needs root' : false;

async function pollUsers(allUsers: boolean) {
  const transport = new LocalTransport(probe, { allUsers });
  try {
    const channel = await transport.channel();
    const { nonce, text } = await channel.poll('off', 15_000, { disks: false });
    return parseTmuxUsers(splitProbeResponse(text, nonce).sections.get('tmuxusers'));
  } finally {
    transport.close();
  }
}

before(() => {
  if (skip) return;
  spawnSync('useradd', ['-M', '-s', '/bin/sh', USER]);
  const r = spawnSync('runuser', ['-u', USER, '--', 'env', '-i', 'PATH=/usr/bin:/bin', 'HOME=/', 'tmux', 'new-session', '-d', '-s', 'local job', 'sleep', '600'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
});
after(() => {
  if (skip) return;
  spawnSync('runuser', ['-u', USER, '--', 'env', '-i', 'PATH=/usr/bin:/bin', 'HOME=/', 'tmux', 'kill-server']);
  spawnSync('userdel', ['-f', '-r', USER]);
});

test("as root with allUsers the local probe lists another user's session with its owner", { skip }, async () => {
  const { scope, servers } = await pollUsers(true);
  assert.equal(scope.scope, 'all-users', scope.reason ?? '');
  const mine = servers.filter((s) => s.user === USER);
  assert.deepEqual(mine.map((s) => s.sessions.map((x) => x.name)), [['local job']]);
  assert.match(mine[0]!.socket, /^\/tmp\/tmux-\d+\/default$/);
});

test('without it (a configured local host) the probe says it sees its own account only', { skip }, async () => {
  const { scope, servers } = await pollUsers(false);
  assert.equal(scope.scope, 'own-account');
  assert.match(scope.reason ?? '', /no all-users helper/);
  assert.deepEqual(servers, []);
});
