/**
 * The fleet in Prometheus' text exposition format, so an existing time-series system (Prometheus,
 * VictoriaMetrics, Mimir) can scrape and keep what fleetmon collects once a fleet outgrows one SQLite file.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { Host } from '../../core/model.js';
import { requireRead } from '../http/guards.js';

type Labels = Record<string, string | number>;

export function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function line(name: string, labels: Labels, value: number | null | undefined): string | null {
  if (value === null || value === undefined || !Number.isFinite(value)) return null;
  const l = Object.entries(labels)
    .map(([k, v]) => `${k}="${escapeLabel(String(v))}"`)
    .join(',');
  return `${name}{${l}} ${value}`;
}

const HELP: Array<[string, string, string]> = [
  ['fleetmon_host_up', 'gauge', '1 when the host answered its last poll (online or degraded)'],
  ['fleetmon_host_cpu_percent', 'gauge', 'host CPU busy percent'],
  ['fleetmon_host_memory_used_bytes', 'gauge', 'host memory in use (total less available)'],
  ['fleetmon_host_memory_total_bytes', 'gauge', 'host memory'],
  ['fleetmon_host_load1', 'gauge', '1-minute load average'],
  ['fleetmon_session_cpu_percent', 'gauge', 'CPU percent summed over the processes of a tmux session'],
  ['fleetmon_session_rss_bytes', 'gauge', 'resident memory summed over the processes of a tmux session'],
  ['fleetmon_session_gpu_memory_bytes', 'gauge', 'GPU memory used by the processes of a tmux session'],
  ['fleetmon_session_legacy', 'gauge', '1 when the session is legacy (detached past the threshold)'],
  ['fleetmon_gpu_temperature_celsius', 'gauge', 'GPU temperature'],
  ['fleetmon_gpu_power_watts', 'gauge', 'GPU power draw'],
  ['fleetmon_gpu_utilization_percent', 'gauge', 'GPU utilisation'],
  ['fleetmon_gpu_memory_used_bytes', 'gauge', 'GPU memory in use'],
];

/**
 * Each host's lines by metric, memoized per host object (the poller replaces a host's object when it changes, never
 * edits it): a 1000-host fleet's exposition took 60–220 ms to render whole on the event loop; rendered as each
 * poll lands, a scrape only joins the lines.
 */
const linesOf = new WeakMap<Host, Map<string, string>>();

/** A host's lines, one newline-joined block per metric (fewer pieces for a scrape to join). */
export function hostLines(h: Host): Map<string, string> {
  const cached = linesOf.get(h);
  if (cached) return cached;
  const by = new Map<string, string[]>();
  const add = (name: string, labels: Labels, v: number | null | undefined) => {
    const l = line(name, labels, v);
    if (!l) return;
    const list = by.get(name);
    if (list) list.push(l);
    else by.set(name, [l]);
  };
  const MiB = 1024 * 1024;
  add('fleetmon_host_up', { host: h.hostname }, h.status === 'online' || h.status === 'degraded' ? 1 : 0);
  if (h.status !== 'offline') {
    const bytes = (mb: number | null) => (mb === null ? null : Math.round(mb * MiB));
    add('fleetmon_host_cpu_percent', { host: h.hostname }, h.cpu_percent);
    add('fleetmon_host_memory_used_bytes', { host: h.hostname }, bytes(h.memory_used_mb));
    add('fleetmon_host_memory_total_bytes', { host: h.hostname }, bytes(h.memory_total_mb));
    add('fleetmon_host_load1', { host: h.hostname }, h.load_avg?.[0]);
  }
  for (const s of h.sessions) {
    const labels = { host: h.hostname, user: s.user, session: s.name };
    add('fleetmon_session_cpu_percent', labels, s.cpu_percent);
    add('fleetmon_session_rss_bytes', labels, Math.round(s.memory_mb * MiB));
    add('fleetmon_session_gpu_memory_bytes', labels, Math.round(s.gpu_memory_mb * MiB));
    add('fleetmon_session_legacy', labels, s.status === 'legacy' ? 1 : 0);
  }
  for (const g of h.gpus) {
    const labels = { host: h.hostname, gpu: g.index, name: g.name };
    add('fleetmon_gpu_temperature_celsius', labels, g.temperature_c);
    add('fleetmon_gpu_power_watts', labels, g.power_draw_watts);
    add('fleetmon_gpu_utilization_percent', labels, g.utilization_percent);
    add('fleetmon_gpu_memory_used_bytes', labels, g.memory_used_mb === null ? null : g.memory_used_mb * MiB);
  }
  const joined = new Map([...by].map(([name, lines]) => [name, lines.join('\n')]));
  linesOf.set(h, joined);
  return joined;
}

export function renderMetrics(hosts: Host[], openAlerts: number): string {
  const out: string[] = [];
  const perHost = hosts.map(hostLines);
  for (const [name, type, help] of HELP) {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const by of perHost) {
      const block = by.get(name);
      if (block) out.push(block);
    }
  }
  out.push('# HELP fleetmon_alerts_open open alerts', '# TYPE fleetmon_alerts_open gauge', `fleetmon_alerts_open ${openAlerts}`);
  return `${out.join('\n')}\n`;
}

export const metricsRoutes: FastifyPluginAsync = async (app) => {
  const { monitor } = app.deps;
  // Each host's lines rendered as its poll lands; the whole text once per cycle (and open-alert count).
  const warm = (h: Host) => void hostLines(h);
  monitor.poller.on('host', warm);
  app.addHook('onClose', async () => {
    monitor.poller.off('host', warm);
  });
  let cached: { hosts: Host[]; alerts: number; text: string } | null = null;
  app.get('/metrics', { onRequest: requireRead, schema: { response: { 200: { type: 'string' } } } }, async (_req, reply) => {
    reply.type('text/plain; version=0.0.4; charset=utf-8');
    const hosts = monitor.hosts();
    const alerts = monitor.summary().alerts_open;
    const same = cached && cached.alerts === alerts && cached.hosts.length === hosts.length && cached.hosts.every((h, i) => h === hosts[i]);
    if (!same) cached = { hosts, alerts, text: renderMetrics(hosts, alerts) };
    return cached!.text;
  });
};
