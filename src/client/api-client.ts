/**
 * Typed client of the server's REST API, used by the query commands. Network failures become one clear
 * FleetmonError naming the URL; HTTP errors carry the server's own message.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fetch, WebSocket, type Dispatcher } from 'undici';
import { defaultDataDir } from '../core/data-dir.js';
import { FleetmonError } from '../core/errors.js';
import type { Alert, FleetSummary, Host, Session } from '../core/model.js';
import { TOKEN_FILE } from '../core/api-token.js';
import { createPinnedDispatcher, parseFingerprint, PinMismatchError, readCaFile, TLS_UNTRUSTED } from '../core/tls-pin.js';

/** `--ca-file` and `--fingerprint`, as for the Proxmox commands: trust that CA, or pin that certificate or key. */
export interface ServerTlsOptions {
  caFile?: string | undefined;
  fingerprint?: string | undefined;
}

/**
 * The dispatcher for an https server: the system store unless `--ca-file` or `--fingerprint` says otherwise.
 * Either flag with an http:// URL is refused: it would protect nothing, and the user believes it does.
 */
export function serverDispatcher(baseUrl: string, tls: ServerTlsOptions): Dispatcher | undefined {
  const given = tls.fingerprint !== undefined ? '--fingerprint' : tls.caFile !== undefined ? '--ca-file' : undefined;
  if (!baseUrl.startsWith('https:')) {
    if (!given) return undefined;
    throw new FleetmonError('TLS_FLAG_WITHOUT_HTTPS', `${given} needs an https:// --server, and ${baseUrl} is plain HTTP`, {
      kind: 'usage',
      suggestions: [`write --server ${baseUrl.replace(/^http:/, 'https:')} (a server with server.tls set), or drop ${given}`],
    });
  }
  const pin = tls.fingerprint !== undefined ? parseFingerprint(tls.fingerprint) : undefined;
  const caPem = tls.caFile !== undefined ? readCaFile(tls.caFile, 'SERVER_CA_FILE') : undefined;
  return createPinnedDispatcher({ caPem, pin, peer: 'the fleetmon server', mismatchCode: 'SERVER_TLS_PIN_MISMATCH' });
}

/** GET /api/notifications (its TypeBox schema is NotificationsReply in src/server/routes/notifications.ts). */
export interface NotificationsLog {
  channels: Array<{
    name: string;
    type: string;
    min_severity: string;
    health: 'ok' | 'failing' | 'unused';
    pending: number;
    failed: number;
    last_delivered_at: string | null;
    last_error_at: string | null;
    last_error: string | null;
  }>;
  log: Array<{
    id: number;
    channel: string;
    alert_id: string;
    event: string;
    state: 'pending' | 'delivered' | 'failed' | 'dropped';
    attempts: number;
    created_at: string;
    next_attempt_at: string | null;
    last_attempt_at: string | null;
    delivered_at: string | null;
    last_error: string | null;
    detail: string | null;
  }>;
}

export interface NotifyTestResult {
  channel: string;
  type: string;
  ok: boolean;
  detail: string;
  ms: number;
}

/** GET /api/config, the parts a client reads: the alert thresholds (for colouring figures) and the poll interval. */
export interface ServerConfig {
  polling_interval_seconds: number;
  legacy_threshold_hours: number;
  alerts: Record<string, number | boolean>;
}

/** What /ws sends: a hosts_update after every poll cycle, and alert events as they happen. */
export type LiveEvent =
  | { event: 'hosts_update'; data: Host[]; summary: FleetSummary }
  | { event: 'alert_new' | 'alert_updated' | 'alert_acked'; data: Alert }
  | { event: 'alert_cleared'; data: { id: string } }
  | { event: 'pong' };

export interface LiveHandlers {
  onOpen?: () => void;
  onEvent: (e: LiveEvent) => void;
  /** The socket closed or never opened; `reason` says why, in words. */
  onClose: (reason: string) => void;
}

