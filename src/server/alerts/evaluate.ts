/**
 * Alert evaluation as a pure function: (hosts, open alerts, thresholds, timing) → changes. Each condition has a key
 * (type + host + session or GPU index); an alert is raised once per episode, updated while the condition holds and
 * resolved when it ends. Threshold alerts clear only below the threshold less a hysteresis band, so a value
 * hovering at the line does not flap. Session and GPU conditions are left alone while their host is unreachable:
 * "we could not look" is not "it got better".
 *
 * Conditions that must hold for a time (gpu_idle_holder, session_finished) need memory between polls: it is explicit
 * data, `AlertTimers`, passed in with the time and returned updated; the caller keeps it. Nothing here reads a clock.
 * After a restart the timers are empty: an alert already open whose condition still holds stays open (with its
 * message) instead of resolving and coming back minutes later.
 */
import type { AlertsConfig } from '../../core/config.js';
import type { AlertType, Host, Severity } from '../../core/model.js';
import { formatHours } from '../../core/duration.js';

export interface OpenAlert {
  id: string;
  conditionKey: string;
  type: AlertType;
  host: string;
  value: number | null;
  message: string;
}

export interface Condition {
  conditionKey: string;
  type: AlertType;
  severity: Severity;
  host: string;
  session: string | null;
  gpuIndex: number | null;
  message: string;
  value: number | null;
  threshold: number | null;
}

export interface AlertChanges {
  raise: Condition[];
  update: Array<{ id: string; condition: Condition }>;
  resolve: OpenAlert[];
}

/** What evaluateAlerts returns: the changes, and the timers to pass to the next evaluation. */
export interface Evaluated extends AlertChanges {
  timers: AlertTimers;
}

/** A session's last busy stretch: when it began, and when the session went quiet after it (null: busy still). */
export interface SessionTimer {
  busySince: number;
  quietSince: number | null;
}

/**
 * What timed conditions remember, by host name: since when each GPU process (`gpuN:pidP`) has held its memory on an
 * idle GPU, and each session's (`session:user:name`) busy stretch. A host that could not be observed keeps its own.
 */
export interface AlertTimers {
  idleHolders: Record<string, Record<string, number>>;
  sessions: Record<string, Record<string, SessionTimer>>;
}

export const noTimers = (): AlertTimers => ({ idleHolders: {}, sessions: {} });

/** The evaluation's time (epoch ms) and the timers the previous one returned. */
export interface Timing {
  now: number;
  timers: AlertTimers;
}

export interface HostView {
  host: Host;
  hostKeyChanged: { expected: string; presented: string } | null;
}

export const SEVERITY: Record<AlertType, Severity> = {
  legacy_session: 'info',
  high_cpu: 'warning',
  high_memory: 'warning',
  host_offline: 'critical',
  host_key_changed: 'critical',
  gpu_temp_warning: 'warning',
  gpu_temp_critical: 'critical',
  gpu_memory_high: 'warning',
  database_moved_aside: 'critical',
  disk_full: 'warning',
  gpu_idle_holder: 'warning',
  session_finished: 'info',
};

/**
 * Types the server raises itself, outside any poll (see server-alerts.ts): the evaluation never updates or resolves
 * them, whatever the hosts do; they stay open until someone has read and acknowledged them.
 */
export const SERVER_ALERT_TYPES: ReadonlySet<AlertType> = new Set<AlertType>(['database_moved_aside']);

export function conditionKey(type: AlertType, host: string, sub?: string): string {
  return sub === undefined ? `${type}|${host}` : `${type}|${host}|${sub}`;
}

/** True when the value is over the threshold, or (already open) not yet below the hysteresis band. */
function over(value: number | null | undefined, threshold: number, isOpen: boolean, band: number): value is number {
  if (value === null || value === undefined) return false;
  return isOpen ? value >= threshold * (1 - band / 100) : value >= threshold;
}

const fmt = (n: number) => (Number.isInteger(n) ? String(n) : n.toFixed(1));

