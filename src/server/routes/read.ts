/**
 * Read-only REST routes, one plugin per resource: health; fleet summary and hosts (with history); sessions;
 * alerts and the audit trail; the server's config and public key. All but /health need read access.
 */
import type { FastifyPluginAsyncTypebox, TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { readFileSync } from 'node:fs';
import { Type, type Static } from '@sinclair/typebox';
import type { FleetConfig } from '../../core/config.js';
import { Alert, FleetSummary, Host, Session, SessionIdKind } from '../../core/model.js';
import { HISTORY_METRICS } from '../store/repositories.js';
import { ErrorBody, requireRead } from '../http/guards.js';
import { AmbiguousBody, lookupSession, sendLookupFailure } from './session-lookup.js';

function readPublicKey(path: string): string | null {
  try {
    const line = readFileSync(path, 'utf8').trim().split('\n')[0]?.trim() ?? '';
    return /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp\d+) [A-Za-z0-9+/=]+( .*)?$/.test(line) ? line : null;
  } catch {
    return null;
  }
}

/** Whether the client takes gzip (a q=0 opt-out counts as no). */
export function acceptsGzip(header: string | string[] | undefined): boolean {
  const value = Array.isArray(header) ? header.join(',') : (header ?? '');
  return value.split(',').some((part) => {
    const [name, ...params] = part.trim().split(';');
    return name?.trim().toLowerCase() === 'gzip' && !params.some((p) => /^\s*q=0(\.0*)?\s*$/.test(p));
  });
}

const DURATION = /^(\d+(?:\.\d+)?)(s|m|h|d|w)$/;
const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3600_000, d: 86400_000, w: 7 * 86400_000 };

/** How far back a history query may reach: past any retention anyone configures (3650 days). */
const MAX_LOOKBACK_MS = 3660 * 86400_000;
/** An ISO 8601 date or date-time (`2026-11-30`, `2026-11-30T12:00:00Z`, with offset or fraction), nothing looser. */
const ISO_TIME = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/i;

/** An ISO time within the bounds history can hold, as epoch ms, or null. `Date.parse('12')` is the year 2001. */
export function parseIsoTime(value: string, now: number): number | null {
  if (!ISO_TIME.test(value)) return null;
  const t = Date.parse(value);
  return Number.isFinite(t) && t >= now - MAX_LOOKBACK_MS && t <= now + 86400_000 ? t : null;
}

/** `since` is an ISO time or a duration back from now (`1h`, `7d`), bounded; null when it is neither. */
export function parseSince(value: string | undefined, now: number, fallbackMs: number): number | null {
  if (value === undefined) return now - fallbackMs;
  const d = DURATION.exec(value);
  if (d) {
    const ms = Number(d[1]) * UNIT_MS[d[2]!]!;
    return ms <= MAX_LOOKBACK_MS ? now - ms : null;
  }
  return parseIsoTime(value, now);
}

/**
 * A list from the body cache (serialized once per cycle, gzip'd when the client takes it); the route's schema
 * still documents the shape.
 */
async function sendList(req: FastifyRequest, reply: FastifyReply, key: string, build: () => object[]) {
  const gzip = acceptsGzip(req.headers['accept-encoding']);
  const body = await req.server.deps.bodies.get(key, build, gzip ? 'gzip' : 'identity');
  reply.header('vary', 'accept-encoding').type('application/json; charset=utf-8');
  if (gzip) reply.header('content-encoding', 'gzip');
  return reply.send(body as never);
}

const HealthReply = Type.Object({
  status: Type.Union([Type.Literal('ok'), Type.Literal('failing')]),
  version: Type.String(),
  hosts: Type.Integer(),
  last_cycle_at: Type.Union([Type.String(), Type.Null()]),
  store: Type.Object({
    ok: Type.Boolean(),
    failing_since: Type.Union([Type.String(), Type.Null()]),
    consecutive_failures: Type.Integer(),
    error: Type.Union([Type.String(), Type.Null()]),
  }),
  database: Type.Object({
    moved_aside: Type.Union([
      Type.Object(
        { at: Type.String(), alert_id: Type.String() },
        { description: 'this start found the database damaged and moved it aside; the alert says where, and which host keys were lost' },
      ),
      Type.Null(),
    ]),
  }),
});

export const healthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { monitor, config, version } = app.deps;
  // 503 while poll cycles cannot be stored, so a service manager or an uptime check notices that history,
  // alerts and audit are not being kept although the live view still updates.
  app.get('/health', { schema: { response: { 200: HealthReply, 503: HealthReply } } }, async (_req, reply) => {
    const failure = monitor.storeFailure;
    return reply.code(failure ? 503 : 200).send({
      status: failure ? ('failing' as const) : ('ok' as const),
      version: version ?? '0.0.0',
      hosts: config.hosts.length,
      last_cycle_at: monitor.summary().last_cycle_at,
      store: {
        ok: !failure,
        failing_since: failure ? new Date(failure.since).toISOString() : null,
        consecutive_failures: failure?.consecutive ?? 0,
        error: failure?.error ?? null,
      },
      database: {
        moved_aside: app.deps.databaseMovedAside ? { at: app.deps.databaseMovedAside.at, alert_id: app.deps.databaseMovedAside.alertId } : null,
      },
    });
  });
};

