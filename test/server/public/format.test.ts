import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DASH,
  ageOf,
  applyAlertEvent,
  attachState,
  backoffDelay,
  badgeLevel,
  formatAge,
  formatBytes,
  formatClock,
  formatCompact,
  formatDateTime,
  formatLoad,
  formatMiB,
  formatMiBPair,
  formatPercent,
  formatPowerPair,
  channelLevel,
  deliveryLevel,
  deliveryText,
  formatRate,
  formatTemp,
  formatTick,
  gpuProcessRows,
  scopeNote,
  hostLevel,
  niceTicks,
  parseTab,
  percentOf,
  searchWith,
  sessionNameFromId,
  sortAlerts,
  sortSessionsByUse,
  tabCounts,
  tempLevel,
  timeTicks,
  toSeries,
  usageLevel,
  viewForTab,
} from '../../../src/server/public/js/format.js';
import { H100, alert, h100Host, offlineHost, session } from '../../helpers/mock-fleet.js';

const NOW = Date.parse('2026-11-23T12:00:00Z');

test('ages are whole units, rounded down: 42s, 12m, 3h, 2d, 5w', () => {
  assert.equal(formatAge(42.9), '42s');
  assert.equal(formatAge(12 * 60 + 59), '12m');
  assert.equal(formatAge(3 * 3600 + 3599), '3h');
  assert.equal(formatAge(2 * 86400 + 10), '2d');
  assert.equal(formatAge(13 * 86400), '13d');
  assert.equal(formatAge(5 * 7 * 86400), '5w');
  assert.equal(formatAge(-5), '0s', 'a clock slightly ahead must not show a negative age');
  assert.equal(formatAge(null), DASH);
  assert.equal(ageOf('2026-11-23T09:00:00Z', NOW), '3h');
  assert.equal(ageOf(null, NOW), DASH);
  assert.equal(ageOf('not a time', NOW), DASH);
});

test('memory in MiB reads as MiB/GiB/TiB, VRAM pairs share one unit', () => {
  assert.equal(formatMiB(1.6), '1.6 MiB');
  assert.equal(formatMiB(0.1), '102 KiB');
  assert.equal(formatMiB(512), '512 MiB');
  assert.equal(formatMiB(21130), '20.6 GiB');
  assert.equal(formatMiB(3 * 1024 * 1024), '3.0 TiB');
  assert.equal(formatMiB(null), DASH);
  // The capture's VRAM: 31554 of 81559 MiB.
  assert.equal(formatMiBPair(31554, 81559), '30.8 / 79.6 GiB');
  assert.equal(formatMiBPair(718.4, 980), '718 / 980 MiB');
  assert.equal(formatMiBPair(null, 81559), `${DASH} / 79.6 GiB`);
  assert.equal(formatBytes(270553174016), '252 GiB');
  assert.equal(formatBytes(512), '512 B');
});

test('rates, percentages, power, temperature and load', () => {
  assert.equal(formatRate(0), '0 B/s');
  assert.equal(formatRate(1234567), '1.2 MiB/s');
  assert.equal(formatRate(12 * 1024 + 300), '12.3 KiB/s');
  assert.equal(formatRate(null), DASH);
  assert.equal(formatPercent(92.66), '93%');
  assert.equal(formatPercent(92.66, 1), '92.7%');
  assert.equal(formatPercent(Number.NaN), DASH);
  assert.equal(formatPowerPair(686.26, 700), '686 / 700 W');
  assert.equal(formatPowerPair(null, 700), `${DASH} / 700 W`);
  assert.equal(formatPowerPair(80, null), '80 W');
  assert.equal(formatTemp(62), '62 °C');
  assert.equal(formatTemp(null), DASH);
  assert.equal(formatLoad(1.92, 0.46, 0.15), '1.92 0.46 0.15');
  assert.equal(percentOf(686.26, 700)?.toFixed(2), '98.04');
  assert.equal(percentOf(5, 0), null);
  assert.equal(percentOf(150, 100), 100);
});

test('GPU temperature is coloured by the configured thresholds', () => {
  const cfg = { gpu_temp_warning: 80, gpu_temp_critical: 90 };
  assert.equal(tempLevel(62, cfg), 'ok');
  assert.equal(tempLevel(80, cfg), 'warn');
  assert.equal(tempLevel(91, cfg), 'crit');
  assert.equal(tempLevel(62, { gpu_temp_warning: 60, gpu_temp_critical: 70 }), 'warn', 'thresholds come from the server, not constants');
  assert.equal(tempLevel(null, cfg), 'unknown');
  assert.equal(usageLevel(50, 90), 'ok');
  assert.equal(usageLevel(92, 90), 'warn');
  assert.equal(usageLevel(99, 90), 'crit');
  assert.equal(hostLevel('online'), 'ok');
  assert.equal(hostLevel('offline'), 'crit');
  assert.equal(hostLevel('something-new'), 'unknown');
});

