/**
 * Repositories: the only place with SQL. Statements are prepared once; a poll cycle is written in one
 * transaction (synchronous: nothing awaits inside).
 */
import type { Host } from '../../core/model.js';
import type { Db } from './db.js';

export const HISTORY_METRICS = [
  'cpu_percent',
  'memory_percent',
  'memory_used_mb',
  'load_1',
  'net_rx_bps',
  'net_tx_bps',
  'gpu_temp_max',
  'gpu_power_w',
  'gpu_util_percent',
  'gpu_memory_percent',
  'session_count',
] as const;
export type HistoryMetric = (typeof HISTORY_METRICS)[number];

export interface HistoryPoint {
  t: number;
  v: number | null;
}

function sum(values: Array<number | null | undefined>): number | null {
  const known = values.filter((v): v is number => typeof v === 'number');
  return known.length ? known.reduce((a, b) => a + b, 0) : null;
}
function max(values: Array<number | null | undefined>): number | null {
  const known = values.filter((v): v is number => typeof v === 'number');
  return known.length ? Math.max(...known) : null;
}

export class SampleRepository {
  private readonly insertHost;
  private readonly insertSession;
  private readonly upsertState;
  private readonly selectStates;

  constructor(private readonly db: Db) {
    this.insertHost = db.prepare(`INSERT INTO host_samples
      (ts, host, status, cpu_percent, memory_percent, memory_used_mb, load_1, net_rx_bps, net_tx_bps,
       gpu_temp_max, gpu_power_w, gpu_util_percent, gpu_memory_percent, session_count)
      VALUES (@ts, @host, @status, @cpu_percent, @memory_percent, @memory_used_mb, @load_1, @net_rx_bps, @net_tx_bps,
       @gpu_temp_max, @gpu_power_w, @gpu_util_percent, @gpu_memory_percent, @session_count)`);
    this.insertSession = db.prepare(`INSERT INTO session_samples (ts, host, session_id, cpu_percent, rss_mb, gpu_memory_mb, attached)
      VALUES (?, ?, ?, ?, ?, ?, ?)`);
    this.upsertState = db.prepare(`INSERT INTO host_state (host, updated_at, snapshot) VALUES (?, ?, ?)
      ON CONFLICT (host) DO UPDATE SET updated_at = excluded.updated_at, snapshot = excluded.snapshot`);
    this.selectStates = db.prepare('SELECT host, snapshot FROM host_state');
  }

  /**
   * One cycle in one transaction: a sample row per host and per session. With `states`, each host's whole snapshot
   * is saved too, for the next start to show until its first poll; that is most of a cycle's bytes, so the monitor
   * saves states every few minutes and at shutdown, not every cycle.
   */
  writeCycle(ts: number, hosts: Host[], opts: { states?: boolean } = {}): void {
    this.db.transaction(() => this.insertCycle(ts, hosts, opts))();
  }

  /** writeCycle's rows, for a caller that already holds a transaction (Store.writeCycle adds the alert changes). */
  insertCycle(ts: number, hosts: Host[], opts: { states?: boolean } = {}): void {
    const states = opts.states ?? true;
    for (const h of hosts) {
      const m = h;
      const gpus = h.gpus;
      const fresh = h.status === 'online' || h.status === 'degraded';
      this.insertHost.run({
        ts,
        host: h.hostname,
        status: h.status,
        cpu_percent: fresh ? m.cpu_percent : null,
        memory_percent: fresh ? m.memory_percent : null,
        memory_used_mb: fresh ? m.memory_used_mb : null,
        load_1: fresh ? (m.load_avg?.[0] ?? null) : null,
        net_rx_bps: fresh ? sum(m.network.map((n) => n.rx_bytes_per_s)) : null,
        net_tx_bps: fresh ? sum(m.network.map((n) => n.tx_bytes_per_s)) : null,
        gpu_temp_max: fresh ? max(gpus.map((g) => g.temperature_c)) : null,
        gpu_power_w: fresh ? sum(gpus.map((g) => g.power_draw_watts)) : null,
        gpu_util_percent: fresh ? max(gpus.map((g) => g.utilization_percent)) : null,
        gpu_memory_percent: fresh ? max(gpus.map((g) => g.memory_percent)) : null,
        session_count: h.sessions.length,
      });
      if (fresh) {
        for (const s of h.sessions) {
          // Keyed by the canonical host:user:name, as the rows stored before the specification's short id were.
          this.insertSession.run(ts, h.hostname, s.fleetmon_id, s.cpu_percent, s.memory_mb, s.gpu_memory_mb, s.attached ? 1 : 0);
        }
      }
    }
    if (states) this.upsertStates(ts, hosts);
  }

