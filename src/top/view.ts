/**
 * `fleetmon top` as pure functions: the API's data and the UI state in, a frame out. A frame is a list of lines,
 * each a list of segments with a tone; the Ink app (app.ts) only maps tones to colours, and `--once` prints the
 * same frame. Every line fits the width and the frame is one line shorter than the terminal (a frame as tall as
 * the terminal makes Ink clear the whole screen on each update instead of rewriting the lines that changed).
 */
import { formatHours } from '../core/duration.js';
import type { Alert, FleetSummary, Gpu, Host, Session } from '../core/model.js';

export type Tone = 'ok' | 'warn' | 'crit' | 'dim' | 'head' | 'sel';
export interface Seg {
  text: string;
  tone?: Tone | undefined;
}
export type Line = Seg[];

export type SortKey = 'cpu' | 'memory' | 'gpu' | 'age';
export type Pane = 'sessions' | 'alerts' | 'hosts';
export type Connection = 'connecting' | 'live' | 'polling' | 'lost';

/** The thresholds the server alerts on (GET /api/config `alerts`), so the figures turn colour where alerts start. */
export interface Thresholds {
  gpu_temp_warning: number;
  gpu_temp_critical: number;
  gpu_memory_warning: number;
  host_cpu_warning: number;
  host_memory_warning: number;
  session_cpu_warning: number;
  session_memory_mb_warning: number;
}
/** The server's defaults (src/core/config.ts), used until /api/config answers. */
export const DEFAULT_THRESHOLDS: Thresholds = {
  gpu_temp_warning: 80,
  gpu_temp_critical: 90,
  gpu_memory_warning: 90,
  host_cpu_warning: 90,
  host_memory_warning: 90,
  session_cpu_warning: 80,
  session_memory_mb_warning: 2048,
};

export function thresholdsFrom(alerts: Record<string, number | boolean> | undefined): Thresholds {
  const t = { ...DEFAULT_THRESHOLDS };
  for (const k of Object.keys(t) as Array<keyof Thresholds>) {
    const v = alerts?.[k];
    if (typeof v === 'number') t[k] = v;
  }
  return t;
}

export type Prompt =
  /** After the kill's first step: the server's own view of the session, and the token the second step needs. */
  | { kind: 'kill'; session: Session; token: string; step: 1 | 2 }
  | { kind: 'ack'; alert: Alert; note: string };

export interface TopState {
  hosts: Host[];
  summary: FleetSummary | null;
  alerts: Alert[];
  thresholds: Thresholds;
  connection: Connection;
  /** Why the connection is what it is (the last error), shown in the header. */
  connectionDetail: string | null;
  lastUpdate: number | null;
  sort: SortKey;
  filter: string;
  /** True while `/` is taking the filter text. */
  filtering: boolean;
  pane: Pane;
  selected: Record<Pane, number>;
  /** The host whose detail is open (Enter), by hostname. */
  detail: string | null;
  help: boolean;
  prompt: Prompt | null;
  /** One line of feedback: what the last action did, or why it failed. */
  message: { text: string; tone?: Tone } | null;
}

export function initialState(): TopState {
  return {
    hosts: [],
    summary: null,
    alerts: [],
    thresholds: DEFAULT_THRESHOLDS,
    connection: 'connecting',
    connectionDetail: null,
    lastUpdate: null,
    sort: 'cpu',
    filter: '',
    filtering: false,
    pane: 'sessions',
    selected: { sessions: 0, alerts: 0, hosts: 0 },
    detail: null,
    help: false,
    prompt: null,
    message: null,
  };
}

// ---------------------------------------------------------------------------------------------------------- text

/**
 * Names from the fleet without control characters that could rewrite the terminal nor the bidirectional controls
 * that reorder a line (the same rule as the CLI's tables, src/cli/format.ts, which this layer sits below).
 */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
