/**
 * Browser sessions. Scripts send the API token (core/api-token.ts) as a Bearer header; the dashboard exchanges it
 * once for a server-side session held in an HttpOnly, SameSite=Strict cookie. Cookie-authenticated changes must also
 * come with an exact Origin and a JSON body (http/guards.ts, http/origin.ts), because SameSite alone has been
 * bypassed before. Failed sign-ins are counted per client address, so a stranger can lock out only themselves.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';

export const COOKIE_NAME = 'fleetmon_session';

export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const k = part.slice(0, eq).trim();
    const v = part.slice(eq + 1).trim();
    try {
      out.set(k, decodeURIComponent(v));
    } catch {
      out.set(k, v);
    }
  }
  return out;
}

export interface BrowserSession {
  id: string;
  createdAt: number;
  lastSeenAt: number;
  address: string;
}

export class SessionStore extends EventEmitter {
  private readonly sessions = new Map<string, BrowserSession>();
  constructor(
    private readonly ttlMs = 12 * 3600_000,
    private readonly now: () => number = Date.now,
  ) {
    super();
  }

  create(address: string): BrowserSession {
    const s = { id: randomBytes(32).toString('base64url'), createdAt: this.now(), lastSeenAt: this.now(), address };
    this.sessions.set(s.id, s);
    return s;
  }

  get(id: string | undefined): BrowserSession | undefined {
    if (!id) return undefined;
    const s = this.sessions.get(id);
    if (!s) return undefined;
    if (this.now() - s.lastSeenAt > this.ttlMs) {
      this.sessions.delete(id);
      return undefined;
    }
    s.lastSeenAt = this.now();
    return s;
  }

  /** Ends a session; listeners ('ended') close what it had open, such as its WebSockets. */
  destroy(id: string): void {
    if (this.sessions.delete(id)) this.emit('ended', id);
  }
}

/** Sign-in throttling: after `maxFailures` failures within `windowMs`, that address is locked for `lockMs`. */
export class LoginLimiter {
  private readonly failures = new Map<string, number[]>();
  private readonly lockedUntil = new Map<string, number>();
  constructor(
    private readonly maxFailures = 5,
    private readonly windowMs = 15 * 60_000,
    private readonly lockMs = 15 * 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Milliseconds until the address may try again, or 0. */
  retryAfter(address: string): number {
    const until = this.lockedUntil.get(address) ?? 0;
    return Math.max(0, until - this.now());
  }

  fail(address: string): void {
    const now = this.now();
    const recent = (this.failures.get(address) ?? []).filter((t) => now - t < this.windowMs);
    recent.push(now);
    this.failures.set(address, recent);
    if (recent.length >= this.maxFailures) {
      this.lockedUntil.set(address, now + this.lockMs);
      this.failures.delete(address);
    }
  }

  succeed(address: string): void {
    this.failures.delete(address);
  }
}
