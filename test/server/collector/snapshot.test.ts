import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { splitProbeResponse } from '../../../src/server/collector/parse.js';
import { attachCommand, buildSnapshot, tmuxTarget, type SnapshotInput } from '../../../src/server/collector/snapshot.js';
import { asGrepOutput, fixture } from '../../helpers/common.js';

/**
 * A probe answer assembled from the real H100 capture: /proc files verbatim; each `ps` row of ps.txt becomes a
 * /proc/PID/stat line (ticks from etimes × pcpu, RSS in 4 KiB pages); tmux and nvidia-smi rows are the capture's,
 * in the probe's field order.
 */
function captureResponse(opts: { tickScale?: number } = {}): string {
  const m = '@@fm-n1';
  const procs = fixture('ps.txt')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => {
      const [pid, ppid, pcpu, rss, etimes, ...comm] = l.trim().split(/\s+/);
      const ticks = Math.round(Number(pcpu) * Number(etimes) * (opts.tickScale ?? 1));
      const fields = ['S', ppid, pid, pid, '0', '-1', '0', '0', '0', '0', '0', String(ticks), '0', '0', '0', '20', '0', '1', '0', '100', '0', String(Number(rss) / 4), '0'];
      return `/proc/${pid}/stat:${pid} (${comm.join(' ')}) ${fields.join(' ')}`;
    })
    .join('\n');
  const sessions = fixture('tmux-list-sessions.txt')
    .split('\n')
    .filter(Boolean)
    .map((l, i) => {
      const [name, created, attached, windows, activity] = l.split('|');
      return `S|$${i}|${created}|${attached}|${windows}|${activity}||${name}`;
    });
  const ids = new Map(fixture('tmux-list-sessions.txt').split('\n').filter(Boolean).map((l, i) => [l.split('|')[0]!, `$${i}`]));
  const panes = fixture('tmux-list-panes-all.txt')
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [name, w, p, pid, cmd] = l.split('|');
      return `P|${ids.get(name!)}|${w}|${p}|${pid}|${cmd}`;
    });
  const uuid = 'GPU-562781d5-2471-9cfe-d7bb-3775efa63be6';
  const gpu = fixture('query-gpu.csv').trim().replace(/^0, /, `0, ${uuid}, `);
  const apps = fixture('query-apps.csv').trim().split('\n').map((l) => `${uuid}, ${l}`).join('\n');
  return [
    `${m} begin v1 4096 100`,
    `${m} proc`,
    asGrepOutput('/proc/stat', fixture('proc-stat-2.txt')),
    asGrepOutput('/proc/meminfo', fixture('proc-meminfo.txt')),
    asGrepOutput('/proc/loadavg', fixture('proc-loadavg.txt')),
    asGrepOutput('/proc/uptime', fixture('proc-uptime.txt')),
    asGrepOutput('/proc/net/dev', fixture('proc-net-dev.txt')),
    procs,
    `${m} rc proc 0`,
    `${m} df`,
    fixture('df.txt').trim(),
    `${m} rc df 0`,
    `${m} tmux`,
    ...sessions,
    ...panes,
    `${m} rc tmux 0`,
    `${m} gpu`,
    gpu,
    `${m} rc gpu 0`,
    `${m} gpuapps`,
    apps,
    `${m} rc gpuapps 0`,
    `${m} end`,
  ].join('\n');
}

function input(text: string, extra: Partial<SnapshotInput> = {}): SnapshotInput {
  return {
    hostName: 'h100',
    address: '10.0.0.5',
    sshUser: 'fleetmon',
    sshPort: 22,
    hasGpu: true,
    legacyThresholdHours: 72,
    response: splitProbeResponse(text, 'n1'),
    previous: null,
    nowMs: 1795340182_000,
    ...extra,
  };
}

test('sessions own exactly the processes under their panes, with GPU memory (not pstree threads)', () => {
  const snap = buildSnapshot(input(captureResponse()));
  assert.deepEqual(snap.problems, []);
  const byName = new Map(snap.sessions.map((s) => [s.name, s]));
  assert.deepEqual([...byName.keys()].sort(), ['eval run #2', 'idle-shell', 'jupyter', 'train-llama']);
  const train = byName.get('train-llama')!;
  assert.deepEqual(train.processes.map((p) => p.pid), [404, 407, 408, 411]);
  assert.equal(train.gpu_memory_mb, 21130 + 3658);
  assert.equal(train.window_count, 2);
  assert.equal(byName.get('eval run #2')!.gpu_memory_mb, 6746);
  assert.deepEqual(byName.get('eval run #2')!.processes.map((p) => p.pid), [415, 418]);
  // pstree's list for train-llama holds thread ids (433…490); none of them is a process here.
  const pstreeIds = fixture('session-pids-pstree.txt').split('\n').filter((l) => /^\d+$/.test(l)).map(Number);
  assert.ok(pstreeIds.some((id) => id >= 433), 'the capture does contain thread ids');
  assert.ok(train.processes.every((p) => p.pid < 433));
  assert.equal(byName.get('jupyter')!.attached, true);
  // RSS: 3836 + 724540 + 3748 + 725060 KiB
  assert.equal(train.memory_mb, Math.round(((3836 + 724540 + 3748 + 725060) / 1024) * 10) / 10);
  assert.equal(train.cpu_percent, null, 'first poll: no CPU delta yet');
});

