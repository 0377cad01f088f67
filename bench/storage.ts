/**
 * Section 5: storage. A day (and more) of history at the default poll interval, simulated quickly: real SQLite
 * through the server's own migrations and repository, one transaction per cycle as the monitor writes it, and the
 * monitor's retention run every 10 simulated minutes. Reports bytes per host per day, write time per cycle, and
 * the file size day by day, which must stop growing once retention starts removing rows.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigSchema } from '../src/core/config.js';
import type { Host, Session } from '../src/core/model.js';
import { Value } from '@sinclair/typebox/value';
import { RETENTION_EVERY_MS, STATE_SAVE_EVERY_MS, retentionCutoffs } from '../src/server/monitor.js';
import { closeDatabase, openDatabase, type Db } from '../src/server/store/db.js';
import { SampleRepository } from '../src/server/store/repositories.js';
import type { Report } from './lib/report.js';
import { round, summarize } from './lib/stats.js';

export interface StorageOptions {
  hosts: number;
  sessionsPerHost: number;
  days: number;
}

const SECTION = '5. storage';

/** A GPU host as the poller stores it, with values that move from cycle to cycle like real ones. */
function makeHost(i: number, sessions: number, rnd: () => number): Host {
  const name = `host${i}`;
  const session = (k: number): Session => ({
    id: `${name}:job-${k}`,
    host: name,
    name: `job-${k}`,
    created: '2026-11-20T10:00:00.000Z',
    last_activity: '2026-11-23T10:00:00.000Z',
    attached: false,
    window_count: 1,
    status: 'active',
    pids: [1000 + k, 2000 + k],
    cpu_percent: round(rnd() * 100, 1),
    memory_mb: round(rnd() * 4000, 1),
    gpu_memory_mb: k === 0 ? Math.round(rnd() * 30000) : 0,
    fleetmon_id: `${name}:fleetmon:job-${k}`,
    user: 'fleetmon',
    created_epoch: 1795168800,
    last_attached_at: null,
    attached_clients: 0,
    detached_hours: 12,
    pane_pids: [1000 + k],
    process_count: 2,
    attach_command: `ssh -t fleetmon@10.0.0.${i} tmux attach -t '=job-${k}'`,
    processes: [],
  });
  return {
    hostname: name,
    address: `10.0.0.${i}`,
    last_seen: null,
    status: 'online',
    cpu_percent: round(rnd() * 100, 1),
    memory_percent: round(rnd() * 30, 1),
    memory_used_mb: round(20000 + rnd() * 10000, 1),
    memory_total_mb: 128887,
    load_avg: [round(rnd() * 8, 2), 3, 2],
    cpu_per_core: Array.from({ length: 16 }, () => round(rnd() * 100, 1)),
    cpu_count: 16,
    memory_available_mb: 100000,
    swap_total_mb: 0,
    swap_used_mb: 0,
    uptime_seconds: 86400,
    disks: [],
    network: [{ iface: 'eth0', rx_bytes_per_s: round(rnd() * 1e6, 1), tx_bytes_per_s: round(rnd() * 1e5, 1), rx_bytes: 0, tx_bytes: 0 }],
    gpus: [],
    sessions: Array.from({ length: sessions }, (_, k) => session(k)),
    has_gpu: true,
    pending: false,
    last_poll_at: null,
    last_error: null,
    consecutive_failures: 0,
    poll_ms: 20,
    problems: [],
    gpu_available: true,
    gpu_error: null,
    sessions_scope: { scope: 'all-users', reason: null },
  };
}

/** Database file plus its WAL, after a checkpoint (what is on disk once the WAL is folded in). */
function sizeOnDisk(db: Db, path: string): number {
  db.pragma('wal_checkpoint(TRUNCATE)');
  const size = (p: string) => {
    try {
      return statSync(p).size;
    } catch {
      return 0;
    }
  };
  return size(path) + size(`${path}-wal`);
}

