/**
 * The monitor: owns the poller, the store and the alert engine, and turns each finished poll cycle into one
 * SQLite transaction and one event for the WebSocket clients.
 */
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { gzipSync } from 'node:zlib';
import type { Logger } from 'pino';
import type { FleetConfig, HostConfig } from '../core/config.js';
import type { Alert, FleetSummary, Host, Session } from '../core/model.js';
import { iso } from '../core/model.js';
import { probeScriptPath } from '../paths.js';
import { Poller, sshUserOf, type CycleResult } from './collector/poller.js';
import { LocalTransport, SshTransport, type Transport } from './collector/transport.js';
import { evaluateOrDisable } from './alerts/evaluate.js';
import { killSession, type KillOutcome } from './kill.js';
import type { AlertEvent } from './alerts/events.js';
import type { Db } from './store/db.js';
import type { AlertRepository } from './store/alert-repository.js';
import type { HostKeyRepository, SampleRepository } from './store/repositories.js';
import { Store } from './store/store.js';

export interface MonitorOptions {
  config: FleetConfig;
  db: Db;
  log: Logger;
  now?: () => number;
  makeTransport?: (host: HostConfig) => Transport;
}

/** How often hosts' whole snapshots are saved for the next start (and at shutdown); samples go every cycle. */
export const STATE_SAVE_EVERY_MS = 5 * 60 * 1000;

/** How often the monitor rolls old samples up and deletes them. */
export const RETENTION_EVERY_MS = 10 * 60 * 1000;

/** Raw samples older than the retention go (rolled up hourly first); hourly rows are kept at least 90 days. */
export function retentionCutoffs(now: number, retentionDays: number): { rawCutoff: number; hourlyCutoff: number } {
  return { rawCutoff: now - retentionDays * 86400_000, hourlyCutoff: now - Math.max(90, retentionDays) * 86400_000 };
}

export class Monitor extends EventEmitter {
  readonly poller: Poller;
  readonly samples: SampleRepository;
  readonly hostKeys: HostKeyRepository;
  readonly alerts: AlertRepository;
  private readonly store: Store;
  readonly config: FleetConfig;
  private readonly log: Logger;
  private readonly now: () => number;
  private retentionTimer: NodeJS.Timeout | null = null;
  /**
   * Event-loop delay since the last cycle, in the debug 'poll cycle' line, measured only with
   * FLEETMON_LOOP_DELAY=1: its 10 ms timer costs about as much CPU as polling ten hosts.
   */
  private readonly loopDelay: IntervalHistogram | null;
  /** Start of the last cycle whose host snapshots were saved (null: none yet). */
  private statesSavedAt: number | null = null;
  /** Bumped when a cycle is published; the serialized lists below are valid for one generation. */
  private generation = 0;
  private readonly bodies = new Map<string, { generation: number; json: Buffer; gzip: Buffer | null }>();

  constructor(opts: MonitorOptions) {
    super();
    this.config = opts.config;
    this.log = opts.log;
    this.now = opts.now ?? Date.now;
    this.store = new Store(opts.db);
    this.samples = this.store.samples;
    this.hostKeys = this.store.hostKeys;
    this.alerts = this.store.alerts;
    this.loopDelay = process.env.FLEETMON_LOOP_DELAY === '1' ? monitorEventLoopDelay({ resolution: 10 }) : null;
    const probe = readFileSync(probeScriptPath, 'utf8');
    this.poller = new Poller({
      config: opts.config,
      now: this.now,
      restored: this.samples.lastStates(),
      makeTransport: opts.makeTransport ?? ((h) => this.defaultTransport(h, probe)),
    });
    this.poller.on('cycle', (c: CycleResult) => this.onCycle(c));
    this.poller.on('error', (err: unknown) => this.log.error({ err }, 'poll cycle failed'));
  }

  private defaultTransport(h: HostConfig, probe: string): Transport {
    if (h.transport === 'local') return new LocalTransport(probe);
    const { ssh } = this.config;
    return new SshTransport(
      {
        host: h.name,
        address: h.address,
        port: h.port ?? ssh.port,
        user: sshUserOf(this.config, h),
        keyPath: ssh.key_path,
        timeoutMs: ssh.timeout * 1000,
        gate: h.gate === true,
        hostKey: {
          pinned: h.host_key ?? this.hostKeys.find(h.name)?.fingerprint ?? null,
          onUnpinned: (fingerprint, keyType) => {
            if (ssh.accept_unknown_host_keys) return true;
            // Trust on first use: the first key seen is recorded and every later connection must present it.
            const known = this.hostKeys.find(h.name);
            if (known) return known.fingerprint === fingerprint;
            this.hostKeys.remember(h.name, fingerprint, keyType, this.now());
            this.log.warn({ host: h.name, fingerprint }, 'host key recorded on first use; pin it with host_key in the config');
            return true;
          },
        },
      },
      probe,
    );
  }

  start(): void {
    this.loopDelay?.enable();
    this.poller.start();
    this.retentionTimer = setInterval(() => this.runRetention(), RETENTION_EVERY_MS);
    this.retentionTimer.unref();
  }

  async stop(): Promise<void> {
    if (this.retentionTimer) clearInterval(this.retentionTimer);
    this.loopDelay?.disable();
    await this.poller.stop();
    if (this.poller.lastCycle) {
      try {
        this.samples.saveStates(this.now(), this.hosts());
      } catch (err) {
        this.log.warn({ err }, 'could not save host states at shutdown');
      }
    }
  }