test('GPU panel: the H100 reading with its processes mapped to sessions', () => {
  const snap = buildSnapshot(input(captureResponse()));
  assert.equal(snap.gpu.available, true);
  const [g] = snap.gpu.gpus;
  assert.equal(g?.name, 'NVIDIA H100 80GB HBM3');
  assert.equal(g?.memory_percent, Math.round((31554 / 81559) * 1000) / 10);
  assert.deepEqual(
    g?.processes.map((p) => [p.pid, p.session_id]),
    [
      [407, 'h100:fleetmon:train-llama'],
      [411, 'h100:fleetmon:train-llama'],
      [418, 'h100:fleetmon:eval run #2'],
    ],
  );
  // A capture from before the all-users protocol: no owners or command lines, said as null, and the scope says why.
  assert.deepEqual(g?.processes.map((p) => [p.uid, p.user, p.cmdline]), [[null, null, null], [null, null, null], [null, null, null]]);
  assert.equal(g?.memory_outside_sessions_mb, 0, 'every process is in a session');
  assert.equal(snap.sessionsScope.scope, 'own-account');
});

test('CPU per session comes from tick deltas between two polls', () => {
  const first = buildSnapshot(input(captureResponse()));
  // Second poll one second later (uptime +1 s) with 1.0× more ticks per etime for every process.
  const text2 = captureResponse({ tickScale: 1 }).replace('/proc/uptime:50.50 684.54', '/proc/uptime:51.50 700.00');
  const withMoreTicks = text2.replace(/^(\/proc\/407\/stat:407 \(python3\) S 404 407 407 0 -1 0 0 0 0 0 )(\d+)/m, (_, pre: string, t: string) => `${pre}${Number(t) + 95}`);
  const second = buildSnapshot(input(withMoreTicks, { previous: first.counters }));
  const train = second.sessions.find((s) => s.name === 'train-llama')!;
  assert.equal(train.processes.find((p) => p.pid === 407)?.cpu_percent, 95);
  assert.equal(train.cpu_percent, 95);
});

test('legacy when detached for the threshold; attached sessions are never legacy', () => {
  const snap = buildSnapshot(input(captureResponse(), { legacyThresholdHours: 0 }));
  const status = Object.fromEntries(snap.sessions.map((s) => [s.name, s.status]));
  assert.deepEqual(status, { 'eval run #2': 'legacy', 'idle-shell': 'legacy', jupyter: 'active', 'train-llama': 'legacy' });
  const fresh = buildSnapshot(input(captureResponse()));
  assert.ok(fresh.sessions.every((s) => s.status === 'active'));
});

test('a failing, missing or hanging nvidia-smi marks the GPU part unavailable without breaking the poll', () => {
  const base = captureResponse();
  const cases: Array<[string, RegExp]> = [
    ['@@fm-n1 gpu\nNVIDIA-SMI has failed because it couldn\'t communicate with the NVIDIA driver.\n@@fm-n1 rc gpu 9', /failed \(exit 9\): NVIDIA-SMI has failed/],
    ['@@fm-n1 gpu\n@@fm-n1 rc gpu 127', /not found/],
    ['@@fm-n1 gpu\n@@fm-n1 rc gpu 124', /timed out/],
  ];
  for (const [replacement, reason] of cases) {
    const text = base.replace(/@@fm-n1 gpu\n[^\n]*\n@@fm-n1 rc gpu 0/, replacement);
    const snap = buildSnapshot(input(text));
    assert.equal(snap.gpu.available, false);
    assert.match(snap.gpu.reason ?? '', reason);
    assert.equal(snap.sessions.length, 4, 'sessions are still reported');
    assert.ok(snap.metrics);
    assert.ok(snap.problems.some((p) => p.startsWith('GPU:')));
  }
});

