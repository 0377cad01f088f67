/**
 * The notification outbox: a row per (alert event, channel). Rows are planned inside the poll cycle's transaction
 * (so an event that was stored is an event that will be sent), then the dispatcher claims the due ones, sends
 * them and marks the outcome here. The unique key makes planning idempotent: planning the same event twice, or
 * again after a restart, adds nothing. Deciding what to send is not done here (server/notify/rules.ts).
 */
import type { Db } from './db.js';

export type OutboxEvent = 'new' | 'updated' | 'reminder' | 'resolved' | 'acknowledged' | 'test';
export type OutboxState = 'pending' | 'delivered' | 'failed' | 'dropped';

/** A row to add: its idempotency key, and when it may go at the earliest. */
export interface OutboxPlan {
  key: string;
  channel: string;
  alertId: string;
  event: OutboxEvent;
  createdAt: number;
  notBefore: number;
}

export interface OutboxRow {
  id: number;
  key: string;
  channel: string;
  alert_id: string;
  event: OutboxEvent;
  state: OutboxState;
  created_at: number;
  next_attempt_at: number;
  attempts: number;
  last_attempt_at: number | null;
  delivered_at: number | null;
  last_error: string | null;
  detail: string | null;
}

export interface ChannelHealthRow {
  channel: string;
  pending: number;
  failed: number;
  last_delivered_at: number | null;
  last_error_at: number | null;
  last_error: string | null;
}

/** Events of which only the newest pending one per alert and channel matters: a newer one supersedes the older. */
const SUPERSEDED_BY_NEWER = new Set<OutboxEvent>(['updated', 'reminder']);

export class OutboxRepository {
  private readonly insert;
  private readonly supersede;
  private readonly selectDue;
  private readonly selectPending;
  private readonly markDelivered;
  private readonly markRetry;
  private readonly markFailed;
  private readonly markDropped;
  private readonly markHeld;
  private readonly selectState;
  private readonly countSent;
  private readonly selectFirstNotified;
  private readonly selectNotifiedOpen;
  private readonly selectLog;
  private readonly selectLogChannel;
  private readonly selectHealth;
  private readonly insertFinal;

  constructor(private readonly db: Db) {
    this.insert = db.prepare(`INSERT OR IGNORE INTO notifications (key, channel, alert_id, event, state, created_at, next_attempt_at)
      VALUES (@key, @channel, @alertId, @event, 'pending', @createdAt, @notBefore)`);
    this.supersede = db.prepare(`UPDATE notifications SET state = 'dropped', detail = 'superseded by a newer ' || event
      WHERE alert_id = ? AND channel = ? AND event = ? AND state = 'pending' AND id < ?`);
    this.selectDue = db.prepare(`SELECT * FROM notifications WHERE state = 'pending' AND next_attempt_at <= ? ORDER BY id LIMIT ?`);
    this.selectPending = db.prepare(`SELECT * FROM notifications WHERE state = 'pending' AND channel = ? ORDER BY id`);
    this.markDelivered = db.prepare(`UPDATE notifications SET state = 'delivered', delivered_at = @at, last_attempt_at = @at,
      attempts = attempts + 1, last_error = NULL, detail = @detail WHERE id = @id AND state = 'pending'`);
    this.markRetry = db.prepare(`UPDATE notifications SET attempts = attempts + 1, last_attempt_at = @at, last_error = @error,
      next_attempt_at = @next, detail = NULL WHERE id = @id AND state = 'pending'`);
    this.markFailed = db.prepare(`UPDATE notifications SET state = 'failed', attempts = attempts + @attempted, last_attempt_at = @at,
      last_error = @error, detail = @detail WHERE id = @id AND state = 'pending'`);
    this.markDropped = db.prepare(`UPDATE notifications SET state = 'dropped', detail = ? WHERE id = ? AND state = 'pending'`);
    this.markHeld = db.prepare(`UPDATE notifications SET next_attempt_at = ?, detail = ? WHERE id = ? AND state = 'pending'`);
    this.selectState = db.prepare(`SELECT state FROM notifications WHERE alert_id = ? AND channel = ? AND event = ? ORDER BY id DESC LIMIT 1`);
    this.countSent = db.prepare(`SELECT COUNT(*) AS n FROM notifications WHERE channel = ? AND delivered_at >= ?`);
    this.selectFirstNotified = db.prepare(`SELECT n.alert_id AS alertId, n.channel, n.delivered_at AS deliveredAt
      FROM notifications n JOIN alerts a ON a.id = n.alert_id
      WHERE n.event = 'new' AND n.state = 'delivered' AND a.state = 'open' AND a.acknowledged_at IS NULL`);
    this.selectNotifiedOpen = db.prepare(`SELECT n.alert_id AS alertId FROM notifications n JOIN alerts a ON a.id = n.alert_id
      WHERE n.channel = ? AND n.event = 'new' AND n.state = 'delivered' AND a.state = 'open' ORDER BY n.id`);
    this.selectLog = db.prepare(`SELECT * FROM notifications ORDER BY id DESC LIMIT ?`);
    this.selectLogChannel = db.prepare(`SELECT * FROM notifications WHERE channel = ? ORDER BY id DESC LIMIT ?`);
    this.selectHealth = db.prepare(`SELECT channel,
        SUM(state = 'pending') AS pending,
        SUM(state = 'failed') AS failed,
        MAX(delivered_at) AS last_delivered_at,
        MAX(CASE WHEN last_error IS NOT NULL THEN last_attempt_at END) AS last_error_at,
        (SELECT last_error FROM notifications l WHERE l.channel = n.channel AND l.last_error IS NOT NULL ORDER BY l.last_attempt_at DESC LIMIT 1) AS last_error
      FROM notifications n GROUP BY channel`);
    this.insertFinal = db.prepare(`INSERT INTO notifications (key, channel, alert_id, event, state, created_at, next_attempt_at, attempts,
      last_attempt_at, delivered_at, last_error) VALUES (@key, @channel, @alertId, @event, @state, @createdAt, @createdAt, 1, @createdAt,
      @deliveredAt, @error)`);
  }

