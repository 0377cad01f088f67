/**
 * The domain as the API shows it (snake_case, ISO 8601 UTC times). TypeBox schemas double as the REST response
 * schemas and as the TypeScript types, so the API, the CLI client and the dashboard agree on one shape.
 */
import { Type, type Static } from '@sinclair/typebox';

const Nullable = <T extends ReturnType<typeof Type.Number>>(t: T) => Type.Union([t, Type.Null()]);
const NNum = () => Nullable(Type.Number());
const Iso = () => Type.String({ format: 'date-time' });

export const HostStatus = Type.Union([
  Type.Literal('pending'),
  Type.Literal('online'),
  Type.Literal('degraded'),
  Type.Literal('offline'),
]);
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
  id: Type.String({ description: 'host:user:name' }),
  host: Type.String(),
  user: Type.String(),
  name: Type.String(),
  status: SessionStatus,
  created_at: Iso(),
  created_epoch: Type.Integer(),
  last_activity_at: Type.Union([Iso(), Type.Null()]),
  last_attached_at: Type.Union([Iso(), Type.Null()]),
  attached: Type.Boolean(),
  attached_clients: Type.Integer(),
  window_count: Type.Integer(),
  detached_hours: NNum(),
  pane_pids: Type.Array(Type.Integer()),
  process_count: Type.Integer(),
  cpu_percent: NNum(),
  memory_rss_mb: Type.Number(),
  gpu_memory_mb: Type.Number(),
  attach_command: Type.String(),
  processes: Type.Array(ProcessInfo),
  /** Where the host's all-users helper listed it: the tmux server's owner and socket (absent otherwise). */
  owner_uid: Type.Optional(Type.Integer({ description: "uid of the tmux server's owner (all-users hosts)" })),
  socket: Type.Optional(Type.String({ description: 'the tmux server socket (all-users hosts)' })),
});
export type Session = Static<typeof Session>;

export const GpuProcess = Type.Object({
  pid: Type.Integer(),
  process_name: Type.String(),
  used_memory_mb: NNum(),
  session_id: Type.Union([Type.String(), Type.Null()]),
});
export type GpuProcess = Static<typeof GpuProcess>;

export const Gpu = Type.Object({
  index: Type.Integer(),
  uuid: Type.Union([Type.String(), Type.Null()]),
  name: Type.String(),
  power_draw_w: NNum(),
  power_limit_w: NNum(),
  memory_used_mb: NNum(),
  memory_total_mb: NNum(),
  memory_percent: NNum(),
  utilization_percent: NNum(),
  temperature_c: NNum(),
  processes: Type.Array(GpuProcess),
});
export type Gpu = Static<typeof Gpu>;

export const GpuState = Type.Object({
  available: Type.Boolean(),
  reason: Type.Union([Type.String(), Type.Null()]),
  gpus: Type.Array(Gpu),
});
export type GpuState = Static<typeof GpuState>;

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

export const HostMetrics = Type.Object({
  cpu_percent: NNum(),
  cpu_per_core: Type.Array(NNum()),
  cpu_count: Type.Integer(),
  memory_total_mb: Type.Number(),
  memory_used_mb: Type.Number(),
  memory_available_mb: Type.Number(),
  memory_percent: Type.Number(),
  swap_total_mb: Type.Number(),
  swap_used_mb: Type.Number(),
  load_1: Type.Number(),
  load_5: Type.Number(),
  load_15: Type.Number(),
  uptime_seconds: Type.Number(),
  disks: Type.Array(Disk),
  network: Type.Array(NetIface),
});
export type HostMetrics = Static<typeof HostMetrics>;

export const Host = Type.Object({
  name: Type.String(),
  address: Type.String(),
  status: HostStatus,
  has_gpu: Type.Boolean(),
  last_poll_at: Type.Union([Iso(), Type.Null()]),
  last_success_at: Type.Union([Iso(), Type.Null()]),
  last_error: Type.Union([Type.String(), Type.Null()]),
  consecutive_failures: Type.Integer(),
  poll_ms: NNum(),
  problems: Type.Array(Type.String(), { description: 'parts of the probe that failed (degraded)' }),
  metrics: Type.Union([HostMetrics, Type.Null()]),
  gpu: GpuState,
  sessions: Type.Array(Session),
});
export type Host = Static<typeof Host>;

export const Severity = Type.Union([Type.Literal('info'), Type.Literal('warning'), Type.Literal('critical')]);
export type Severity = Static<typeof Severity>;

export const AlertType = Type.Union([
  Type.Literal('legacy_session'),
  Type.Literal('high_cpu'),
  Type.Literal('high_memory'),
  Type.Literal('host_offline'),
  Type.Literal('host_key_changed'),
  Type.Literal('gpu_temp_warning'),
  Type.Literal('gpu_temp_critical'),
  Type.Literal('gpu_memory_high'),
  Type.Literal('database_moved_aside'),
]);
export type AlertType = Static<typeof AlertType>;

export const Alert = Type.Object({
  id: Type.String(),
  type: AlertType,
  severity: Severity,
  host: Type.String(),
  session: Type.Union([Type.String(), Type.Null()]),
  gpu_index: Type.Union([Type.Integer(), Type.Null()]),
  message: Type.String(),
  value: NNum(),
  threshold: NNum(),
  state: Type.Union([Type.Literal('open'), Type.Literal('resolved')]),
  created_at: Iso(),
  last_seen_at: Iso(),
  resolved_at: Type.Union([Iso(), Type.Null()]),
  acknowledged: Type.Boolean(),
  acknowledged_at: Type.Union([Iso(), Type.Null()]),
  acknowledged_by: Type.Union([Type.String(), Type.Null()]),
  ack_note: Type.Union([Type.String(), Type.Null()]),
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
