import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfigObject } from '../../../src/core/config.js';
import { noMetrics, type Host, type Session } from '../../../src/core/model.js';
import { conditionKey, evaluateAlerts, evaluateOrDisable, type HostView, type OpenAlert } from '../../../src/server/alerts/evaluate.js';

const thresholds = parseConfigObject({ alerts: { gpu_temp_warning: 60 } }, 't').alerts;

function session(name: string, extra: Partial<Session> = {}): Session {
  return {
    id: `h1:${name}`, host: 'h1', name, created: '2026-11-22T00:00:00.000Z', last_activity: null, attached: false,
    window_count: 1, status: 'active', pids: [], cpu_percent: 0, memory_mb: 10, gpu_memory_mb: 0,
    fleetmon_id: `h1:fleetmon:${name}`, user: 'fleetmon', created_epoch: 1795305600, last_attached_at: null, attached_clients: 0,
    detached_hours: 1, pane_pids: [], process_count: 0, attach_command: '', processes: [], ...extra,
  };
}

function host(extra: Partial<Host> = {}): Host {
  return {
    hostname: 'h1', address: '10.0.0.1', last_seen: null, status: 'online',
    cpu_percent: 10, memory_percent: 10, memory_used_mb: 100, memory_total_mb: 1000, load_avg: [0, 0, 0],
    cpu_per_core: [], cpu_count: 1, memory_available_mb: 900, swap_total_mb: 0, swap_used_mb: 0, uptime_seconds: 1, disks: [], network: [],
    gpus: [{ index: 0, name: 'NVIDIA H100 80GB HBM3', power_draw_watts: 686.26, power_limit_watts: 700, memory_used_mb: 31554,
      memory_total_mb: 81559, utilization_percent: 100, temperature_c: 62, processes: [], uuid: 'GPU-1', memory_percent: 38.7, memory_outside_sessions_mb: 0 }],
    sessions: [],
    has_gpu: true, pending: false, last_poll_at: null, last_error: null, consecutive_failures: 0, poll_ms: 5, problems: [],
    gpu_available: true, gpu_error: null, sessions_scope: { scope: 'all-users', reason: null },
    ...extra,
  };
}

const view = (h: Host): HostView => ({ host: h, hostKeyChanged: null });
const asOpen = (changes: ReturnType<typeof evaluateAlerts>): OpenAlert[] =>
  changes.raise.map((c, i) => ({ id: `id${i}`, conditionKey: c.conditionKey, type: c.type, host: c.host, value: c.value, message: c.message }));

test('the H100 capture at 62 °C with gpu_temp_warning 60 raises one GPU warning, nothing else', () => {
  const changes = evaluateAlerts([view(host())], [], thresholds);
  assert.deepEqual(changes.raise.map((c) => [c.type, c.severity, c.gpuIndex, c.value]), [['gpu_temp_warning', 'warning', 0, 62]]);
  assert.match(changes.raise[0]!.message, /GPU 0 \(NVIDIA H100 80GB HBM3\) on h1 at 62 °C \(warning at 60 °C\)/);
});

test('an open alert is updated while it holds and not raised twice', () => {
  const first = evaluateAlerts([view(host())], [], thresholds);
  const open = asOpen(first);
  const same = evaluateAlerts([view(host())], open, thresholds);
  assert.deepEqual(same, { raise: [], update: [], resolve: [], timers: { idleHolders: {}, sessions: {} } });
  const hotter = host();
  hotter.gpus[0]!.temperature_c = 70;
  const changed = evaluateAlerts([view(hotter)], open, thresholds);
  assert.equal(changed.update.length, 1);
  assert.equal(changed.update[0]?.condition.value, 70);
});

test('hysteresis: a value hovering at the line does not flap', () => {
  const at = (temp: number, open: OpenAlert[]) => {
    const h = host();
    h.gpus[0]!.temperature_c = temp;
    return evaluateAlerts([view(h)], open, thresholds);
  };
  assert.equal(at(59, []).raise.length, 0);
  const open = asOpen(at(60, []));
  assert.equal(open.length, 1);
  // 5 % band below 60 is 57: 58 and 59 keep it open, 56 clears it.
  assert.equal(at(59, open).resolve.length, 0);
  assert.equal(at(58, open).resolve.length, 0);
  assert.equal(at(56, open).resolve.length, 1);
});

test('critical replaces warning for temperature', () => {
  const h = host();
  h.gpus[0]!.temperature_c = 95;
  assert.deepEqual(evaluateAlerts([view(h)], [], thresholds).raise.map((c) => c.type), ['gpu_temp_critical']);
});

test('legacy sessions, per-session CPU and memory, host CPU and memory', () => {
  const h = host({
    sessions: [
      session('old', { status: 'legacy', detached_hours: 80 }),
      session('hog', { cpu_percent: 150, memory_mb: 4096 }),
    ],
  });
  h.cpu_percent = 95;
  h.memory_percent = 91;
  h.gpus[0]!.temperature_c = 40;
  const types = evaluateAlerts([view(h)], [], thresholds).raise.map((c) => `${c.type}:${c.session ?? '-'}`).sort();
  assert.deepEqual(types, ['high_cpu:-', 'high_cpu:h1:hog', 'high_memory:-', 'high_memory:h1:hog', 'legacy_session:h1:old']);
});