/** What one evaluation gathers: the conditions holding now, and the keys it could not observe. */
interface Evaluation {
  t: AlertsConfig;
  band: number;
  open: OpenAlert[];
  isOpen(key: string): boolean;
  push(type: AlertType, host: string, sub: string | undefined, extra: Partial<Condition> & { message: string }): void;
  holding: Condition[];
  /** Keys whose state we could not observe this time: their open alerts are neither updated nor resolved. */
  unobserved: Set<string>;
  /** The open alert of a key, for its message when a condition is carried over a restart. */
  openAlert(key: string): OpenAlert | undefined;
  /** Absent: timed conditions are not evaluated and their open alerts are left as they are. */
  timing: Timing | undefined;
  /** The timers this evaluation returns. */
  next: AlertTimers;
}

function startEvaluation(open: OpenAlert[], t: AlertsConfig, timing: Timing | undefined): Evaluation {
  const openByKey = new Map(open.map((a) => [a.conditionKey, a]));
  const holding: Condition[] = [];
  return {
    t,
    band: t.hysteresis_percent,
    open,
    isOpen: (k) => openByKey.has(k),
    openAlert: (k) => openByKey.get(k),
    timing,
    next: noTimers(),
    holding,
    unobserved: new Set<string>(),
    push: (type, host, sub, extra) => {
      holding.push({
        conditionKey: conditionKey(type, host, sub),
        type,
        severity: SEVERITY[type],
        host,
        session: null,
        gpuIndex: null,
        value: null,
        threshold: null,
        ...extra,
      });
    },
  };
}

/** Host key and offline conditions; returns whether the host answered, so that the others can be observed. */
function reachability(ev: Evaluation, { host: h, hostKeyChanged }: HostView): boolean {
  if (hostKeyChanged) {
    ev.push('host_key_changed', h.hostname, undefined, {
      message: `host key of ${h.hostname} changed (expected ${hostKeyChanged.expected}, got ${hostKeyChanged.presented}); not connecting`,
    });
  }
  if (h.status === 'offline' && !h.pending) {
    ev.push('host_offline', h.hostname, undefined, {
      message: `${h.hostname} is offline: ${h.last_error ?? 'no answer'} (${h.consecutive_failures} failed polls)`,
      value: h.consecutive_failures,
    });
  }
  const reachable = h.status === 'online' || h.status === 'degraded';
  if (!reachable) {
    // Keep everything but host-level reachability as it was.
    for (const a of ev.open) if (a.host === h.hostname && a.type !== 'host_offline' && a.type !== 'host_key_changed') ev.unobserved.add(a.conditionKey);
    if (h.pending) for (const a of ev.open) if (a.host === h.hostname) ev.unobserved.add(a.conditionKey);
  }
  return reachable;
}

function hostMetricConditions(ev: Evaluation, h: Host): void {
  hostThreshold(ev, h, 'high_cpu', 'CPU', h.cpu_percent, ev.t.host_cpu_warning);
  hostThreshold(ev, h, 'high_memory', 'memory', h.memory_percent, ev.t.host_memory_warning);
}

/**
 * One host figure against its warning level (with the hysteresis band while open). A figure this poll could not
 * read (null) leaves an open alert as it was: not knowing is not a recovery.
 */
function hostThreshold(ev: Evaluation, h: Host, type: 'high_cpu' | 'high_memory', what: string, value: number | null, threshold: number): void {
  const key = conditionKey(type, h.hostname);
  if (over(value, threshold, ev.isOpen(key), ev.band)) {
    ev.push(type, h.hostname, undefined, { message: `${h.hostname} ${what} at ${fmt(value)}% (warning at ${threshold}%)`, value, threshold });
  } else if (value === null && ev.isOpen(key)) ev.unobserved.add(key);
}

function sessionConditions(ev: Evaluation, h: Host): void {
  const { t, band, isOpen } = ev;
  for (const s of h.sessions) {
    const sub = `session:${s.user}:${s.name}`;
    const base = { session: s.id };
    if (s.status === 'legacy') {
      ev.push('legacy_session', h.hostname, sub, {
        ...base,
        message: `session '${s.name}' on ${h.hostname} detached for ${formatHours(s.detached_hours ?? 0)}`,
        value: s.detached_hours,
      });
    }
    const cpuKey = conditionKey('high_cpu', h.hostname, sub);
    if (over(s.cpu_percent, t.session_cpu_warning, isOpen(cpuKey), band)) {
      ev.push('high_cpu', h.hostname, sub, {
        ...base,
        message: `session '${s.name}' on ${h.hostname} uses ${fmt(s.cpu_percent)}% CPU (warning at ${t.session_cpu_warning}%)`,
        value: s.cpu_percent,
        threshold: t.session_cpu_warning,
      });
    } else if (s.cpu_percent === null && isOpen(cpuKey)) ev.unobserved.add(cpuKey);
    const memKey = conditionKey('high_memory', h.hostname, sub);
    if (over(s.memory_mb, t.session_memory_mb_warning, isOpen(memKey), band)) {
      ev.push('high_memory', h.hostname, sub, {
        ...base,
        message: `session '${s.name}' on ${h.hostname} uses ${fmt(s.memory_mb)} MiB RSS (warning at ${t.session_memory_mb_warning} MiB)`,
        value: s.memory_mb,
        threshold: t.session_memory_mb_warning,
      });
    }
  }
}

