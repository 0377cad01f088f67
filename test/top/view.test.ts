/** The views of `fleetmon top` as data: the mock fleet (test/helpers/mock-fleet.ts) in, lines and tones out. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { alert, H100, h100Host, offlineHost, session, summaryOf } from '../helpers/mock-fleet.js';
import {
  applyAlertEvent,
  clipLine,
  filterSessions,
  frame,
  frameText,
  gpuSegs,
  hostLines,
  initialState,
  lineText,
  sortSessions,
  tempTone,
  thresholdsFrom,
  visibleAlerts,
  type Line,
  type TopState,
} from '../../src/top/view.js';

const now = Date.parse('2026-12-01T12:00:00Z');

function fleetState(o: Partial<TopState> = {}): TopState {
  const hosts = [h100Host(now), offlineHost(now)];
  const alerts = [alert('a-warn', now), alert('a-crit', now, { severity: 'critical', type: 'host_offline', host: 'gpu-b', message: 'gpu-b is offline' })];
  return { ...initialState(), hosts, alerts, summary: summaryOf(hosts, alerts, now), connection: 'live', lastUpdate: now - 2000, ...o };
}
const toneOf = (line: Line, text: string) => line.find((s) => s.text.includes(text))?.tone;

test('header: hosts online/degraded/offline, sessions active/legacy, open alerts, connection and last update', () => {
  const lines = frame(fleetState(), 80, 24, now);
  assert.match(lineText(lines[0]!), /^fleetmon top {2}● live {2}updated 2s ago +\?:keys {2}q:quit$/);
  assert.equal(lineText(lines[1]!), 'hosts 1 online 0 degraded 1 offline  sessions 3 active 1 legacy  alerts 2 open');
  assert.equal(toneOf(lines[1]!, 'offline'), 'crit');
  const lost = frame(fleetState({ connection: 'lost', connectionDetail: 'cannot reach the fleetmon server' }), 120, 24, now);
  assert.match(lineText(lost[0]!), /✕ server unreachable {2}updated 2s ago/);
  assert.equal(lineText(lost[1]!), 'cannot reach the fleetmon server; retrying');
});

test('every frame is one line shorter than the terminal and no line is wider than it, at 80×24 and 200×50', () => {
  for (const [w, h] of [[80, 24], [200, 50], [40, 10]] as const) {
    for (const st of [fleetState(), fleetState({ detail: 'gpu-h100' }), fleetState({ help: true }), fleetState({ filter: 'llama', filtering: true })]) {
      const lines = frame(st, w, h, now);
      assert.equal(lines.length, h - 1, `${w}×${h}`);
      for (const l of lines) assert.ok([...lineText(l)].length <= w, `${w}: ${lineText(l)}`);
    }
  }
  assert.match(frameText(frame(fleetState(), 30, 8, now)), /^too small: 30×8, needs 40×10$/);
});

test('host rows: status, CPU, memory, load, and per GPU util, VRAM, temperature and power', () => {
  const lines = hostLines(fleetState(), 80, 10, false).map(lineText);
  assert.equal(lines[1], ' gpu-h100    online     26%   21% 1.92 0.46 0.15 0 100% 31/80G 62°C 686W  ');
  const busy = hostLines({ ...fleetState(), hosts: [{ ...h100Host(now), load_avg: [74.95, 129.87, 9.5] }] }, 80, 10, false).map(lineText);
  assert.match(busy[1]!, / 75\.0 130 9\.50 +0 100%/, 'a heavy load still fits its column');
  assert.match(lines[2]!, /^ gpu-b {7}offline +- +- -  +connect ETIMEDOUT 10\.0\.0\.22:22$/);
});

test('GPU temperature and VRAM take their colour from the configured thresholds', () => {
  const t = thresholdsFrom({ gpu_temp_warning: 60, gpu_temp_critical: 70, gpu_memory_warning: 30, enabled: true });
  assert.equal(t.gpu_temp_warning, 60);
  assert.equal(toneOf(gpuSegs(H100, t), '62°C'), 'warn');
  assert.equal(toneOf(gpuSegs(H100, t), '31/80G'), 'warn', '38.7 % of VRAM is over a 30 % warning');
  const defaults = thresholdsFrom(undefined);
  assert.equal(toneOf(gpuSegs(H100, defaults), '62°C'), 'ok');
  assert.equal(toneOf(gpuSegs(H100, defaults), '31/80G'), undefined);
  assert.equal(tempTone(95, defaults), 'crit');
  assert.equal(tempTone(null, defaults), undefined);
});

test('sessions sort by CPU, memory, GPU memory (highest first) and age (oldest first)', () => {
  const hour = (h: number) => Math.floor((now - h * 3600_000) / 1000);
  const s = [
    session('a', 'old-idle', now, { created_epoch: hour(50), cpu_percent: 0, memory_mb: 10, gpu_memory_mb: 0 }),
    session('a', 'cpu-hog', now, { created_epoch: hour(1), cpu_percent: 300, memory_mb: 20, gpu_memory_mb: 100 }),
    session('b', 'big-mem', now, { created_epoch: hour(5), cpu_percent: 5, memory_mb: 9000, gpu_memory_mb: 10 }),
    session('b', 'gpu-job', now, { created_epoch: hour(3), cpu_percent: null, memory_mb: 30, gpu_memory_mb: 40000 }),
  ];
  const names = (k: Parameters<typeof sortSessions>[1]) => sortSessions(s, k).map((x) => x.name);
  assert.deepEqual(names('cpu'), ['cpu-hog', 'big-mem', 'old-idle', 'gpu-job']);
  assert.deepEqual(names('memory'), ['big-mem', 'gpu-job', 'cpu-hog', 'old-idle']);
  assert.deepEqual(names('gpu'), ['gpu-job', 'cpu-hog', 'big-mem', 'old-idle']);
  assert.deepEqual(names('age'), ['old-idle', 'big-mem', 'gpu-job', 'cpu-hog']);
});

test('the filter matches host, user or name, case-insensitively, every word', () => {
  const s = [session('gpu-h100', 'train-llama', now), session('cpu1', 'Eval', now, { user: 'alice' })];
  assert.deepEqual(filterSessions(s, 'LLAMA').map((x) => x.name), ['train-llama']);
  assert.deepEqual(filterSessions(s, 'alice').map((x) => x.name), ['Eval']);
  assert.deepEqual(filterSessions(s, 'cpu1 eval').map((x) => x.name), ['Eval']);
  assert.deepEqual(filterSessions(s, 'gpu eval'), []);
  const text = frameText(frame(fleetState({ filter: 'llama' }), 80, 24, now));
  assert.match(text, /SESSIONS 1\/4 \/llama/);
  assert.match(text, /train-llama/);
  assert.doesNotMatch(text, /jupyter/);
});

test('the session list marks the sort column and the selected row, and shows CPU, RSS and GPU memory', () => {
  const text = frameText(frame(fleetState({ sort: 'memory' }), 80, 24, now));
  assert.match(text, /AGE +CPU +RSS▼ +GPU/);
  assert.match(text, /^>gpu-h100 +root +train-llama +active +3h 198\.4% +5\.1G +24G$/m);
  const moved = frameText(frame(fleetState({ selected: { sessions: 1, alerts: 0, hosts: 0 } }), 80, 24, now));
  assert.match(moved, /^>gpu-h100 +root +eval run #2/m);
});

test('alerts pane: open alerts, unacknowledged and most severe first; alert events keep the list current', () => {
  const st = fleetState();
  assert.deepEqual(visibleAlerts(st.alerts).map((a) => a.id), ['a-crit', 'a-warn']);
  const acked = applyAlertEvent(st.alerts, { event: 'alert_acked', data: { ...st.alerts[1]!, acknowledged: true } });
  assert.deepEqual(visibleAlerts(acked).map((a) => a.id), ['a-warn', 'a-crit']);
  assert.deepEqual(applyAlertEvent(st.alerts, { event: 'alert_cleared', data: { id: 'a-warn' } }).map((a) => a.id), ['a-crit']);
  const text = frameText(frame({ ...st, alerts: acked, pane: 'alerts' }, 80, 24, now));
  assert.match(text, /ALERTS \(2 open, 1 unacknowledged\)/);
  assert.match(text, /^>warning +gpu-h100: GPU 0 on gpu-h100 at 85 °C/m);
  assert.match(text, /^ critical acked gpu-b: gpu-b is offline$/m);
});

test('host detail: its GPUs with their processes and sessions, its sessions, its disks', () => {
  const text = frameText(frame(fleetState({ detail: 'gpu-h100' }), 80, 24, now));
  assert.match(text, /^HOST gpu-h100 online {2}10\.0\.0\.21 {2}CPU 26% of 16/m);
  assert.match(text, /^ {2}0 100% 31\/80G 62°C 686W of 700W {2}NVIDIA H100 80GB HBM3$/m);
  assert.match(text, /^ {2}sessions: every user's$/m);
  assert.match(text, /^ {6}pid 407 python3 root 21G {2}in gpu-h100:train-llama {2}python3 train\.py --mod…$/m, 'the command line, clipped at 80');
  assert.match(frameText(frame(fleetState({ detail: 'gpu-h100' }), 120, 24, now)), /^ {6}pid 407 python3 root 21G {2}in gpu-h100:train-llama {2}python3 train\.py --model llama$/m);
  // A job outside tmux, of a user the host could not name: said so, with the memory it holds outside sessions.
  const h100 = h100Host(now);
  const gpu = { ...h100.gpus[0]!, memory_outside_sessions_mb: 3000, processes: [{ pid: 990, name: 'python3', memory_mb: 3000, session_id: null, uid: 1234, user: null, cmdline: null }] };
  const outside = frameText(frame(fleetState({ detail: 'gpu-h100', hosts: [{ ...h100, gpus: [gpu], sessions_scope: { scope: 'own-account', reason: 'no all-users helper installed' } }] }), 80, 24, now));
  assert.match(outside, /^ {2}sessions: the service account's only \(no all-users helper installed\)$/m);
  assert.match(outside, /^ {6}pid 990 python3 uid 1234 2\.9G {2}outside tmux$/m);
  assert.match(outside, /^ {6}2\.9G held outside tmux sessions$/m);
  assert.match(text, /^ {2}root:eval run #2 {2}active/m);
  assert.match(text, /^ {2}\/ +21% {2}16G of 252G {2}\/dev\/vda$/m);
});

test('the key list, and the prompts of kill (both steps) and acknowledge', () => {
  assert.match(frameText(frame(fleetState({ help: true }), 80, 24, now)), /^ {2}k +kill the selected session \(asks y\/N; an active session asks twice\)$/m);
  const s = h100Host(now).sessions[0]!;
  const one = frameText(frame(fleetState({ prompt: { kind: 'kill', session: s, token: 't', step: 1 } }), 120, 24, now));
  assert.match(one, /^Kill gpu-h100:root:train-llama \(active; 2 windows, 4 processes\)\? \[y\/N\]$/m);
  const two = frameText(frame(fleetState({ prompt: { kind: 'kill', session: s, token: 't', step: 2 } }), 120, 24, now));
  assert.match(two, /^gpu-h100:root:train-llama is ACTIVE: never attached, created 3 h ago\.\nReally kill it\? \[y\/N\]$/m);
  assert.equal(frame(fleetState({ prompt: { kind: 'kill', session: s, token: 't', step: 2 } }), 80, 24, now).length, 23, 'two footer lines, same frame height');
  const ack = frameText(frame(fleetState({ prompt: { kind: 'ack', alert: alert('x', now), note: 'on it' } }), 140, 24, now));
  assert.match(ack, /^Acknowledge gpu-h100: GPU 0 on gpu-h100 at 85 °C \(warning at 80 °C\)\nnote \(optional; Enter acknowledges, Esc cancels\): on it_$/m);
});

test('names from the fleet lose control characters; clipped lines end in …', () => {
  const evil = session('h', 'x\u001b[2Jy\u202Ez', now);
  const hosts = [{ ...h100Host(now), sessions: [evil] }];
  const text = frameText(frame({ ...initialState(), hosts }, 80, 24, now));
  assert.match(text, /x\?\[2Jy\?z/);
  // eslint-disable-next-line no-control-regex -- the escape must not reach the screen
  assert.doesNotMatch(text, /\u001b|\u202E/);
  assert.equal(lineText(clipLine([{ text: 'abcdef' }, { text: 'ghij' }], 8)), 'abcdefg…');
});