test('resident nvidia-smi readers: a fresh block is used as is; a stale one is a host problem, never silently old data', () => {
  const base = captureResponse();
  const resident = (gpu: string, apps: string) => `@@fm-n1 gpuresident\ngpu ${gpu}\ngpuapps ${apps}\n@@fm-n1 rc gpuresident 0\n@@fm-n1 end`;
  const fresh = buildSnapshot(input(base.replace('@@fm-n1 end', resident('fresh 120', 'fresh 80'))));
  assert.deepEqual(fresh.problems, []);
  assert.equal(fresh.gpu.available, true);
  assert.equal(fresh.gpu.gpus[0]!.power_draw_watts, buildSnapshot(input(base)).gpu.gpus[0]!.power_draw_watts);

  // The probe sends no rows and rc 124 for a stale reader; the reason names the reader, not a timed-out call.
  const staleGpu = base.replace(/@@fm-n1 gpu\n[^\n]*\n@@fm-n1 rc gpu 0/, '@@fm-n1 gpu\n@@fm-n1 rc gpu 124').replace('@@fm-n1 end', resident('stale 31500 stalled', 'stale 31000 stalled'));
  const g = buildSnapshot(input(staleGpu));
  assert.equal(g.gpu.available, false);
  assert.match(g.gpu.reason ?? '', /^the resident nvidia-smi reader stalled: its last reading is 31\.5 s old, more than one poll interval; the probe restarted it/);
  assert.ok(g.problems.some((p) => p.startsWith('GPU: the resident nvidia-smi reader stalled')), g.problems.join('; '));
  const exited = buildSnapshot(input(staleGpu.replace('stale 31500 stalled', 'stale 2000 exited')));
  assert.match(exited.gpu.reason ?? '', /reader exited: its last reading is 2\.0 s old/);

  // GPUs fresh, their process list stale: the GPUs are shown, the missing process list is a problem.
  const staleApps = base.replace(/@@fm-n1 gpuapps\n[\s\S]*?@@fm-n1 rc gpuapps 0/, '@@fm-n1 gpuapps\n@@fm-n1 rc gpuapps 124').replace('@@fm-n1 end', resident('fresh 100', 'stale 40000 exited'));
  const a = buildSnapshot(input(staleApps));
  assert.equal(a.gpu.available, true);
  assert.deepEqual(a.problems, ['GPU processes: the resident nvidia-smi compute-apps reader exited: its last reading is 40.0 s old, more than one poll interval; the probe restarted it, so this poll has no GPU process list']);
});

test('an answer without df (not asked this poll) keeps the previous disk reading; one with df replaces it', () => {
  const withDf = buildSnapshot(input(captureResponse()));
  const disks = withDf.metrics!.disks;
  assert.ok(disks.some((d) => d.mount === '/'), 'the capture has a root filesystem');
  const noDf = captureResponse().replace(/@@fm-n1 df\n[\s\S]*?@@fm-n1 rc df 0\n/, '');
  assert.ok(!noDf.includes('@@fm-n1 df'));
  const kept = buildSnapshot(input(noDf, { previousDisks: disks }));
  assert.deepEqual(kept.metrics!.disks, disks);
  assert.deepEqual(kept.problems, [], 'a skipped df is not a problem');
  assert.deepEqual(buildSnapshot(input(noDf)).metrics!.disks, [], 'nothing to keep on a first poll');
  const older = [{ ...disks[0]!, used_bytes: 1 }];
  assert.deepEqual(buildSnapshot(input(captureResponse(), { previousDisks: older })).metrics!.disks, disks, 'a fresh df wins');
});

test('a truncated answer is degraded, not an error', () => {
  const text = captureResponse();
  const cut = text.slice(0, text.indexOf('@@fm-n1 tmux'));
  const snap = buildSnapshot(input(cut, { hasGpu: null }));
  assert.ok(snap.problems.includes('probe answer was incomplete'));
  assert.ok(snap.metrics, 'what arrived is still used');
});

/** The argv a POSIX sh gives `cmd` (NUL-separated, so any name survives), each word as one string. */
function shWords(cmd: string, as: string): string[] {
  const out = spawnSync('sh', ['-c', `${as}() { printf '%s\\0' "$@"; }; ${cmd}`], { encoding: 'utf8' });
  assert.equal(out.status, 0, out.stderr);
  return out.stdout.split('\0').slice(0, -1);
}

/** ssh's arguments as the user's shell passes them, then tmux's as the remote shell parses ssh's command. */
function attachArgv(cmd: string): { ssh: string[]; tmux: string[] } {
  const ssh = shWords(cmd, 'ssh');
  return { ssh, tmux: shWords(ssh.at(-1)!, 'tmux') };
}

test('the attach command survives a round trip through sh for hostile names', () => {
  // `a\\\\b` is how tmux stores a name typed as `a\\b` (it escapes backslashes and control characters itself).
  for (const name of ['eval run #2', `a'b"c`, ';reboot', 'ユニコード', 'ünï€', 'a\\\\b', 'nl\\nx', 'x'.repeat(300), ' lead', '-x', 'a$b', '`id`']) {
    const { ssh, tmux } = attachArgv(attachCommand('fleetmon', '10.0.0.5', 2222, name, '$7'));
    assert.deepEqual(ssh.slice(0, -1), ['-p', '2222', 'fleetmon@10.0.0.5', '-t']);
    assert.deepEqual(tmux, ['attach', '-t', `=${name}`]);
  }
});

test('a name starting with $ is attached by its tmux id: tmux reads "=$…" as an id, never as a name', () => {
  for (const name of ['$(touch /tmp/pwned)', '$1', '$']) {
    assert.equal(tmuxTarget(name, '$7'), '$7');
    const { ssh, tmux } = attachArgv(attachCommand('fleetmon', '10.0.0.5', 22, name, '$7'));
    assert.deepEqual(ssh.slice(0, -1), ['fleetmon@10.0.0.5', '-t']);
    assert.deepEqual(tmux, ['attach', '-t', '$7']);
  }
  assert.equal(tmuxTarget('a$b', '$7'), '=a$b');
});