export interface ApiResult<T> {
  status: number;
  body: T;
}

/** The token: explicit, else the file a server on this machine wrote (its data dir, or the packaged service's). */
export function findToken(explicit: string | undefined, env = process.env): string | undefined {
  if (explicit) return explicit;
  const dirs = [env.FLEETMON_DATA_DIR, defaultDataDir(), '/var/lib/fleetmon'].filter((d): d is string => Boolean(d));
  for (const dir of dirs) {
    const path = join(dir, TOKEN_FILE);
    try {
      if (existsSync(path)) return readFileSync(path, 'utf8').trim();
    } catch {
      /* not readable by this user: try the next */
    }
  }
  return undefined;
}

export class ApiClient {
  private readonly dispatcher: Dispatcher | undefined;

  constructor(
    readonly baseUrl: string,
    private readonly token: string | undefined,
    private readonly timeoutMs = 10_000,
    tls: ServerTlsOptions = {},
  ) {
    this.dispatcher = serverDispatcher(baseUrl, tls);
  }

  async request<T>(method: 'GET' | 'POST', path: string, body?: unknown, okStatuses: number[] = []): Promise<ApiResult<T>> {
    const url = new URL(path, this.baseUrl.endsWith('/') ? this.baseUrl : `${this.baseUrl}/`).toString();
    let res: Awaited<ReturnType<typeof fetch>>;
    try {
      res = await fetch(url, {
        method,
        headers: {
          accept: 'application/json',
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(this.timeoutMs),
        ...(this.dispatcher ? { dispatcher: this.dispatcher } : {}),
      });
    } catch (err) {
      const c = (err as { cause?: { code?: string; message?: string } }).cause;
      if (c instanceof PinMismatchError) {
        throw new FleetmonError('SERVER_TLS_PIN_MISMATCH', `${c.message}; refusing to send the API token`, {
          kind: 'auth',
          suggestions: [
            'if the server got a new certificate on purpose, take the fingerprint `fleetmon serve` prints at start and update --fingerprint',
            'otherwise something between you and the server is intercepting the connection',
          ],
        });
      }
      if (c?.code && TLS_UNTRUSTED.has(c.code)) {
        throw new FleetmonError('SERVER_TLS_UNTRUSTED', `the fleetmon server's certificate at ${this.baseUrl} is not trusted (${c.code})`, {
          kind: 'auth',
          suggestions: [
            'pin it: pass --fingerprint AA:BB:… as `fleetmon serve` printed it at start (or FLEETMON_FINGERPRINT)',
            'or trust the CA that signed it: pass --ca-file CA.pem (or FLEETMON_CA_FILE)',
          ],
        });
      }
      const cause = c?.code ?? c?.message ?? (err as Error).message;
      throw new FleetmonError('SERVER_UNREACHABLE', `cannot reach the fleetmon server at ${this.baseUrl} (${cause})`, {
        kind: 'server',
        suggestions: ['start it with `fleetmon serve`, or point --server / FLEETMON_SERVER at it'],
      });
    }
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      /* not JSON: keep the text */
    }
    if (res.ok || okStatuses.includes(res.status)) return { status: res.status, body: parsed as T };
    const message = (parsed as { error?: string; message?: string } | null)?.error ?? (parsed as { message?: string } | null)?.message ?? text.slice(0, 200);
    if (res.status === 401) {
      throw new FleetmonError('UNAUTHORIZED', `the server at ${this.baseUrl} refused the request: ${message}`, {
        kind: 'auth',
        suggestions: ['pass --token or set FLEETMON_TOKEN (the server prints it at first start and keeps it in <data-dir>/api-token)'],
      });
    }
    if (res.status === 404) throw new FleetmonError('NOT_FOUND', message, { kind: 'notFound' });
    if (res.status === 409 || res.status === 403) throw new FleetmonError('CONFLICT', message, { kind: 'conflict' });
    throw new FleetmonError('SERVER_ERROR', `${method} ${path} failed with HTTP ${res.status}: ${message}`, { kind: 'server' });
  }

