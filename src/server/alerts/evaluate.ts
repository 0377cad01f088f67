/**
 * Alert evaluation as a pure function: (hosts, open alerts, thresholds, now) → changes. Each condition has a key
 * (type + host + session or GPU index); an alert is raised once per episode, updated while the condition holds and
 * resolved when it ends. Threshold alerts clear only below the threshold less a hysteresis band, so a value
 * hovering at the line does not flap. Session and GPU conditions are left alone while their host is unreachable:
 * "we could not look" is not "it got better".
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
}

function startEvaluation(open: OpenAlert[], t: AlertsConfig): Evaluation {
  const openByKey = new Set(open.map((a) => a.conditionKey));
  const holding: Condition[] = [];
  return {
    t,
    band: t.hysteresis_percent,
    open,
    isOpen: (k) => openByKey.has(k),
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
  const { t, band, isOpen } = ev;
  const m = h;
  const cpuKey = conditionKey('high_cpu', h.hostname);
  if (over(m.cpu_percent, t.host_cpu_warning, isOpen(cpuKey), band)) {
    ev.push('high_cpu', h.hostname, undefined, {
      message: `${h.hostname} CPU at ${fmt(m.cpu_percent)}% (warning at ${t.host_cpu_warning}%)`,
      value: m.cpu_percent,
      threshold: t.host_cpu_warning,
    });
  } else if (m.cpu_percent === null && isOpen(cpuKey)) ev.unobserved.add(cpuKey);
  const memKey = conditionKey('high_memory', h.hostname);
  if (over(m.memory_percent, t.host_memory_warning, isOpen(memKey), band)) {
    ev.push('high_memory', h.hostname, undefined, {
      message: `${h.hostname} memory at ${fmt(m.memory_percent)}% (warning at ${t.host_memory_warning}%)`,
      value: m.memory_percent,
      threshold: t.host_memory_warning,
    });
  }
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

export function evaluateAlerts(views: HostView[], open: OpenAlert[], t: AlertsConfig): AlertChanges {
  const ev = startEvaluation(open, t);
  for (const view of views) {
    if (!reachability(ev, view)) continue;
    hostMetricConditions(ev, view.host);
    sessionConditions(ev, view.host);
    gpuConditions(ev, view.host);
  }
  return diff(ev, new Set(views.map((v) => v.host.hostname)));
}

/** With alerts disabled nothing is raised, and what was open is resolved. */
export function evaluateOrDisable(views: HostView[], open: OpenAlert[], t: AlertsConfig): AlertChanges {
  if (!t.enabled) return { raise: [], update: [], resolve: open.filter((a) => !SERVER_ALERT_TYPES.has(a.type)) };
  return evaluateAlerts(views, open, t);
}
