/**
 * The monitor owns the cycle: poll → evaluate alerts (pure) → one SQLite transaction → events ('cycle', then
 * 'alert' for each change) for the HTTP side. It also answers what the routes ask of the live fleet.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { FleetConfig, HostConfig } from '../core/config.js';
import type { Alert, FleetSummary, Host, Session, SessionIdKind } from '../core/model.js';
import { summarizeFleet } from '../core/summary.js';
import { evaluateOrDisable, noTimers, type AlertTimers } from './alerts/evaluate.js';
import type { AlertEvent } from './alerts/events.js';
import { transportFactory } from './collector/hosts.js';
import { ParsePool } from './collector/parse-pool.js';
import { Poller, type CycleResult } from './collector/poller.js';
import type { Transport } from './collector/transport.js';
import { killSession, type KillOutcome } from './kill.js';
import { LoopDelay } from './loop-delay.js';
import { Dispatcher } from './notify/dispatcher.js';
import type { Db } from './store/db.js';
import type { AlertRepository } from './store/alert-repository.js';
import type { SampleRepository } from './store/repositories.js';
import { Store } from './store/store.js';

export interface MonitorOptions {
  config: FleetConfig;
  db: Db;
  log: Logger;
  now?: () => number;
  makeTransport?: (host: HostConfig) => Transport;
  /** See TransportFactoryOptions.localAllUsers. */
  localAllUsers?: boolean;
  /** Parse worker threads (default: one per core but one; 0 parses on the main thread). */
  parseWorkers?: number;
  /** The environment the notification channels read their `*_env` secrets from (tests pass their own). */
  env?: NodeJS.ProcessEnv;
}

/** How often hosts' whole snapshots are saved for the next start (and at shutdown); samples go every cycle. */
export const STATE_SAVE_EVERY_MS = 5 * 60 * 1000;

/**
 * Hosts per store transaction. A 200-host cycle written at once held the event loop ~15–30 ms; slices of this
 * size take a few ms each, with requests answered between them.
 */
export const STORE_SLICE_HOSTS = 40;

/** How often the monitor rolls old samples up and deletes them. */
export const RETENTION_EVERY_MS = 10 * 60 * 1000;

/** Raw samples older than the retention go (rolled up hourly first); hourly rows are kept at least 90 days. */
export function retentionCutoffs(now: number, retentionDays: number): { rawCutoff: number; hourlyCutoff: number } {
  return { rawCutoff: now - retentionDays * 86400_000, hourlyCutoff: now - Math.max(90, retentionDays) * 86400_000 };
}

export interface StoreFailure {
  /** When the first of the consecutive failures happened (epoch ms). */
  since: number;
  consecutive: number;
  error: string;
}

export class Monitor extends EventEmitter {
  readonly poller: Poller;
  readonly samples: SampleRepository;
  readonly alerts: AlertRepository;
  /** Sends alert events to the configured notification channels, through the outbox. */
  readonly notifier: Dispatcher;
  private readonly store: Store;
  readonly config: FleetConfig;
  private readonly log: Logger;
  private readonly now: () => number;
  private retentionTimer: NodeJS.Timeout | null = null;
  private readonly loopDelay = new LoopDelay();
  private readonly pool: ParsePool;
  /** Start of the last cycle whose host snapshots were saved (null: none yet). */
  private statesSavedAt: number | null = null;
  /** Set while cycles fail to be stored (a read-only disk, say), cleared by the next stored one. */
  storeFailure: StoreFailure | null = null;
  /** What timed alert conditions remember between cycles (the evaluation is pure; this is its memory). */
  private alertTimers: AlertTimers = noTimers();

  constructor(opts: MonitorOptions) {
    super();
    this.config = opts.config;
    this.log = opts.log;
    this.now = opts.now ?? Date.now;
    this.store = new Store(opts.db);
    this.samples = this.store.samples;
    this.alerts = this.store.alerts;
    this.notifier = new Dispatcher({
      config: opts.config.notifications,
      outbox: this.store.outbox,
      alerts: this.alerts,
      log: this.log.child({ component: 'notify' }),
      now: this.now,
      ...(opts.env ? { env: opts.env } : {}),
    });
    const workers = opts.parseWorkers ?? (process.env.FLEETMON_PARSE_WORKERS !== undefined ? Number(process.env.FLEETMON_PARSE_WORKERS) : undefined);
    this.pool = new ParsePool(workers);
    this.poller = new Poller({
      pool: this.pool,
      afterCycle: (c) => this.onCycle(c),
      config: opts.config,
      now: this.now,
      restored: this.samples.lastStates(),
      makeTransport: opts.makeTransport ?? transportFactory({ config: opts.config, known: this.store.hostKeys, now: this.now, log: this.log, localAllUsers: opts.localAllUsers === true }),
    });
    this.poller.on('error', (err: unknown) => this.log.error({ err }, 'poll cycle failed'));
  }

  start(): void {
    this.loopDelay.start();
    this.poller.start();
    this.notifier.start();
    this.retentionTimer = setInterval(() => this.runRetention(), RETENTION_EVERY_MS);
    this.retentionTimer.unref();
  }

