/**
 * Pure formatting and data helpers for the dashboard: no DOM, no globals beyond Date and Math, so node:test
 * imports this module directly (test/server/public/format.test.ts). Every function tolerates null/undefined from the
 * API (a metric that could not be read) and answers with an em dash rather than "NaN".
 */
/* global URLSearchParams */

export const DASH = '—';
export const TABS = /** @type {const} */ (['active', 'legacy', 'hosts', 'notifications']);
export const DEFAULT_TAB = 'active';

const isNum = (v) => typeof v === 'number' && Number.isFinite(v);

/** "42s", "12m", "3h", "2d", "5w": the age of something in whole units, rounded down. */
export function formatAge(seconds) {
  if (!isNum(seconds)) return DASH;
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  if (s < 14 * 86400) return `${Math.floor(s / 86400)}d`;
  return `${Math.floor(s / (7 * 86400))}w`;
}

/** Seconds from an ISO time to `nowMs`, or null when the time is missing or unparsable. */
export function secondsSince(iso, nowMs) {
  if (!iso) return null;
  const t = Date.parse(iso);
  return Number.isFinite(t) ? Math.max(0, (nowMs - t) / 1000) : null;
}

/** "3h" from an ISO creation time. */
export function ageOf(iso, nowMs) {
  return formatAge(secondsSince(iso, nowMs));
}

function fixed(v, digits) {
  // 3 significant figures at most, without trailing ".0" on round numbers (1.0 GiB → "1 GiB" would hide precision,
  // so only values >= 100 drop the decimal).
  if (Math.abs(v) >= 100 || digits === 0) return String(Math.round(v));
  return v.toFixed(digits);
}

/** MiB (as the API reports memory) to "512 MiB", "20.6 GiB", "1.2 TiB". */
export function formatMiB(mb) {
  if (!isNum(mb)) return DASH;
  if (Math.abs(mb) < 1) return `${fixed(mb * 1024, 0)} KiB`;
  if (Math.abs(mb) < 1024) return `${fixed(mb, 1)} MiB`;
  if (Math.abs(mb) < 1024 * 1024) return `${fixed(mb / 1024, 1)} GiB`;
  return `${fixed(mb / 1024 / 1024, 1)} TiB`;
}

/** Two MiB figures with one unit, the way people read VRAM: "30.8 / 79.6 GiB". */
export function formatMiBPair(used, total) {
  if (!isNum(used) || !isNum(total)) return `${formatMiB(used)} / ${formatMiB(total)}`;
  const big = Math.max(Math.abs(used), Math.abs(total));
  if (big < 1024) return `${fixed(used, 1)} / ${fixed(total, 1)} MiB`;
  if (big < 1024 * 1024) return `${fixed(used / 1024, 1)} / ${fixed(total / 1024, 1)} GiB`;
  return `${fixed(used / 1048576, 1)} / ${fixed(total / 1048576, 1)} TiB`;
}

/** Bytes to "1.5 GiB" (disks). */
export function formatBytes(bytes) {
  if (!isNum(bytes)) return DASH;
  if (Math.abs(bytes) < 1024) return `${Math.round(bytes)} B`;
  return formatMiB(bytes / 1048576);
}

