/**
 * Alerts in SQLite: the open alerts the pure evaluation starts from, the changes it returns applied (inside the
 * poll cycle's transaction), and acknowledgements. Acks and resolved history survive restarts because they only
 * live here.
 */
import type { Alert, AlertType, Severity } from '../../core/model.js';
import { iso } from '../../core/model.js';
import type { AlertChanges, OpenAlert } from '../alerts/evaluate.js';
import { alertId, type AlertEvent } from '../alerts/events.js';
import type { Db } from './db.js';

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

export interface AlertFilter {
  state?: 'open' | 'resolved' | 'all';
  acknowledged?: boolean;
  limit?: number;
}

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
    created: iso(r.created_at)!,
    last_seen_at: iso(r.last_seen_at)!,
    resolved_at: iso(r.resolved_at),
    acknowledged: r.acknowledged_at !== null,
    acknowledged_at: iso(r.acknowledged_at),
    acknowledged_by: r.acknowledged_by,
    ack_note: r.ack_note,
  };
}

export class AlertRepository {
  private readonly selectOpen;
  private readonly insert;
  private readonly update;
  private readonly resolve;
  private readonly ackStmt;
  private readonly byId;
  /** One statement per filter shape (at most six), each prepared on first use. */
  private readonly listStmts = new Map<string, ReturnType<Db['prepare']>>();

  constructor(private readonly db: Db) {
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

  /** The open alerts, as the pure evaluation takes them. */
  open(): OpenAlert[] {
    return (this.selectOpen.all() as AlertRow[]).map((r) => ({
      id: r.id,
      conditionKey: r.condition_key,
      type: r.type,
      host: r.host,
      value: r.value,
      message: r.message,
    }));
  }

  /** Writes an evaluation's changes; run it inside the cycle's transaction. Returns the events to publish after it commits. */
  apply(changes: AlertChanges, at: number): AlertEvent[] {
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

  list(filter: AlertFilter = {}): Alert[] {
    const state = filter.state && filter.state !== 'all' ? filter.state : null;
    const shape = `${state !== null}|${filter.acknowledged ?? ''}`;
    let stmt = this.listStmts.get(shape);
    if (!stmt) {
      const where: string[] = [];
      if (state !== null) where.push('state = @state');
      if (filter.acknowledged !== undefined) where.push(filter.acknowledged ? 'acknowledged_at IS NOT NULL' : 'acknowledged_at IS NULL');
      stmt = this.db.prepare(`SELECT * FROM alerts ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC LIMIT @limit`);
      this.listStmts.set(shape, stmt);
    }
    const params = state !== null ? { state, limit: filter.limit ?? 1000 } : { limit: filter.limit ?? 1000 };
    return (stmt.all(params) as AlertRow[]).map(toAlert);
  }

  /** Idempotent: acknowledging twice keeps the first time and author; a later note replaces the earlier one. */
  acknowledge(id: string, by: string, note: string | null, at: number): Alert | undefined {
    const result = this.ackStmt.run(at, by, note, id);
    if (result.changes === 0) return undefined;
    return this.get(id);
  }
}
