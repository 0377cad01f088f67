/**
 * The HTTP side of the Proxmox client, plugged into `proxmox-api` through its `ApiRequestable` hook
 * (`proxmoxApi(transport)` keeps the library's typed path builder). We do not use the library's own ProxmoxEngine
 * because it (1) retries any request whose fetch threw, POSTs included, so a create that reached the server could be
 * sent twice; (2) throws plain Errors with the status folded into text; (3) has no TLS option (and no default port).
 *
 * Encoding follows the library and the server: booleans as 1/0, arrays as repeated keys, null/undefined dropped;
 * GET/DELETE parameters in the query string, POST/PUT as an x-www-form-urlencoded body. The token travels in
 * `Authorization: PVEAPIToken=USER@REALM!TOKENID=SECRET`; no CSRF token is needed with API tokens.
 */
import type { ApiRequestable } from 'proxmox-api';
import { fetch as undiciFetch, type Dispatcher, type RequestInit, type Response } from 'undici';
import { ProxmoxApiError, ProxmoxConnectionError } from './errors.js';

export type FetchLike = (url: string | URL, init?: RequestInit) => Promise<Response>;

export interface TransportOptions {
  /** `https://host:port`, without /api2/json. */
  baseUrl: URL;
  tokenId: string;
  tokenSecret: string;
  dispatcher?: Dispatcher;
  /** Injected for tests; defaults to undici's fetch (which honours `dispatcher`). */
  fetch?: FetchLike;
  /** Per request; Proxmox answers quickly even for long work because that runs in tasks. */
  timeoutMs?: number;
  /** Debug hook: called after every request (never with the token). */
  onRequest?: (r: { method: string; path: string; status: number | 'error'; ms: number }) => void;
}

export interface Envelope<T = unknown> {
  data: T;
  total?: number;
}

/** The only content type pveproxy sends for JSON (and the one proxmox-api insists on). */
const PVE_JSON = /^application\/json\s*;\s*charset=utf-8$/i;

/** undici error codes that happen before the request is written: sending again cannot execute anything twice. */
const BEFORE_SEND = new Set([
  'ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT',
  'PVE_TLS_PIN_MISMATCH', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_GET_ISSUER_CERT', 'CERT_UNTRUSTED', 'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID', 'ERR_TLS_CERT_ALTNAME_INVALID', 'CERT_SIGNATURE_FAILURE', 'ERR_SSL_WRONG_VERSION_NUMBER',
]);

export function encodeParams(params: Record<string, unknown> | undefined): URLSearchParams {
  const out = new URLSearchParams();
  for (const [k, v] of Object.entries(params ?? {})) {
    if (v === null || v === undefined) continue;
    const values = Array.isArray(v) ? v : [v];
    for (const e of values) out.append(k, e === true ? '1' : e === false ? '0' : String(e));
  }
  return out;
}

export class PveTransport implements ApiRequestable {
  private readonly fetch: FetchLike;

  constructor(private readonly opts: TransportOptions) {
    this.fetch = opts.fetch ?? ((url, init) => undiciFetch(url, { ...init, dispatcher: opts.dispatcher }));
  }

  /** `ApiRequestable`: `path` comes from proxmox-api's proxy and starts with /api2/json. */
  async doRequest(httpMethod: string, path: string, _pathTemplate: string, params?: Record<string, unknown>): Promise<unknown> {
    const env = await this.request(httpMethod, path.replace(/^\/api2\/json/, ''), params);
    return env.data;
  }

  /** One request, never retried here: a caller that knows it is safe (a GET) decides to try again. */
  async request<T = unknown>(method: string, path: string, params?: Record<string, unknown>): Promise<Envelope<T>> {
    method = method.toUpperCase();
    const url = new URL(`/api2/json${path}`, this.opts.baseUrl);
    const encoded = encodeParams(params);
    const headers: Record<string, string> = {
      Accept: 'application/json',
      Authorization: `PVEAPIToken=${this.opts.tokenId}=${this.opts.tokenSecret}`,
    };
    let body: string | undefined;
    if (method === 'POST' || method === 'PUT') {
      if ([...encoded.keys()].length) {
        body = encoded.toString();
        headers['Content-Type'] = 'application/x-www-form-urlencoded';
      }
    } else {
      for (const [k, v] of encoded) url.searchParams.append(k, v);
    }
    const started = Date.now();
    let res: Response;
    try {
      res = await this.fetch(url, { method, headers, body, signal: AbortSignal.timeout(this.opts.timeoutMs ?? 60_000) });
    } catch (err) {
      this.opts.onRequest?.({ method, path, status: 'error', ms: Date.now() - started });
      throw connectionError(err, method, path);
    }
    this.opts.onRequest?.({ method, path, status: res.status, ms: Date.now() - started });
    const contentType = res.headers.get('content-type') ?? '';
    let parsed: { data?: unknown; total?: number; errors?: Record<string, string>; message?: string } | undefined;
    if (PVE_JSON.test(contentType)) {
      try {
        parsed = (await res.json()) as typeof parsed;
      } catch {
        parsed = undefined;
      }
    } else {
      await res.text().catch(() => '');
    }
    if (res.status === 200) {
      if (!parsed || typeof parsed !== 'object' || !('data' in parsed)) {
        throw new ProxmoxApiError({
          status: res.status,
          method,
          path,
          message: `not a Proxmox VE API answer (content type ${JSON.stringify(contentType)}); is --proxmox the node's https://HOST:8006?`,
        });
      }
      return { data: parsed.data as T, ...(typeof parsed.total === 'number' ? { total: parsed.total } : {}) };
    }
    // pveproxy puts the reason in the status line; error bodies repeat it in `message` (with a newline), 401s have none.
    const message = (parsed?.message ?? res.statusText ?? '').trim() || `HTTP ${res.status}`;
    throw new ProxmoxApiError({ status: res.status, message, method, path, errors: parsed?.errors ?? undefined });
  }
}

function connectionError(err: unknown, method: string, path: string): ProxmoxConnectionError {
  // undici wraps the real cause: TypeError('fetch failed', {cause}); a timeout is a DOMException TimeoutError.
  const cause = err instanceof Error && err.cause !== undefined ? err.cause : err;
  const code =
    (cause as { code?: string } | undefined)?.code ??
    (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError') ? 'TIMEOUT' : undefined);
  const text = cause instanceof Error ? cause.message : String(cause);
  return new ProxmoxConnectionError({
    message: `${method} ${path}: no answer from Proxmox (${code ?? text}${code && text && !text.includes(code) ? `: ${text}` : ''})`,
    code,
    method,
    path,
    mayHaveReachedServer: !(code && BEFORE_SEND.has(code)),
    cause,
  });
}
