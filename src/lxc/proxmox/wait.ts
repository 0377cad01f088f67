/**
 * The one polling loop: check, back off (×1.5 up to a cap), give up at a hard deadline. The clock is injected so
 * tests of minutes-long deadlines run in milliseconds. Modelled on heroku/cli's wait-for-domain.
 */
export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const realClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

export interface PollOptions<T> {
  clock: Clock;
  /** Total time allowed, from the first check. */
  deadlineMs: number;
  initialDelayMs?: number;
  maxDelayMs?: number;
  factor?: number;
  /** Resolves to a value when done, or undefined to keep waiting. */
  check: (attempt: number) => Promise<T | undefined>;
  /** Errors the loop may ride out until the deadline (only for checks that are safe to repeat). */
  isTransient?: (err: unknown) => boolean;
  /** Builds the error thrown at the deadline; `lastError` is the last transient error, if any. */
  onTimeout: (elapsedMs: number, lastError: unknown) => Error;
  onWait?: (elapsedMs: number, attempt: number) => void;
}

export async function poll<T>(opts: PollOptions<T>): Promise<T> {
  const start = opts.clock.now();
  let delay = opts.initialDelayMs ?? 500;
  let lastError: unknown;
  for (let attempt = 1; ; attempt++) {
    try {
      const value = await opts.check(attempt);
      if (value !== undefined) return value;
    } catch (err) {
      if (!opts.isTransient?.(err)) throw err;
      lastError = err;
    }
    const elapsed = opts.clock.now() - start;
    if (elapsed >= opts.deadlineMs) throw opts.onTimeout(elapsed, lastError);
    opts.onWait?.(elapsed, attempt);
    await opts.clock.sleep(Math.min(delay, opts.deadlineMs - elapsed));
    delay = Math.min(delay * (opts.factor ?? 1.5), opts.maxDelayMs ?? 5_000);
  }
}

/** `90s`, `5m`, `1h`, `1500ms`, or a bare number of seconds. */
export function parseDuration(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(text);
  if (!m?.[1]) return undefined;
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  return Math.round(Number(m[1]) * unit);
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  if (ms < 60_000) return `${Math.round(ms / 100) / 10}s`;
  const m = Math.floor(ms / 60_000);
  const s = Math.round((ms % 60_000) / 1000);
  return s ? `${m}m${s}s` : `${m}m`;
}
