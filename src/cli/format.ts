/** Plain-text tables and human figures for the query commands. */
import type { Host, Session } from '../core/model.js';
import { formatHours } from '../core/duration.js';

/** No column is wider than this: one long session name must not push every row off the screen. --json is whole. */
export const MAX_COLUMN_WIDTH = 40;

/** Cuts text to `width` characters, ending with `…` when something was cut. */
export function clip(text: string, width = MAX_COLUMN_WIDTH): string {
  const chars = [...text];
  return chars.length <= width ? text : `${chars.slice(0, width - 1).join('')}…`;
}

export function table(headers: string[], rows: string[][]): string {
  const clipped = rows.map((r) => r.map((c) => clip(c)));
  const width = (c: string) => [...c].length;
  const widths = headers.map((h, i) => Math.max(width(h), ...clipped.map((r) => width(r[i] ?? ''))));
  const line = (cells: string[]) => cells.map((c, i) => c + ' '.repeat(Math.max(0, widths[i]! - width(c)))).join('  ').trimEnd();
  return [line(headers), ...clipped.map(line)].join('\n');
}

export function age(fromIso: string | null, now = Date.now()): string {
  if (!fromIso) return '-';
  const s = Math.max(0, (now - Date.parse(fromIso)) / 1000);
  if (s < 60) return `${Math.floor(s)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

export const pct = (v: number | null | undefined) => (v === null || v === undefined ? '-' : `${v.toFixed(1)}%`);
export const mb = (v: number | null | undefined) => (v === null || v === undefined ? '-' : v >= 1024 ? `${(v / 1024).toFixed(1)}G` : `${Math.round(v)}M`);
/**
 * Names from the fleet are shown verbatim but without control characters that could rewrite the terminal, nor
 * the bidirectional controls (U+202A–U+202E, U+2066–U+2069, marks) that reorder what follows on the line: tmux
 * escapes C0/C1 controls in names itself but keeps these, so `x<U+202E>…` would print a different-looking id.
 * `--json` keeps every name whole.
 */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
export const safe = (s: string) => s.replace(/[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, '?');

/**
 * One line per host that lists only the service account's sessions, with the reason, so that a short or empty
 * session list is never read as "nobody else is working there".
 */
export function ownAccountNotes(hosts: ReadonlyArray<Pick<Host, 'hostname' | 'sessions_scope'>>): string[] {
  return hosts
    .filter((h) => h.sessions_scope.scope === 'own-account')
    .map((h) => `${safe(h.hostname)}: only the service account's sessions are shown (${safe(h.sessions_scope.reason ?? 'no reason given')})`);
}

/** Why a session counts as active, in the words of what tmux knows about it. */
export function activeReason(s: Pick<Session, 'attached' | 'last_attached_at' | 'detached_hours'>): string {
  if (s.attached) return 'attached';
  if (s.last_attached_at === null) return `never attached, created ${s.detached_hours === null ? 'recently' : `${formatHours(s.detached_hours)} ago`}`;
  return `detached ${s.detached_hours === null ? 'recently' : `${formatHours(s.detached_hours)} ago`}`;
}

