// Types of format.js (plain JS served to the browser) for the TypeScript tests that import it.
import type { Alert, Gpu, Host, Session } from '../../../core/model.js';

export type Level = 'ok' | 'warn' | 'crit' | 'unknown';
export type Tab = 'active' | 'legacy' | 'hosts' | 'notifications';
export type AlertEventMessage = { event: string; data?: Partial<Alert> & { id: string } };

export const DASH: string;
export const TABS: readonly Tab[];
export const DEFAULT_TAB: Tab;
export const HOST_STATUS_LEVEL: Record<Host['status'] | 'pending', Level>;
export function displayStatus(host: Pick<Host, 'status' | 'pending'>): Host['status'] | 'pending';

export function formatAge(seconds: number | null | undefined): string;
export function secondsSince(iso: string | null | undefined, nowMs: number): number | null;
export function ageOf(iso: string | null | undefined, nowMs: number): string;
export function formatMiB(mb: number | null | undefined): string;
export function formatMiBPair(used: number | null | undefined, total: number | null | undefined): string;
export function formatBytes(bytes: number | null | undefined): string;
export function formatRate(bps: number | null | undefined): string;
export function formatPercent(v: number | null | undefined, digits?: number): string;
export function formatWatts(w: number | null | undefined): string;
export function formatPowerPair(draw: number | null | undefined, limit: number | null | undefined): string;
export function formatTemp(c: number | null | undefined): string;
export function formatLoad(l1: number | null, l5: number | null, l15: number | null): string;
export function percentOf(used: number | null | undefined, total: number | null | undefined): number | null;
export function levelOf(value: number | null | undefined, warnAt?: number, critAt?: number): Level;
export function tempLevel(celsius: number | null | undefined, alerts?: { gpu_temp_warning?: number; gpu_temp_critical?: number }): Level;
export function usageLevel(percent: number | null | undefined, warnAt?: number): Level;
export function hostLevel(status: string): Level;
export function severityIcon(severity: string): string;
export function channelLevel(health: string): Level;
export type DeliveryRow = { state: string; attempts: number; last_error: string | null; detail: string | null };
export function deliveryLevel(row: DeliveryRow): Level;
export function deliveryText(row: DeliveryRow): string;
export function sortAlerts<A extends Pick<Alert, 'id' | 'acknowledged' | 'severity' | 'created'>>(alerts: A[]): A[];
export function applyAlertEvent<A extends { id: string }>(alerts: A[], message: AlertEventMessage | null | undefined): A[];
export function badgeLevel(alerts: Array<Pick<Alert, 'acknowledged' | 'severity'>>): Level | 'info';
export function sessionNameFromId(id: string): string;
export function attachState(
  session: Pick<Session, 'attached' | 'attached_clients' | 'created' | 'last_attached_at' | 'detached_hours'>,
  nowMs: number,
): string;
export function parseTab(search: string): Tab;
export function searchWith(search: string, changes: Record<string, string | null | undefined>): string;
export function viewForTab(hosts: Host[], tab: Tab): Array<{ host: Host; sessions: Session[] }>;
export function sortSessionsByUse<S extends Pick<Session, 'name' | 'cpu_percent' | 'gpu_memory_mb' | 'memory_mb'>>(sessions: S[]): S[];
export function tabCounts(hosts: Host[]): Record<Exclude<Tab, 'notifications'>, number>;
export function gpuProcessRows(
  gpu: Pick<Gpu, 'processes'>,
  sessions: Array<Pick<Session, 'id' | 'name'>>,
): Array<{ pid: number; name: string; memory: string; session: string | null; user: string | null; cmdline: string | null }>;
export function scopeNote(host: Pick<Host, 'sessions_scope'>): string | null;
export function backoffDelay(attempt: number, base?: number, max?: number, random?: () => number): number;
export function formatClock(date: Date | string | number): string;
export function formatDateTime(date: Date | string | number): string;
export function formatTick(ms: number, spanMs: number): string;
export function timeTicks(from: number, to: number, count?: number): number[];
export function niceTicks(min: number, max: number, count?: number): number[];
export function formatCompact(v: number | null | undefined): string;
export function toSeries(points: Array<{ t: string; v: number | null }> | null | undefined): { xs: number[]; ys: Array<number | null> };
