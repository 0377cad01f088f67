/**
 * Host and Origin checks. Host: bound to loopback, only loopback names may be used to reach us (DNS rebinding).
 * Origin: cookie-authenticated changes, sign-ins and WebSockets must come from the exact origin we serve.
 */
import type { FastifyRequest } from 'fastify';
import { isLoopback } from '../../core/config.js';

/** Whether a Host header names this machine's loopback (or is absent: HTTP/1.0 clients send none). */
export function loopbackHostAllowed(hostHeader: string | undefined): boolean {
  const header = hostHeader ?? '';
  if (!header) return true;
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(header);
  if (bracketed) return isLoopback(bracketed[1]!);
  const name = header.replace(/:\d+$/, '');
  return !name.includes(':') && isLoopback(name);
}

/**
 * The exact origin the browser must send with cookie-authenticated changes, http or https. req.host is the Host
 * header, or a trusted proxy's X-Forwarded-Host (the name the browser used).
 */
export function originAllowed(req: FastifyRequest): boolean {
  const origin = req.headers.origin;
  const host = req.host;
  if (!origin || !host) return false;
  return origin === `http://${host}` || origin === `https://${host}`;
}