/** Bytes per second to "0 B/s", "12.3 KiB/s", "1.1 GiB/s". */
export function formatRate(bps) {
  if (!isNum(bps)) return DASH;
  const units = ['B/s', 'KiB/s', 'MiB/s', 'GiB/s', 'TiB/s'];
  let v = Math.max(0, bps);
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${i === 0 ? Math.round(v) : fixed(v, 1)} ${units[i]}`;
}

export function formatPercent(v, digits = 0) {
  if (!isNum(v)) return DASH;
  return `${v.toFixed(digits)}%`;
}

export function formatWatts(w) {
  return isNum(w) ? `${Math.round(w)} W` : DASH;
}

export function formatPowerPair(draw, limit) {
  if (!isNum(limit)) return formatWatts(draw);
  return `${isNum(draw) ? Math.round(draw) : DASH} / ${Math.round(limit)} W`;
}

export function formatTemp(c) {
  return isNum(c) ? `${Math.round(c)} °C` : DASH;
}

export function formatLoad(l1, l5, l15) {
  return [l1, l5, l15].map((v) => (isNum(v) ? v.toFixed(2) : DASH)).join(' ');
}

/** A share of a whole in percent, clamped to 0..100, or null when either figure is unknown. */
export function percentOf(used, total) {
  if (!isNum(used) || !isNum(total) || total <= 0) return null;
  return Math.min(100, Math.max(0, (used / total) * 100));
}

/** 'ok' | 'warn' | 'crit' | 'unknown' for a value against a warning and a critical threshold. */
export function levelOf(value, warnAt, critAt) {
  if (!isNum(value)) return 'unknown';
  if (isNum(critAt) && value >= critAt) return 'crit';
  if (isNum(warnAt) && value >= warnAt) return 'warn';
  return 'ok';
}

/** GPU temperature colour from the server's configured thresholds (GET /api/config → alerts). */
export function tempLevel(celsius, alerts) {
  return levelOf(celsius, alerts?.gpu_temp_warning ?? 80, alerts?.gpu_temp_critical ?? 90);
}

/** Utilisation bars: amber from the configured warning threshold, red when (nearly) full. */
export function usageLevel(percent, warnAt = 80) {
  const crit = Math.max(isNum(warnAt) ? warnAt : 80, 98);
  return levelOf(percent, warnAt, crit);
}

export const HOST_STATUS_LEVEL = { online: 'ok', degraded: 'warn', offline: 'crit', pending: 'unknown' };

/** The state a card shows: the specification's status, or `pending` before the first poll of this run. */
export function displayStatus(host) {
  return host.pending ? 'pending' : host.status;
}

export function hostLevel(status) {
  return HOST_STATUS_LEVEL[status] ?? 'unknown';
}

/** A notification channel's health (GET /api/notifications) as a level: failing red, unused grey. */
export function channelLevel(health) {
  return health === 'ok' ? 'ok' : health === 'failing' ? 'crit' : 'unknown';
}

/** A delivery log row's state as a level: delivered green, pending amber (retrying, or held), failed red. */
export function deliveryLevel(row) {
  if (row.state === 'delivered') return 'ok';
  if (row.state === 'failed') return 'crit';
  if (row.state === 'pending') return row.attempts > 0 ? 'warn' : 'unknown';
  return 'unknown';
}

/** What a delivery log row says in words: the state, its attempts, and why it failed, waits or was dropped. */
export function deliveryText(row) {
  const tries = row.attempts === 1 ? '1 attempt' : `${row.attempts} attempts`;
  const why = [row.last_error, row.detail].filter((x) => typeof x === 'string' && x.length > 0).join('; ');
  if (row.state === 'delivered') return row.attempts > 1 ? `delivered after ${tries}` : 'delivered';
  if (row.state === 'pending') return `${row.attempts > 0 ? `retrying (${tries})` : 'waiting'}${why ? `: ${why}` : ''}`;
  return `${row.state}${row.attempts > 0 ? ` after ${tries}` : ''}${why ? `: ${why}` : ''}`;
}

const SEVERITY_ICON = { critical: '✖', warning: '▲', info: 'ℹ' };
const SEVERITY_RANK = { critical: 3, warning: 2, info: 1 };

export function severityIcon(severity) {
  return SEVERITY_ICON[severity] ?? '•';
}

/** Open alerts for the banner: unacknowledged first, then by severity, then newest first. */
export function sortAlerts(alerts) {
  return [...alerts].sort(
    (a, b) =>
      Number(a.acknowledged) - Number(b.acknowledged) ||
      (SEVERITY_RANK[b.severity] ?? 0) - (SEVERITY_RANK[a.severity] ?? 0) ||
      Date.parse(b.created) - Date.parse(a.created) ||
      String(a.id).localeCompare(String(b.id)),
  );
}

/**
 * The open-alert list after one WebSocket event. Resolved alerts leave the list; an unknown id is added (the
 * event may arrive before the REST list does). Returns a new array; unknown events return the list unchanged.
 */
export function applyAlertEvent(alerts, message) {
  const { event, data } = message ?? {};
  if (!data || typeof data !== 'object') return alerts;
  if (event === 'alert_cleared') return alerts.filter((a) => a.id !== data.id);
  if (event !== 'alert_new' && event !== 'alert_updated' && event !== 'alert_acked') return alerts;
  const rest = alerts.filter((a) => a.id !== data.id);
  return data.state === 'resolved' ? rest : [...rest, data];
}

/** Badge level: red while an unacknowledged critical alert is open, amber for other unacknowledged ones. */
export function badgeLevel(alerts) {
  const pending = alerts.filter((a) => !a.acknowledged);
  if (pending.some((a) => a.severity === 'critical')) return 'crit';
  if (pending.some((a) => a.severity === 'warning')) return 'warn';
  return pending.length > 0 ? 'info' : 'ok';
}

/** A session id is `host:user:name`; tmux forbids ':' in names, so the name is everything after the second colon. */
export function sessionNameFromId(id) {
  if (typeof id !== 'string') return '';
  const parts = id.split(':');
  return parts.length >= 3 ? parts.slice(2).join(':') : parts[parts.length - 1] ?? '';
}

/**
 * "attached", "attached ×2", or "detached 3h": time since the later of creation and the last attach (the server's
 * definition of detached time), counted on the browser's clock like every other age on the page.
 */
export function attachState(session, nowMs) {
  if (session.attached) return session.attached_clients > 1 ? `attached ×${session.attached_clients}` : 'attached';
  const created = Date.parse(session.created);
  const attachedAt = session.last_attached_at ? Date.parse(session.last_attached_at) : NaN;
  const since = Math.max(Number.isFinite(created) ? created : -Infinity, Number.isFinite(attachedAt) ? attachedAt : -Infinity);
  if (Number.isFinite(since) && isNum(nowMs)) return `detached ${formatAge((nowMs - since) / 1000)}`;
  if (isNum(session.detached_hours)) return `detached ${formatAge(session.detached_hours * 3600)}`;
  return 'detached';
}

export function parseTab(search) {
  const value = new URLSearchParams(search ?? '').get('tab');
  return TABS.includes(value) ? value : DEFAULT_TAB;
}

/** The URL search string for a tab (and optionally an open host), keeping other parameters. */
export function searchWith(search, changes) {
  const params = new URLSearchParams(search ?? '');
  for (const [k, v] of Object.entries(changes)) {
    if (v === null || v === undefined || v === '') params.delete(k);
    else params.set(k, v);
  }
  const s = params.toString();
  return s ? `?${s}` : '';
}

/**
 * What a tab shows: for `active`/`legacy`, the hosts that have such sessions, each with only those sessions;
 * for `hosts`, every host with all its sessions.
 */
export function viewForTab(hosts, tab) {
  if (tab === 'notifications') return [];
  if (tab === 'hosts') return hosts.map((host) => ({ host, sessions: sortSessionsByUse(host.sessions) }));
  return hosts
    .map((host) => ({ host, sessions: sortSessionsByUse(host.sessions.filter((s) => s.status === tab)) }))
    .filter((v) => v.sessions.length > 0);
}

/**
 * The sessions using most first: CPU (whole percent, so that a tenth of jitter does not reorder the list every
 * poll), then GPU memory, then resident memory; an unknown figure counts as nothing; the name breaks ties.
 */
export function sortSessionsByUse(sessions) {
  const cpu = (s) => (isNum(s.cpu_percent) ? Math.round(s.cpu_percent) : 0);
  const num = (v) => (isNum(v) ? v : 0);
  return [...sessions].sort(
    (a, b) => cpu(b) - cpu(a) || num(b.gpu_memory_mb) - num(a.gpu_memory_mb) || num(b.memory_mb) - num(a.memory_mb) || String(a.name).localeCompare(String(b.name)),
  );
}

export function tabCounts(hosts) {
  const all = hosts.flatMap((h) => h.sessions);
  return {
    active: all.filter((s) => s.status === 'active').length,
    legacy: all.filter((s) => s.status === 'legacy').length,
    hosts: hosts.length,
  };
}

/**
 * GPU processes with the name of the tmux session each belongs to (null outside tmux), their owner (null when the
 * host did not say) and command line.
 */
export function gpuProcessRows(gpu, sessions) {
  const byId = new Map(sessions.map((s) => [s.fleetmon_id, s.name]));
  return [...gpu.processes]
    .sort((a, b) => (b.memory_mb ?? 0) - (a.memory_mb ?? 0) || a.pid - b.pid)
    .map((p) => ({
      pid: p.pid,
      name: p.name,
      memory: formatMiB(p.memory_mb),
      session: p.session_id ? byId.get(p.session_id) ?? sessionNameFromId(p.session_id) : null,
      user: p.user ?? (p.uid === null || p.uid === undefined ? null : `uid ${p.uid}`),
      cmdline: p.cmdline ?? null,
    }));
}

/** The line a host card shows about whose sessions it lists: null for every user's. */
export function scopeNote(host) {
  const scope = host.sessions_scope;
  if (!scope || scope.scope === 'all-users') return null;
  return `own account only: ${scope.reason ?? 'no reason given'}`;
}

/** Reconnect delay: exponential from `base` to `max`, with up to 30 % jitter so many tabs do not reconnect at once. */
export function backoffDelay(attempt, base = 1000, max = 30000, random = Math.random) {
  const raw = Math.min(max, base * 2 ** Math.max(0, attempt));
  return Math.round(raw * (0.7 + 0.3 * random()));
}

const pad = (n) => String(n).padStart(2, '0');

/** "14:05:09" in the browser's local time zone. */
export function formatClock(date) {
  const d = date instanceof Date ? date : new Date(date);
  if (Number.isNaN(d.getTime())) return DASH;
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** "2026-11-23 14:05" in local time, for tooltips. */
export function formatDateTime(date) {
  const d = date instanceof Date ? date : new Date(date);
  if (Number.isNaN(d.getTime())) return DASH;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];

/**
 * Chart axis label in local time: "14:05" within a day and a half; over a week "Mon 23" at midnight and
 * "Mon 12:00" otherwise; beyond that "11-23".
 */
export function formatTick(ms, spanMs) {
  const d = new Date(ms);
  if (spanMs <= 36 * 3600_000) return `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  if (spanMs <= 8 * 86400_000) {
    return d.getHours() === 0 && d.getMinutes() === 0 ? `${DAYS[d.getDay()]} ${d.getDate()}` : `${DAYS[d.getDay()]} ${pad(d.getHours())}:00`;
  }
  return `${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

/** Time ticks at round local boundaries (1, 5, 15, 30 min; 1, 3, 6, 12 h; days) — about `count` of them. */
export function timeTicks(from, to, count = 6) {
  const span = to - from;
  if (!(span > 0)) return [];
  const steps = [60e3, 5 * 60e3, 15 * 60e3, 30 * 60e3, 3600e3, 3 * 3600e3, 6 * 3600e3, 12 * 3600e3, 86400e3, 2 * 86400e3, 3 * 86400e3, 7 * 86400e3];
  const step = steps.find((s) => span / s <= count) ?? steps[steps.length - 1];
  // Align to local time: shift by the zone offset so "every 6 h" falls on 00, 06, 12, 18 local.
  const offset = new Date(from).getTimezoneOffset() * 60e3;
  const first = Math.ceil((from - offset) / step) * step + offset;
  const out = [];
  for (let t = first; t <= to; t += step) out.push(t);
  return out;
}

/** Round numbers for a value axis: about `count` ticks covering [min, max]. */
export function niceTicks(min, max, count = 4) {
  if (!isNum(min) || !isNum(max)) return [];
  if (min === max) {
    const pad = Math.abs(min) > 0 ? Math.abs(min) * 0.1 : 1;
    min -= pad;
    max += pad;
  }
  const raw = (max - min) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out = [];
  for (let v = Math.floor(min / step) * step; v <= max + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  if (out[out.length - 1] < max) out.push(Number((out[out.length - 1] + step).toPrecision(12)));
  return out;
}

/** Short value for axis labels: 950, 1.2k, 3.4M. */
export function formatCompact(v) {
  if (!isNum(v)) return DASH;
  const a = Math.abs(v);
  if (a >= 1e9) return `${fixed(v / 1e9, 1)}G`;
  if (a >= 1e6) return `${fixed(v / 1e6, 1)}M`;
  if (a >= 1e4) return `${fixed(v / 1e3, 0)}k`;
  if (a >= 1e3) return `${fixed(v / 1e3, 1)}k`;
  return Number.isInteger(v) ? String(v) : fixed(v, 1);
}

/** The history API's points as chart columns: epoch ms and values (null stays null: a gap). */
export function toSeries(points) {
  const xs = [];
  const ys = [];
  for (const p of points ?? []) {
    const t = Date.parse(p.t);
    if (!Number.isFinite(t)) continue;
    xs.push(t);
    ys.push(isNum(p.v) ? p.v : null);
  }
  return { xs, ys };
}