function gpuConditions(ev: Evaluation, h: Host): void {
  const { t, band, isOpen } = ev;
  if (!h.gpu_available && h.has_gpu) {
    // nvidia-smi failed this time: GPU conditions are unknown, not resolved.
    for (const a of ev.open) if (a.host === h.hostname && a.type.startsWith('gpu_')) ev.unobserved.add(a.conditionKey);
  }
  for (const g of h.gpus) {
    const sub = `gpu${g.index}`;
    const critKey = conditionKey('gpu_temp_critical', h.hostname, sub);
    const critical = over(g.temperature_c, t.gpu_temp_critical, isOpen(critKey), band);
    if (critical && g.temperature_c !== null) {
      ev.push('gpu_temp_critical', h.hostname, sub, {
        gpuIndex: g.index,
        message: `GPU ${g.index} (${g.name}) on ${h.hostname} at ${fmt(g.temperature_c)} °C (critical at ${t.gpu_temp_critical} °C)`,
        value: g.temperature_c,
        threshold: t.gpu_temp_critical,
      });
    }
    const warnKey = conditionKey('gpu_temp_warning', h.hostname, sub);
    if (!critical && over(g.temperature_c, t.gpu_temp_warning, isOpen(warnKey), band)) {
      ev.push('gpu_temp_warning', h.hostname, sub, {
        gpuIndex: g.index,
        message: `GPU ${g.index} (${g.name}) on ${h.hostname} at ${fmt(g.temperature_c)} °C (warning at ${t.gpu_temp_warning} °C)`,
        value: g.temperature_c,
        threshold: t.gpu_temp_warning,
      });
    }
    if (g.temperature_c === null) for (const k of [critKey, warnKey]) if (isOpen(k)) ev.unobserved.add(k);
    const memKey = conditionKey('gpu_memory_high', h.hostname, sub);
    if (over(g.memory_percent, t.gpu_memory_warning, isOpen(memKey), band)) {
      ev.push('gpu_memory_high', h.hostname, sub, {
        gpuIndex: g.index,
        message: `GPU ${g.index} (${g.name}) on ${h.hostname} VRAM at ${fmt(g.memory_percent)}% (warning at ${t.gpu_memory_warning}%)`,
        value: g.memory_percent,
        threshold: t.gpu_memory_warning,
      });
    } else if (g.memory_percent === null && isOpen(memKey)) ev.unobserved.add(memKey);
  }
}

const GIB = 1024;

/** A configured time in minutes, in words ("30 min", "1.5 h", or seconds under a minute). */
const minutesText = (m: number) => (m < 1 ? `${Math.round(m * 60)} s` : formatHours(m / 60));

/** disk_full: a mounted filesystem used above alerts.disk_full.percent. */
function diskConditions(ev: Evaluation, h: Host): void {
  const { t, band, isOpen } = ev;
  if (!t.disk_full.enabled) return;
  const threshold = t.disk_full.percent;
  for (const d of h.disks) {
    const sub = `disk:${d.mount}`;
    const key = conditionKey('disk_full', h.hostname, sub);
    if (over(d.percent, threshold, isOpen(key), band)) {
      ev.push('disk_full', h.hostname, sub, {
        message: `${h.hostname} filesystem ${d.mount} (${d.filesystem}) is ${fmt(d.percent)}% full, ${fmt(Math.round((d.available_bytes / 2 ** 30) * 10) / 10)} GiB free (alert at ${threshold}%)`,
        value: d.percent,
        threshold,
      });
    } else if (d.percent === null && isOpen(key)) ev.unobserved.add(key);
  }
}

