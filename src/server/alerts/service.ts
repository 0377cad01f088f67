/**
 * Alerts in SQLite: applies the pure evaluation's changes inside the poll cycle's transaction, and records
 * acknowledgements. Acks and resolved history survive restarts because they only live here.
 */
import { createHash } from 'node:crypto';
import type { FleetConfig } from '../../core/config.js';
import type { Alert, AlertType, Severity } from '../../core/model.js';
import { iso } from '../../core/model.js';
import type { Db } from '../store/db.js';
import { evaluateOrDisable, type Condition, type HostView, type OpenAlert } from './evaluate.js';

interface AlertRow {
  id: string;
  condition_key: string;
  type: AlertType;
  severity: Severity;
  host: string;
  session: string | null;
  gpu_index: number | null;
  message: string;
  value: number | null;
  threshold: number | null;
  state: 'open' | 'resolved';
  created_at: number;
  last_seen_at: number;
  resolved_at: number | null;
  acknowledged_at: number | null;
  acknowledged_by: string | null;
  ack_note: string | null;
}

export type AlertEvent =
  | { event: 'alert_new'; data: Alert }
  | { event: 'alert_cleared'; data: { id: string } }
  | { event: 'alert_updated'; data: Alert }
  | { event: 'alert_acked'; data: Alert };

export function toAlert(r: AlertRow): Alert {
  return {
    id: r.id,
    type: r.type,
    severity: r.severity,
    host: r.host,
    session: r.session,
    gpu_index: r.gpu_index,
    message: r.message,
    value: r.value,
    threshold: r.threshold,
    state: r.state,
    created_at: iso(r.created_at)!,
    last_seen_at: iso(r.last_seen_at)!,
    resolved_at: iso(r.resolved_at),
    acknowledged: r.acknowledged_at !== null,
    acknowledged_at: iso(r.acknowledged_at),
    acknowledged_by: r.acknowledged_by,
    ack_note: r.ack_note,
  };
}

export function alertId(conditionKey: string, createdAt: number): string {
  return `a${createHash('sha256').update(conditionKey).digest('hex').slice(0, 10)}${createdAt.toString(36)}`;
}

export class AlertService {
  private readonly selectOpen;
  private readonly insert;
  private readonly update;
  private readonly resolve;
  private readonly ackStmt;
  private readonly byId;

  constructor(
    private readonly db: Db,
    private readonly config: FleetConfig,
    private readonly now: () => number,
  ) {
    this.selectOpen = db.prepare(`SELECT * FROM alerts WHERE state = 'open' ORDER BY created_at`);
    this.insert = db.prepare(`INSERT INTO alerts (id, condition_key, type, severity, host, session, gpu_index, message, value,
      threshold, state, created_at, last_seen_at) VALUES (@id, @conditionKey, @type, @severity, @host, @session, @gpuIndex,
      @message, @value, @threshold, 'open', @now, @now)`);
    this.update = db.prepare(`UPDATE alerts SET message = ?, value = ?, last_seen_at = ? WHERE id = ?`);
    this.resolve = db.prepare(`UPDATE alerts SET state = 'resolved', resolved_at = ? WHERE id = ? AND state = 'open'`);
    this.ackStmt = db.prepare(
      `UPDATE alerts SET acknowledged_at = COALESCE(acknowledged_at, ?), acknowledged_by = COALESCE(acknowledged_by, ?),
       ack_note = COALESCE(?, ack_note) WHERE id = ?`,
    );
    this.byId = db.prepare('SELECT * FROM alerts WHERE id = ?');
  }

  /** Must run inside the cycle's transaction. Returns the events to publish after it commits. */
  evaluate(views: HostView[], at: number): AlertEvent[] {
    const rows = this.selectOpen.all() as AlertRow[];
    const open: OpenAlert[] = rows.map((r) => ({
      id: r.id,
      conditionKey: r.condition_key,
      type: r.type,
      host: r.host,
      value: r.value,
      message: r.message,
    }));
    const changes = evaluateOrDisable(views, open, this.config.alerts);
    const events: AlertEvent[] = [];
    for (const c of changes.raise) {
      const id = alertId(c.conditionKey, at);
      this.insert.run({ ...c, id, now: at });
      events.push({ event: 'alert_new', data: this.get(id)! });
    }
    for (const u of changes.update) {
      this.update.run(u.condition.message, u.condition.value, at, u.id);
      events.push({ event: 'alert_updated', data: this.get(u.id)! });
    }
    for (const a of changes.resolve) {
      this.resolve.run(at, a.id);
      events.push({ event: 'alert_cleared', data: { id: a.id } });
    }
    return events;
  }

  get(id: string): Alert | undefined {
    const row = this.byId.get(id) as AlertRow | undefined;
    return row ? toAlert(row) : undefined;
  }

  list(filter: { state?: 'open' | 'resolved' | 'all'; acknowledged?: boolean; limit?: number } = {}): Alert[] {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.state && filter.state !== 'all') {
      where.push('state = ?');
      params.push(filter.state);
    }
    if (filter.acknowledged !== undefined) where.push(filter.acknowledged ? 'acknowledged_at IS NOT NULL' : 'acknowledged_at IS NULL');
    const sql = `SELECT * FROM alerts ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC LIMIT ?`;
    params.push(filter.limit ?? 1000);
    return (this.db.prepare(sql).all(...params) as AlertRow[]).map(toAlert);
  }

  /** Idempotent: acknowledging twice keeps the first time and author; a later note replaces the earlier one. */
  acknowledge(id: string, by: string, note: string | null): Alert | undefined {
    const result = this.ackStmt.run(this.now(), by, note, id);
    if (result.changes === 0) return undefined;
    return this.get(id);
  }
}

export type { Condition };
