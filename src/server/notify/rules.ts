/**
 * What to notify, and when: pure functions of (alert events, channels, outbox rows, now). No I/O and no clock of
 * their own, so every rule (severity, types, host globs, `for`, reminders, quiet hours, backlog collapse, backoff)
 * is tested as data. The dispatcher applies the answers.
 */
import { durationMs, type ChannelConfig } from '../../core/config.js';
import type { Alert, Severity } from '../../core/model.js';
import type { AlertEvent } from '../alerts/events.js';
import type { OutboxEvent, OutboxPlan, OutboxRow, OutboxState } from '../store/outbox-repository.js';

/** A channel's rules with its durations in milliseconds. */
export interface RuleChannel {
  name: string;
  type: ChannelConfig['type'];
  minSeverity: Severity;
  types: string[] | null;
  hosts: RegExp[] | null;
  events: Set<OutboxEvent>;
  forMs: number;
  repeatMs: number | null;
  quietHours: { from: number; to: number; tz: string } | null;
}

const SEVERITY_RANK: Record<Severity, number> = { info: 0, warning: 1, critical: 2 };

/** `gpu*`, `node-??`: `*` any run of characters, `?` one; the whole name must match. */
export function globToRegExp(glob: string): RegExp {
  const body = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}

const minutes = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

export function ruleChannel(c: ChannelConfig): RuleChannel {
  return {
    name: c.name,
    type: c.type,
    minSeverity: c.min_severity,
    types: c.types ?? null,
    hosts: c.hosts ? c.hosts.map(globToRegExp) : null,
    events: new Set(c.events),
    forMs: durationMs(c.for) ?? 0,
    repeatMs: durationMs(c.repeat_every),
    quietHours: c.quiet_hours ? { from: minutes(c.quiet_hours.from), to: minutes(c.quiet_hours.to), tz: c.quiet_hours.tz } : null,
  };
}

/** Whether an alert is one this channel wants at all: severity, type, host. */
export function channelWants(c: RuleChannel, alert: Pick<Alert, 'severity' | 'type' | 'host'>): boolean {
  if (SEVERITY_RANK[alert.severity] < SEVERITY_RANK[c.minSeverity]) return false;
  if (c.types && !c.types.includes(alert.type)) return false;
  if (c.hosts && !c.hosts.some((re) => re.test(alert.host))) return false;
  return true;
}

/** When an alert's episode began, in epoch ms (one place that knows the alert's field name). */
export const alertStart = (a: Alert): number => Date.parse(a.created);
const alertEnd = (a: Alert): number | null => (a.resolved_at ? Date.parse(a.resolved_at) : null);

export const notificationKey = (alertId: string, channel: string, event: OutboxEvent, n?: number | string) =>
  `${alertId}|${channel}|${event}${n === undefined ? '' : `|${n}`}`;

const EVENT_OF: Record<AlertEvent['event'], OutboxEvent> = {
  alert_new: 'new',
  alert_updated: 'updated',
  alert_cleared: 'resolved',
  alert_acked: 'acknowledged',
};

/**
 * The outbox rows a cycle's (or an acknowledgement's) alert events cause: one per event and channel that wants
 * it. A new alert's row may not go before the channel's `for` has passed since the alert began.
 */
export function planNotifications(events: AlertEvent[], channels: RuleChannel[], alert: (id: string) => Alert | undefined, at: number): OutboxPlan[] {
  const plans: OutboxPlan[] = [];
  for (const e of events) {
    const a = 'type' in e.data ? e.data : alert(e.data.id);
    if (!a) continue;
    const event = EVENT_OF[e.event];
    for (const c of channels) {
      if (!c.events.has(event) || !channelWants(c, a)) continue;
      // Updates can come every cycle; each is its own row (the newest supersedes the older pending ones).
      const key = notificationKey(a.id, c.name, event, event === 'updated' ? at : undefined);
      const notBefore = event === 'new' ? alertStart(a) + c.forMs : at;
      plans.push({ key, channel: c.name, alertId: a.id, event, createdAt: at, notBefore });
    }
  }
  return plans;
}

/**
 * Reminders due now: the n-th comes n × repeat_every after the alert's first message on that channel, while it
 * is open and not acknowledged. After a long stop only the latest n is planned, never a burst of the missed ones.
 */
export function dueReminders(notified: Array<{ alertId: string; channel: string; deliveredAt: number }>, channels: RuleChannel[], now: number): OutboxPlan[] {
  const byName = new Map(channels.map((c) => [c.name, c]));
  const plans: OutboxPlan[] = [];
  for (const n of notified) {
    const c = byName.get(n.channel);
    if (!c || c.repeatMs === null || !c.events.has('reminder')) continue;
    const count = Math.floor((now - n.deliveredAt) / c.repeatMs);
    if (count < 1) continue;
    plans.push({ key: notificationKey(n.alertId, c.name, 'reminder', count), channel: c.name, alertId: n.alertId, event: 'reminder', createdAt: now, notBefore: now });
  }
  return plans;
}