  runRetention(): { hostRows: number; sessionRows: number } {
    const { rawCutoff, hourlyCutoff } = retentionCutoffs(this.now(), this.config.server.history_retention_days);
    const removed = this.samples.retain(rawCutoff, hourlyCutoff);
    if (removed.hostRows > 0) this.log.info(removed, 'retention removed old samples');
    return removed;
  }

  private onCycle(cycle: CycleResult): void {
    const writeStarted = performance.now();
    const states = this.statesSavedAt === null || cycle.startedAt - this.statesSavedAt >= STATE_SAVE_EVERY_MS;
    // Evaluation is pure; reading the open alerts, evaluating and writing are one synchronous stretch, so nothing
    // (an acknowledgement, say) lands in between.
    const alertChanges = evaluateOrDisable(this.poller.runtimes, this.alerts.open(), this.config.alerts);
    const changes = this.store.writeCycle({ ts: cycle.startedAt, hosts: cycle.hosts, alertChanges, alertsAt: cycle.finishedAt, states });
    if (states) this.statesSavedAt = cycle.startedAt;
    const writeMs = performance.now() - writeStarted;
    const storedAt = this.now();
    this.generation += 1;
    // How long the event loop was late, at worst, since the previous cycle: what a request could have waited.
    const loopDelayMaxMs = this.loopDelay ? Math.round(this.loopDelay.max / 1e4) / 100 : undefined;
    this.loopDelay?.reset();
    if (this.log.isLevelEnabled('debug')) {
      const mem = process.memoryUsage();
      const mib = (n: number) => Math.round(n / 2 ** 20);
      this.log.debug(
        { ms: cycle.durationMs, writeMs, polled: cycle.polled, skipped: cycle.skipped.length, loopDelayMaxMs, rssMiB: mib(mem.rss), heapUsedMiB: mib(mem.heapUsed), heapTotalMiB: mib(mem.heapTotal), externalMiB: mib(mem.external) },
        'poll cycle',
      );
    }
    this.emit('cycle', { ...cycle, writeMs, storedAt });
    for (const c of changes) this.emit('alert', c);
  }

  hosts(): Host[] {
    return this.poller.hosts();
  }

  /** Kills a session (after its confirmation was redeemed); undefined when its host is not configured. */
  killSession(session: Session): Promise<KillOutcome | undefined> {
    return killSession((name) => this.poller.hostHandle(name), session, this.config.ssh.timeout * 1000);
  }

  /** Acknowledges an alert (idempotently) and tells the WebSocket clients. */
  acknowledgeAlert(id: string, by: string, note: string | null): Alert | undefined {
    const alert = this.alerts.acknowledge(id, by, note, this.now());
    if (alert) this.emit('alert', { event: 'alert_acked', data: alert } satisfies AlertEvent);
    return alert;
  }

  /**
   * A list as JSON, serialized at most once per published cycle and shared by every reader: with 100 hosts × 10
   * sessions /api/hosts is ~750 KiB, and stringifying it per request (or per WebSocket client) would cost more
   * CPU than polling the fleet. Readers between two cycles get the same bytes; gzip is made once, on demand.
   * Keys must come from a small fixed set (they are never user input).
   */
  listBody(key: string, build: () => unknown, encoding: 'identity' | 'gzip' = 'identity'): Buffer {
    let entry = this.bodies.get(key);
    if (!entry || entry.generation !== this.generation) {
      entry = { generation: this.generation, json: Buffer.from(JSON.stringify(build())), gzip: null };
      this.bodies.set(key, entry);
    }
    if (encoding === 'identity') return entry.json;
    entry.gzip ??= gzipSync(entry.json, { level: 6 });
    return entry.gzip;
  }

  host(name: string): Host | undefined {
    return this.poller.runtime(name)?.host;
  }

  sessions(status?: 'active' | 'legacy'): Session[] {
    return this.hosts()
      .flatMap((h) => h.sessions)
      .filter((s) => !status || s.status === status);
  }

  /** Accepts the canonical `host:user:name` and the short `host:name` (for sessions of the service account). */
  session(id: string): Session | undefined {
    const all = this.sessions();
    const exact = all.find((s) => s.id === id);
    if (exact) return exact;
    const colon = id.indexOf(':');
    if (colon < 0) return undefined;
    const host = id.slice(0, colon);
    const name = id.slice(colon + 1);
    return all.find((s) => s.host === host && s.name === name);
  }

  summary(): FleetSummary {
    const hosts = this.hosts();
    const count = (status: Host['status']) => hosts.filter((h) => h.status === status).length;
    const open = this.alerts.list({ state: 'open' });
    const last = this.poller.lastCycle;
    return {
      hosts_total: hosts.length,
      hosts_online: count('online'),
      hosts_degraded: count('degraded'),
      hosts_offline: count('offline'),
      hosts_pending: count('pending'),
      sessions_active: this.sessions('active').length,
      sessions_legacy: this.sessions('legacy').length,
      gpus: hosts.reduce((n, h) => n + h.gpu.gpus.length, 0),
      alerts_open: open.length,
      alerts_unacknowledged: open.filter((a) => !a.acknowledged).length,
      last_cycle_at: iso(last?.finishedAt),
      last_cycle_ms: last?.durationMs ?? null,
    };
  }
}
