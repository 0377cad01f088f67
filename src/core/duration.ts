/** Durations in words, for alert messages and the CLI: one wording everywhere a detached time is shown. */

/**
 * "under a minute", "12 min", "5.5 h", "3 d 4 h": minutes under an hour (a legacy threshold of minutes must not
 * read "detached for 0 h"), hours to a tenth under two days, then days and hours.
 */
export function formatHours(hours: number): string {
  const minutes = Math.floor(Math.max(0, hours) * 60);
  if (minutes < 1) return 'under a minute';
  if (minutes < 60) return `${minutes} min`;
  if (hours < 48) {
    const tenths = Math.floor(hours * 10) / 10;
    return `${Number.isInteger(tenths) ? tenths : tenths.toFixed(1)} h`;
  }
  const days = Math.floor(hours / 24);
  const rest = Math.floor(hours - days * 24);
  return rest === 0 ? `${days} d` : `${days} d ${rest} h`;
}
