/** Resolving a session id in a route: one session, or the answer that says why not (404, or 409 when ambiguous). */
import { Type } from '@sinclair/typebox';
import type { FastifyReply } from 'fastify';
import type { Session, SessionIdKind } from '../../core/model.js';
import type { Monitor } from '../monitor.js';

/** The 409 for an id that names several sessions: which ones, by canonical id and creation time. */
export const AmbiguousBody = Type.Object({
  error: Type.String(),
  code: Type.Literal('AMBIGUOUS_SESSION_ID'),
  matches: Type.Array(Type.Object({ id: Type.String(), fleetmon_id: Type.String(), created: Type.String() })),
});

export type SessionLookup = { session: Session; matched: SessionIdKind } | { status: 404; body: { error: string } } | { status: 409; body: typeof AmbiguousBody.static };

export function lookupSession(monitor: Pick<Monitor, 'sessionsMatching'>, id: string): SessionLookup {
  const found = monitor.sessionsMatching(id);
  if (found.length === 1) return found[0]!;
  if (found.length === 0) return { status: 404, body: { error: `no session '${id}': use an id from GET /api/sessions (host:session_name or host:user:session_name)` } };
  const matches = found.map(({ session: s }) => ({ id: s.id, fleetmon_id: s.fleetmon_id, created: s.created }));
  const which = matches.map((m) => `'${m.fleetmon_id}' created ${m.created}`).join(', ');
  // Distinct full ids can be told apart by the caller; one id for several sessions (a host whose tmux lists two
  // names alike) can only be fixed on the host.
  const fix =
    new Set(matches.map((m) => m.fleetmon_id)).size === matches.length
      ? 'repeat with one of these full ids'
      : 'the host lists them under one name: rename one there (tmux rename-session) and retry';
  return { status: 409, body: { error: `'${id}' matches ${matches.length} sessions (${which}); ${fix}`, code: 'AMBIGUOUS_SESSION_ID', matches } };
}

/** Sends the refusal of a lookup that found no single session. */
export function sendLookupFailure(reply: FastifyReply, lookup: Exclude<SessionLookup, { session: Session }>) {
  return reply.code(lookup.status).send(lookup.body);
}
