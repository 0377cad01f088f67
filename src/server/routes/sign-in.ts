/** Dashboard sign-in: the API token is exchanged for a server-side session cookie. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { tokensEqual } from '../../core/api-token.js';
import { COOKIE_NAME } from '../http/browser-sessions.js';
import { originAllowed } from '../http/origin.js';
import { ErrorBody } from '../http/guards.js';

export const signInRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { sessions, limiter, token } = app.deps;

  app.post(
    '/api/login',
    {
      schema: {
        body: Type.Object({ token: Type.String({ minLength: 1, maxLength: 500 }) }, { additionalProperties: false }),
        response: { 200: Type.Object({ ok: Type.Literal(true) }), 401: ErrorBody, 403: ErrorBody, 429: ErrorBody },
      },
    },
    async (req, reply) => {
      if (req.headers.origin && !originAllowed(req)) return reply.code(403).send({ error: 'cross-origin sign-in refused' });
      const wait = limiter.retryAfter(req.ip);
      if (wait > 0) {
        return reply
          .code(429)
          .header('retry-after', String(Math.ceil(wait / 1000)))
          .send({ error: `too many failed sign-ins from this address; try again in ${Math.ceil(wait / 60000)} min` });
      }
      if (!tokensEqual(req.body.token, token)) {
        limiter.fail(req.ip);
        req.log.warn({ ip: req.ip }, 'failed sign-in');
        return reply.code(401).send({ error: 'wrong token' });
      }
      limiter.succeed(req.ip);
      const s = sessions.create(req.ip);
      const secure = req.protocol === 'https' ? '; Secure' : '';
      reply.header('set-cookie', `${COOKIE_NAME}=${s.id}; Path=/; HttpOnly; SameSite=Strict; Max-Age=43200${secure}`);
      return { ok: true as const };
    },
  );

  app.post('/api/logout', { schema: { response: { 200: Type.Object({ ok: Type.Literal(true) }), 403: ErrorBody } } }, async (req, reply) => {
    // Like every other cookie-authenticated change: another site must not be able to sign a user out.
    if (req.headers.origin && !originAllowed(req)) return reply.code(403).send({ error: 'cross-origin sign-out refused' });
    if (req.caller.sessionId) sessions.destroy(req.caller.sessionId);
    reply.header('set-cookie', `${COOKIE_NAME}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0${req.protocol === 'https' ? '; Secure' : ''}`);
    return { ok: true as const };
  });

  app.get(
    '/api/me',
    { schema: { response: { 200: Type.Object({ signed_in: Type.Boolean(), kind: Type.String(), public_read: Type.Boolean() }) } } },
    async (req) => ({ signed_in: req.caller.kind !== 'anonymous', kind: req.caller.kind, public_read: app.deps.publicRead }),
  );
};
