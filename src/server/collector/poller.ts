/**
 * The poll loop and each host's state machine. Hosts are polled concurrently; a cycle waits for them only up to
 * its budget, so a host that hangs keeps its own poll running (until its own deadline kills it) while the cycle
 * publishes everyone else on time. A host goes offline only after `offline_after_failures` consecutive failed
 * polls, and failed hosts are retried with capped, jittered exponential backoff.
 */
import { EventEmitter } from 'node:events';
import type { FleetConfig, HostConfig } from '../../core/config.js';
import { errorMessage } from '../../core/errors.js';
import { iso, noMetrics, type Host, type HostMetrics } from '../../core/model.js';
import { parseInline, type ParseInput, type ParsePool } from './parse-pool.js';
import type { Counters, HostSnapshot } from './snapshot.js';
import { HostKeyMismatchError, type Transport } from './transport.js';

export interface HostRuntime {
  config: HostConfig;
  transport: Transport;
  host: Host;
  counters: Counters | null;
  busy: boolean;
  nextAttemptAt: number;
  /** Start of the last poll that asked for disk usage (0: never). */
  disksReadAt: number;
  hostKeyChanged: { expected: string; presented: string } | null;
}

export interface HostHandle {
  transport: Transport;
  viaGate: boolean;
  forgetSession(sessionId: string): void;
}

export interface CycleResult {
  startedAt: number;
  finishedAt: number;
  durationMs: number;
  polled: number;
  skipped: string[];
  hosts: Host[];
}

export interface PollerOptions {
  config: FleetConfig;
  makeTransport: (host: HostConfig) => Transport;
  now?: () => number;
  random?: () => number;
  restored?: Map<string, Host>;
  /** Where answers are parsed (worker threads); without it, inline on this thread. */
  pool?: ParsePool;
  /** Awaited after each cycle, before runCycle resolves and the next cycle is timed (the monitor stores it). */
  afterCycle?: (cycle: CycleResult) => Promise<void> | void;
}

/**
 * How often a host's disk usage is read. df is about a third of a poll's cost on the host and disk usage moves
 * slowly, so at the default 30 s interval every 10th poll asks for it (hosts polled less often: every poll).
 */
export const DISK_REFRESH_MS = 5 * 60_000;

export function sshUserOf(config: FleetConfig, host: HostConfig): string {
  if (host.transport === 'local') return process.env.USER ?? process.env.LOGNAME ?? 'root';
  return host.user ?? config.ssh.user;
}

export function emptyHost(config: FleetConfig, h: HostConfig): Host {
  return {
    hostname: h.name,
    address: h.address,
    last_seen: null,
    status: 'offline',
    ...noMetrics(),
    gpus: [],
    sessions: [],
    has_gpu: h.has_gpu === true,
    pending: true,
    last_poll_at: null,
    last_error: null,
    consecutive_failures: 0,
    poll_ms: null,
    problems: [],
    gpu_available: false,
    gpu_error: null,
    // Nothing is listed before the first poll; saying so keeps an empty list from reading as "nobody is working".
    sessions_scope: { scope: 'own-account', reason: 'not polled yet' },
  };
}

export class Poller extends EventEmitter {
  readonly runtimes: HostRuntime[];
  private readonly now: () => number;
  private readonly random: () => number;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private cycleRunning: Promise<CycleResult> | null = null;
  lastCycle: CycleResult | null = null;

  constructor(private readonly opts: PollerOptions) {
    super();
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? Math.random;
    this.runtimes = opts.config.hosts.map((h) => {
      const restored = opts.restored?.get(h.name);
      const host = emptyHost(opts.config, h);
      // Show the last known data after a restart, but as pending until the first poll confirms it. A state saved
      // before the API took the specification's names (no `hostname`) is not restored: the next poll refills it.
      if (restored && typeof restored.hostname === 'string') {
        const metrics = Object.fromEntries(Object.keys(noMetrics()).map((k) => [k, restored[k as keyof HostMetrics]]));
        Object.assign(host, metrics, {
          gpus: restored.gpus,
          gpu_available: restored.gpu_available,
          gpu_error: restored.gpu_error,
          has_gpu: restored.has_gpu,
          last_seen: restored.last_seen,
        });
      }
      return { config: h, transport: opts.makeTransport(h), host, counters: null, busy: false, nextAttemptAt: 0, disksReadAt: 0, hostKeyChanged: null };
    });
  }

  hosts(): Host[] {
    return this.runtimes.map((r) => r.host);
  }

  runtime(name: string): HostRuntime | undefined {
    return this.runtimes.find((r) => r.config.name === name);
  }

  /**
   * What a session kill needs of a host, and nothing more: its transport (same connection and authentication as
   * the polls), whether it runs through the gate, and a way to drop a killed session from the live view now
   * rather than at the next poll.
   */
  hostHandle(name: string): HostHandle | undefined {
    const r = this.runtime(name);
    if (!r) return undefined;
    return {
      transport: r.transport,
      viaGate: r.config.gate === true,
      forgetSession: (sessionId) => {
        r.host = { ...r.host, sessions: r.host.sessions.filter((s) => s.fleetmon_id !== sessionId) };
      },
    };
  }

