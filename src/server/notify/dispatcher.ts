/**
 * The dispatcher drains the outbox: every tick it plans due reminders, collapses old backlogs, and sends each due
 * row through its channel as rules.ts decides, with backoff on failure and a per-channel rate limit. A row is
 * marked delivered as soon as its peer accepted it, and every attempt carries the row's idempotency key, so a
 * crash between the two re-sends a message the receiver can recognise instead of losing one. Ticks never overlap.
 */
import type { Logger } from 'pino';
import type { NotificationsConfig } from '../../core/config.js';
import type { Alert } from '../../core/model.js';
import type { AlertRepository } from '../store/alert-repository.js';
import type { OutboxRepository, OutboxRow } from '../store/outbox-repository.js';
import { makeSender, resolveSecrets, type Sender, type SendResult } from './channels.js';
import { testAlert } from './format.js';
import { backoffMs, collapseBacklog, decide, dueReminders, notificationKey, planNotifications, ruleChannel, type RuleChannel } from './rules.js';
import type { AlertEvent } from '../alerts/events.js';
import type { OutboxPlan } from '../store/outbox-repository.js';

export interface DispatcherOptions {
  config: NotificationsConfig;
  outbox: OutboxRepository;
  alerts: AlertRepository;
  log: Logger;
  now?: () => number;
  env?: NodeJS.ProcessEnv;
  /** How often the outbox is looked at (ms); a new alert also wakes it at once. */
  intervalMs?: number;
}

export interface TickSummary {
  sent: number;
  failed: number;
  held: number;
  dropped: number;
}

export class Dispatcher {
  readonly channels: RuleChannel[];
  private readonly senders = new Map<string, Sender>();
  private readonly now: () => number;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<TickSummary> | null = null;
  private again = false;
  private readonly lastRepost = new Map<string, number>();

  /** The outbox, for the delivery log. */
  get outbox(): OutboxRepository {
    return this.opts.outbox;
  }

  constructor(private readonly opts: DispatcherOptions) {
    this.now = opts.now ?? Date.now;
    this.channels = opts.config.channels.map(ruleChannel);
    // Secrets are read now, so a missing file stops the server at start rather than at the first alert.
    for (const c of opts.config.channels) {
      this.senders.set(c.name, makeSender(c, resolveSecrets(c, opts.env), { alertmanagerResendMs: opts.config.alertmanager_resend_seconds * 1000 }));
    }
  }

  get enabled(): boolean {
    return this.channels.length > 0;
  }

  /** The outbox rows these alert events cause; for the cycle's transaction. */
  plan(events: AlertEvent[], alert: (id: string) => Alert | undefined, at: number): OutboxPlan[] {
    return planNotifications(events, this.channels, alert, at);
  }

  start(): void {
    if (!this.enabled || this.timer) return;
    this.timer = setInterval(() => this.kick(), this.opts.intervalMs ?? 1000);
    this.timer.unref();
    this.kick();
  }

  /** Waits for the tick in progress (its sends are bounded by the channels' timeouts), then stops. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.again = false;
    if (this.running) await this.running.catch(() => undefined);
    for (const s of this.senders.values()) s.close();
  }

  /** A tick now (or right after the one running); only once started, so a stopped dispatcher stays quiet. */
  kick(): void {
    if (!this.timer) return;
    if (this.running) {
      this.again = true;
      return;
    }
    void this.tick().catch((err: unknown) => this.opts.log.error({ err }, 'notification tick failed'));
  }

  /** One pass over the outbox; concurrent calls share the pass in progress. */
  tick(): Promise<TickSummary> {
    if (this.running) return this.running;
    this.running = this.pass().finally(() => {
      this.running = null;
      if (this.again && this.timer) {
        this.again = false;
        this.kick();
      }
    });
    return this.running;
  }

  private async pass(): Promise<TickSummary> {
    const { outbox, alerts, config } = this.opts;
    const summary: TickSummary = { sent: 0, failed: 0, held: 0, dropped: 0 };
    if (!this.enabled) return summary;
    const now = this.now();
    outbox.enqueueNow(dueReminders(outbox.notifiedUnacknowledged(), this.channels, now));
    for (const c of this.channels) {
      const drops = collapseBacklog(outbox.pending(c.name), (id) => alerts.get(id), (id) => outbox.stateOf(id, c.name, 'new') === 'delivered', now, config.collapse_after_minutes * 60_000);
      for (const d of drops) outbox.dropped(d.id, d.why);
      summary.dropped += drops.length;
    }
    const byChannel = new Map<string, OutboxRow[]>();
    for (const row of outbox.due(now)) byChannel.set(row.channel, [...(byChannel.get(row.channel) ?? []), row]);
    // Channels are independent: a slow one does not hold up the others. Within a channel rows go in order.
    await Promise.all([
      ...[...byChannel].map(([name, rows]) => this.drainChannel(name, rows, summary)),
      ...this.channels.filter((c) => c.type === 'alertmanager').map((c) => this.repost(c, now)),
    ]);
    return summary;
  }