  config() {
    return this.request<ServerConfig>('GET', 'api/config').then((r) => r.body);
  }
  /**
   * Opens /ws with the same token and TLS trust as the REST calls (a pinned dispatcher pins the socket too).
   * Text frames only (no ?compress): a terminal client watches one fleet and gzip would gain little here.
   */
  live(handlers: LiveHandlers): { close: () => void } {
    const url = new URL('ws', this.baseUrl.endsWith('/') ? this.baseUrl : `${this.baseUrl}/`);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    let closed = false;
    const ws = new WebSocket(url.toString(), {
      ...(this.token ? { headers: { authorization: `Bearer ${this.token}` } } : {}),
      ...(this.dispatcher ? { dispatcher: this.dispatcher } : {}),
    });
    ws.addEventListener('open', () => handlers.onOpen?.());
    ws.addEventListener('message', (m: { data: unknown }) => {
      if (typeof m.data !== 'string') return;
      try {
        handlers.onEvent(JSON.parse(m.data) as LiveEvent);
      } catch {
        /* not JSON: not ours to read */
      }
    });
    let reported = false;
    const report = (reason: string) => {
      if (reported) return;
      reported = true;
      handlers.onClose(reason);
    };
    ws.addEventListener('error', () => report(`the live feed at ${url.origin} failed`));
    ws.addEventListener('close', (e: { code: number; reason: string }) => report(closed ? 'closed' : `the live feed closed (${e.code}${e.reason ? ` ${e.reason}` : ''})`));
    return {
      close: () => {
        closed = true;
        ws.close();
      },
    };
  }
  summary() {
    return this.request<FleetSummary>('GET', 'api/summary').then((r) => r.body);
  }
  hosts() {
    return this.request<Host[]>('GET', 'api/hosts').then((r) => r.body);
  }
  sessions(status?: 'active' | 'legacy') {
    return this.request<Session[]>('GET', `api/sessions${status ? `?status=${status}` : ''}`).then((r) => r.body);
  }
  session(id: string) {
    return this.request<Session>('GET', `api/sessions/${encodeURIComponent(id)}`).then((r) => r.body);
  }
  alerts(all: boolean) {
    return this.request<Alert[]>('GET', `api/alerts?state=${all ? 'all' : 'open'}`).then((r) => r.body);
  }
  ack(id: string, note?: string) {
    return this.request<Alert>('POST', `api/alerts/${encodeURIComponent(id)}/ack`, note ? { note } : {}).then((r) => r.body);
  }
  notifications(opts: { limit?: number; channel?: string } = {}) {
    const q = new URLSearchParams();
    if (opts.limit !== undefined) q.set('limit', String(opts.limit));
    if (opts.channel !== undefined) q.set('channel', opts.channel);
    const query = q.toString();
    return this.request<NotificationsLog>('GET', `api/notifications${query ? `?${query}` : ''}`).then((r) => r.body);
  }
  /** Sends a test message through one channel; a failed delivery is a result (ok: false), not an error. */
  notifyTest(channel: string) {
    return this.request<NotifyTestResult>('POST', `api/notifications/${encodeURIComponent(channel)}/test`, {}).then((r) => r.body);
  }
  requestKill(id: string) {
    return this.request<{ confirm_token: string; expires_at: string; session: Session }>(
      'POST',
      `api/sessions/${encodeURIComponent(id)}/kill`,
      {},
      [428],
    ).then((r) => r.body);
  }
  confirmKill(id: string, token: string) {
    return this.request<{ result: 'killed'; detail: string; session: Session }>('POST', `api/sessions/${encodeURIComponent(id)}/kill`, {
      confirm_token: token,
    }).then((r) => r.body);
  }
}
