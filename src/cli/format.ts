/** Plain-text tables and human figures for the query commands. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
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
/** Names from the fleet are shown verbatim but without control characters that could rewrite the terminal. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
export const safe = (s: string) => s.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