/** The local hour, minute and second in a time zone. */
function localClock(now: number, tz: string): { h: number; m: number; s: number } {
  const parts = new Intl.DateTimeFormat('en-GB', { timeZone: tz, hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' }).formatToParts(new Date(now));
  const get = (t: string) => Number(parts.find((p) => p.type === t)?.value ?? 0);
  return { h: get('hour'), m: get('minute'), s: get('second') };
}

/**
 * When the quiet hours that hold `now` end (epoch ms), or null outside them. A window may cross midnight
 * (22:00 → 07:00). On the night a clock change happens the end can be an hour off; nothing is lost either way.
 */
export function quietUntil(now: number, q: { from: number; to: number; tz: string }): number | null {
  const { h, m, s } = localClock(now, q.tz);
  const cur = h * 60 + m;
  const inside = q.from < q.to ? cur >= q.from && cur < q.to : cur >= q.from || cur < q.to;
  if (!inside) return null;
  const secondsLeft = (((q.to * 60 - (cur * 60 + s)) % 86400) + 86400) % 86400;
  return now - (now % 1000) + secondsLeft * 1000;
}

export type Decision = { do: 'send' } | { do: 'hold'; until: number; why: string } | { do: 'drop'; why: string };

export interface DecideInput {
  row: Pick<OutboxRow, 'event' | 'alert_id'>;
  alert: Alert | undefined;
  channel: RuleChannel;
  now: number;
  /** The state of this alert's 'new' row on this channel, undefined when it has none. */
  newState: OutboxState | undefined;
  /** When that 'new' row may next be tried (it goes first). */
  newNextAttempt?: number;
}

/** What to do with a due outbox row now. */
export function decide({ row, alert, channel: c, now, newState, newNextAttempt }: DecideInput): Decision {
  if (row.event === 'test') return { do: 'send' };
  if (!alert) return { do: 'drop', why: 'the alert no longer exists' };
  const end = alertEnd(alert);
  if (row.event === 'new') {
    if (end !== null && end < alertStart(alert) + c.forMs) return { do: 'drop', why: `resolved before it had held for ${c.forMs / 1000} s` };
  } else if (newState !== 'delivered') {
    if (newState === 'pending') return { do: 'hold', until: Math.max(now + 1000, newNextAttempt ?? 0), why: 'waits for the new-alert message to go first' };
    return { do: 'drop', why: 'the alert was never notified on this channel' };
  }
  if (row.event === 'reminder') {
    if (end !== null) return { do: 'drop', why: 'resolved before the reminder' };
    if (alert.acknowledged) return { do: 'drop', why: 'acknowledged: no more reminders' };
  }
  if (c.type === 'alertmanager' && (row.event === 'reminder' || row.event === 'acknowledged')) {
    return { do: 'drop', why: 'Alertmanager repeats and silences alerts itself' };
  }
  if (c.quietHours && alert.severity !== 'critical') {
    const until = quietUntil(now, c.quietHours);
    if (until !== null) return { do: 'hold', until, why: `quiet hours until ${new Date(until).toISOString()}` };
  }
  return { do: 'send' };
}

/**
 * After a long outage the backlog is cut to what still matters. Per alert whose oldest pending row is older than
 * `afterMs`: an open alert nobody has heard of yet keeps its new-alert message (sent with the alert as it is now);
 * one already notified keeps only its newest row; one that opened and resolved unheard goes entirely; one that
 * resolved after being notified keeps only its resolved message. Returns the rows to drop, with why.
 */
export function collapseBacklog(
  pending: Array<Pick<OutboxRow, 'id' | 'alert_id' | 'event' | 'created_at'>>,
  alert: (id: string) => Alert | undefined,
  notified: (alertId: string) => boolean,
  now: number,
  afterMs: number,
): Array<{ id: number; why: string }> {
  const groups = new Map<string, typeof pending>();
  for (const r of pending) {
    if (r.event === 'test') continue;
    groups.set(r.alert_id, [...(groups.get(r.alert_id) ?? []), r]);
  }
  const drops: Array<{ id: number; why: string }> = [];
  for (const [id, rows] of groups) {
    if (Math.min(...rows.map((r) => r.created_at)) > now - afterMs) continue;
    const a = alert(id);
    const sorted = [...rows].sort((x, y) => x.id - y.id);
    let keep: number | null;
    if (!a) keep = null;
    else if (a.state === 'resolved') keep = notified(id) ? (sorted.filter((r) => r.event === 'resolved').pop()?.id ?? null) : null;
    else if (!notified(id)) keep = sorted.find((r) => r.event === 'new')?.id ?? null;
    else keep = sorted[sorted.length - 1]!.id;
    for (const r of sorted) if (r.id !== keep) drops.push({ id: r.id, why: 'collapsed after an outage: a later message says what still matters' });
  }
  return drops;
}

/** The wait after the n-th failed attempt (n ≥ 1): doubling from `initialMs`, at most `maxMs`. */
export function backoffMs(attempts: number, initialMs: number, maxMs: number): number {
  return Math.min(maxMs, initialMs * 2 ** Math.max(0, attempts - 1));
}