test('a host figure this poll could not read keeps its open alert (CPU and memory alike); a low one clears it', () => {
  const hot = host({ cpu_percent: 95, memory_percent: 91 });
  hot.gpus[0]!.temperature_c = 40;
  const open = asOpen(evaluateAlerts([view(hot)], [], thresholds));
  assert.deepEqual(open.map((a) => a.type).sort(), ['high_cpu', 'high_memory']);
  const unread = host({ cpu_percent: null, memory_percent: null });
  unread.gpus[0]!.temperature_c = 40;
  assert.deepEqual(evaluateAlerts([view(unread)], open, thresholds).resolve, [], 'not knowing is not a recovery');
  const calm = host();
  calm.gpus[0]!.temperature_c = 40;
  assert.deepEqual(evaluateAlerts([view(calm)], open, thresholds).resolve.map((a) => a.type).sort(), ['high_cpu', 'high_memory']);
});

test('a killed session clears its alert; an offline host keeps its session alerts and raises host_offline', () => {
  const legacy = host({ sessions: [session('old', { status: 'legacy', detached_hours: 80 })] });
  legacy.gpus[0]!.temperature_c = 40;
  const open = asOpen(evaluateAlerts([view(legacy)], [], thresholds));
  assert.equal(open.length, 1);
  const offline = host({ status: 'offline', sessions: [], ...noMetrics(), consecutive_failures: 3, last_error: 'connect ECONNREFUSED' });
  const whileOffline = evaluateAlerts([view(offline)], open, thresholds);
  assert.deepEqual(whileOffline.raise.map((c) => c.type), ['host_offline']);
  assert.deepEqual(whileOffline.resolve, [], 'unknown is not resolved');
  const killed = host({ sessions: [] });
  killed.gpus[0]!.temperature_c = 40;
  assert.deepEqual(evaluateAlerts([view(killed)], open, thresholds).resolve.map((a) => a.conditionKey), [
    conditionKey('legacy_session', 'h1', 'session:fleetmon:old'),
  ]);
});

test('host_offline clears when the host is back', () => {
  const offline = host({ status: 'offline', ...noMetrics(), consecutive_failures: 3 });
  const open = asOpen(evaluateAlerts([view(offline)], [], thresholds));
  const back = host();
  back.gpus[0]!.temperature_c = 40;
  const changes = evaluateAlerts([view(back)], open, thresholds);
  assert.deepEqual(changes.resolve.map((a) => a.type), ['host_offline']);
});

test('a failing nvidia-smi leaves GPU alerts open instead of clearing them', () => {
  const open = asOpen(evaluateAlerts([view(host())], [], thresholds));
  const broken = host({ gpu_available: false, gpu_error: 'nvidia-smi timed out', gpus: [] });
  assert.deepEqual(evaluateAlerts([view(broken)], open, thresholds).resolve, []);
});

test('alerts.enabled false raises nothing and resolves what was open', () => {
  const open = asOpen(evaluateAlerts([view(host())], [], thresholds));
  const off = { ...thresholds, enabled: false };
  const changes = evaluateOrDisable([view(host())], open, off);
  assert.equal(changes.raise.length, 0);
  assert.equal(changes.resolve.length, 1);
});

test('a changed host key is a critical alert', () => {
  const h = host({ status: 'offline', ...noMetrics() });
  const changes = evaluateAlerts([{ host: h, hostKeyChanged: { expected: 'SHA256:a', presented: 'SHA256:b' } }], [], thresholds);
  assert.ok(changes.raise.some((c) => c.type === 'host_key_changed' && c.severity === 'critical'));
});

test('metrics label values are escaped so a session name cannot break the exposition format', async () => {
  const { renderMetrics } = await import('../../../src/server/routes/metrics.js');
  const h = host({ sessions: [session('a"b\\c\nd', { status: 'legacy' })] });
  const text = renderMetrics([h], 2);
  assert.match(text, /^fleetmon_session_legacy\{host="h1",user="fleetmon",session="a\\"b\\\\c\\nd"\} 1$/m);
  assert.match(text, /^fleetmon_gpu_temperature_celsius\{host="h1",gpu="0",name="NVIDIA H100 80GB HBM3"\} 62$/m);
  assert.equal(text.split('\n').filter((l) => l.startsWith('fleetmon_session_legacy{')).length, 1);
});

test('an alert the server raised itself (database moved aside) is neither resolved by a cycle nor by disabling alerts', () => {
  const server: OpenAlert = { id: 'a1', conditionKey: 'database_moved_aside|(server)|/x.corrupt', type: 'database_moved_aside', host: '(server)', value: null, message: 'moved' };
  const open = [...asOpen(evaluateAlerts([view(host())], [], thresholds)), server];
  assert.ok(!evaluateAlerts([view(host())], open, thresholds).resolve.includes(server));
  assert.ok(!evaluateAlerts([], open, thresholds).resolve.includes(server), 'no configured host is named (server)');
  const off = evaluateOrDisable([view(host())], open, { ...thresholds, enabled: false });
  assert.equal(off.resolve.length, open.length - 1);
  assert.ok(!off.resolve.includes(server));
});

test('a host not polled yet reads offline (the specification has no pending) but raises no host_offline', () => {
  const pending = host({ status: 'offline', pending: true, ...noMetrics(), gpus: [] });
  assert.deepEqual(evaluateAlerts([view(pending)], [], thresholds).raise, []);
  const down = host({ status: 'offline', pending: false, ...noMetrics(), gpus: [], consecutive_failures: 3 });
  assert.deepEqual(evaluateAlerts([view(down)], [], thresholds).raise.map((c) => c.type), ['host_offline']);
});

test('a legacy session detached for minutes says so in minutes, not "0 h"', () => {
  const h = host({ sessions: [session('recent', { status: 'legacy', detached_hours: 0.25 })] });
  h.gpus[0]!.temperature_c = 40;
  const [legacy] = evaluateAlerts([view(h)], [], thresholds).raise;
  assert.equal(legacy?.message, "session 'recent' on h1 detached for 15 min");
});
