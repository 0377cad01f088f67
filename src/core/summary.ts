/** The fleet summary (`GET /api/summary`, `fleetmon status`): counts over hosts, their sessions and the open alerts. */
import { iso, type Alert, type FleetSummary, type Host } from './model.js';

export interface CycleTiming {
  finishedAt: number;
  durationMs: number;
}

export function summarizeFleet(hosts: readonly Host[], openAlerts: readonly Alert[], lastCycle: CycleTiming | undefined): FleetSummary {
  const count = (status: Host['status']) => hosts.filter((h) => !h.pending && h.status === status).length;
  const sessions = hosts.flatMap((h) => h.sessions);
  return {
    hosts_total: hosts.length,
    hosts_online: count('online'),
    hosts_degraded: count('degraded'),
    hosts_offline: count('offline'),
    hosts_pending: hosts.filter((h) => h.pending).length,
    sessions_active: sessions.filter((s) => s.status === 'active').length,
    sessions_legacy: sessions.filter((s) => s.status === 'legacy').length,
    gpus: hosts.reduce((n, h) => n + h.gpus.length, 0),
    alerts_open: openAlerts.length,
    alerts_unacknowledged: openAlerts.filter((a) => !a.acknowledged).length,
    last_cycle_at: iso(lastCycle?.finishedAt),
    last_cycle_ms: lastCycle?.durationMs ?? null,
  };
}
