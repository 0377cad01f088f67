/**
 * The channel senders: one function per type that sends one message and says how it went. Secrets (URLs with
 * keys in them, the webhook's signing secret, the ntfy token, the SMTP password) are read once at start from
 * their `*_file` or `*_env`; they never appear in results, errors or logs: an error names the URL's origin only,
 * and any secret text a peer echoes back is blanked out.
 */
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import nodemailer from 'nodemailer';
import type { ChannelConfig } from '../../core/config.js';
import { FleetmonError } from '../../core/errors.js';
import { alertmanagerAlert, htmlBody, ntfyPayload, slackPayload, textBody, title, webhookPayload, type Message } from './format.js';

export type SendResult = { ok: true; detail: string } | { ok: false; error: string; retryable: boolean };

export interface Secrets {
  url: string | null;
  secret: string | null;
  token: string | null;
  password: string | null;
}

export interface Sender {
  readonly name: string;
  readonly type: ChannelConfig['type'];
  send(m: Message): Promise<SendResult>;
  /** Alertmanager only: post these open alerts again, as Alertmanager expects of a client. */
  repost?(alerts: Message['alert'][], at: number): Promise<SendResult>;
  close(): void;
}

/** One secret from its file (trailing newline dropped) or environment variable; an error names where, never what. */
function readSecret(channel: string, what: string, file: string | undefined, envName: string | undefined, env: NodeJS.ProcessEnv): string | null {
  if (file !== undefined) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new FleetmonError('CONFIG_SECRET', `notifications channel '${channel}': cannot read its ${what} file ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`, {
        kind: 'config',
        suggestions: [`create ${file} readable by the user running fleetmon (mode 0600), holding only the ${what}`],
      });
    }
    const value = text.replace(/\r?\n$/, '');
    if (!value) throw new FleetmonError('CONFIG_SECRET', `notifications channel '${channel}': its ${what} file ${file} is empty`, { kind: 'config', suggestions: [`write the ${what} into ${file}`] });
    return value;
  }
  if (envName !== undefined) {
    const value = env[envName];
    if (!value) {
      throw new FleetmonError('CONFIG_SECRET', `notifications channel '${channel}': the environment variable ${envName} (its ${what}) is not set`, {
        kind: 'config',
        suggestions: [`set ${envName} in the service's environment (e.g. an EnvironmentFile= of the systemd unit)`],
      });
    }
    return value;
  }
  return null;
}

export function resolveSecrets(c: ChannelConfig, env: NodeJS.ProcessEnv = process.env): Secrets {
  return {
    url: c.url ?? readSecret(c.name, 'URL', c.url_file, c.url_env, env),
    secret: readSecret(c.name, 'signing secret', c.secret_file, c.secret_env, env),
    token: readSecret(c.name, 'access token', c.token_file, c.token_env, env),
    password: c.smtp ? readSecret(c.name, 'SMTP password', c.smtp.password_file, c.smtp.password_env, env) : null,
  };
}

/** Replaces every secret's text with `[secret]`: a peer's error page may echo the URL or a header back. */
function redactor(s: Secrets): (text: string) => string {
  // The URL's origin is fine to show (errors name it); its path, query and password may be the key itself.
  const url = s.url ? safeUrl(s.url) : null;
  const parts = url ? [url.pathname, url.search, url.password] : [];
  const values = [s.secret, s.token, s.password, ...parts].filter((v): v is string => typeof v === 'string' && v.length >= 4);
  return (text) => values.reduce((t, v) => t.split(v).join('[secret]'), text);
}

function safeUrl(u: string): URL | null {
  try {
    return new URL(u);
  } catch {
    return null;
  }
}

/** The part of a URL safe to show: scheme, host and port. */
export const originOf = (u: string) => safeUrl(u)?.origin ?? '(an unparsable URL)';

/** Statuses worth another try: the peer is busy, rate-limits or failed itself. Other 4xx mean our request is wrong. */
const retryableStatus = (status: number) => status >= 500 || status === 408 || status === 425 || status === 429;