/** The session a process belongs to on this host (pids are unique per host, so this is one session of one user). */
function sessionOfPid(h: Host, pid: number): Host['sessions'][number] | undefined {
  return h.sessions.find((s) => s.pids.includes(pid));
}

/**
 * gpu_idle_holder: a process holds at least memory_gib of GPU memory while its GPU is busy at most
 * utilization_percent, for `minutes`. nvidia-smi reports utilization per GPU, not per process, so "idle" is the
 * GPU's. The message names the process, its owner (the session's user) and its session.
 */
function idleHolderConditions(ev: Evaluation, h: Host): void {
  const { t, timing, isOpen } = ev;
  const c = t.gpu_idle_holder;
  if (!c.enabled || !timing) return;
  const before = timing.timers.idleHolders[h.hostname] ?? {};
  if (!h.gpu_available && h.has_gpu) {
    // nvidia-smi failed this time: what was counting goes on counting.
    ev.next.idleHolders[h.hostname] = before;
    return;
  }
  const kept: Record<string, number> = {};
  for (const g of h.gpus) {
    for (const p of g.processes) {
      const sub = `gpu${g.index}:pid${p.pid}`;
      const key = conditionKey('gpu_idle_holder', h.hostname, sub);
      if (p.memory_mb === null || g.utilization_percent === null) {
        if (before[sub] !== undefined) kept[sub] = before[sub];
        if (isOpen(key)) ev.unobserved.add(key);
        continue;
      }
      if (p.memory_mb < c.memory_gib * GIB || g.utilization_percent > c.utilization_percent) continue;
      const since = before[sub] ?? (isOpen(key) ? timing.now - c.minutes * 60_000 : timing.now);
      kept[sub] = since;
      if (timing.now - since < c.minutes * 60_000) continue;
      const s = sessionOfPid(h, p.pid);
      const where = s ? `${s.user}, session '${s.name}'` : 'not in a tmux session';
      ev.push('gpu_idle_holder', h.hostname, sub, {
        session: s?.id ?? null,
        gpuIndex: g.index,
        message: `${p.name} (pid ${p.pid}, ${where}) holds ${fmt(Math.round((p.memory_mb / GIB) * 10) / 10)} GiB on GPU ${g.index} (${g.name}) of ${h.hostname} at ${fmt(g.utilization_percent)}% utilization for over ${minutesText(c.minutes)} (alert at ${c.memory_gib} GiB, ${c.utilization_percent}%)`,
        value: p.memory_mb,
        threshold: c.memory_gib * GIB,
      });
    }
  }
  if (Object.keys(kept).length > 0) ev.next.idleHolders[h.hostname] = kept;
}

/** Whether a session is busy now: CPU at the threshold, or a process of it on a GPU that busy; null: cannot tell. */
function sessionBusy(h: Host, s: Host['sessions'][number], c: AlertsConfig['session_finished']): boolean | null {
  const onBusyGpu = h.gpus.some((g) => g.utilization_percent !== null && g.utilization_percent >= c.busy_gpu_percent && g.processes.some((p) => s.pids.includes(p.pid)));
  if (onBusyGpu || (s.cpu_percent !== null && s.cpu_percent >= c.busy_cpu_percent)) return true;
  if (s.cpu_percent === null) return null;
  return false;
}

/**
 * session_finished: a session busy (CPU or GPU) for busy_minutes has been quiet for quiet_minutes: its job looks
 * done. A quiet spell shorter than quiet_minutes inside a job does not cut its busy stretch in two. The alert
 * resolves when the session gets busy again or is gone.
 */