const HostParams = Type.Object({ hostname: Type.String() });
const HistoryQuery = Type.Object({
  metric: Type.Union(HISTORY_METRICS.map((m) => Type.Literal(m)), { default: 'cpu_percent' }),
  since: Type.Optional(Type.String({ description: 'ISO 8601 time or a duration such as 1h, 1d, 7d' })),
  until: Type.Optional(Type.String()),
  points: Type.Integer({ minimum: 2, maximum: 5000, default: 500 }),
});
const HistoryReply = Type.Object({
  host: Type.String(),
  metric: Type.String(),
  since: Type.String(),
  until: Type.String(),
  points: Type.Array(Type.Object({ t: Type.String(), v: Type.Union([Type.Number(), Type.Null()]) })),
});

/** The fleet summary, the hosts, and one host's stored history. */
export const hostRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { monitor } = app.deps;
  const now = app.deps.now ?? Date.now;

  app.get('/api/summary', { schema: { response: { 200: FleetSummary } } }, async () => monitor.summary());

  app.get('/api/hosts', { schema: { response: { 200: Type.Array(Host) } } }, async (req, reply) => sendList(req, reply, 'hosts', () => monitor.hosts()));

  app.get('/api/hosts/:hostname', { schema: { params: HostParams, response: { 200: Host, 404: ErrorBody } } }, async (req, reply) => {
    const host = monitor.host(req.params.hostname);
    return host ?? reply.code(404).send({ error: `no host named '${req.params.hostname}'` });
  });

  app.get(
    '/api/hosts/:hostname/history',
    { schema: { params: HostParams, querystring: HistoryQuery, response: { 200: HistoryReply, 400: ErrorBody, 404: ErrorBody } } },
    async (req, reply) => {
      const { hostname } = req.params;
      if (!monitor.host(hostname)) return reply.code(404).send({ error: `no host named '${hostname}'` });
      const range = historyRange(req.query, now());
      if (!range) return reply.code(400).send({ error: 'since must be an ISO 8601 time or a duration like 1h, 7d (at most 3660 days back), until an ISO 8601 time, and since before until' });
      const points = monitor.samples.history(hostname, req.query.metric, range.since, range.until, req.query.points);
      return {
        host: hostname,
        metric: req.query.metric,
        since: new Date(range.since).toISOString(),
        until: new Date(range.until).toISOString(),
        points: points.map((p) => ({ t: new Date(p.t).toISOString(), v: p.v === null ? null : Math.round(p.v * 100) / 100 })),
      };
    },
  );
};

/** The time range a history query asks for (the last hour by default), or null when it makes no sense. */
export function historyRange(query: Pick<Static<typeof HistoryQuery>, 'since' | 'until'>, now: number): { since: number; until: number } | null {
  const since = parseSince(query.since, now, 3600_000);
  const until = query.until === undefined ? now : parseIsoTime(query.until, now);
  if (since === null || until === null || since >= until) return null;
  return { since, until };
}

const SessionsQuery = Type.Object({
  status: Type.Optional(Type.Union([Type.Literal('active'), Type.Literal('legacy')])),
  host: Type.Optional(Type.String()),
});

export const sessionRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { monitor } = app.deps;

  app.get('/api/sessions', { schema: { querystring: SessionsQuery, response: { 200: Type.Array(Session) } } }, async (req, reply) => {
    const { status, host } = req.query;
    if (host !== undefined) return monitor.sessions(status).filter((s) => s.host === host);
    return sendList(req, reply, `sessions:${status ?? 'all'}`, () => monitor.sessions(status));
  });

  app.get(
    '/api/sessions/:id',
    {
      schema: {
        params: Type.Object({ id: Type.String({ description: 'the session\'s id (host:session_name) or its fleetmon_id (host:user:session_name)' }) }),
        response: {
          200: {
            ...Session,
            // @fastify/swagger documents response headers given as a map of name → schema.
            headers: { 'fleetmon-matched-id': { ...SessionIdKind, description: 'which of the session\'s ids the request named: id or fleetmon_id' } },
          },
          404: ErrorBody,
          409: AmbiguousBody,
        },
      },
    },
    async (req, reply) => {
      const found = lookupSession(monitor, req.params.id);
      if (!('session' in found)) return sendLookupFailure(reply, found);
      reply.header('fleetmon-matched-id', found.matched);
      return found.session;
    },
  );
};

