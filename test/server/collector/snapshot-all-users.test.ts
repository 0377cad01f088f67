// Sessions of every user (the probe's tmuxusers section): owner, socket, attach command, GPU memory; and the
// own-account fallback. Pure: the tmuxusers body is the capture in test/fixtures/tmux-all-users/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { splitProbeResponse } from '../../../src/server/collector/parse.js';
import { buildSnapshot, type SnapshotInput } from '../../../src/server/collector/snapshot.js';
import { killArgv } from '../../../src/server/kill.js';
import { asGrepOutput, fixture } from '../../helpers/common.js';

const USERS = readFileSync(new URL('../../fixtures/tmux-all-users/probe-users.txt', import.meta.url), 'utf8').trim();
const UUID = 'GPU-562781d5-2471-9cfe-d7bb-3775efa63be6';

/**
 * A probe answer: the capture's host /proc files, the panes' processes (9, 14, 19) and a GPU process under 14;
 * `gpuExtra`: more gpuapps lines and the gpuprocs / gpuusers sections after them.
 */
function response(tmux: string[], gpuExtra: { apps?: string[]; after?: string[] } = {}): string {
  const m = '@@fm-n1';
  const stat = (pid: number, ppid: number, comm: string) =>
    `/proc/${pid}/stat:${pid} (${comm}) S ${ppid} ${pid} ${pid} 0 -1 0 0 0 0 0 10 0 0 0 20 0 1 0 100 0 2560 0`;
  return [
    `${m} begin v1 4096 100`,
    ...tmux,
    `${m} proc`,
    asGrepOutput('/proc/stat', fixture('proc-stat-2.txt')),
    asGrepOutput('/proc/meminfo', fixture('proc-meminfo.txt')),
    asGrepOutput('/proc/uptime', fixture('proc-uptime.txt')),
    stat(9, 1, 'sleep'),
    stat(14, 1, 'sleep'),
    stat(15, 14, 'python3'),
    stat(19, 1, 'sleep'),
    `${m} rc proc 0`,
    `${m} gpu`,
    fixture('query-gpu.csv').trim().replace(/^0, /, `0, ${UUID}, `),
    `${m} rc gpu 0`,
    `${m} gpuapps`,
    `${UUID}, 15, python3, 2048`,
    ...(gpuExtra.apps ?? []),
    `${m} rc gpuapps 0`,
    ...(gpuExtra.after ?? []),
    `${m} end`,
  ].join('\n');
}

function input(text: string): SnapshotInput {
  return {
    hostName: 'gpu1',
    address: '10.0.0.5',
    sshUser: 'fleetmon',
    sshPort: 22,
    hasGpu: true,
    legacyThresholdHours: 72,
    response: splitProbeResponse(text, 'n1'),
    previous: null,
    nowMs: 1796176600_000,
  };
}

test("all-users: every server's sessions with their owner, socket and attach command; GPU memory by session", () => {
  const snap = buildSnapshot(input(response(['@@fm-n1 tmuxusers', USERS, '@@fm-n1 rc tmuxusers 0'])));
  assert.deepEqual(
    snap.sessions.map((s) => [s.fleetmon_id, s.user, s.owner_uid, s.socket, s.attach_command]),
    [
      ['gpu1:nobody:work', 'nobody', 65534, '/tmp/tmux-65534/default', `ssh nobody@10.0.0.5 -t 'tmux attach -t =work'`],
      ['gpu1:nobody:a|b $(x)', 'nobody', 65534, '/tmp/tmux-65534/lab', `ssh nobody@10.0.0.5 -t 'tmux -L lab attach -t '\\''=a|b $(x)'\\'''`],
      ['gpu1:nobody:viaS', 'nobody', 65534, '/tmp/nsock', `ssh nobody@10.0.0.5 -t 'tmux -S /tmp/nsock attach -t =viaS'`],
    ],
  );
  const lab = snap.sessions[1]!;
  assert.deepEqual(lab.processes.map((p) => p.pid), [14, 15]);
  assert.equal(lab.gpu_memory_mb, 2048);
  assert.equal(snap.gpu.gpus[0]?.processes[0]?.session_id, 'gpu1:nobody:a|b $(x)');
  // Kill goes through the gate's kill-user verb, naming the owner's uid.
  assert.deepEqual(killArgv(lab, true).slice(0, 3), ['fleetmon-kill-user', 'v1', '65534']);
  assert.deepEqual(killArgv(snap.sessions[0]!, false).slice(0, 2), ['sh', '-c']);
});

