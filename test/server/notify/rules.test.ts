/** The notification rules as data: filters, `for`, reminders, quiet hours, ordering, backlog collapse, backoff. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfigObject, type ChannelConfig } from '../../../src/core/config.js';
import type { Alert } from '../../../src/core/model.js';
import {
  backoffMs,
  channelWants,
  collapseBacklog,
  decide,
  dueReminders,
  globToRegExp,
  planNotifications,
  quietUntil,
  ruleChannel,
  type RuleChannel,
} from '../../../src/server/notify/rules.js';

const T0 = Date.parse('2026-12-01T12:00:00Z');
const MIN = 60_000;

function channel(extra: Partial<ChannelConfig> & Record<string, unknown> = {}): RuleChannel {
  const config = parseConfigObject({ notifications: { channels: [{ name: 'c', type: 'webhook', url: 'http://127.0.0.1:1/', ...extra }] } }, 'test');
  return ruleChannel(config.notifications.channels[0]!);
}

function alert(extra: Partial<Alert> = {}): Alert {
  return {
    id: 'a1', type: 'gpu_temp_warning', severity: 'warning', host: 'gpu1', session: null, gpu_index: 0, message: 'GPU 0 hot',
    value: 85, threshold: 80, state: 'open', created: new Date(T0).toISOString(), last_seen_at: new Date(T0).toISOString(),
    resolved_at: null, acknowledged: false, acknowledged_at: null, acknowledged_by: null, ack_note: null, ...extra,
  };
}

test('channel filters: min_severity, types and host globs, each as a table', () => {
  const cases: Array<[Record<string, unknown>, Partial<Alert>, boolean]> = [
    [{}, {}, true],
    [{ min_severity: 'critical' }, { severity: 'warning' }, false],
    [{ min_severity: 'critical' }, { severity: 'critical' }, true],
    [{ min_severity: 'warning' }, { severity: 'info' }, false],
    [{ types: ['host_offline'] }, { type: 'gpu_temp_warning' }, false],
    [{ types: ['host_offline', 'gpu_temp_warning'] }, {}, true],
    [{ hosts: ['gpu*'] }, { host: 'gpu12' }, true],
    [{ hosts: ['gpu?'] }, { host: 'gpu12' }, false],
    [{ hosts: ['cpu*', 'web-?'] }, { host: 'web-1' }, true],
    [{ hosts: ['gpu.1'] }, { host: 'gpux1' }, false],
  ];
  for (const [rules, a, want] of cases) assert.equal(channelWants(channel(rules), alert(a)), want, JSON.stringify({ rules, a }));
  assert.equal(globToRegExp('a*b').source, '^a.*b$');
});

test('planning: a row per wanted event and channel; a new alert waits for `for`; unwanted events make none', () => {
  const fast = channel();
  const slow = { ...channel({ for: '5m' }), name: 'slow' };
  const critOnly = { ...channel({ min_severity: 'critical' }), name: 'crit' };
  const a = alert();
  const plans = planNotifications([{ event: 'alert_new', data: a }], [fast, slow, critOnly], () => a, T0 + 1000);
  assert.deepEqual(
    plans.map((p) => [p.channel, p.event, p.key, p.notBefore]),
    [
      ['c', 'new', 'a1|c|new', T0],
      ['slow', 'new', 'a1|slow|new', T0 + 5 * MIN],
    ],
  );
  // A resolution carries only the id: the alert is looked up. Updates are not in the default events.
  const resolved = alert({ state: 'resolved', resolved_at: new Date(T0 + MIN).toISOString() });
  assert.deepEqual(
    planNotifications([{ event: 'alert_cleared', data: { id: 'a1' } }, { event: 'alert_updated', data: a }], [fast], () => resolved, T0 + MIN).map((p) => p.key),
    ['a1|c|resolved'],
  );
  const withUpdates = channel({ events: ['updated'] });
  assert.deepEqual(planNotifications([{ event: 'alert_updated', data: a }], [withUpdates], () => a, 7).map((p) => p.key), ['a1|c|updated|7']);
});

test('`for`: a new alert that resolved before it had held that long is dropped; one that held is sent', () => {
  const c = channel({ for: '5m' });
  const flapped = alert({ state: 'resolved', resolved_at: new Date(T0 + 2 * MIN).toISOString() });
  assert.deepEqual(decide({ row: { event: 'new', alert_id: 'a1' }, alert: flapped, channel: c, now: T0 + 5 * MIN, newState: undefined }), {
    do: 'drop',
    why: 'resolved before it had held for 300 s',
  });
  const held = alert({ state: 'resolved', resolved_at: new Date(T0 + 6 * MIN).toISOString() });
  assert.deepEqual(decide({ row: { event: 'new', alert_id: 'a1' }, alert: held, channel: c, now: T0 + 6 * MIN, newState: undefined }), { do: 'send' });
});

test('order: a later message waits for the new-alert one, and is dropped when that never went', () => {
  const c = channel();
  const a = alert({ state: 'resolved', resolved_at: new Date(T0 + MIN).toISOString() });
  const base = { row: { event: 'resolved' as const, alert_id: 'a1' }, alert: a, channel: c, now: T0 };
  assert.equal(decide({ ...base, newState: 'pending' }).do, 'hold');
  assert.deepEqual(decide({ ...base, newState: 'dropped' }), { do: 'drop', why: 'the alert was never notified on this channel' });
  assert.deepEqual(decide({ ...base, newState: undefined }).do, 'drop');
  assert.deepEqual(decide({ ...base, newState: 'delivered' }), { do: 'send' });
  assert.deepEqual(decide({ ...base, alert: undefined, newState: 'delivered' }), { do: 'drop', why: 'the alert no longer exists' });
});

test('reminders: every repeat_every after the first message, only the latest after a gap, none once acknowledged', () => {
  const c = channel({ repeat_every: '1h' });
  const none = { ...channel(), name: 'none' };
  const notified = [
    { alertId: 'a1', channel: 'c', deliveredAt: T0 },
    { alertId: 'a1', channel: 'none', deliveredAt: T0 },
  ];
  const at = (ms: number) => dueReminders(notified, [c, none], T0 + ms).map((p) => p.key);
  assert.deepEqual(at(59 * MIN), []);
  assert.deepEqual(at(60 * MIN), ['a1|c|reminder|1']);
  assert.deepEqual(at(119 * MIN), ['a1|c|reminder|1']);
  assert.deepEqual(at(120 * MIN), ['a1|c|reminder|2']);
  // The server was down for a day: one reminder, numbered for now, not 24.
  assert.deepEqual(at(24 * 60 * MIN + 5), ['a1|c|reminder|24']);
  const row = { event: 'reminder' as const, alert_id: 'a1' };
  assert.deepEqual(decide({ row, alert: alert({ acknowledged: true }), channel: c, now: T0, newState: 'delivered' }), { do: 'drop', why: 'acknowledged: no more reminders' });
  assert.equal(decide({ row, alert: alert({ state: 'resolved', resolved_at: new Date(T0).toISOString() }), channel: c, now: T0, newState: 'delivered' }).do, 'drop');
  assert.deepEqual(decide({ row, alert: alert(), channel: c, now: T0, newState: 'delivered' }), { do: 'send' });
});

test('quiet hours: inside the window (also across midnight and in a time zone) until its end, else null', () => {
  const q = (from: string, to: string, tz = 'UTC') => ruleChannel(parseConfigObject({ notifications: { channels: [{ name: 'q', type: 'slack', url: 'http://x/', quiet_hours: { from, to, tz } }] } }, 't').notifications.channels[0]!).quietHours!;
  const utc = (s: string) => Date.parse(`2026-12-01T${s}Z`);
  const cases: Array<[ReturnType<typeof q>, number, number | null]> = [
    [q('22:00', '07:00'), utc('23:30:00'), Date.parse('2026-12-02T07:00:00Z')],
    [q('22:00', '07:00'), utc('03:15:30'), utc('07:00:00')],
    [q('22:00', '07:00'), utc('07:00:00'), null],
    [q('22:00', '07:00'), utc('21:59:59'), null],
    [q('12:00', '13:00'), utc('12:30:00'), utc('13:00:00')],
    [q('12:00', '13:00'), utc('13:30:00'), null],
    // Berlin is UTC+1 in December: 22:00 there is 21:00 UTC, 07:00 there is 06:00 UTC.
    [q('22:00', '07:00', 'Europe/Berlin'), utc('21:30:00'), Date.parse('2026-12-02T06:00:00Z')],
    [q('22:00', '07:00', 'Europe/Berlin'), utc('06:30:00'), null],
  ];
  for (const [window, now, want] of cases) assert.equal(quietUntil(now, window), want, new Date(now).toISOString());
});

test('quiet hours hold non-critical messages; critical ones break through', () => {
  const c = channel({ quiet_hours: { from: '00:00', to: '23:59', tz: 'UTC' } });
  const row = { event: 'new' as const, alert_id: 'a1' };
  const warning = decide({ row, alert: alert(), channel: c, now: T0, newState: undefined });
  assert.equal(warning.do, 'hold');
  assert.equal(warning.do === 'hold' && warning.until, Date.parse('2026-12-01T23:59:00Z'));
  assert.deepEqual(decide({ row, alert: alert({ severity: 'critical' }), channel: c, now: T0, newState: undefined }), { do: 'send' });
});

test('Alertmanager gets no reminders or acknowledgements: it repeats and silences itself', () => {
  const am = ruleChannel(parseConfigObject({ notifications: { channels: [{ name: 'am', type: 'alertmanager', url: 'http://127.0.0.1:9093' }] } }, 't').notifications.channels[0]!);
  for (const event of ['reminder', 'acknowledged'] as const) assert.equal(decide({ row: { event, alert_id: 'a1' }, alert: alert(), channel: am, now: T0, newState: 'delivered' }).do, 'drop');
  assert.deepEqual(decide({ row: { event: 'resolved', alert_id: 'a1' }, alert: alert(), channel: am, now: T0, newState: 'delivered' }), { do: 'send' });
});

test('backlog collapse after a long outage keeps what still matters, and leaves a short one alone', () => {
  const rows = [
    // a2: opened and resolved while the channel was down, nobody heard of it.
    { id: 1, alert_id: 'a2', event: 'new' as const, created_at: T0 },
    { id: 2, alert_id: 'a2', event: 'resolved' as const, created_at: T0 + MIN },
    // a3: still open, never notified: its new message stays, the reminder-like rest goes.
    { id: 3, alert_id: 'a3', event: 'new' as const, created_at: T0 },
    { id: 4, alert_id: 'a3', event: 'acknowledged' as const, created_at: T0 + MIN },
    // a4: notified before the outage, then resolved: only the resolution.
    { id: 5, alert_id: 'a4', event: 'reminder' as const, created_at: T0 },
    { id: 6, alert_id: 'a4', event: 'resolved' as const, created_at: T0 + 2 * MIN },
    // a5: notified, still open: the newest row only.
    { id: 7, alert_id: 'a5', event: 'reminder' as const, created_at: T0 },
    { id: 8, alert_id: 'a5', event: 'acknowledged' as const, created_at: T0 + 3 * MIN },
    // a6: the alert was deleted by retention.
    { id: 9, alert_id: 'a6', event: 'new' as const, created_at: T0 },
  ];
  const alerts: Record<string, Alert> = {
    a2: alert({ id: 'a2', state: 'resolved', resolved_at: new Date(T0 + MIN).toISOString() }),
    a3: alert({ id: 'a3' }),
    a4: alert({ id: 'a4', state: 'resolved', resolved_at: new Date(T0 + 2 * MIN).toISOString() }),
    a5: alert({ id: 'a5', acknowledged: true }),
  };
  const notified = (id: string) => id === 'a4' || id === 'a5';
  const drops = collapseBacklog(rows, (id) => alerts[id], notified, T0 + 60 * MIN, 15 * MIN);
  assert.deepEqual(drops.map((d) => d.id).sort((a, b) => a - b), [1, 2, 4, 5, 7, 9]);
  // Ten minutes of outage with a 15-minute threshold: every event still goes.
  assert.deepEqual(collapseBacklog(rows, (id) => alerts[id], notified, T0 + 10 * MIN, 15 * MIN), []);
});

test('backoff doubles from the initial wait up to the cap', () => {
  assert.deepEqual([1, 2, 3, 4, 5, 10].map((n) => backoffMs(n, 10_000, 60_000)), [10_000, 20_000, 40_000, 60_000, 60_000, 60_000]);
});