  async stop(): Promise<void> {
    if (this.retentionTimer) clearInterval(this.retentionTimer);
    this.loopDelay.stop();
    await this.poller.stop();
    await this.pool.close();
    await this.notifier.stop();
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

  private async onCycle(cycle: CycleResult): Promise<void> {
    const writeStarted = performance.now();
    /** Time spent writing, not counting the waits between slices (writeMs below is start to stored). */
    let writeBusyMs = 0;
    const states = this.statesSavedAt === null || cycle.startedAt - this.statesSavedAt >= STATE_SAVE_EVERY_MS;
    let changes: AlertEvent[];
    let timers: AlertTimers;
    try {
      // Samples in slices, each its own short transaction, the event loop free between them. A failure part way
      // leaves the earlier slices stored: samples are per host and time, so a partial cycle is only a gap.
      for (let i = 0; i < cycle.hosts.length; i += STORE_SLICE_HOSTS) {
        if (i > 0) await new Promise<void>((r) => setImmediate(r));
        const sliceStarted = performance.now();
        this.store.writeSamples(cycle.startedAt, cycle.hosts.slice(i, i + STORE_SLICE_HOSTS), states);
        writeBusyMs += performance.now() - sliceStarted;
      }
      const alertsStarted = performance.now();
      // Evaluation is pure; reading the open alerts, evaluating and writing are one synchronous stretch, so nothing
      // (an acknowledgement, say) lands in between.
      const at = cycle.finishedAt;
      const { timers: next, ...alertChanges } = evaluateOrDisable(this.poller.runtimes, this.alerts.open(), this.config.alerts, { now: at, timers: this.alertTimers });
      timers = next;
      changes = this.store.writeAlerts({
        alertChanges,
        alertsAt: at,
        ...(this.notifier.enabled ? { planNotifications: (events: AlertEvent[], get: (id: string) => Alert | undefined) => this.notifier.plan(events, get, at) } : {}),
      });
      writeBusyMs += performance.now() - alertsStarted;
    } catch (err) {
      // The live view still gets the cycle; /health says that nothing is being kept.
      this.storeFailure = { since: this.storeFailure?.since ?? this.now(), consecutive: (this.storeFailure?.consecutive ?? 0) + 1, error: err instanceof Error ? err.message : String(err) };
      this.log.error({ err, consecutive: this.storeFailure.consecutive }, 'could not store the poll cycle');
      this.emit('cycle', { ...cycle, writeMs: performance.now() - writeStarted, storedAt: null });
      return;
    }
    this.storeFailure = null;
    // Kept only once stored: a cycle that failed to be written is evaluated again, from the same timers, next time.
    this.alertTimers = timers;
    if (states) this.statesSavedAt = cycle.startedAt;
    const writeMs = performance.now() - writeStarted;
    const storedAt = this.now();
    // How long the event loop was late, at worst, since the previous cycle: what a request could have waited.
    const loopDelayMaxMs = this.loopDelay.takeMaxMs();
    if (this.log.isLevelEnabled('debug')) {
      const mem = process.memoryUsage();
      const mib = (n: number) => Math.round(n / 2 ** 20);
      this.log.debug(
        { ms: cycle.durationMs, writeMs, writeBusyMs, polled: cycle.polled, skipped: cycle.skipped.length, loopDelayMaxMs, rssMiB: mib(mem.rss), heapUsedMiB: mib(mem.heapUsed), heapTotalMiB: mib(mem.heapTotal), externalMiB: mib(mem.external) },
        'poll cycle',
      );
    }
    this.emit('cycle', { ...cycle, writeMs, storedAt });
    for (const c of changes) this.emit('alert', c);
    if (changes.length > 0) this.notifier.kick();
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
    const at = this.now();
    const alert = this.store.acknowledge(id, by, note, at, this.notifier.enabled ? (a) => this.notifier.plan([{ event: 'alert_acked', data: a }], () => a, at) : undefined);
    if (alert) {
      this.emit('alert', { event: 'alert_acked', data: alert } satisfies AlertEvent);
      this.notifier.kick();
    }
    return alert;
  }

  host(name: string): Host | undefined {
    return this.poller.runtime(name)?.host;
  }

  sessions(status?: 'active' | 'legacy'): Session[] {
    return this.hosts()
      .flatMap((h) => h.sessions)
      .filter((s) => !status || s.status === status);
  }

  /** The one session an id names, by either id (see sessionsMatching); undefined when none or several. */
  session(id: string): Session | undefined {
    const found = this.sessionsMatching(id);
    return found.length === 1 ? found[0]!.session : undefined;
  }

  /**
   * Every session an id names, and which of its two ids matched: fleetmon's `host:user:name` (`fleetmon_id`, unique:
   * host names are, users hold no ':', one tmux server's names are) or the specification's `host:session_name`
   * (`id`), which names that session under each of the host's users. More than one is an ambiguous id, which
   * callers refuse rather than pick one: a kill must never land on a session nobody named.
   */
  sessionsMatching(id: string): { session: Session; matched: SessionIdKind }[] {
    const all = this.sessions();
    const exact = all.filter((s) => s.fleetmon_id === id);
    if (exact.length > 0) return exact.map((session) => ({ session, matched: 'fleetmon_id' as const }));
    return all.filter((s) => s.id === id).map((session) => ({ session, matched: 'id' as const }));
  }

  summary(): FleetSummary {
    return summarizeFleet(this.hosts(), this.alerts.list({ state: 'open' }), this.poller.lastCycle ?? undefined);
  }

}
