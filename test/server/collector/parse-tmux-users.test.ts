// The probe's all-users sections (tmuxusers, gpuprocs) and the attach command for another user's server. Pure.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseGpuProcs, parseTmuxUsers, tmuxSocketArgs } from '../../../src/server/collector/parse.js';
import { attachCommand } from '../../../src/server/collector/snapshot.js';

// Captured from probe.sh with the helper on a test-fleet host (see the fixture's README).
const CAPTURE = readFileSync(new URL('../../fixtures/tmux-all-users/probe-users.txt', import.meta.url), 'utf8');

describe('all-users probe sections', () => {
  it('reads every server with its owner, socket and sessions, names whole', () => {
    const { scope, servers } = parseTmuxUsers(CAPTURE);
    assert.deepEqual(scope, { scope: 'all-users', reason: null });
    assert.deepEqual(
      servers.map((s) => [s.uid, s.user, s.rc, s.socket, s.sessions.map((x) => x.name), s.panes.map((p) => p.pid)]),
      [
        [65534, 'nobody', 0, '/tmp/tmux-65534/default', ['work'], [9]],
        [65534, 'nobody', 0, '/tmp/tmux-65534/lab', ['a|b $(x)'], [14]],
        [65534, 'nobody', 0, '/tmp/nsock', ['viaS'], [19]],
      ],
    );
  });

  it('says why a host sees only its own account, and an older probe counts as that', () => {
    assert.deepEqual(parseTmuxUsers('scope own-account the all-users helper failed (exit 1): sudo: a password is required\n').scope, {
      scope: 'own-account',
      reason: 'the all-users helper failed (exit 1): sudo: a password is required',
    });
    assert.equal(parseTmuxUsers(undefined).scope.scope, 'own-account');
    assert.match(parseTmuxUsers(undefined).scope.reason ?? '', /older/);
  });

  it('drops lines of a server whose header is malformed instead of giving them to the previous owner', () => {
    const text = 'scope all-users\nT|1000|alice|0|/tmp/tmux-1000/default\nS|$0|1|0|1|1||a\nT|x|bob|0|/tmp/tmux-1001/default\nS|$0|1|0|1|1||b\n';
    const { servers } = parseTmuxUsers(text);
    assert.deepEqual(servers.map((s) => [s.user, s.sessions.map((x) => x.name)]), [['alice', ['a']]]);
  });

  it('reads GPU processes with their owner uid and bounded command line', () => {
    const long = 'x'.repeat(600);
    assert.deepEqual(parseGpuProcs(`407|1000|python3 train.py --lr 3e-4 \n411||${long}\nbad|1|y\n`), [
      { pid: 407, uid: 1000, cmdline: 'python3 train.py --lr 3e-4' },
      { pid: 411, uid: null, cmdline: 'x'.repeat(512) },
    ]);
  });

  it('attach names the owner and the socket when it is not the default one, quoted for any name', () => {
    assert.deepEqual(tmuxSocketArgs(1000, '/tmp/tmux-1000/default'), []);
    assert.deepEqual(tmuxSocketArgs(1000, '/tmp/tmux-1000/lab'), ['-L', 'lab']);
    assert.deepEqual(tmuxSocketArgs(1000, '/scratch/tmux-1000/default'), ['-S', '/scratch/tmux-1000/default']);
    assert.deepEqual(tmuxSocketArgs(1000, '/tmp/bob sock'), ['-S', '/tmp/bob sock']);
    assert.equal(attachCommand('alice', 'gpu1', 22, 'work', '$0'), `ssh alice@gpu1 -t 'tmux attach -t =work'`);
    assert.equal(
      attachCommand('alice', 'gpu1', 22, "it's", '$1', tmuxSocketArgs(1000, '/tmp/tmux-1000/lab')),
      `ssh alice@gpu1 -t 'tmux -L lab attach -t '\\''=it'\\''\\'\\'''\\''s'\\'''`,
    );
    assert.equal(attachCommand('bob', 'gpu1', 2222, 'w', '$0', ['-S', '/tmp/bob sock']), `ssh -p 2222 bob@gpu1 -t 'tmux -S '\\''/tmp/bob sock'\\'' attach -t =w'`);
  });
});
