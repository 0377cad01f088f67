/**
 * The domain as the API shows it (snake_case, ISO 8601 UTC times). TypeBox schemas double as the REST response
 * schemas and as the TypeScript types, so the API, the CLI client and the dashboard agree on one shape.
 */
import { Type, type Static } from '@sinclair/typebox';

const NNum = () => Type.Union([Type.Number(), Type.Null()]);
const Iso = () => Type.String({ format: 'date-time' });

/**
 * Which fields are the specification's (the TMUX Fleet Dashboard specification fleetmon implements) and which are
 * fleetmon's own is written in each schema's `description`: `spec` fields keep the specification's name, type and
 * place; the others are added beside them, never instead. The OpenAPI document (GET /openapi.json) carries these
 * descriptions, and the README's API section lists them.
 */
const spec = (description: string) => ({ description: `specification: ${description}` });
const own = (description: string) => ({ description: `fleetmon: ${description}` });

/** The specification's three host states. fleetmon's "not polled yet" is the separate `pending` flag. */
export const HostStatus = Type.Union([Type.Literal('online'), Type.Literal('degraded'), Type.Literal('offline')], spec('online | degraded | offline'));
export type HostStatus = Static<typeof HostStatus>;

export const SessionStatus = Type.Union([Type.Literal('active'), Type.Literal('legacy')]);
export type SessionStatus = Static<typeof SessionStatus>;

export const ProcessInfo = Type.Object({
  pid: Type.Integer(),
  ppid: Type.Integer(),
  command: Type.String(),
  cpu_percent: NNum(),
  rss_mb: Type.Number(),
  gpu_memory_mb: Type.Number(),
});
export type ProcessInfo = Static<typeof ProcessInfo>;

export const Session = Type.Object({
  id: Type.String(spec('host:session_name; /api/sessions/{id} also takes fleetmon_id')),
  host: Type.String(spec('the host\'s configured name')),
  name: Type.String(spec('the tmux session name')),
  created: Iso(),
  last_activity: Type.Union([Iso(), Type.Null()], spec('null when tmux does not report it')),
  attached: Type.Boolean(),
  window_count: Type.Integer(),
  status: SessionStatus,
  pids: Type.Array(Type.Integer(), spec('every process of the session: its panes\' processes and their descendants')),
  cpu_percent: Type.Union([Type.Number(), Type.Null()], spec('sum over pids; null on the first poll (CPU is a delta between polls)')),
  memory_mb: Type.Number(spec('resident memory (RSS) summed over pids, MiB')),
  gpu_memory_mb: Type.Number(spec('GPU memory of its processes, MiB')),
  fleetmon_id: Type.String(own('host:user:session_name, unique across the accounts of a host')),
  user: Type.String(own('the account whose tmux server holds the session')),
  created_epoch: Type.Integer(own('created, in epoch seconds (binds a kill confirmation to this session)')),
  last_attached_at: Type.Union([Iso(), Type.Null()], own('null when never attached')),
  attached_clients: Type.Integer(own('clients attached now')),
  detached_hours: Type.Union([Type.Number(), Type.Null()], own('hours since creation or the last detach; null while attached')),
  pane_pids: Type.Array(Type.Integer(), own('the panes\' own processes')),
  process_count: Type.Integer(own('len(pids)')),
  attach_command: Type.String(own('an ssh command line that attaches to it')),
  processes: Type.Array(ProcessInfo, own('per-process detail')),
  owner_uid: Type.Optional(Type.Integer(own("uid of the tmux server's owner (hosts deployed with --all-users)"))),
  socket: Type.Optional(Type.String(own('the tmux server socket (hosts deployed with --all-users)'))),
});
export type Session = Static<typeof Session>;

/** Which of a session's two ids a request named: the specification's `id` or fleetmon's `fleetmon_id`. */
export const SessionIdKind = Type.Union([Type.Literal('id'), Type.Literal('fleetmon_id')]);
export type SessionIdKind = Static<typeof SessionIdKind>;

export const GpuProcess = Type.Object({
  pid: Type.Integer(),
  name: Type.String(spec('the process name nvidia-smi reports')),
  memory_mb: Type.Union([Type.Number(), Type.Null()], spec('GPU memory used, MiB; null when nvidia-smi does not say (MIG, some drivers)')),
  session_id: Type.Union([Type.String(), Type.Null()], own('the fleetmon_id of the session the process belongs to; null outside tmux (unique where two users hold one name)')),
  uid: Type.Union([Type.Integer(), Type.Null()], own('the process owner\'s uid, from /proc/PID/status; null when the probe did not send it (an older probe, or the process ended)')),
  user: Type.Union([Type.String(), Type.Null()], own('the owner\'s account name, as the host resolves the uid; null when unknown')),
  cmdline: Type.Union([Type.String(), Type.Null()], own('the command line, at most 512 bytes (NULs as spaces); null when unknown')),
});
export type GpuProcess = Static<typeof GpuProcess>;