const AlertsQuery = Type.Object({
  state: Type.Union([Type.Literal('open'), Type.Literal('resolved'), Type.Literal('all')], { default: 'open' }),
  acknowledged: Type.Optional(Type.Boolean()),
  limit: Type.Integer({ minimum: 1, maximum: 10000, default: 500 }),
});
const AuditReply = Type.Array(
  Type.Object({
    id: Type.Integer(),
    ts: Type.String(),
    actor: Type.String(),
    action: Type.String(),
    target: Type.String(),
    result: Type.String(),
    detail: Type.Union([Type.String(), Type.Null()]),
  }),
);

/** Alerts, and the audit trail the changing routes leave. */
export const alertAuditRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { monitor, audit } = app.deps;

  app.get('/api/alerts', { schema: { querystring: AlertsQuery, response: { 200: Type.Array(Alert) } } }, async (req) => monitor.alerts.list(req.query));

  app.get(
    '/api/audit',
    { schema: { querystring: Type.Object({ limit: Type.Integer({ minimum: 1, maximum: 10000, default: 200 }) }), response: { 200: AuditReply } } },
    async (req) => audit.list(req.query.limit),
  );
};

const ConfigReply = Type.Object({
  polling_interval_seconds: Type.Number(),
  legacy_threshold_hours: Type.Number(),
  offline_after_failures: Type.Integer(),
  alerts: Type.Record(Type.String(), Type.Union([Type.Number(), Type.Boolean(), Type.Record(Type.String(), Type.Union([Type.Number(), Type.Boolean()]))])),
  ssh: Type.Object({ user: Type.String(), timeout: Type.Number(), port: Type.Integer(), host_key_policy: Type.String() }),
  server: Type.Object({ public_read: Type.Boolean(), history_retention_days: Type.Number(), auth_required_for_changes: Type.Boolean() }),
  hosts: Type.Array(Type.Object({ name: Type.String(), address: Type.String(), has_gpu: Type.Union([Type.Boolean(), Type.Null()]), pinned: Type.Boolean(), gate: Type.Boolean(), transport: Type.String() })),
  notifications: Type.Object({
    channels: Type.Array(Type.Object({ name: Type.String(), type: Type.String(), min_severity: Type.String(), reminders: Type.Boolean(), quiet_hours: Type.Boolean() })),
  }),
});

/** The configuration as the dashboard shows it. No secrets: no token, no key paths, no known_hosts contents, no channel URLs. */
export function publicConfig(config: FleetConfig, publicRead: boolean): Static<typeof ConfigReply> {
  return {
    polling_interval_seconds: config.polling_interval_seconds,
    legacy_threshold_hours: config.legacy_threshold_hours,
    offline_after_failures: config.offline_after_failures,
    alerts: { ...config.alerts },
    ssh: {
      user: config.ssh.user,
      timeout: config.ssh.timeout,
      port: config.ssh.port,
      host_key_policy: config.ssh.accept_unknown_host_keys ? 'accept-any (insecure)' : config.ssh.known_hosts ? 'known_hosts' : 'pinned or trust-on-first-use',
    },
    server: { public_read: publicRead, history_retention_days: config.server.history_retention_days, auth_required_for_changes: true },
    hosts: config.hosts.map((h) => ({ name: h.name, address: h.address, has_gpu: h.has_gpu, pinned: Boolean(h.host_key), gate: h.gate === true, transport: h.transport ?? 'ssh' })),
    // Channels by name and kind only: URLs, addresses and secret paths stay on the server.
    notifications: {
      channels: config.notifications.channels.map((c) => ({ name: c.name, type: c.type, min_severity: c.min_severity, reminders: c.repeat_every !== null, quiet_hours: c.quiet_hours !== undefined })),
    },
  };
}

/** The server's configuration, and the fleet's public key. */
export const configRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { config } = app.deps;

  // The fleet's public key, for `fleetmon keys deploy --from-server URL`. Only the .pub is ever read.
  app.get('/api/public-key', { schema: { response: { 200: Type.String(), 404: ErrorBody } } }, async (_req, reply) => {
    const path = config.ssh.key_path ? `${config.ssh.key_path}.pub` : null;
    const line = path ? readPublicKey(path) : null;
    if (!line) return reply.code(404).send({ error: `no public key: set ssh.key_path (the server reads only ${path ?? 'KEY_PATH.pub'})` });
    return reply.type('text/plain; charset=utf-8').send(`${line}\n`);
  });

  app.get('/api/config', { schema: { response: { 200: ConfigReply } } }, async () => publicConfig(config, app.deps.publicRead));
};

export const readRoutes: FastifyPluginAsyncTypebox = async (app) => {
  await app.register(healthRoutes);
  await app.register(async (scope) => {
    const api = scope.withTypeProvider<TypeBoxTypeProvider>();
    api.addHook('onRequest', requireRead);
    await api.register(hostRoutes);
    await api.register(sessionRoutes);
    await api.register(alertAuditRoutes);
    await api.register(configRoutes);
  });
};
