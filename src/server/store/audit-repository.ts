/** The audit trail of changes made through the API (kill requests, kills, refusals). */
import type { Db } from './db.js';

export interface AuditEntry {
  id: number;
  ts: string;
  actor: string;
  action: string;
  target: string;
  result: string;
  detail: string | null;
}

export class AuditRepository {
  private readonly insert;
  private readonly select;
  constructor(db: Db) {
    this.insert = db.prepare('INSERT INTO audit (ts, actor, action, target, result, detail) VALUES (?, ?, ?, ?, ?, ?)');
    this.select = db.prepare('SELECT * FROM audit ORDER BY id DESC LIMIT ?');
  }
  record(ts: number, actor: string, action: string, target: string, result: string, detail: string | null): void {
    this.insert.run(ts, actor, action, target, result, detail);
  }
  list(limit = 200): AuditEntry[] {
    return (this.select.all(limit) as Array<Omit<AuditEntry, 'ts'> & { ts: number }>).map((r) => ({ ...r, ts: new Date(r.ts).toISOString() }));
  }
}