const gpuFigure = (what: string) => Type.Union([Type.Number(), Type.Null()], spec(`${what}; null when nvidia-smi reports [N/A]`));
export const Gpu = Type.Object({
  index: Type.Integer(),
  name: Type.String(),
  power_draw_watts: gpuFigure('W'),
  power_limit_watts: gpuFigure('W'),
  memory_used_mb: gpuFigure('MiB'),
  memory_total_mb: gpuFigure('MiB'),
  utilization_percent: gpuFigure('%'),
  temperature_c: gpuFigure('°C'),
  processes: Type.Array(GpuProcess),
  uuid: Type.Union([Type.String(), Type.Null()], own('the GPU\'s UUID')),
  memory_percent: Type.Union([Type.Number(), Type.Null()], own('memory_used_mb / memory_total_mb, %')),
  memory_outside_sessions_mb: Type.Number(own('GPU memory of its processes outside any tmux session (session_id null), MiB; processes whose memory nvidia-smi does not report count 0')),
});
export type Gpu = Static<typeof Gpu>;

/**
 * What a host's session list covers: every user's tmux servers (the all-users helper answered), or only the
 * service account's own, with the reason, so that an empty list is never read as "nobody is working".
 */
export const SessionsScope = Type.Object(
  {
    scope: Type.Union([Type.Literal('all-users'), Type.Literal('own-account')]),
    reason: Type.Union([Type.String(), Type.Null()], { description: 'why only the own account is seen; null for all-users' }),
  },
  own("whose tmux sessions are listed: 'all-users' or 'own-account' and why"),
);
export type SessionsScope = Static<typeof SessionsScope>;

export const Disk = Type.Object({
  filesystem: Type.String(),
  mount: Type.String(),
  total_bytes: Type.Number(),
  used_bytes: Type.Number(),
  available_bytes: Type.Number(),
  percent: NNum(),
});
export const NetIface = Type.Object({
  iface: Type.String(),
  rx_bytes_per_s: NNum(),
  tx_bytes_per_s: NNum(),
  rx_bytes: Type.Number(),
  tx_bytes: Type.Number(),
});

const unknownUntilPolled = (what: string) => Type.Union([Type.Number(), Type.Null()], spec(`${what}; null until the host has answered a poll`));

/** A host's figures from one probe answer: the Host's metric fields, null (or empty) until a poll brings them. */
const hostMetricFields = {
  cpu_percent: Type.Union([Type.Number(), Type.Null()], spec('%; null until two polls have been compared (CPU is a delta)')),
  memory_percent: unknownUntilPolled('%'),
  memory_used_mb: unknownUntilPolled('MiB'),
  memory_total_mb: unknownUntilPolled('MiB'),
  load_avg: Type.Union([Type.Array(Type.Number(), { minItems: 3, maxItems: 3 }), Type.Null()], spec('1, 5 and 15 minute load averages; null until polled')),
  cpu_per_core: Type.Array(NNum(), own('% per online CPU; empty until polled')),
  cpu_count: Type.Union([Type.Integer(), Type.Null()], own('online CPUs')),
  memory_available_mb: Type.Union([Type.Number(), Type.Null()], own('MiB')),
  swap_total_mb: Type.Union([Type.Number(), Type.Null()], own('MiB')),
  swap_used_mb: Type.Union([Type.Number(), Type.Null()], own('MiB')),
  uptime_seconds: Type.Union([Type.Number(), Type.Null()], own('s')),
  disks: Type.Array(Disk, own('mounted filesystems (refreshed every few minutes)')),
  network: Type.Array(NetIface, own('interfaces, with rates between polls')),
};
export const HostMetrics = Type.Object(hostMetricFields);
export type HostMetrics = Static<typeof HostMetrics>;

/** The metric fields of a host nothing is known about (never polled, or offline). */
export function noMetrics(): HostMetrics {
  return {
    cpu_percent: null,
    memory_percent: null,
    memory_used_mb: null,
    memory_total_mb: null,
    load_avg: null,
    cpu_per_core: [],
    cpu_count: null,
    memory_available_mb: null,
    swap_total_mb: null,
    swap_used_mb: null,
    uptime_seconds: null,
    disks: [],
    network: [],
  };
}