  /** Adds the planned rows (each key once, ever); run it inside the cycle's transaction. Returns how many were new. */
  enqueue(plans: OutboxPlan[]): number {
    let added = 0;
    for (const p of plans) {
      const r = this.insert.run(p);
      if (r.changes === 0) continue;
      added++;
      if (SUPERSEDED_BY_NEWER.has(p.event)) this.supersede.run(p.alertId, p.channel, p.event, r.lastInsertRowid);
    }
    return added;
  }

  /** enqueue in a transaction of its own (an acknowledgement, the reminders), for callers outside a cycle. */
  enqueueNow(plans: OutboxPlan[]): number {
    return this.db.transaction(() => this.enqueue(plans))();
  }

  due(now: number, limit = 200): OutboxRow[] {
    return this.selectDue.all(now, limit) as OutboxRow[];
  }

  pending(channel: string): OutboxRow[] {
    return this.selectPending.all(channel) as OutboxRow[];
  }

  delivered(id: number, at: number, detail: string | null = null): void {
    this.markDelivered.run({ id, at, detail });
  }

  retry(id: number, at: number, error: string, next: number): void {
    this.markRetry.run({ id, at, error, next });
  }

  /** Gives up on a row; `attempted` says whether this call ends an attempt (it counts) or only a wait. */
  failed(id: number, at: number, error: string, detail: string, attempted: boolean): void {
    this.markFailed.run({ id, at, error, detail, attempted: attempted ? 1 : 0 });
  }

  dropped(id: number, why: string): void {
    this.markDropped.run(why, id);
  }

  held(id: number, until: number, why: string): void {
    this.markHeld.run(until, why, id);
  }

  /** The state of the newest row of this alert, channel and event; undefined when there is none. */
  stateOf(alertId: string, channel: string, event: OutboxEvent): OutboxState | undefined {
    return (this.selectState.get(alertId, channel, event) as { state: OutboxState } | undefined)?.state;
  }

  /** Messages delivered on a channel since a time: the rate limit's count, which a restart does not reset. */
  sentSince(channel: string, since: number): number {
    return (this.countSent.get(channel, since) as { n: number }).n;
  }

  /** Open, unacknowledged alerts that have been notified, with when: what reminders are counted from. */
  notifiedUnacknowledged(): Array<{ alertId: string; channel: string; deliveredAt: number }> {
    return this.selectFirstNotified.all() as Array<{ alertId: string; channel: string; deliveredAt: number }>;
  }

  /** Open alerts a channel has been told about (Alertmanager wants them re-posted while they last). */
  notifiedOpen(channel: string): string[] {
    return (this.selectNotifiedOpen.all(channel) as Array<{ alertId: string }>).map((r) => r.alertId);
  }

  log(limit = 200, channel?: string): OutboxRow[] {
    return (channel === undefined ? this.selectLog.all(limit) : this.selectLogChannel.all(channel, limit)) as OutboxRow[];
  }

  health(): ChannelHealthRow[] {
    return this.selectHealth.all() as ChannelHealthRow[];
  }

  /** A message sent outside the queue (`fleetmon notify test`), recorded with its outcome for the log. */
  record(plan: OutboxPlan, outcome: { ok: true } | { ok: false; error: string }): void {
    this.insertFinal.run({
      ...plan,
      state: outcome.ok ? 'delivered' : 'failed',
      deliveredAt: outcome.ok ? plan.createdAt : null,
      error: outcome.ok ? null : outcome.error,
    });
  }
}
