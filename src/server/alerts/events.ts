/** What an alert change looks like to the rest of the server: its id, and the events published after a cycle. */
import { createHash } from 'node:crypto';
import type { Alert } from '../../core/model.js';

export type AlertEvent =
  | { event: 'alert_new'; data: Alert }
  | { event: 'alert_cleared'; data: { id: string } }
  | { event: 'alert_updated'; data: Alert }
  | { event: 'alert_acked'; data: Alert };

/** An alert's id: its condition and the time the episode began, so each episode has its own. */
export function alertId(conditionKey: string, createdAt: number): string {
  return `a${createHash('sha256').update(conditionKey).digest('hex').slice(0, 10)}${createdAt.toString(36)}`;
}
