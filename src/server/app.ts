/**
 * The Fastify application as a plugin-composed instance: tests build it and `inject`; start.ts listens.
 * Order: third-party plugins, our decorators (auth), then the encapsulated routes.
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import fastifyStatic from '@fastify/static';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import fastifyWebsocket from '@fastify/websocket';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { isLoopback, type FleetConfig } from '../core/config.js';
import type { Host } from '../core/model.js';
import { publicDir } from '../paths.js';
import { tokensEqual } from '../core/api-token.js';
import { BodyCache } from './http/body-cache.js';
import { COOKIE_NAME, LoginLimiter, SessionStore, parseCookies } from './http/browser-sessions.js';
import { loopbackHostAllowed, ownNames, publicHostAllowed } from './http/origin.js';
import { trustedPeerMatcher } from './http/proxies.js';
import { KillConfirmations } from './kill.js';
import type { Monitor } from './monitor.js';
import { readRoutes } from './routes/read.js';
import { actionRoutes } from './routes/actions.js';
import { signInRoutes } from './routes/sign-in.js';
import { wsRoutes } from './routes/ws.js';
import { metricsRoutes } from './routes/metrics.js';
import { notificationRoutes } from './routes/notifications.js';
import { API_REFERENCE_PREFIX, OPENAPI_BASE, openApiRoutes } from './routes/openapi.js';
import { AuditRepository } from './store/audit-repository.js';
import type { Db } from './store/db.js';

export interface AppDeps {
  config: FleetConfig;
  monitor: Monitor;
  db: Db;
  token: string;
  now?: () => number;
  logger?: FastifyBaseLogger;
  version?: string;
  /** Set when this start moved a damaged database aside (/health says so; the alert has the paths). */
  databaseMovedAside?: { at: string; alertId: string } | null;
  /** PEM certificate and key: the app then speaks HTTPS (and wss). */
  https?: { cert: string; key: string };
}

export interface Caller {
  kind: 'token' | 'browser' | 'anonymous' | 'bad-token';
  actor: string;
  sessionId?: string;
}

declare module 'fastify' {
  interface FastifyInstance {
    deps: AppDeps & {
      sessions: SessionStore;
      limiter: LoginLimiter;
      confirmations: KillConfirmations;
      audit: AuditRepository;
      bodies: BodyCache;
      publicRead: boolean;
    };
  }
  interface FastifyRequest {
    caller: Caller;
  }
}

export type App = FastifyInstance & { withTypeProvider: () => unknown };