  /** Starts polling now and then every interval (cycle start to cycle start). */
  start(): void {
    this.stopped = false;
    let first = true;
    const tick = async () => {
      if (this.stopped) return;
      const started = this.now();
      try {
        await this.runCycle();
      } catch (err) {
        this.emit('error', err);
      }
      if (this.stopped) return;
      // The second cycle comes early so CPU figures (deltas between two polls) show up within seconds of start.
      const intervalMs = this.opts.config.polling_interval_seconds * 1000;
      const period = first ? Math.min(intervalMs, 2000) : intervalMs;
      first = false;
      const wait = Math.max(0, period - (this.now() - started));
      this.timer = setTimeout(() => void tick(), wait);
    };
    void tick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    for (const r of this.runtimes) r.transport.close();
    await this.cycleRunning?.catch(() => undefined);
  }

  /** One cycle: poll every due host, wait at most the cycle budget, publish. */
  runCycle(): Promise<CycleResult> {
    if (this.cycleRunning) return this.cycleRunning;
    this.cycleRunning = this.cycle().finally(() => {
      this.cycleRunning = null;
    });
    return this.cycleRunning;
  }

  private async cycle(): Promise<CycleResult> {
    const startedAt = this.now();
    const { config } = this.opts;
    const due = this.runtimes.filter((r) => !r.busy && startedAt >= r.nextAttemptAt);
    const skipped = this.runtimes.filter((r) => !due.includes(r)).map((r) => r.config.name);
    const budgetMs = Math.min(config.ssh.timeout, config.polling_interval_seconds) * 1000;
    let budgetTimer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled(due.map((r) => this.pollHost(r))),
      new Promise<void>((resolve) => (budgetTimer = setTimeout(resolve, budgetMs))),
    ]);
    clearTimeout(budgetTimer);
    const finishedAt = this.now();
    const result: CycleResult = {
      startedAt,
      finishedAt,
      durationMs: finishedAt - startedAt,
      polled: due.length,
      skipped,
      hosts: this.hosts(),
    };
    this.lastCycle = result;
    this.emit('cycle', result);
    await this.opts.afterCycle?.(result);
    return result;
  }

  private async pollHost(r: HostRuntime): Promise<void> {
    const { config } = this.opts;
    r.busy = true;
    const started = this.now();
    const gpuMode = r.config.has_gpu === true ? 'on' : r.config.has_gpu === false ? 'off' : 'auto';
    try {
      const channel = await r.transport.channel();
      const wantDisks = r.disksReadAt === 0 || r.host.memory_total_mb === null || started - r.disksReadAt >= DISK_REFRESH_MS;
      const { nonce, text } = await channel.poll(gpuMode, config.ssh.timeout * 1000, {
        disks: wantDisks,
        intervalMs: config.polling_interval_seconds * 1000,
      });
      const input: ParseInput = {
        text,
        nonce,
        hostName: r.config.name,
        address: r.config.address,
        sshUser: sshUserOf(config, r.config),
        sshPort: r.config.port ?? config.ssh.port,
        hasGpu: r.config.has_gpu,
        legacyThresholdHours: config.legacy_threshold_hours,
        previous: r.counters,
        nowMs: this.now(),
        previousDisks: r.host.disks,
      };
      const snap: HostSnapshot = this.opts.pool ? await this.opts.pool.parse(input) : parseInline(input);
      if (wantDisks) r.disksReadAt = started;
      const now = this.now();
      r.counters = snap.counters;
      r.hostKeyChanged = null;
      r.nextAttemptAt = 0;
      r.host = {
        ...r.host,
        status: snap.problems.length > 0 ? 'degraded' : 'online',
        has_gpu: snap.hasGpu,
        pending: false,
        last_seen: iso(now),
        last_poll_at: iso(now),
        last_error: null,
        consecutive_failures: 0,
        poll_ms: now - started,
        problems: snap.problems,
        ...(snap.metrics ?? noMetrics()),
        gpus: snap.gpu.gpus,
        gpu_available: snap.gpu.available,
        gpu_error: snap.gpu.reason,
        sessions: snap.sessions,
        sessions_scope: snap.sessionsScope,
      };
      this.emit('host', r.host);
    } catch (err) {
      const now = this.now();
      const failures = r.host.consecutive_failures + 1;
      if (err instanceof HostKeyMismatchError) r.hostKeyChanged = { expected: err.expected, presented: err.presented };
      const offline = failures >= config.offline_after_failures;
      const intervalMs = config.polling_interval_seconds * 1000;
      const backoff = Math.min(intervalMs * 2 ** (failures - 1), Math.max(intervalMs, config.ssh.reconnect_max_seconds * 1000));
      r.nextAttemptAt = started + backoff * (0.8 + 0.4 * this.random());
      r.counters = offline ? null : r.counters;
      r.host = {
        ...r.host,
        status: offline ? 'offline' : r.host.status,
        pending: offline ? false : r.host.pending,
        last_poll_at: iso(now),
        last_error: errorMessage(err),
        consecutive_failures: failures,
        poll_ms: now - started,
        ...(offline
          ? { ...noMetrics(), sessions: [], gpus: [], gpu_available: false, gpu_error: 'host offline', problems: [], sessions_scope: { scope: 'own-account' as const, reason: 'host offline' } }
          : {}),
      };
      this.emit('host', r.host);
    } finally {
      r.busy = false;
    }
  }
}
