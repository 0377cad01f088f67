/** Routes that change things: acknowledging alerts, killing sessions; and the audit trail they leave. */
import type { FastifyPluginAsyncTypebox, TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { Alert, Session } from '../../core/model.js';
import { ErrorBody, requireRead, requireWrite } from '../http/guards.js';

export const actionRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { monitor } = app.deps;
  const now = app.deps.now ?? Date.now;

  app.register(async (scope) => {
    const api = scope.withTypeProvider<TypeBoxTypeProvider>();
    api.addHook('onRequest', requireRead);

    api.get(
      '/api/alerts',
      {
        schema: {
          querystring: Type.Object({
            state: Type.Union([Type.Literal('open'), Type.Literal('resolved'), Type.Literal('all')], { default: 'open' }),
            acknowledged: Type.Optional(Type.Boolean()),
            limit: Type.Integer({ minimum: 1, maximum: 10000, default: 500 }),
          }),
          response: { 200: Type.Array(Alert) },
        },
      },
      async (req) => monitor.alerts.list(req.query),
    );

    api.get(
      '/api/audit',
      {
        schema: {
          querystring: Type.Object({ limit: Type.Integer({ minimum: 1, maximum: 10000, default: 200 }) }),
          response: {
            200: Type.Array(
              Type.Object({
                id: Type.Integer(),
                ts: Type.String(),
                actor: Type.String(),
                action: Type.String(),
                target: Type.String(),
                result: Type.String(),
                detail: Type.Union([Type.String(), Type.Null()]),
              }),
            ),
          },
        },
      },
      async (req) => app.deps.audit.list(req.query.limit),
    );
  });

  app.register(async (scope) => {
    const api = scope.withTypeProvider<TypeBoxTypeProvider>();
    api.addHook('preHandler', requireWrite);

    api.post(
      '/api/alerts/:id/ack',
      {
        schema: {
          params: Type.Object({ id: Type.String({ maxLength: 100 }) }),
          body: Type.Optional(Type.Union([Type.Object({ note: Type.Optional(Type.String({ maxLength: 1000 })) }, { additionalProperties: false }), Type.Null()])),
          response: { 200: Alert, 404: ErrorBody },
        },
      },
      async (req, reply) => {
        const alert = monitor.acknowledgeAlert(req.params.id, req.caller.actor, req.body?.note ?? null);
        return alert ?? reply.code(404).send({ error: `no alert '${req.params.id}'` });
      },
    );

    api.post(
      '/api/sessions/:id/kill',
      {
        schema: {
          params: Type.Object({ id: Type.String({ maxLength: 2000 }) }),
          body: Type.Optional(Type.Union([Type.Object({ confirm_token: Type.Optional(Type.String({ maxLength: 200 })) }, { additionalProperties: false }), Type.Null()])),
          response: {
            200: Type.Object({ result: Type.Literal('killed'), detail: Type.String(), session: Session }),
            428: Type.Object({ error: Type.String(), confirm_token: Type.String(), expires_at: Type.String(), session: Session }),
            403: ErrorBody,
            404: ErrorBody,
            409: ErrorBody,
            502: ErrorBody,
          },
        },
      },
      async (req, reply) => {
        const session = monitor.session(req.params.id);
        const { audit } = app.deps;
        if (!session) {
          audit.record(now(), req.caller.actor, 'kill', req.params.id, 'not_found', null);
          return reply.code(404).send({ error: `no session '${req.params.id}'` });
        }
        const target = `${session.id}@${session.created_epoch}`;
        const token = req.body?.confirm_token;
        if (!token) {
          const issued = app.deps.confirmations.issue(session);
          audit.record(now(), req.caller.actor, 'kill-request', target, 'confirmation_issued', null);
          return reply.code(428).send({
            error: 'confirmation required: repeat the request with this confirm_token within 60 s',
            confirm_token: issued.token,
            expires_at: new Date(issued.expiresAt).toISOString(),
            session,
          });
        }
        const check = app.deps.confirmations.redeem(token, session);
        if (!check.ok) {
          audit.record(now(), req.caller.actor, 'kill', target, 'refused', check.reason);
          return reply.code(check.status).send({ error: check.reason });
        }
        const outcome = await monitor.killSession(session);
        if (!outcome) return reply.code(404).send({ error: `no host named '${session.host}'` });
        audit.record(now(), req.caller.actor, 'kill', target, outcome.result, outcome.detail);
        req.log.info({ session: session.id, result: outcome.result }, 'session kill');
        if (outcome.result === 'killed') return { result: 'killed' as const, detail: outcome.detail, session };
        if (outcome.result === 'gone') return reply.code(409).send({ error: `not killed: ${outcome.detail}` });
        return reply.code(502).send({ error: `kill failed on ${session.host}: ${outcome.detail}` });
      },
    );
  });
};