export function publicReadEnabled(config: FleetConfig): boolean {
  return config.server.public_read ?? isLoopback(config.server.host);
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const proxies = deps.config.server.trusted_proxies;
  const app = Fastify({
    // Only a listed peer's X-Forwarded-For/-Proto is believed: req.ip (the sign-in and token limiter's key) and
    // req.protocol (the Secure cookie) then come from it. Anyone else's header is ignored, not merely distrusted.
    trustProxy: proxies.length > 0 ? proxies : false,
    ...(deps.https ? { https: { cert: deps.https.cert, key: deps.https.key } } : {}),
    // Request lines would drown the poll log; the API logs what matters itself. (The top-level
    // disableRequestLogging option is deprecated and printed a warning at every start.)
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 64 * 1024,
    // Session ids are `host:user:name`, and tmux allows long names (300 characters are tested): Fastify's default
    // of 100 characters per path parameter answered 414 for them.
    routerOptions: { maxParamLength: 2048 },
    ...(deps.logger ? { loggerInstance: deps.logger } : { logger: false }),
  }).withTypeProvider<TypeBoxTypeProvider>();

  const now = deps.now ?? Date.now;
  app.decorate('deps', {
    ...deps,
    sessions: new SessionStore(12 * 3600_000, now),
    limiter: new LoginLimiter(5, 15 * 60_000, 15 * 60_000, now),
    confirmations: new KillConfirmations(now),
    audit: new AuditRepository(deps.db),
    bodies: new BodyCache(),
    publicRead: publicReadEnabled(deps.config),
  });
  // Bodies serialized for one cycle go stale when the monitor publishes the next.
  const invalidateBodies = () => app.deps.bodies.invalidate();
  deps.monitor.on('cycle', invalidateBodies);
  // Each host (and its sessions) is serialized as its poll lands, so publishing a cycle only joins bytes.
  const warmBodies = (h: Host) => {
    app.deps.bodies.warm(h);
    for (const s of h.sessions) app.deps.bodies.warm(s);
  };
  deps.monitor.poller.on('host', warmBodies);
  app.addHook('onClose', async () => {
    deps.monitor.off('cycle', invalidateBodies);
    deps.monitor.poller.off('host', warmBodies);
  });
  app.decorateRequest('caller', null as unknown as Caller);

  // Before our onRequest hook: the plugin's own hook marks upgrade requests, and only a marked upgrade has its socket
  // closed after an answer. Refused by our hook first (421, a wrong token), the socket stayed open, half-closed,
  // and held the server's shutdown forever.
  await app.register(fastifyWebsocket, { options: { maxPayload: 64 * 1024 } });

  // DNS rebinding: only names this server is known by are answered (src/server/http/origin.ts). A trusted proxy
  // steps aside: it forwards the public name the browser used, and which names it answers to is then its to decide.
  const loopbackOnly = isLoopback(deps.config.server.host);
  const publicNames = new Set(deps.config.server.public_names.map((n) => n.toLowerCase().replace(/\.$/, '')));
  const own = ownNames();
  const fromTrustedProxy = trustedPeerMatcher(proxies);
  app.addHook('onRequest', async (req, reply) => {
    // (req.socket is absent on @fastify/websocket's injected upgrades, despite its type.)
    const peer = (req.socket as typeof req.socket | undefined)?.remoteAddress;
    if (!fromTrustedProxy(peer)) {
      if (loopbackOnly && !loopbackHostAllowed(req.headers.host)) {
        return reply.code(421).send({ error: 'misdirected request: this server listens on loopback and only answers to localhost names' });
      }
      if (!loopbackOnly && !publicHostAllowed(req.headers.host, publicNames, own)) {
        const name = String(req.headers.host ?? '').slice(0, 100);
        return reply.code(421).send({
          error: `misdirected request: ${JSON.stringify(name)} is not a name of this server; if clients reach it by that name, add it to server.public_names in hosts.yml`,
        });
      }
    }
    req.caller = identify(req, deps.token, app.deps.sessions);
    if (req.caller.kind === 'bad-token') return refuseBadToken(req, reply, app.deps.limiter);
  });
  app.addHook('onSend', async (req, reply, payload) => {
    reply.header('x-content-type-options', 'nosniff');
    reply.header('content-security-policy', CONTENT_SECURITY_POLICY);
    reply.header('referrer-policy', 'no-referrer');
    if (req.url.startsWith('/api/')) reply.header('cache-control', 'no-store');
    return payload;
  });

  // Before the routes: the swagger plugin collects each route's schema as it is registered.
  await app.register(fastifySwagger, { openapi: OPENAPI_BASE });
  await app.register(fastifySwaggerUi, { routePrefix: API_REFERENCE_PREFIX, staticCSP: false, uiConfig: { deepLinking: true } });
  await app.register(fastifyStatic, { root: publicDir, prefix: '/', index: ['index.html'], wildcard: false });
  await app.register(readRoutes);
  await app.register(actionRoutes);
  await app.register(signInRoutes);
  await app.register(wsRoutes);
  await app.register(metricsRoutes);
  await app.register(notificationRoutes);
  await app.register(openApiRoutes);
  return app;
}

/**
 * The dashboard loads only its own modules, styles and WebSocket, and may not be framed (clickjacking on the
 * Kill button). Inline style attributes stay allowed: the charts and bars set widths through them. The API
 * reference page (Swagger UI under /docs, its scripts and styles served from its package) needs nothing more, so
 * it runs under the same policy (test/server/public/api-reference.e2e.test.ts watches for violations).
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "connect-src 'self' ws: wss:",
  "img-src 'self' data:",
  "style-src 'self' 'unsafe-inline'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');


/**
 * A wrong bearer token is refused on every route, reads included (a user whose token is wrong must hear it, not
 * be served as anonymous), and counted per address with the sign-in form's failures: enough of either locks the
 * address out for a while, and every failure is logged.
 */
async function refuseBadToken(req: FastifyRequest, reply: FastifyReply, limiter: LoginLimiter): Promise<FastifyReply> {
  const wait = limiter.retryAfter(req.ip);
  if (wait > 0) {
    req.log.warn({ ip: req.ip, url: req.url }, 'wrong API token from a locked-out address');
    return reply
      .code(429)
      .header('retry-after', String(Math.ceil(wait / 1000)))
      .send({ error: `too many wrong tokens from this address; try again in ${Math.ceil(wait / 60000)} min` });
  }
  limiter.fail(req.ip);
  req.log.warn({ ip: req.ip, url: req.url }, 'wrong API token');
  return reply.code(401).header('www-authenticate', 'Bearer error="invalid_token"').send({ error: 'wrong API token: check --token / FLEETMON_TOKEN' });
}

function identify(req: FastifyRequest, token: string, sessions: SessionStore): Caller {
  const auth = req.headers.authorization;
  if (auth?.startsWith('Bearer ')) {
    if (tokensEqual(auth.slice(7).trim(), token)) return { kind: 'token', actor: 'api-token' };
    return { kind: 'bad-token', actor: `bad-token@${req.ip}` };
  }
  const sid = parseCookies(req.headers.cookie).get(COOKIE_NAME);
  const s = sessions.get(sid);
  if (s) return { kind: 'browser', actor: `browser@${req.ip}`, sessionId: s.id };
  return { kind: 'anonymous', actor: `anonymous@${req.ip}` };
}
