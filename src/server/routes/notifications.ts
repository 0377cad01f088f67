/**
 * The notification channels and their delivery log (read access), and a test message to one channel (write
 * access, audited). Nothing here shows a URL or a secret: channels are named, errors are already redacted.
 */
import type { FastifyPluginAsyncTypebox, TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type, type Static } from '@sinclair/typebox';
import { iso } from '../../core/model.js';
import { ErrorBody, requireRead, requireWrite } from '../http/guards.js';
import type { ChannelHealthRow, OutboxRow } from '../store/outbox-repository.js';

const Time = () => Type.Union([Type.String({ format: 'date-time' }), Type.Null()]);

export const NotificationChannel = Type.Object({
  name: Type.String(),
  type: Type.String(),
  min_severity: Type.String(),
  health: Type.Union([Type.Literal('ok'), Type.Literal('failing'), Type.Literal('unused')], {
    description: 'failing: the last attempt failed after the last delivery; unused: nothing sent yet',
  }),
  pending: Type.Integer(),
  failed: Type.Integer(),
  last_delivered_at: Time(),
  last_error_at: Time(),
  last_error: Type.Union([Type.String(), Type.Null()]),
});

export const NotificationEntry = Type.Object({
  id: Type.Integer(),
  channel: Type.String(),
  alert_id: Type.String(),
  event: Type.String({ description: 'new, updated, reminder, resolved, acknowledged or test' }),
  state: Type.Union([Type.Literal('pending'), Type.Literal('delivered'), Type.Literal('failed'), Type.Literal('dropped')]),
  attempts: Type.Integer(),
  created_at: Type.String({ format: 'date-time' }),
  next_attempt_at: Time(),
  last_attempt_at: Time(),
  delivered_at: Time(),
  last_error: Type.Union([Type.String(), Type.Null()]),
  detail: Type.Union([Type.String(), Type.Null()], { description: 'why it was dropped, is held or was given up' }),
});

export const NotificationsReply = Type.Object({ channels: Type.Array(NotificationChannel), log: Type.Array(NotificationEntry) });
export type NotificationsReply = Static<typeof NotificationsReply>;

export const NotifyTestReply = Type.Object({ channel: Type.String(), type: Type.String(), ok: Type.Boolean(), detail: Type.String(), ms: Type.Integer() });
export type NotifyTestReply = Static<typeof NotifyTestReply>;

function entry(r: OutboxRow): Static<typeof NotificationEntry> {
  return {
    id: r.id,
    channel: r.channel,
    alert_id: r.alert_id,
    event: r.event,
    state: r.state,
    attempts: r.attempts,
    created_at: iso(r.created_at)!,
    next_attempt_at: r.state === 'pending' ? iso(r.next_attempt_at) : null,
    last_attempt_at: iso(r.last_attempt_at),
    delivered_at: iso(r.delivered_at),
    last_error: r.last_error,
    detail: r.detail,
  };
}

function health(h: ChannelHealthRow | undefined): 'ok' | 'failing' | 'unused' {
  if (!h || (h.last_delivered_at === null && h.last_error_at === null)) return 'unused';
  if (h.last_error_at !== null && (h.last_delivered_at === null || h.last_error_at > h.last_delivered_at)) return 'failing';
  return 'ok';
}

export const notificationRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { monitor, config, audit } = app.deps;
  const now = app.deps.now ?? Date.now;
  const outbox = monitor.notifier.outbox;

  await app.register(async (scope) => {
    const api = scope.withTypeProvider<TypeBoxTypeProvider>();
    api.addHook('onRequest', requireRead);
    api.get(
      '/api/notifications',
      {
        schema: {
          querystring: Type.Object({ limit: Type.Integer({ minimum: 1, maximum: 10000, default: 200 }), channel: Type.Optional(Type.String({ maxLength: 64 })) }),
          response: { 200: NotificationsReply },
        },
      },
      async (req) => {
        const rows = new Map(outbox.health().map((h) => [h.channel, h]));
        return {
          channels: config.notifications.channels.map((c) => {
            const h = rows.get(c.name);
            return {
              name: c.name,
              type: c.type,
              min_severity: c.min_severity,
              health: health(h),
              pending: h?.pending ?? 0,
              failed: h?.failed ?? 0,
              last_delivered_at: iso(h?.last_delivered_at),
              last_error_at: iso(h?.last_error_at),
              last_error: h?.last_error ?? null,
            };
          }),
          log: outbox.log(req.query.limit, req.query.channel).map(entry),
        };
      },
    );
  });

  await app.register(async (scope) => {
    const api = scope.withTypeProvider<TypeBoxTypeProvider>();
    api.addHook('onRequest', requireWrite);
    api.post(
      '/api/notifications/:channel/test',
      { schema: { params: Type.Object({ channel: Type.String({ maxLength: 64 }) }), response: { 200: NotifyTestReply, 404: ErrorBody } } },
      async (req, reply) => {
        const result = await monitor.notifier.test(req.params.channel);
        if (!result) {
          const names = config.notifications.channels.map((c) => c.name);
          return reply.code(404).send({ error: `no notification channel '${req.params.channel}'${names.length ? `; configured: ${names.join(', ')}` : '; none is configured (notifications.channels in hosts.yml)'}` });
        }
        audit.record(now(), req.caller.actor, 'notify-test', req.params.channel, result.ok ? 'delivered' : 'failed', result.detail);
        return result;
      },
    );
  });
};
