/** Route guards: who may read, who may change. */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import { originAllowed } from './origin.js';

export const ErrorBody = Type.Object({ error: Type.String() }, { additionalProperties: true });

export async function requireRead(req: FastifyRequest, reply: FastifyReply): Promise<void> {
  if (req.caller.kind !== 'anonymous' || req.server.deps.publicRead) return;
  return reply.code(401).header('www-authenticate', 'Bearer').send({ error: 'authentication required: send Authorization: Bearer <token> or sign in' });
}

export async function requireWrite(req: FastifyRequest, reply: FastifyReply): Promise<void> {
  if (req.caller.kind === 'token') return;
  if (req.caller.kind === 'browser') {
    if (!originAllowed(req)) return reply.code(403).send({ error: 'cross-origin request refused' });
    if (!(req.headers['content-type'] ?? '').startsWith('application/json')) {
      return reply.code(415).send({ error: 'send a JSON body (content-type: application/json)' });
    }
    return;
  }
  return reply.code(401).header('www-authenticate', 'Bearer').send({ error: 'authentication required: send Authorization: Bearer <token>' });
}
