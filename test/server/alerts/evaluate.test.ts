import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfigObject } from '../../../src/core/config.js';
import type { Host, Session } from '../../../src/core/model.js';
import { conditionKey, evaluateAlerts, evaluateOrDisable, type HostView, type OpenAlert } from '../../../src/server/alerts/evaluate.js';

const thresholds = parseConfigObject({ alerts: { gpu_temp_warning: 60 } }, 't').alerts;

function session(name: string, extra: Partial<Session> = {}): Session {
  return {
    id: `h1:fleetmon:${name}`, host: 'h1', user: 'fleetmon', name, status: 'active', created_at: '2026-11-22T00:00:00.000Z',
    created_epoch: 1795305600, last_activity_at: null, last_attached_at: null, attached: false, attached_clients: 0,
    window_count: 1, detached_hours: 1, pane_pids: [], process_count: 0, cpu_percent: 0, memory_rss_mb: 10,
    gpu_memory_mb: 0, attach_command: '', processes: [], ...extra,
  };
}

function host(extra: Partial<Host> = {}): Host {
  return {
    name: 'h1', address: '10.0.0.1', status: 'online', has_gpu: true, last_poll_at: null, last_success_at: null,
    last_error: null, consecutive_failures: 0, poll_ms: 5, problems: [],
    metrics: {
      cpu_percent: 10, cpu_per_core: [], cpu_count: 1, memory_total_mb: 1000, memory_used_mb: 100, memory_available_mb: 900,
      memory_percent: 10, swap_total_mb: 0, swap_used_mb: 0, load_1: 0, load_5: 0, load_15: 0, uptime_seconds: 1, disks: [], network: [],
    },
    gpu: {
      available: true, reason: null,
      gpus: [{ index: 0, uuid: 'GPU-1', name: 'NVIDIA H100 80GB HBM3', power_draw_w: 686.26, power_limit_w: 700, memory_used_mb: 31554,
        memory_total_mb: 81559, memory_percent: 38.7, utilization_percent: 100, temperature_c: 62, processes: [] }],
    },
    sessions: [],
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
  assert.deepEqual(same, { raise: [], update: [], resolve: [] });
  const hotter = host();
  hotter.gpu.gpus[0]!.temperature_c = 70;
  const changed = evaluateAlerts([view(hotter)], open, thresholds);
  assert.equal(changed.update.length, 1);
  assert.equal(changed.update[0]?.condition.value, 70);
});

test('hysteresis: a value hovering at the line does not flap', () => {
  const at = (temp: number, open: OpenAlert[]) => {
    const h = host();
    h.gpu.gpus[0]!.temperature_c = temp;
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
  h.gpu.gpus[0]!.temperature_c = 95;
  assert.deepEqual(evaluateAlerts([view(h)], [], thresholds).raise.map((c) => c.type), ['gpu_temp_critical']);
});

test('legacy sessions, per-session CPU and memory, host CPU and memory', () => {
  const h = host({
    sessions: [
      session('old', { status: 'legacy', detached_hours: 80 }),
      session('hog', { cpu_percent: 150, memory_rss_mb: 4096 }),
    ],
  });
  h.metrics!.cpu_percent = 95;
  h.metrics!.memory_percent = 91;
  h.gpu.gpus[0]!.temperature_c = 40;
  const types = evaluateAlerts([view(h)], [], thresholds).raise.map((c) => `${c.type}:${c.session ?? '-'}`).sort();
  assert.deepEqual(types, ['high_cpu:-', 'high_cpu:h1:fleetmon:hog', 'high_memory:-', 'high_memory:h1:fleetmon:hog', 'legacy_session:h1:fleetmon:old']);
});

test('a killed session clears its alert; an offline host keeps its session alerts and raises host_offline', () => {
  const legacy = host({ sessions: [session('old', { status: 'legacy', detached_hours: 80 })] });
  legacy.gpu.gpus[0]!.temperature_c = 40;
  const open = asOpen(evaluateAlerts([view(legacy)], [], thresholds));
  assert.equal(open.length, 1);
  const offline = host({ status: 'offline', sessions: [], metrics: null, consecutive_failures: 3, last_error: 'connect ECONNREFUSED' });
  const whileOffline = evaluateAlerts([view(offline)], open, thresholds);
  assert.deepEqual(whileOffline.raise.map((c) => c.type), ['host_offline']);
  assert.deepEqual(whileOffline.resolve, [], 'unknown is not resolved');
  const killed = host({ sessions: [] });
  killed.gpu.gpus[0]!.temperature_c = 40;
  assert.deepEqual(evaluateAlerts([view(killed)], open, thresholds).resolve.map((a) => a.conditionKey), [
    conditionKey('legacy_session', 'h1', 'session:fleetmon:old'),
  ]);
});

test('host_offline clears when the host is back', () => {
  const offline = host({ status: 'offline', metrics: null, consecutive_failures: 3 });
  const open = asOpen(evaluateAlerts([view(offline)], [], thresholds));
  const back = host();
  back.gpu.gpus[0]!.temperature_c = 40;
  const changes = evaluateAlerts([view(back)], open, thresholds);
  assert.deepEqual(changes.resolve.map((a) => a.type), ['host_offline']);
});

test('a failing nvidia-smi leaves GPU alerts open instead of clearing them', () => {
  const open = asOpen(evaluateAlerts([view(host())], [], thresholds));
  const broken = host({ gpu: { available: false, reason: 'nvidia-smi timed out', gpus: [] } });
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
  const h = host({ status: 'offline', metrics: null });
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