function finishedConditions(ev: Evaluation, h: Host): void {
  const { t, timing, isOpen } = ev;
  const c = t.session_finished;
  if (!c.enabled || !timing) return;
  const { now } = timing;
  const busyMs = c.busy_minutes * 60_000;
  const quietMs = c.quiet_minutes * 60_000;
  const before = timing.timers.sessions[h.hostname] ?? {};
  const kept: Record<string, SessionTimer> = {};
  for (const s of h.sessions) {
    const sub = `session:${s.user}:${s.name}`;
    const key = conditionKey('session_finished', h.hostname, sub);
    const old = before[sub];
    const busy = sessionBusy(h, s, c);
    if (busy === null) {
      if (old) kept[sub] = old;
      if (isOpen(key)) ev.unobserved.add(key);
      continue;
    }
    let timer: SessionTimer | undefined;
    if (busy) {
      if (!old || (old.quietSince !== null && now - old.quietSince >= quietMs)) timer = { busySince: now, quietSince: null };
      else timer = { busySince: old.busySince, quietSince: null };
    } else if (old) {
      timer = old.quietSince === null ? { ...old, quietSince: now } : old;
    } else if (isOpen(key)) {
      // Open before a restart, quiet still: carried over rather than resolved and raised again.
      timer = { busySince: now - quietMs - busyMs, quietSince: now - quietMs };
    }
    if (!timer) continue;
    const ran = timer.quietSince === null ? 0 : timer.quietSince - timer.busySince;
    const finished = timer.quietSince !== null && now - timer.quietSince >= quietMs;
    // A short busy spell long quiet since is forgotten; everything else is remembered.
    if (finished && ran < busyMs) continue;
    kept[sub] = timer;
    if (!finished) continue;
    const carried = !old && isOpen(key) ? ev.openAlert(key)?.message : undefined;
    ev.push('session_finished', h.hostname, sub, {
      session: s.id,
      message: carried ?? `session '${s.name}' (${s.user}) on ${h.hostname} has gone quiet after ${formatHours(ran / 3600_000)} busy: its job looks done`,
      value: carried ? (ev.openAlert(key)?.value ?? null) : Math.round(ran / 60_000),
    });
  }
  if (Object.keys(kept).length > 0) ev.next.sessions[h.hostname] = kept;
}

/** Conditions holding now against the open alerts: raise the new, update the changed, resolve the ended. */
function diff(ev: Evaluation, configuredHosts: Set<string>): AlertChanges {
  const openByKey = new Map(ev.open.map((a) => [a.conditionKey, a]));
  const changes: AlertChanges = { raise: [], update: [], resolve: [] };
  const held = new Set<string>();
  for (const c of ev.holding) {
    held.add(c.conditionKey);
    const existing = openByKey.get(c.conditionKey);
    if (!existing) changes.raise.push(c);
    else if (existing.value !== c.value || existing.message !== c.message) changes.update.push({ id: existing.id, condition: c });
  }
  for (const a of ev.open) {
    if (held.has(a.conditionKey) || ev.unobserved.has(a.conditionKey) || SERVER_ALERT_TYPES.has(a.type)) continue;
    // Alerts of hosts removed from the config are resolved too: nobody can act on them any more.
    if (!configuredHosts.has(a.host) || !held.has(a.conditionKey)) changes.resolve.push(a);
  }
  return changes;
}

export function evaluateAlerts(views: HostView[], open: OpenAlert[], t: AlertsConfig, timing?: Timing): Evaluated {
  const ev = startEvaluation(open, t, timing);
  for (const view of views) {
    const name = view.host.hostname;
    if (!reachability(ev, view)) {
      // Nothing could be seen: the host's timers go on as they were.
      if (timing?.timers.idleHolders[name]) ev.next.idleHolders[name] = timing.timers.idleHolders[name];
      if (timing?.timers.sessions[name]) ev.next.sessions[name] = timing.timers.sessions[name];
      continue;
    }
    hostMetricConditions(ev, view.host);
    diskConditions(ev, view.host);
    sessionConditions(ev, view.host);
    gpuConditions(ev, view.host);
    idleHolderConditions(ev, view.host);
    finishedConditions(ev, view.host);
  }
  if (!timing) {
    // Not evaluated without the time: their open alerts stay as they are.
    for (const a of open) if (a.type === 'gpu_idle_holder' || a.type === 'session_finished') ev.unobserved.add(a.conditionKey);
  }
  return { ...diff(ev, new Set(views.map((v) => v.host.hostname))), timers: ev.next };
}

/** With alerts disabled nothing is raised, and what was open is resolved. */
export function evaluateOrDisable(views: HostView[], open: OpenAlert[], t: AlertsConfig, timing?: Timing): Evaluated {
  if (!t.enabled) return { raise: [], update: [], resolve: open.filter((a) => !SERVER_ALERT_TYPES.has(a.type)), timers: noTimers() };
  return evaluateAlerts(views, open, t, timing);
}
