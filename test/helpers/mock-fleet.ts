/**
 * A fleet in the API's exact shapes, built from the H100 capture (test fixtures gpu-host-h100: one NVIDIA H100 80GB
 * HBM3 at 686.26 W of 700 W, 31554 of 81559 MiB, 100 %, 62 °C; GPU processes 407 → 21130 MiB and 411 → 3658 MiB in
 * `train-llama`, 418 → 6746 MiB in `eval run #2`), plus hosts in the other states the dashboard must draw.
 */
import { noMetrics, type Alert, type FleetSummary, type Gpu, type Host, type Session } from '../../src/core/model.js';
import { summarizeFleet } from '../../src/core/summary.js';

const iso = (ms: number) => new Date(ms).toISOString();

export function session(host: string, name: string, now: number, o: Partial<Session> = {}): Session {
  const created = o.created_epoch ?? Math.floor((now - 3 * 3600_000) / 1000);
  return {
    id: `${host}:${name}`,
    host,
    name,
    created: iso(created * 1000),
    last_activity: iso(created * 1000),
    attached: false,
    window_count: 1,
    status: 'active',
    pids: o.pane_pids ?? [],
    cpu_percent: 0,
    memory_mb: 4.2,
    gpu_memory_mb: 0,
    fleetmon_id: `${host}:root:${name}`,
    user: 'root',
    created_epoch: created,
    last_attached_at: null,
    attached_clients: 0,
    detached_hours: Math.round((now / 1000 - created) / 360) / 10,
    pane_pids: [],
    process_count: 1,
    attach_command: `ssh root@${host} -t 'tmux attach -t =${name}'`,
    processes: [],
    ...o,
  };
}

export const H100: Gpu = {
  index: 0,
  name: 'NVIDIA H100 80GB HBM3',
  power_draw_watts: 686.26,
  power_limit_watts: 700,
  memory_used_mb: 31554,
  memory_total_mb: 81559,
  utilization_percent: 100,
  temperature_c: 62,
  processes: [
    { pid: 407, name: 'python3', memory_mb: 21130, session_id: 'gpu-h100:train-llama', uid: 0, user: 'root', cmdline: 'python3 train.py --model llama' },
    { pid: 411, name: 'python3', memory_mb: 3658, session_id: 'gpu-h100:train-llama', uid: 0, user: 'root', cmdline: 'python3 -m torch.distributed.run' },
    { pid: 418, name: 'python3', memory_mb: 6746, session_id: 'gpu-h100:eval run #2', uid: 0, user: 'root', cmdline: 'python3 eval.py' },
  ],
  uuid: 'GPU-562781d5-2471-9cfe-d7bb-3775efa63be6',
  memory_percent: 38.7,
  memory_outside_sessions_mb: 0,
};

export function h100Host(now: number, extra: { gpus?: Gpu[]; sessions?: Session[] } = {}): Host {
  const day = Math.floor((now - 2 * 86400_000) / 1000);
  return {
    hostname: 'gpu-h100',
    address: '10.0.0.21',
    last_seen: iso(now - 2000),
    status: 'online',
    cpu_percent: 25.7,
    memory_percent: 20.9,
    memory_used_mb: 26991,
    memory_total_mb: 128887,
    load_avg: [1.92, 0.46, 0.15],
    cpu_per_core: [],
    cpu_count: 16,
    memory_available_mb: 101896,
    swap_total_mb: 0,
    swap_used_mb: 0,
    uptime_seconds: 86400 * 3,
    disks: [{ filesystem: '/dev/vda', mount: '/', total_bytes: 270553174016, used_bytes: 17286586368, available_bytes: 68702351360, percent: 21 }],
    network: [{ iface: 'eth0', rx_bytes_per_s: 1234567, tx_bytes_per_s: 45678, rx_bytes: 9e9, tx_bytes: 1e8 }],
    gpus: extra.gpus ?? [H100],
    sessions: extra.sessions ?? [
      session('gpu-h100', 'train-llama', now, {
        window_count: 2,
        pane_pids: [404, 408],
        pids: [404, 405, 407, 408, 411],
        process_count: 4,
        cpu_percent: 198.4,
        memory_mb: 5210.4,
        gpu_memory_mb: 24788,
      }),
      session('gpu-h100', 'eval run #2', now, { pane_pids: [415], pids: [415, 418], process_count: 2, cpu_percent: 99.1, memory_mb: 2604.2, gpu_memory_mb: 6746 }),
      session('gpu-h100', 'jupyter', now, { attached: true, attached_clients: 1, detached_hours: null, last_attached_at: iso(now - 60_000) }),
      session('gpu-h100', 'idle-shell', now, { status: 'legacy', created_epoch: day, detached_hours: 48 }),
    ],
    has_gpu: true,
    pending: false,
    last_poll_at: iso(now - 2000),
    last_error: null,
    consecutive_failures: 0,
    poll_ms: 48,
    problems: [],
    gpu_available: true,
    gpu_error: null,
    sessions_scope: { scope: 'all-users', reason: null },
  };
}

export function offlineHost(now: number): Host {
  return {
    hostname: 'gpu-b',
    address: '10.0.0.22',
    last_seen: iso(now - 3 * 3600_000),
    status: 'offline',
    ...noMetrics(),
    gpus: [],
    sessions: [],
    has_gpu: true,
    pending: false,
    last_poll_at: iso(now - 5000),
    last_error: 'connect ETIMEDOUT 10.0.0.22:22',
    consecutive_failures: 12,
    poll_ms: null,
    problems: [],
    gpu_available: false,
    gpu_error: 'host offline',
    sessions_scope: { scope: 'own-account', reason: 'host offline' },
  };
}

/** The summary a server would send for this fleet, through the server's own function. */
export function summaryOf(hosts: Host[], alerts: Alert[], now: number): FleetSummary {
  return summarizeFleet(hosts, alerts, { finishedAt: now - 2000, durationMs: 48 });
}

export function alert(id: string, now: number, o: Partial<Alert> = {}): Alert {
  return {
    id,
    type: 'gpu_temp_warning',
    severity: 'warning',
    host: 'gpu-h100',
    session: null,
    gpu_index: 0,
    message: 'GPU 0 on gpu-h100 at 85 °C (warning at 80 °C)',
    value: 85,
    threshold: 80,
    state: 'open',
    created: iso(now - 600_000),
    last_seen_at: iso(now - 2000),
    resolved_at: null,
    acknowledged: false,
    acknowledged_at: null,
    acknowledged_by: null,
    ack_note: null,
    ...o,
  };
}