  private async drainChannel(name: string, rows: OutboxRow[], summary: TickSummary): Promise<void> {
    const { outbox, alerts, config } = this.opts;
    const channel = this.channels.find((c) => c.name === name);
    const sender = this.senders.get(name);
    if (!channel || !sender) {
      for (const r of rows) outbox.dropped(r.id, `the channel '${name}' is no longer configured`);
      summary.dropped += rows.length;
      return;
    }
    const limit = config.channels.find((c) => c.name === name)!.rate_limit_per_minute;
    /** Alerts whose earlier row did not go this pass: their later rows wait, so messages keep their order. */
    const blocked = new Set<string>();
    for (const row of rows) {
      const now = this.now();
      if (blocked.has(row.alert_id)) continue;
      const alert = alerts.get(row.alert_id);
      const newState = row.event === 'new' ? undefined : outbox.stateOf(row.alert_id, name, 'new');
      const d = decide({ row, alert, channel, now, newState });
      if (d.do === 'drop') {
        outbox.dropped(row.id, d.why);
        summary.dropped++;
        continue;
      }
      if (d.do === 'hold') {
        outbox.held(row.id, d.until, d.why);
        blocked.add(row.alert_id);
        summary.held++;
        continue;
      }
      if (outbox.sentSince(name, now - 60_000) >= limit) {
        // The rest of this channel's rows wait for the window to move on.
        outbox.held(row.id, now + Math.ceil(60_000 / limit), `rate limit: ${limit} messages a minute`);
        summary.held++;
        return;
      }
      const result = await this.attempt(sender, row, alert!);
      const at = this.now();
      if (result.ok) {
        outbox.delivered(row.id, at, result.detail);
        summary.sent++;
        continue;
      }
      blocked.add(row.alert_id);
      summary.failed++;
      const attempts = row.attempts + 1;
      const giveUp = !result.retryable || at - row.created_at >= config.give_up_after_hours * 3600_000;
      if (giveUp) {
        outbox.failed(row.id, at, result.error, result.retryable ? `gave up after ${attempts} attempts` : 'the peer refused it: fix the channel and use `fleetmon notify test`', true);
        this.opts.log.error({ channel: name, alert: row.alert_id, event: row.event, attempts, error: result.error }, 'notification failed for good');
      } else {
        const next = at + backoffMs(attempts, config.retry_initial_seconds * 1000, config.retry_max_seconds * 1000);
        outbox.retry(row.id, at, result.error, next);
        this.opts.log.warn({ channel: name, alert: row.alert_id, event: row.event, attempts, error: result.error }, 'notification failed; will retry');
      }
    }
  }

  private attempt(sender: Sender, row: OutboxRow, alert: Alert): Promise<SendResult> {
    return sender.send({ event: row.event, alert, key: row.key, at: this.now() }).catch((err: unknown) => ({ ok: false as const, error: `sending failed: ${(err as Error).message}`, retryable: true }));
  }

  /** Alertmanager forgets an alert that is not re-posted: every resend interval, post the open ones again. */
  private async repost(c: RuleChannel, now: number): Promise<void> {
    const every = this.opts.config.alertmanager_resend_seconds * 1000;
    if (now - (this.lastRepost.get(c.name) ?? 0) < every) return;
    const open = this.opts.outbox.notifiedOpen(c.name).map((id) => this.opts.alerts.get(id)).filter((a): a is Alert => a !== undefined);
    this.lastRepost.set(c.name, now);
    if (open.length === 0) return;
    const result = await this.senders.get(c.name)!.repost!(open, now);
    if (!result.ok) this.opts.log.warn({ channel: c.name, error: result.error }, 'could not re-post open alerts to Alertmanager');
  }

  /** `fleetmon notify test NAME`: a made-up alert straight to one channel, recorded in the log with its outcome. */
  async test(name: string): Promise<{ channel: string; type: string; ok: boolean; detail: string; ms: number } | undefined> {
    const sender = this.senders.get(name);
    if (!sender) return undefined;
    const at = this.now();
    const alert = testAlert(name, at);
    const key = notificationKey(alert.id, name, 'test');
    const started = performance.now();
    const result = await sender.send({ event: 'test', alert, key, at }).catch((err: unknown) => ({ ok: false as const, error: (err as Error).message, retryable: false }));
    const ms = Math.round(performance.now() - started);
    this.opts.outbox.record({ key, channel: name, alertId: alert.id, event: 'test', createdAt: at, notBefore: at }, result.ok ? { ok: true } : { ok: false, error: result.error });
    return { channel: name, type: sender.type, ok: result.ok, detail: result.ok ? result.detail : result.error, ms };
  }
}