export const safe = (s: string) => s.replace(/[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, '?');

const len = (s: string) => [...s].length;
/** Exactly `w` characters: cut with `…`, or padded (right-aligned numbers with `right`). */
export function fit(s: string, w: number, right = false): string {
  if (w <= 0) return '';
  const chars = [...s];
  if (chars.length > w) return w === 1 ? '…' : `${chars.slice(0, w - 1).join('')}…`;
  const pad = ' '.repeat(w - chars.length);
  return right ? pad + s : s + pad;
}
/** A line cut to the width (segments keep their tones), never wider than the terminal. */
export function clipLine(line: Line, width: number): Line {
  const out: Line = [];
  let left = width;
  for (const seg of line) {
    if (left <= 0) break;
    const n = len(seg.text);
    if (n <= left) {
      out.push(seg);
      left -= n;
    } else {
      out.push({ ...seg, text: fit(seg.text, left) });
      left = 0;
    }
  }
  return out;
}
export const lineText = (l: Line) => l.map((s) => s.text).join('');

const num = (v: number | null | undefined, digits = 0, unit = '') => (v === null || v === undefined ? '-' : `${v.toFixed(digits)}${unit}`);
export const mib = (v: number | null | undefined) =>
  v === null || v === undefined ? '-' : v >= 1024 ? `${(v / 1024).toFixed(v >= 10240 ? 0 : 1)}G` : `${Math.round(v)}M`;

/** The age of a session from its creation time: 45s, 12m, 5h, 3d. */
export function age(fromIso: string, now: number): string {
  const s = Math.max(0, (now - Date.parse(fromIso)) / 1000);
  if (s < 60) return `${Math.floor(s)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

// ------------------------------------------------------------------------------------------------------- tones

export const tempTone = (c: number | null, t: Thresholds): Tone | undefined =>
  c === null ? undefined : c >= t.gpu_temp_critical ? 'crit' : c >= t.gpu_temp_warning ? 'warn' : 'ok';
export const vramTone = (g: Gpu, t: Thresholds): Tone | undefined => {
  const p = vramPercent(g);
  return p === null ? undefined : p >= t.gpu_memory_warning ? 'warn' : undefined;
};
const atLeast = (v: number | null, limit: number): Tone | undefined => (v !== null && v >= limit ? 'warn' : undefined);
export const statusTone = (s: Host['status']): Tone => (s === 'online' ? 'ok' : s === 'degraded' ? 'warn' : 'crit');
const severityTone = (s: Alert['severity']): Tone => (s === 'critical' ? 'crit' : s === 'warning' ? 'warn' : 'dim');

export function vramPercent(g: Gpu): number | null {
  if (g.memory_percent !== null) return g.memory_percent;
  return g.memory_used_mb !== null && g.memory_total_mb ? (100 * g.memory_used_mb) / g.memory_total_mb : null;
}

// ---------------------------------------------------------------------------------------------------- sessions

export const allSessions = (hosts: Host[]) => hosts.flatMap((h) => h.sessions);

/** Highest use first (CPU, memory, GPU memory); oldest first for age. Ties keep a stable order by fleetmon_id. */
export function sortSessions(sessions: Session[], key: SortKey): Session[] {
  const by: Record<SortKey, (s: Session) => number> = {
    cpu: (s) => -(s.cpu_percent ?? -1),
    memory: (s) => -s.memory_mb,
    gpu: (s) => -s.gpu_memory_mb,
    age: (s) => s.created_epoch,
  };
  const f = by[key];
  return [...sessions].sort((a, b) => f(a) - f(b) || (a.fleetmon_id < b.fleetmon_id ? -1 : a.fleetmon_id > b.fleetmon_id ? 1 : 0));
}

/** Case-insensitive substring of host, user or name; several words must all match. */
export function filterSessions(sessions: Session[], filter: string): Session[] {
  const words = filter.toLowerCase().split(/\s+/).filter(Boolean);
  if (words.length === 0) return sessions;
  return sessions.filter((s) => {
    const hay = `${s.host} ${s.user} ${s.name}`.toLowerCase();
    return words.every((w) => hay.includes(w));
  });
}

/** The sessions as the list shows them: filtered, then sorted. */
export const visibleSessions = (st: Pick<TopState, 'hosts' | 'filter' | 'sort'>) => sortSessions(filterSessions(allSessions(st.hosts), st.filter), st.sort);

/** Open alerts, unacknowledged first, then the most severe, then the newest. */
export function visibleAlerts(alerts: Alert[]): Alert[] {
  const rank = { critical: 0, warning: 1, info: 2 } as const;
  return alerts
    .filter((a) => a.state === 'open')
    .sort((a, b) => Number(a.acknowledged) - Number(b.acknowledged) || rank[a.severity] - rank[b.severity] || (a.created < b.created ? 1 : a.created > b.created ? -1 : 0));
}

export function selectedSession(st: TopState): Session | undefined {
  const list = visibleSessions(st);
  return list[Math.min(st.selected.sessions, list.length - 1)];
}
export function selectedAlert(st: TopState): Alert | undefined {
  const list = visibleAlerts(st.alerts);
  return list[Math.min(st.selected.alerts, list.length - 1)];
}
export function selectedHost(st: TopState): Host | undefined {
  return st.hosts[Math.min(st.selected.hosts, st.hosts.length - 1)];
}

/** Why a session counts as active, in the words of what tmux knows about it (the kill prompt says it). */
export function activeReason(s: Session): string {
  if (s.attached) return `attached (${s.attached_clients} client${s.attached_clients === 1 ? '' : 's'})`;
  const ago = s.detached_hours === null ? 'recently' : `${formatHours(s.detached_hours)} ago`;
  return s.last_attached_at === null ? `never attached, created ${ago}` : `detached ${ago}`;
}

/** Alert events applied to the open-alert list the way the dashboard does (the feed sends whole alerts). */
export function applyAlertEvent(alerts: Alert[], e: { event: string; data: unknown }): Alert[] {
  if (e.event === 'alert_cleared') return alerts.filter((a) => a.id !== (e.data as { id: string }).id);
  if (e.event === 'alert_new' || e.event === 'alert_updated' || e.event === 'alert_acked') {
    const a = e.data as Alert;
    return [...alerts.filter((x) => x.id !== a.id), a];
  }
  return alerts;
}

// ------------------------------------------------------------------------------------------------------ blocks

const SORT_NAMES: Record<SortKey, string> = { cpu: 'CPU', memory: 'memory', gpu: 'GPU memory', age: 'age' };

export function headerLines(st: TopState, width: number, now: number): Line[] {
  const conn: Record<Connection, Seg> = {
    connecting: { text: 'connecting…', tone: 'dim' },
    live: { text: '● live', tone: 'ok' },
    polling: { text: '● polling', tone: 'warn' },
    lost: { text: '✕ server unreachable', tone: 'crit' },
  };
  const updated = st.lastUpdate === null ? 'no data yet' : `updated ${age(new Date(st.lastUpdate).toISOString(), now)} ago`;
  const right = '?:keys  q:quit';
  const left: Line = [{ text: 'fleetmon top  ', tone: 'head' }, conn[st.connection], { text: `  ${updated}` }];
  const pad = Math.max(1, width - len(lineText(left)) - len(right));
  const s = st.summary;
  const second: Line = s
    ? [
        { text: 'hosts ' },
        { text: `${s.hosts_online} online`, tone: s.hosts_online > 0 ? 'ok' : undefined },
        { text: ' ' },
        { text: `${s.hosts_degraded} degraded`, tone: s.hosts_degraded > 0 ? 'warn' : undefined },
        { text: ' ' },
        { text: `${s.hosts_offline} offline`, tone: s.hosts_offline > 0 ? 'crit' : undefined },
        { text: `  sessions ${s.sessions_active} active ${s.sessions_legacy} legacy  ` },
        { text: `alerts ${s.alerts_open} open`, tone: s.alerts_unacknowledged > 0 ? 'warn' : undefined },
        // The unacknowledged count is in the alerts pane's title too; here only where there is room.
        ...(s.alerts_open > 0 && width >= 100 ? [{ text: ` (${s.alerts_unacknowledged} unacknowledged)` }] : []),
      ]
    : [{ text: 'waiting for the server…', tone: 'dim' }];
  // While the server is away its error takes the second line: the counts above it are stale anyway.
  if (st.connection === 'lost') second.splice(0, second.length, { text: `${st.connectionDetail ?? 'no answer'}; retrying`, tone: 'crit' });
  return [clipLine([...left, { text: ' '.repeat(pad) }, { text: right, tone: 'dim' }], width), clipLine(second, width)];
}

/** One GPU in a few characters: `0 100% 31/80G 62°C 686W`, the temperature and VRAM coloured by the thresholds. */
export function gpuSegs(g: Gpu, t: Thresholds): Line {
  const used = g.memory_used_mb === null ? '-' : (g.memory_used_mb / 1024).toFixed(0);
  const total = g.memory_total_mb === null ? '-' : `${(g.memory_total_mb / 1024).toFixed(0)}G`;
  return [
    { text: `${g.index} ` },
    { text: fit(num(g.utilization_percent, 0, '%'), 4, true) },
    { text: ' ' },
    { text: `${used}/${total}`, tone: vramTone(g, t) },
    { text: ' ' },
    { text: num(g.temperature_c, 0, '°C'), tone: tempTone(g.temperature_c, t) },
    { text: ` ${num(g.power_draw_watts, 0, 'W')}` },
  ];
}

/** A load average in at most 4 characters, so that three fit the column even on a machine under heavy load. */
export const loadFigure = (v: number) => v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2);

const HOST_FIXED = 12 + 1 + 8 + 1 + 5 + 1 + 5 + 1 + 14 + 1; // name, status, cpu, mem, load
/** Host rows: one per host, its GPUs after the figures, wrapping onto indented lines when they do not fit. */
export function hostLines(st: TopState, width: number, maxLines: number, focused: boolean): Line[] {
  const t = st.thresholds;
  const lines: Line[] = [[{ text: fit(`HOSTS (${st.hosts.length})`, 13) + fit('STATUS', 9) + fit('CPU', 5, true) + ' ' + fit('MEM', 5, true) + ' ' + fit('LOAD', 14) + ' GPU util VRAM temp power', tone: 'head' }]];
  const nameW = 12;
  st.hosts.forEach((h, i) => {
    const sel = focused && i === st.selected.hosts;
    const status = h.pending ? 'pending' : h.status;
    const load = h.load_avg ? h.load_avg.map(loadFigure).join(' ') : '-';
    const head: Line = [
      { text: (sel ? '>' : ' ') + fit(safe(h.hostname), nameW) },
      { text: fit(status, 9), tone: h.pending ? 'dim' : statusTone(h.status) },
      { text: fit(num(h.cpu_percent, 0, '%'), 5, true), tone: atLeast(h.cpu_percent, t.host_cpu_warning) },
      { text: ' ' },
      { text: fit(num(h.memory_percent, 0, '%'), 5, true), tone: atLeast(h.memory_percent, t.host_memory_warning) },
      { text: ` ${fit(load, 14)} ` },
    ];
    let cur: Line = head;
    let used = HOST_FIXED;
    if (h.gpus.length === 0) cur.push({ text: h.status === 'offline' && h.last_error ? safe(h.last_error) : h.has_gpu ? (h.gpu_error ? safe(h.gpu_error) : '-') : '', tone: 'dim' });
    for (const g of h.gpus) {
      const segs = gpuSegs(g, t);
      const w = len(lineText(segs)) + 2;
      if (used + w > width && used > HOST_FIXED) {
        lines.push(cur);
        cur = [{ text: ' '.repeat(HOST_FIXED) }];
        used = HOST_FIXED;
      }
      cur.push(...segs, { text: '  ' });
      used += w;
    }
    lines.push(cur);
  });
  if (st.hosts.length === 0) lines.push([{ text: '  no hosts yet', tone: 'dim' }]);
  return windowed(lines, maxLines, st.selected.hosts + 1);
}

/** Cuts a block to `max` lines keeping the header and the selected row (index into lines) in view. */
function windowed(lines: Line[], max: number, selectedLine: number): Line[] {
  if (lines.length <= max) return lines;
  if (max <= 1) return lines.slice(0, max);
  const body = lines.slice(1);
  const room = max - 1;
  const start = Math.max(0, Math.min(selectedLine - 1 - room + 1, body.length - room));
  return [lines[0]!, ...body.slice(start, start + room)];
}

interface SessionCols {
  host: number;
  user: number;
  name: number;
}
function sessionCols(width: number): SessionCols {
  // Fixed: marker 1, status 7, age 5, cpu 7, rss 7, gpu 7 and the spaces between.
  const fixed = 1 + 8 + 5 + 7 + 7 + 7 + 3;
  const flex = Math.max(12, width - fixed);
  const host = Math.min(16, Math.max(6, Math.floor(flex * 0.25)));
  const user = Math.min(12, Math.max(5, Math.floor(flex * 0.15)));
  return { host, user, name: Math.min(48, Math.max(4, flex - host - user)) };
}

export function sessionLines(st: TopState, width: number, maxLines: number, focused: boolean, now: number): Line[] {
  const c = sessionCols(width);
  const t = st.thresholds;
  const list = visibleSessions(st);
  const total = allSessions(st.hosts).length;
  const mark = (k: SortKey, label: string) => (st.sort === k ? `${label}▼` : label);
  const title = st.filter || st.filtering ? `SESSIONS ${list.length}/${total} /${st.filter}${st.filtering ? '_' : ''}` : `SESSIONS (${total})`;
  const lines: Line[] = [
    [{ text: title, tone: 'head' }, { text: `  by ${SORT_NAMES[st.sort]}`, tone: 'dim' }],
    [
      {
        text:
          ' ' +
          fit('HOST', c.host) +
          fit('USER', c.user) +
          ' ' +
          fit('NAME', c.name) +
          fit('STATUS', 8) +
          fit(mark('age', 'AGE'), 5, true) +
          fit(mark('cpu', 'CPU'), 7, true) +
          fit(mark('memory', 'RSS'), 7, true) +
          fit(mark('gpu', 'GPU'), 7, true),
        tone: 'head',
      },
    ],
  ];
  const sel = Math.min(st.selected.sessions, list.length - 1);
  const rows = list.map((s, i): Line => {
    const here = focused && i === sel;
    return [
      { text: (here ? '>' : ' ') + fit(safe(s.host), c.host) + fit(safe(s.user), c.user) + ' ' + fit(safe(s.name), c.name), tone: here ? 'sel' : undefined },
      { text: fit(s.status, 8), tone: s.status === 'legacy' ? 'warn' : undefined },
      { text: fit(age(s.created, now), 5, true) },
      { text: fit(num(s.cpu_percent, 1, '%'), 7, true), tone: atLeast(s.cpu_percent, t.session_cpu_warning) },
      { text: fit(mib(s.memory_mb), 7, true), tone: atLeast(s.memory_mb, t.session_memory_mb_warning) },
      { text: fit(s.gpu_memory_mb > 0 ? mib(s.gpu_memory_mb) : '-', 7, true) },
    ];
  });
  if (rows.length === 0) rows.push([{ text: st.filter ? `  no session matches /${st.filter}` : '  no sessions', tone: 'dim' }]);
  // Keep the two header lines; scroll the rows so that the selected one stays in view.
  const room = Math.max(0, maxLines - 2);
  const start = Math.max(0, Math.min(sel - room + 1, rows.length - room));
  return [...lines.slice(0, Math.min(2, maxLines)), ...rows.slice(start, start + room)];
}

export function alertLines(st: TopState, width: number, maxLines: number, focused: boolean): Line[] {
  const list = visibleAlerts(st.alerts);
  const unacked = list.filter((a) => !a.acknowledged).length;
  const lines: Line[] = [[{ text: `ALERTS (${list.length} open, ${unacked} unacknowledged)`, tone: 'head' }]];
  const sel = Math.min(st.selected.alerts, list.length - 1);
  const rows = list.map((a, i): Line => {
    const here = focused && i === sel;
    return [
      { text: here ? '>' : ' ', tone: here ? 'sel' : undefined },
      { text: fit(a.severity, 9), tone: severityTone(a.severity) },
      { text: a.acknowledged ? 'acked ' : '      ', tone: 'dim' },
      { text: `${safe(a.host)}: ${safe(a.message)}`, tone: here ? 'sel' : a.acknowledged ? 'dim' : undefined },
    ];
  });
  if (rows.length === 0) rows.push([{ text: '  no open alerts', tone: 'dim' }]);
  const room = Math.max(0, maxLines - 1);
  const start = Math.max(0, Math.min(sel - room + 1, rows.length - room));
  return [...lines, ...rows.slice(start, start + room)].slice(0, maxLines).map((l) => clipLine(l, width));
}

/** Enter on a host: its figures, GPUs with their processes and the session each belongs to, its sessions, disks. */
export function detailLines(st: TopState, host: Host, now: number): Line[] {
  const t = st.thresholds;
  const out: Line[] = [
    [
      { text: `HOST ${safe(host.hostname)} `, tone: 'head' },
      { text: host.pending ? 'pending' : host.status, tone: statusTone(host.status) },
      { text: `  ${safe(host.address)}  CPU ${num(host.cpu_percent, 0, '%')} of ${host.cpu_count ?? '-'}  mem ${mib(host.memory_used_mb)}/${mib(host.memory_total_mb)}  load ${host.load_avg ? host.load_avg.map((v) => v.toFixed(2)).join(' ') : '-'}` },
    ],
  ];
  if (host.last_error) out.push([{ text: `  last error: ${safe(host.last_error)}`, tone: 'crit' }]);
  for (const p of host.problems) out.push([{ text: `  problem: ${safe(p)}`, tone: 'warn' }]);
  // What the host can see, so that few sessions are never read as few people working.
  const scope = host.sessions_scope;
  if (scope.scope === 'all-users') out.push([{ text: "  sessions: every user's", tone: 'dim' }]);
  else out.push([{ text: `  sessions: the service account's only${scope.reason ? ` (${safe(scope.reason)})` : ''}`, tone: 'warn' }]);
  out.push([{ text: `GPUS (${host.gpus.length})`, tone: 'head' }]);
  if (host.gpus.length === 0) out.push([{ text: host.gpu_error ? `  ${safe(host.gpu_error)}` : '  none', tone: 'dim' }]);
  for (const g of host.gpus) {
    out.push([{ text: '  ' }, ...gpuSegs(g, t), { text: ` of ${num(g.power_limit_watts, 0, 'W')}  ${safe(g.name)}` }]);
    for (const p of g.processes) {
      const owner = p.user !== null ? safe(p.user) : p.uid !== null ? `uid ${p.uid}` : 'owner unknown';
      out.push([
        { text: `      pid ${p.pid} ${safe(p.name)} ${owner} ${mib(p.memory_mb)}  ` },
        p.session_id ? { text: `in ${safe(p.session_id)}` } : { text: 'outside tmux', tone: 'warn' },
        ...(p.cmdline ? [{ text: `  ${safe(p.cmdline)}`, tone: 'dim' as const }] : []),
      ]);
    }
    if (g.memory_outside_sessions_mb > 0) out.push([{ text: `      ${mib(g.memory_outside_sessions_mb)} held outside tmux sessions`, tone: 'warn' }]);
  }
  out.push([{ text: `SESSIONS (${host.sessions.length})`, tone: 'head' }]);
  for (const s of sortSessions(host.sessions, st.sort)) {
    out.push([
      { text: `  ${safe(s.user)}:${safe(s.name)}  ` },
      { text: s.status, tone: s.status === 'legacy' ? 'warn' : undefined },
      { text: `  ${age(s.created, now)}  CPU ${num(s.cpu_percent, 1, '%')}  RSS ${mib(s.memory_mb)}  GPU ${mib(s.gpu_memory_mb)}  ${s.process_count} proc` },
    ]);
  }
  out.push([{ text: 'DISKS', tone: 'head' }]);
  for (const d of host.disks) {
    out.push([
      { text: `  ${fit(safe(d.mount), 16)} ` },
      { text: fit(num(d.percent, 0, '%'), 4, true), tone: d.percent !== null && d.percent >= 90 ? 'warn' : undefined },
      { text: `  ${mib(d.used_bytes / 1048576)} of ${mib(d.total_bytes / 1048576)}  ${safe(d.filesystem)}` },
    ]);
  }
  if (host.disks.length === 0) out.push([{ text: '  not reported yet', tone: 'dim' }]);
  return out;
}

/** The keys, as `?` lists them. */
export const KEYS: Array<[string, string]> = [
  ['↑ ↓', 'move the selection'],
  ['Tab', 'next pane: sessions, alerts, hosts'],
  ['Enter', 'open the host of the selection; Esc goes back'],
  ['c m g t', 'sort sessions by CPU, memory, GPU memory, age'],
  ['/', 'filter sessions by host, user, name (Esc clears)'],
  ['a', 'acknowledge the selected alert, with an optional note'],
  ['k', 'kill the selected session (asks y/N; an active session asks twice)'],
  ['?', 'this list'],
  ['q', 'quit'],
];

function helpLines(): Line[] {
  return [[{ text: 'KEYS', tone: 'head' }], ...KEYS.map(([k, what]): Line => [{ text: `  ${fit(k, 10)}`, tone: 'head' }, { text: what }]), [], [{ text: '  any key closes this list', tone: 'dim' }]];
}

/** The bottom lines: the open prompt (its subject, then its question), else the last message, else the key hints. */
export function footerLines(st: TopState): Line[] {
  const p = st.prompt;
  if (p?.kind === 'kill') {
    const s = p.session;
    const what = `${s.status}; ${s.window_count} window${s.window_count === 1 ? '' : 's'}, ${s.process_count} process${s.process_count === 1 ? '' : 'es'}`;
    if (p.step === 1) return [[{ text: `Kill ${safe(s.fleetmon_id)} (${what})? `, tone: 'warn' }, { text: '[y/N]', tone: 'head' }]];
    return [[{ text: `${safe(s.fleetmon_id)} is ACTIVE: ${activeReason(s)}.`, tone: 'crit' }], [{ text: 'Really kill it? ', tone: 'crit' }, { text: '[y/N]', tone: 'head' }]];
  }
  if (p?.kind === 'ack') {
    return [[{ text: `Acknowledge ${safe(p.alert.host)}: ${safe(p.alert.message)}`, tone: 'warn' }], [{ text: 'note (optional; Enter acknowledges, Esc cancels): ', tone: 'warn' }, { text: `${p.note}_` }]];
  }
  if (st.filtering) return [[{ text: `filter: /${st.filter}_  (Enter keeps it, Esc clears it)`, tone: 'dim' }]];
  if (st.message) return [[{ text: st.message.text, tone: st.message.tone }]];
  return [[{ text: 'Tab pane  ↑↓ select  Enter host  c/m/g/t sort  / filter  a ack  k kill  ? keys', tone: 'dim' }]];
}

/**
 * The whole frame for a terminal of `width` × `height`: `height - 1` lines (see the file comment), each at most
 * `width` wide. Below 10 rows or 40 columns it says so rather than draw a garbled screen.
 */
export function frame(st: TopState, width: number, height: number, now: number): Line[] {
  const rows = Math.max(1, height - 1);
  if (width < 40 || height < 10) return [[{ text: fit(`too small: ${width}×${height}, needs 40×10`, width) }]];
  const header = headerLines(st, width, now);
  const footer = footerLines(st).map((l) => clipLine(l, width));
  const room = rows - header.length - footer.length;
  let body: Line[];
  const detailHost = st.detail === null ? undefined : st.hosts.find((h) => h.hostname === st.detail);
  if (st.help) body = helpLines();
  else if (detailHost) body = detailLines(st, detailHost, now);
  else {
    // Hosts get at most a third, alerts at most a fifth (and at least their title), sessions the rest.
    const hosts = hostLines(st, width, Math.max(2, Math.floor(room / 3)), st.pane === 'hosts');
    const openAlerts = visibleAlerts(st.alerts).length;
    const alertsMax = Math.min(Math.max(2, Math.floor(room / 5)), 1 + Math.max(1, openAlerts));
    const sessions = sessionLines(st, width, room - hosts.length - alertsMax, st.pane === 'sessions', now);
    const alerts = alertLines(st, width, room - hosts.length - sessions.length, st.pane === 'alerts');
    body = [...hosts, ...sessions, ...alerts];
  }
  body = body.slice(0, room).map((l) => clipLine(l, width));
  while (body.length < room) body.push([]);
  return [...header, ...body, ...footer];
}

/** A frame as plain text lines (for --once without colour, and for tests). */
export const frameText = (lines: Line[]) => lines.map((l) => lineText(l).trimEnd()).join('\n');