export const Host = Type.Object({
  hostname: Type.String(spec('the host\'s configured name')),
  address: Type.String(),
  last_seen: Type.Union([Iso(), Type.Null()], spec('the last successful poll; null before the first')),
  status: HostStatus,
  ...hostMetricFields,
  gpus: Type.Array(Gpu),
  sessions: Type.Array(Session),
  has_gpu: Type.Boolean(),
  pending: Type.Boolean(own('true until the first poll of this run answers, or the host is found offline; status reads offline meanwhile and last_seen is what a previous run saw')),
  last_poll_at: Type.Union([Iso(), Type.Null()], own('the last poll, successful or not')),
  last_error: Type.Union([Type.String(), Type.Null()], own('why the last poll failed')),
  consecutive_failures: Type.Integer(own('failed polls in a row')),
  poll_ms: Type.Union([Type.Number(), Type.Null()], own('how long the last poll took')),
  problems: Type.Array(Type.String(), own('parts of the probe that failed (the host is then degraded)')),
  gpu_available: Type.Boolean(own('whether nvidia-smi answered with GPUs')),
  gpu_error: Type.Union([Type.String(), Type.Null()], own('why there are no GPU figures, when the host should have some')),
  sessions_scope: SessionsScope,
});
export type Host = Static<typeof Host>;

export const Severity = Type.Union([Type.Literal('info'), Type.Literal('warning'), Type.Literal('critical')]);
export type Severity = Static<typeof Severity>;

/**
 * Every alert type, in one list: the specification's seven first, then fleetmon's own. A new type is one more
 * entry here (and its severity in alerts/evaluate.ts, which the compiler then asks for).
 */
export const ALERT_TYPES = [
  'legacy_session',
  'high_cpu',
  'high_memory',
  'host_offline',
  'gpu_temp_warning',
  'gpu_temp_critical',
  'gpu_memory_high',
  // fleetmon's own:
  'host_key_changed',
  'database_moved_aside',
  'disk_full',
  'gpu_idle_holder',
  'session_finished',
] as const;
export const AlertType = Type.Union(
  ALERT_TYPES.map((t) => Type.Literal(t)),
  spec('the specification\'s seven types, extended by fleetmon\'s (host_key_changed, database_moved_aside, disk_full, gpu_idle_holder, session_finished)'),
);
export type AlertType = (typeof ALERT_TYPES)[number];

export const Alert = Type.Object({
  id: Type.String(),
  type: AlertType,
  severity: Severity,
  host: Type.String(),
  session: Type.Union([Type.String(), Type.Null()], spec('the session\'s id, for session alerts')),
  message: Type.String(),
  created: Iso(),
  acknowledged: Type.Boolean(),
  gpu_index: Type.Union([Type.Integer(), Type.Null()], own('the GPU, for GPU alerts')),
  value: Type.Union([Type.Number(), Type.Null()], own('the figure that raised it')),
  threshold: Type.Union([Type.Number(), Type.Null()], own('the configured threshold')),
  state: Type.Union([Type.Literal('open'), Type.Literal('resolved')], own('open while the condition holds')),
  last_seen_at: Type.String({ format: 'date-time', ...own('the last cycle the condition held') }),
  resolved_at: Type.Union([Iso(), Type.Null()], own('when it cleared')),
  acknowledged_at: Type.Union([Iso(), Type.Null()], own('when acknowledged')),
  acknowledged_by: Type.Union([Type.String(), Type.Null()], own('who acknowledged')),
  ack_note: Type.Union([Type.String(), Type.Null()], own('the note given with the acknowledgement')),
});
export type Alert = Static<typeof Alert>;

export const FleetSummary = Type.Object({
  hosts_total: Type.Integer(),
  hosts_online: Type.Integer(),
  hosts_degraded: Type.Integer(),
  hosts_offline: Type.Integer(),
  hosts_pending: Type.Integer(),
  sessions_active: Type.Integer(),
  sessions_legacy: Type.Integer(),
  gpus: Type.Integer(),
  alerts_open: Type.Integer(),
  alerts_unacknowledged: Type.Integer(),
  last_cycle_at: Type.Union([Iso(), Type.Null()]),
  last_cycle_ms: NNum(),
});
export type FleetSummary = Static<typeof FleetSummary>;

export const iso = (epochMs: number | null | undefined): string | null =>
  epochMs === null || epochMs === undefined ? null : new Date(epochMs).toISOString();