test('GPU processes of the H100 capture map to their tmux sessions, largest first', () => {
  const host = h100Host(NOW);
  const rows = gpuProcessRows(H100, host.sessions);
  assert.deepEqual(rows, [
    { pid: 407, name: 'python3', memory: '20.6 GiB', session: 'train-llama', user: 'root', cmdline: 'python3 train.py --model llama' },
    { pid: 418, name: 'python3', memory: '6.6 GiB', session: 'eval run #2', user: 'root', cmdline: 'python3 eval.py' },
    { pid: 411, name: 'python3', memory: '3.6 GiB', session: 'train-llama', user: 'root', cmdline: 'python3 -m torch.distributed.run' },
  ]);
  const orphan = gpuProcessRows({ processes: [{ pid: 9, name: 'x', memory_mb: null, session_id: null, uid: null, user: null, cmdline: null }] }, []);
  assert.deepEqual(orphan, [{ pid: 9, name: 'x', memory: DASH, session: null, user: null, cmdline: null }]);
  // An owner the host could not name is shown by uid.
  assert.equal(gpuProcessRows({ processes: [{ pid: 9, name: 'x', memory_mb: 1, session_id: null, uid: 4242, user: null, cmdline: 'x' }] }, [])[0]?.user, 'uid 4242');
  // A process whose session is not in the list (yet) still shows the name from its id.
  const early = gpuProcessRows({ processes: [{ pid: 5, name: 'y', memory_mb: 1, session_id: 'h:root:new one', uid: 0, user: 'root', cmdline: 'y' }] }, []);
  assert.equal(early[0]?.session, 'new one');
});

test("a host's scope: no note for every user's sessions, 'own account only' with the reason otherwise", () => {
  assert.equal(scopeNote({ sessions_scope: { scope: 'all-users', reason: null } }), null);
  assert.equal(scopeNote({ sessions_scope: { scope: 'own-account', reason: 'sudo refused' } }), 'own account only: sudo refused');
  assert.equal(scopeNote({ sessions_scope: { scope: 'own-account', reason: null } }), 'own account only: no reason given');
});

test('tabs: active and legacy list only hosts with such sessions, and only those sessions', () => {
  const hosts = [h100Host(NOW), offlineHost(NOW)];
  const active = viewForTab(hosts, 'active');
  assert.deepEqual(
    active.map((v) => [v.host.hostname, v.sessions.map((s) => s.name)]),
    [['gpu-h100', ['train-llama', 'eval run #2', 'jupyter']]],
  );
  const legacy = viewForTab(hosts, 'legacy');
  assert.deepEqual(
    legacy.map((v) => [v.host.hostname, v.sessions.map((s) => s.name)]),
    [['gpu-h100', ['idle-shell']]],
  );
  assert.deepEqual(
    viewForTab(hosts, 'hosts').map((v) => v.host.hostname),
    ['gpu-h100', 'gpu-b'],
  );
  assert.deepEqual(tabCounts(hosts), { active: 3, legacy: 1, hosts: 2 });
});

test('the tab lives in the URL: parsed with a default, written keeping other parameters', () => {
  assert.equal(parseTab('?tab=legacy'), 'legacy');
  assert.equal(parseTab('?host=a&tab=hosts'), 'hosts');
  assert.equal(parseTab(''), 'active');
  assert.equal(parseTab('?tab=<script>'), 'active');
  assert.equal(parseTab('?tab=notifications'), 'notifications');
  assert.equal(searchWith('?host=gpu-1', { tab: 'legacy' }), '?host=gpu-1&tab=legacy');
  assert.equal(searchWith('?tab=active&host=gpu-1', { host: null }), '?tab=active');
  assert.equal(searchWith('', { host: 'a b&c' }), '?host=a+b%26c');
  assert.equal(new URLSearchParams(searchWith('', { host: 'a b&c' })).get('host'), 'a b&c');
});