  /** Each host's whole snapshot, in one transaction (the monitor's shutdown). */
  saveStates(ts: number, hosts: Host[]): void {
    this.db.transaction(() => this.upsertStates(ts, hosts))();
  }

  private upsertStates(ts: number, hosts: Host[]): void {
    for (const h of hosts) this.upsertState.run(h.hostname, ts, JSON.stringify(h));
  }

  lastStates(): Map<string, Host> {
    const out = new Map<string, Host>();
    for (const row of this.selectStates.all() as Array<{ host: string; snapshot: string }>) {
      try {
        out.set(row.host, JSON.parse(row.snapshot) as Host);
      } catch {
        /* a state that cannot be read is simply not restored */
      }
    }
    return out;
  }

  /**
   * A metric over [since, until], averaged into at most maxPoints buckets. Raw samples where they still exist,
   * hourly aggregates for older ranges.
   */
  history(host: string, metric: HistoryMetric, since: number, until: number, maxPoints = 500): HistoryPoint[] {
    if (!HISTORY_METRICS.includes(metric)) throw new Error(`unknown metric ${metric}`);
    const bucket = Math.max(1, Math.ceil((until - since) / maxPoints));
    // Integer division in SQL needs integer operands: bound JS numbers may arrive as REAL.
    const raw = this.db
      .prepare(
        `SELECT CAST(ts / @bucket AS INTEGER) * @bucket AS t, AVG(${metric}) AS v FROM host_samples
         WHERE host = @host AND ts >= @since AND ts <= @until GROUP BY CAST(ts / @bucket AS INTEGER) ORDER BY t`,
      )
      .all({ host, since, until, bucket }) as HistoryPoint[];
    const oldestRaw = raw[0]?.t ?? until;
    if (oldestRaw - since <= bucket) return raw;
    const hourly = this.db
      .prepare(
        `SELECT CAST(hour / @bucket AS INTEGER) * @bucket AS t, AVG(${metric}) AS v FROM host_samples_hourly
         WHERE host = @host AND hour >= @since AND hour < @before GROUP BY CAST(hour / @bucket AS INTEGER) ORDER BY t`,
      )
      .all({ host, since, before: oldestRaw, bucket }) as HistoryPoint[];
    return [...hourly, ...raw];
  }

  /**
   * Rolls raw samples older than the cutoff into hourly aggregates, then deletes them; hourly rows older than
   * hourlyCutoff go too. Returns the number of raw rows removed.
   */
  retain(rawCutoff: number, hourlyCutoff: number): { hostRows: number; sessionRows: number } {
    return this.db.transaction(() => {
      const hourExpr = 'CAST(ts / 3600000 AS INTEGER) * 3600000';
      this.db
        .prepare(
          `INSERT INTO host_samples_hourly (hour, host, samples, cpu_percent, memory_percent, memory_used_mb, load_1,
             net_rx_bps, net_tx_bps, gpu_temp_max, gpu_power_w, gpu_util_percent, gpu_memory_percent, session_count)
           SELECT ${hourExpr}, host, COUNT(*), AVG(cpu_percent), AVG(memory_percent), AVG(memory_used_mb), AVG(load_1),
             AVG(net_rx_bps), AVG(net_tx_bps), MAX(gpu_temp_max), AVG(gpu_power_w), AVG(gpu_util_percent),
             AVG(gpu_memory_percent), AVG(session_count)
           FROM host_samples WHERE ts < ? GROUP BY host, ${hourExpr}
           ON CONFLICT (host, hour) DO UPDATE SET samples = samples + excluded.samples`,
        )
        .run(rawCutoff);
      const hostRows = this.db.prepare('DELETE FROM host_samples WHERE ts < ?').run(rawCutoff).changes;
      const sessionRows = this.db.prepare('DELETE FROM session_samples WHERE ts < ?').run(rawCutoff).changes;
      this.db.prepare('DELETE FROM host_samples_hourly WHERE hour < ?').run(hourlyCutoff);
      this.db.prepare(`DELETE FROM alerts WHERE state = 'resolved' AND resolved_at < ?`).run(hourlyCutoff);
      return { hostRows, sessionRows };
    })();
  }
}

export class HostKeyRepository {
  private readonly get;
  private readonly put;
  constructor(db: Db) {
    this.get = db.prepare('SELECT fingerprint, key_type AS keyType FROM host_keys WHERE host = ?');
    this.put = db.prepare('INSERT OR IGNORE INTO host_keys (host, fingerprint, key_type, first_seen_at) VALUES (?, ?, ?, ?)');
  }
  find(host: string): { fingerprint: string; keyType: string } | undefined {
    return this.get.get(host) as { fingerprint: string; keyType: string } | undefined;
  }
  remember(host: string, fingerprint: string, keyType: string, now: number): void {
    this.put.run(host, fingerprint, keyType, now);
  }
}
