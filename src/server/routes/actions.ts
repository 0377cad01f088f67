/**
 * Routes that change things: acknowledging alerts, killing sessions. Each needs write access; what they did is
 * in the audit trail (read at /api/audit, routes/read.ts).
 */
import type { FastifyPluginAsyncTypebox, TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import { Alert, Session } from '../../core/model.js';
import { ErrorBody, requireWrite } from '../http/guards.js';
import { AmbiguousBody, lookupSession, sendLookupFailure } from './session-lookup.js';

const AckBody = Type.Optional(Type.Union([Type.Object({ note: Type.Optional(Type.String({ maxLength: 1000 })) }, { additionalProperties: false }), Type.Null()]));

export const ackRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { monitor } = app.deps;
  app.post(
    '/api/alerts/:id/ack',
    { schema: { params: Type.Object({ id: Type.String({ maxLength: 100 }) }), body: AckBody, response: { 200: Alert, 404: ErrorBody } } },
    async (req, reply) => {
      const alert = monitor.acknowledgeAlert(req.params.id, req.caller.actor, req.body?.note ?? null);
      return alert ?? reply.code(404).send({ error: `no alert '${req.params.id}'` });
    },
  );
};

const KillBody = Type.Optional(
  Type.Union([
    Type.Object(
      {
        confirm_token: Type.Optional(Type.String({ maxLength: 200 })),
        // The creation time of the session the caller saw: the id alone also names a session re-created under the
        // same name since, which the caller never saw and must not kill.
        created_epoch: Type.Optional(Type.Integer({ minimum: 0 })),
      },
      { additionalProperties: false },
    ),
    Type.Null(),
  ]),
);
const KillSchema = {
  params: Type.Object({ id: Type.String({ maxLength: 2000 }) }),
  body: KillBody,
  response: {
    200: Type.Object({ result: Type.Literal('killed'), detail: Type.String(), session: Session }),
    428: Type.Object({ error: Type.String(), confirm_token: Type.String(), expires_at: Type.String(), session: Session }),
    403: ErrorBody,
    404: ErrorBody,
    // Also a plain ErrorBody (a used or expired token, a replaced session); AmbiguousBody adds code and matches.
    409: Type.Union([AmbiguousBody, ErrorBody]),
    502: ErrorBody,
  },
};

/**
 * Two steps: without a confirm_token the answer is 428 with a single-use token bound to that session; with it,
 * the session is killed on its host (kill.ts). Every step is audited.
 */
export const killRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { monitor, audit, confirmations } = app.deps;
  const now = app.deps.now ?? Date.now;
  const record = (req: FastifyRequest, action: string, target: string, result: string, detail: string | null) =>
    audit.record(now(), req.caller.actor, action, target, result, detail);

  /** The first step: a confirmation token for this session. */
  const askConfirmation = (req: FastifyRequest, reply: FastifyReply, session: Session, target: string) => {
    const issued = confirmations.issue(session);
    record(req, 'kill-request', target, 'confirmation_issued', null);
    return reply.code(428).send({
      error: 'confirmation required: repeat the request with this confirm_token within 60 s',
      confirm_token: issued.token,
      expires_at: new Date(issued.expiresAt).toISOString(),
      session,
    });
  };

  /** The second step, once the token was redeemed: kill it on the host and answer with what happened. */
  const kill = async (req: FastifyRequest, reply: FastifyReply, session: Session, target: string) => {
    const outcome = await monitor.killSession(session);
    if (!outcome) return reply.code(404).send({ error: `no host named '${session.host}'` });
    // The id names the owner already; an all-users session's audit line also says whose server it was (uid).
    const owner = session.owner_uid !== undefined ? `owner ${session.user} (uid ${session.owner_uid})` : null;
    record(req, 'kill', target, outcome.result, [owner, outcome.detail].filter((x) => x).join(': ') || null);
    req.log.info({ session: session.id, owner: session.user, result: outcome.result }, 'session kill');
    if (outcome.result === 'killed') return { result: 'killed' as const, detail: outcome.detail, session };
    if (outcome.result === 'gone') return reply.code(409).send({ error: `not killed: ${outcome.detail}` });
    return reply.code(502).send({ error: `kill failed on ${session.host}: ${outcome.detail}` });
  };

  app.post('/api/sessions/:id/kill', { schema: KillSchema }, async (req, reply) => {
    const found = lookupSession(monitor, req.params.id);
    if (!('session' in found)) {
      record(req, 'kill', req.params.id, found.status === 404 ? 'not_found' : 'ambiguous', found.status === 409 ? found.body.error : null);
      return sendLookupFailure(reply, found);
    }
    const { session } = found;
    const target = `${session.fleetmon_id}@${session.created_epoch}`;
    const seen = req.body?.created_epoch;
    if (seen !== undefined && seen !== session.created_epoch) {
      const reason = `the session was re-created since it was listed (created ${session.created}, not at ${new Date(seen * 1000).toISOString()}); list the sessions again`;
      record(req, 'kill', target, 'refused', reason);
      return reply.code(409).send({ error: reason });
    }
    const token = req.body?.confirm_token;
    if (!token) return askConfirmation(req, reply, session, target);
    const check = confirmations.redeem(token, session);
    if (!check.ok) {
      record(req, 'kill', target, 'refused', check.reason);
      return reply.code(check.status).send({ error: check.reason });
    }
    return kill(req, reply, session, target);
  });
};

export const actionRoutes: FastifyPluginAsyncTypebox = async (app) => {
  await app.register(async (scope) => {
    const api = scope.withTypeProvider<TypeBoxTypeProvider>();
    api.addHook('preHandler', requireWrite);
    await api.register(ackRoutes);
    await api.register(killRoutes);
  });
};