test('session names come out of ids, attach state reads as people say it', () => {
  assert.equal(sessionNameFromId('gpu-h100:root:eval run #2'), 'eval run #2');
  assert.equal(sessionNameFromId('short'), 'short');
  const created = '2026-11-23T09:00:00Z';
  const s = session('h', 'x', NOW, { created: created, last_attached_at: null, attached: false });
  assert.equal(attachState(s, NOW), 'detached 3h');
  assert.equal(attachState({ ...s, last_attached_at: '2026-11-23T11:40:00Z' }, NOW), 'detached 20m', 'counts from the last attach');
  assert.equal(attachState({ ...s, attached: true, attached_clients: 1 }, NOW), 'attached');
  assert.equal(attachState({ ...s, attached: true, attached_clients: 2 }, NOW), 'attached ×2');
  assert.equal(attachState({ ...s, created: 'bad', detached_hours: 50 }, NOW), 'detached 2d');
});

test('alert events keep the open list current', () => {
  const a1 = alert('a1', NOW);
  const a2 = alert('a2', NOW, { severity: 'critical' });
  let list = [a1];
  list = applyAlertEvent(list, { event: 'alert_new', data: a2 });
  assert.deepEqual(list.map((a) => a.id), ['a1', 'a2']);
  list = applyAlertEvent(list, { event: 'alert_acked', data: { ...a2, acknowledged: true } });
  assert.equal(list.find((a) => a.id === 'a2')?.acknowledged, true);
  assert.equal(list.length, 2, 'an update replaces, never duplicates');
  list = applyAlertEvent(list, { event: 'alert_updated', data: { ...a1, state: 'resolved' } });
  assert.deepEqual(list.map((a) => a.id), ['a2'], 'a resolved alert leaves the open list');
  list = applyAlertEvent(list, { event: 'alert_cleared', data: { id: 'a2' } });
  assert.deepEqual(list, []);
  const same = [a1];
  assert.equal(applyAlertEvent(same, { event: 'hosts_update', data: { id: 'x' } }), same);
  assert.equal(applyAlertEvent(same, null), same);
});

test('the banner sorts unacknowledged and severe alerts first; the badge takes their colour', () => {
  const older = alert('old-crit', NOW, { severity: 'critical', created: '2026-11-23T10:00:00Z' });
  const newer = alert('new-crit', NOW, { severity: 'critical', created: '2026-11-23T11:00:00Z' });
  const warn = alert('warn', NOW, { severity: 'warning' });
  const acked = alert('acked-crit', NOW, { severity: 'critical', acknowledged: true });
  const info = alert('info', NOW, { severity: 'info' });
  assert.deepEqual(
    sortAlerts([info, acked, warn, older, newer]).map((a) => a.id),
    ['new-crit', 'old-crit', 'warn', 'info', 'acked-crit'],
  );
  assert.equal(badgeLevel([info, acked, warn, older]), 'crit');
  assert.equal(badgeLevel([info, acked, warn]), 'warn');
  assert.equal(badgeLevel([info, acked]), 'info');
  assert.equal(badgeLevel([acked]), 'ok');
  assert.equal(badgeLevel([]), 'ok');
});

test('reconnect backoff doubles up to a ceiling, with bounded jitter', () => {
  const low = () => 0;
  const high = () => 1;
  assert.equal(backoffDelay(0, 1000, 30000, high), 1000);
  assert.equal(backoffDelay(3, 1000, 30000, high), 8000);
  assert.equal(backoffDelay(20, 1000, 30000, high), 30000);
  assert.equal(backoffDelay(20, 1000, 30000, low), 21000);
  assert.equal(backoffDelay(0, 1000, 30000, low), 700);
});

test('clock and axis labels are in local time', () => {
  const local = new Date(2026, 10, 23, 9, 5, 7); // 23 Nov 2026 09:05:07 in this process's zone
  assert.equal(formatClock(local), '09:05:07');
  assert.equal(formatClock(local.toISOString()), '09:05:07');
  assert.equal(formatClock('garbage'), DASH);
  assert.equal(formatDateTime(local), '2026-11-23 09:05');
  assert.equal(formatTick(local.getTime(), 3600_000), '09:05');
  assert.equal(formatTick(local.getTime(), 7 * 86400_000), 'Mon 09:00');
  assert.equal(formatTick(new Date(2026, 10, 23).getTime(), 7 * 86400_000), 'Mon 23', 'midnight shows the date');
  assert.equal(formatTick(local.getTime(), 30 * 86400_000), '11-23');
});