async function post(url: string, body: string, headers: Record<string, string>, timeoutMs: number, redact: (t: string) => string): Promise<SendResult> {
  const origin = originOf(url);
  let res: Response;
  try {
    res = await fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json', 'user-agent': 'fleetmon', ...headers }, signal: AbortSignal.timeout(timeoutMs), redirect: 'error' });
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string } };
    const cause = e.name === 'TimeoutError' ? `no answer within ${timeoutMs / 1000} s` : (e.cause?.code ?? e.cause?.message ?? e.message);
    return { ok: false, error: redact(`cannot reach ${origin}: ${cause}`), retryable: true };
  }
  const text = (await res.text().catch(() => '')).slice(0, 200).replace(/\s+/g, ' ').trim();
  if (res.ok) return { ok: true, detail: `HTTP ${res.status} from ${origin}` };
  return { ok: false, error: redact(`HTTP ${res.status} from ${origin}${text ? `: ${text}` : ''}`), retryable: retryableStatus(res.status) };
}

/** The webhook's signature header value: `sha256=` and the hex HMAC-SHA256 of the exact body bytes. */
export function signature(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

export function makeSender(c: ChannelConfig, secrets: Secrets, opts: { alertmanagerResendMs: number }): Sender {
  const timeoutMs = c.timeout * 1000;
  const redact = redactor(secrets);
  const base = { name: c.name, type: c.type, close: () => {} };
  const url = secrets.url ?? '';
  switch (c.type) {
    case 'webhook':
      return {
        ...base,
        send: (m) => {
          const body = webhookPayload(m);
          const headers: Record<string, string> = { 'idempotency-key': m.key, 'x-fleetmon-event': m.event };
          if (secrets.secret) headers['x-fleetmon-signature-256'] = signature(secrets.secret, body);
          return post(url, body, headers, timeoutMs, redact);
        },
      };
    case 'ntfy': {
      const u = new URL(url);
      const topic = u.pathname.replace(/^\/+|\/+$/g, '').split('/').pop() ?? '';
      const root = `${u.origin}${u.pathname.slice(0, u.pathname.lastIndexOf(topic)).replace(/\/+$/, '')}/`;
      return {
        ...base,
        send: (m) =>
          post(root, ntfyPayload(m, topic), secrets.token ? { authorization: `Bearer ${secrets.token}`, 'x-fleetmon-key': m.key } : { 'x-fleetmon-key': m.key }, timeoutMs, redact),
      };
    }
    case 'slack':
      return { ...base, send: (m) => post(url, slackPayload(m), {}, timeoutMs, redact) };
    case 'alertmanager': {
      const endpoint = new URL('api/v2/alerts', url.endsWith('/') ? url : `${url}/`).toString();
      const postAlerts = (alerts: Message['alert'][], at: number) =>
        post(endpoint, JSON.stringify(alerts.map((a) => alertmanagerAlert(a, at, opts.alertmanagerResendMs))), {}, timeoutMs, redact);
      return { ...base, send: (m) => postAlerts([m.alert], m.at), repost: postAlerts };
    }
    case 'email': {
      const smtp = c.smtp!;
      const transport = nodemailer.createTransport({
        host: smtp.host,
        port: smtp.port,
        secure: smtp.security === 'tls',
        // With starttls, refuse to send in the clear when the server does not offer STARTTLS.
        requireTLS: smtp.security === 'starttls',
        ignoreTLS: smtp.security === 'none',
        ...(smtp.user ? { auth: { user: smtp.user, pass: secrets.password ?? '' } } : {}),
        ...(smtp.ca_file ? { tls: { ca: readFileSync(smtp.ca_file, 'utf8') } } : {}),
        connectionTimeout: timeoutMs,
        greetingTimeout: timeoutMs,
        socketTimeout: timeoutMs,
      });
      return {
        ...base,
        close: () => transport.close(),
        send: async (m) => {
          try {
            const info = await transport.sendMail({
              from: c.from!,
              to: c.to!,
              subject: `fleetmon: ${title(m)}: ${m.alert.message}`.slice(0, 200),
              text: textBody(m),
              html: htmlBody(m),
              messageId: `<${m.key.replace(/[^A-Za-z0-9.-]/g, '.')}@fleetmon>`,
              headers: { 'X-Fleetmon-Key': m.key },
            });
            return { ok: true, detail: `accepted by ${smtp.host}:${smtp.port} for ${info.accepted.length} recipient(s)` };
          } catch (err) {
            const e = err as Error & { responseCode?: number; code?: string };
            // 5xx answers (a refused recipient, bad credentials) will not get better by retrying.
            const permanent = typeof e.responseCode === 'number' && e.responseCode >= 500;
            return { ok: false, error: redact(`SMTP ${smtp.host}:${smtp.port}: ${e.code ? `${e.code}: ` : ''}${e.message}`), retryable: !permanent };
          }
        },
      };
    }
  }
}