test("own-account scope: the service account's sessions as before, no owner fields", () => {
  const own = [
    '@@fm-n1 tmuxusers',
    'scope own-account no all-users helper installed (fleetmon keys deploy --all-users)',
    '@@fm-n1 rc tmuxusers 0',
    '@@fm-n1 tmux',
    'S|$0|1796176546|0|1|1796176546||work',
    'P|$0|0|0|9|sleep',
    '@@fm-n1 rc tmux 0',
  ];
  const snap = buildSnapshot(input(response(own)));
  assert.deepEqual(snap.sessions.map((s) => [s.fleetmon_id, s.user, s.owner_uid, s.socket, s.attach_command]), [
    ['gpu1:fleetmon:work', 'fleetmon', undefined, undefined, `ssh fleetmon@10.0.0.5 -t 'tmux attach -t =work'`],
  ]);
  assert.deepEqual(killArgv(snap.sessions[0]!, true).slice(0, 2), ['fleetmon-kill', 'v1']);
});

test('sessions_scope: all-users when the helper answered, own-account with the reason otherwise, and for an older probe', () => {
  assert.deepEqual(buildSnapshot(input(response(['@@fm-n1 tmuxusers', USERS, '@@fm-n1 rc tmuxusers 0']))).sessionsScope, { scope: 'all-users', reason: null });
  const refused = ['@@fm-n1 tmuxusers', 'scope own-account the all-users helper failed (exit 1): sudo: a password is required', '@@fm-n1 rc tmuxusers 0'];
  assert.deepEqual(buildSnapshot(input(response(refused))).sessionsScope, {
    scope: 'own-account',
    reason: 'the all-users helper failed (exit 1): sudo: a password is required',
  });
  const older = buildSnapshot(input(response(['@@fm-n1 tmux', 'S|$0|1796176546|0|1|1796176546||work', 'P|$0|0|0|9|sleep', '@@fm-n1 rc tmux 0'])));
  assert.equal(older.sessionsScope.scope, 'own-account');
  assert.match(older.sessionsScope.reason ?? '', /older than the all-users protocol/);
  assert.deepEqual(older.sessions.map((s) => s.fleetmon_id), ['gpu1:fleetmon:work'], 'the own sessions are still listed');
});

test('GPU processes: owner (uid, name), bounded command line and session, or none; per GPU the memory outside sessions', () => {
  const text = response(['@@fm-n1 tmuxusers', USERS, '@@fm-n1 rc tmuxusers 0'], {
    apps: [`${UUID}, 77, python3, 1000`, `${UUID}, 78, [Not Found], 500`, `${UUID}, 79, cuda-app, [N/A]`],
    after: [
      '@@fm-n1 gpuprocs',
      `15|65534|python3 train.py --lr 3e-4 ${'x'.repeat(600)}`,
      '77|1001|python3 outside.py',
      '79|1002|cuda-app',
      '@@fm-n1 rc gpuprocs 0',
      '@@fm-n1 gpuusers',
      'carol:1001',
      '@@fm-n1 rc gpuusers 0',
    ],
  });
  const gpu = buildSnapshot(input(text)).gpu.gpus[0]!;
  const procs = gpu.processes.map((p) => [p.pid, p.uid, p.user, p.session_id, p.cmdline?.slice(0, 30) ?? null, p.cmdline?.length ?? null]);
  assert.deepEqual(procs, [
    // nobody's name from the helper's server list, carol's from getent (gpuusers); 1002 is resolved by neither.
    [15, 65534, 'nobody', 'gpu1:nobody:a|b $(x)', 'python3 train.py --lr 3e-4 xxx', 512],
    [77, 1001, 'carol', null, 'python3 outside.py', 18],
    // Gone before the probe read /proc/PID/status: no owner, no command line.
    [78, null, null, null, null, null],
    [79, 1002, null, null, 'cuda-app', 8],
  ]);
  // 1000 + 500 outside tmux; the [N/A] one counts 0, the one in a session not at all.
  assert.equal(gpu.memory_outside_sessions_mb, 1500);
});