test('time ticks fall on round local times; value ticks on round numbers', () => {
  const from = new Date(2026, 10, 23, 9, 7, 0).getTime();
  const to = from + 3600_000;
  const ticks = timeTicks(from, to, 6);
  assert.ok(ticks.length >= 3 && ticks.length <= 6, `got ${ticks.length}`);
  for (const t of ticks) {
    assert.ok(t >= from && t <= to);
    assert.equal(new Date(t).getMinutes() % 15, 0, 'quarter hours for an hour span');
    assert.equal(new Date(t).getSeconds(), 0);
  }
  const day = timeTicks(from, from + 86400_000, 6);
  for (const t of day) assert.equal(new Date(t).getHours() % 6, 0, 'every 6 h on a day span, aligned to local midnight');
  assert.deepEqual(timeTicks(to, from), []);
  assert.deepEqual(niceTicks(0, 100, 4), [0, 25, 50, 75, 100]);
  assert.deepEqual(niceTicks(3, 97, 4), [0, 25, 50, 75, 100]);
  assert.deepEqual(niceTicks(0, 686.26, 4), [0, 200, 400, 600, 800]);
  const flat = niceTicks(5, 5, 4);
  assert.ok(flat[0]! < 5 && flat[flat.length - 1]! > 5, 'a flat line still gets a range');
  assert.equal(formatCompact(1234567), '1.2M');
  assert.equal(formatCompact(25000), '25k');
  assert.equal(formatCompact(950), '950');
});

test('history points become chart columns; null stays a gap', () => {
  const s = toSeries([
    { t: '2026-11-23T11:00:00Z', v: 10 },
    { t: '2026-11-23T11:01:00Z', v: null },
    { t: 'bad', v: 3 },
    { t: '2026-11-23T11:02:00Z', v: 12.5 },
  ]);
  assert.deepEqual(s.xs, [Date.parse('2026-11-23T11:00:00Z'), Date.parse('2026-11-23T11:01:00Z'), Date.parse('2026-11-23T11:02:00Z')]);
  assert.deepEqual(s.ys, [10, null, 12.5]);
  assert.deepEqual(toSeries(null), { xs: [], ys: [] });
});

test('sessions sort by use: CPU (whole percent), then GPU memory, then memory; the name only breaks ties', () => {
  const s = (name: string, o: Partial<Parameters<typeof session>[3]>) => session('h', name, NOW, o);
  const sorted = sortSessionsByUse([
    s('a-idle', { cpu_percent: 0, memory_mb: 1 }),
    s('b-unknown', { cpu_percent: null, memory_mb: 900 }),
    s('c-gpu', { cpu_percent: 0.2, gpu_memory_mb: 20000, memory_mb: 10 }),
    s('d-busy', { cpu_percent: 180, memory_mb: 5 }),
    s('e-jitter', { cpu_percent: 180.3, memory_mb: 50 }),
  ]).map((x) => x.name);
  assert.deepEqual(sorted, ['e-jitter', 'd-busy', 'c-gpu', 'b-unknown', 'a-idle']);
  const view = viewForTab([h100Host(NOW, { sessions: [s('aaa', { cpu_percent: 1 }), s('zzz', { cpu_percent: 50 })] })], 'active');
  assert.deepEqual(view[0]!.sessions.map((x) => x.name), ['zzz', 'aaa']);
});

test('notifications: a channel\'s health and a delivery\'s state as levels and words', () => {
  assert.deepEqual(['ok', 'failing', 'unused'].map(channelLevel), ['ok', 'crit', 'unknown']);
  const row = (state: string, attempts: number, last_error: string | null = null, detail: string | null = null) => ({ state, attempts, last_error, detail });
  assert.deepEqual(
    [row('delivered', 1), row('pending', 0), row('pending', 2, 'POST http://127.0.0.1:9: ECONNREFUSED'), row('failed', 1, 'HTTP 404'), row('dropped', 0)].map(deliveryLevel),
    ['ok', 'unknown', 'warn', 'crit', 'unknown'],
  );
  assert.equal(deliveryText(row('delivered', 1)), 'delivered');
  assert.equal(deliveryText(row('delivered', 3)), 'delivered after 3 attempts');
  assert.equal(deliveryText(row('pending', 0, null, 'quiet hours until 07:00')), 'waiting: quiet hours until 07:00');
  assert.equal(deliveryText(row('pending', 1, 'ECONNREFUSED')), 'retrying (1 attempt): ECONNREFUSED');
  assert.equal(deliveryText(row('failed', 1, 'HTTP 404', 'the peer refused it')), 'failed after 1 attempt: HTTP 404; the peer refused it');
  assert.equal(deliveryText(row('dropped', 0, null, 'resolved before the reminder')), 'dropped: resolved before the reminder');
  assert.deepEqual(viewForTab([h100Host(Date.now())], 'notifications'), [], 'no host cards under the notifications tab');
});