export function benchStorage(report: Report, opts: StorageOptions): void {
  const defaults = Value.Default(ConfigSchema, { hosts: [] }) as { polling_interval_seconds: number; server: { history_retention_days: number } };
  const interval = defaults.polling_interval_seconds * 1000;
  const retentionDays = defaults.server.history_retention_days;
  console.log(
    `\n${SECTION} — ${opts.hosts} hosts × ${opts.sessionsPerHost} sessions, every ${interval / 1000} s (the default) for ${opts.days} simulated days, retention ${retentionDays} days (the default)`,
  );
  const dir = mkdtempSync(join(tmpdir(), 'fleetmon-bench-storage-'));
  const { db, path } = openDatabase(dir);
  try {
    const samples = new SampleRepository(db);
    let seed = 42;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    const start = Date.UTC(2026, 0, 1);
    const cyclesPerDay = Math.round(86400_000 / interval);
    const writes: number[] = [];
    const daily: number[] = [];
    let nextRetention = start + RETENTION_EVERY_MS;
    let nextStates = start;
    for (let day = 0; day < opts.days; day++) {
      for (let c = 0; c < cyclesPerDay; c++) {
        const ts = start + (day * cyclesPerDay + c) * interval;
        const hosts = Array.from({ length: opts.hosts }, (_, i) => makeHost(i, opts.sessionsPerHost, rnd));
        const t0 = performance.now();
        // As the monitor writes: samples every cycle, whole host snapshots every STATE_SAVE_EVERY_MS.
        const states = ts >= nextStates;
        if (states) nextStates = ts + STATE_SAVE_EVERY_MS;
        samples.writeCycle(ts, hosts, { states });
        writes.push(performance.now() - t0);
        if (ts >= nextRetention) {
          const { rawCutoff, hourlyCutoff } = retentionCutoffs(ts, retentionDays);
          samples.retain(rawCutoff, hourlyCutoff);
          nextRetention += RETENTION_EVERY_MS;
        }
      }
      daily.push(sizeOnDisk(db, path));
    }
    const w = summarize(writes);
    const perHostDay = daily[0]! / opts.hosts;
    const steady = daily.length > 1 ? (daily[Math.min(daily.length, retentionDays) - 1]! - daily[0]!) / Math.max(1, Math.min(daily.length, retentionDays) - 1) / opts.hosts : perHostDay;
    report.add({ section: SECTION, name: 'SQLite per host per day of history', value: round(steady / 1024 / 1024, 2), unit: 'MiB', comparison: `${opts.sessionsPerHost} sessions per host; first day incl. fixed overhead ${round(perHostDay / 1024 / 1024, 2)} MiB` });
    report.add({ section: SECTION, name: `write per cycle (${opts.hosts} hosts, one transaction), median`, value: round(w.median, 2), unit: 'ms', comparison: `p95 ${round(w.p95, 2)} ms; ${round(w.median / opts.hosts, 3)} ms per host` });
    const mib = daily.map((b) => round(b / 1024 / 1024, 1));
    report.note(`file size at the end of each day (MiB): ${mib.join(', ')}`);
    if (opts.days > retentionDays + 1) {
      const plateau = daily.slice(retentionDays);
      const growth = (Math.max(...plateau) - Math.min(...plateau)) / Math.max(...plateau);
      report.add({
        section: SECTION,
        name: `file growth after day ${retentionDays} (retention), relative`,
        value: round(growth * 100, 1),
        unit: '%',
        comparison: `${mib[retentionDays]} → ${mib[mib.length - 1]} MiB for ${opts.hosts} hosts`,
        target: 'bounded (< 5 %)',
        holds: growth < 0.05,
      });
    } else {
      report.skip(SECTION, 'bounded file size', `needs more than ${retentionDays + 1} simulated days (ran ${opts.days})`);
    }
  } finally {
    closeDatabase(db);
    rmSync(dir, { recursive: true, force: true });
  }
}
