/**
 * Host and Origin checks against DNS rebinding: a page on an attacker's name that resolves to this server sends
 * that name as Host, so only names this server is known by are answered. Bound to loopback, those are the loopback
 * names; bound beyond it, also this machine's own addresses and name and the configured `server.public_names`.
 * Origin: cookie-authenticated changes, sign-ins and WebSockets must come from the exact origin we serve.
 */
import { hostname, networkInterfaces } from 'node:os';
import type { FastifyRequest } from 'fastify';
import { isLoopback } from '../../core/config.js';

/**
 * The name in a Host header, without port or brackets, lowercased and without a trailing dot; '' for an absent
 * header (HTTP/1.0 clients send none); null for one that is not `name[:port]` or `[v6][:port]`.
 */
export function hostHeaderName(hostHeader: string | undefined): string | null {
  const header = (hostHeader ?? '').toLowerCase();
  if (!header) return '';
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(header);
  if (bracketed) return bracketed[1]!;
  const name = header.replace(/:\d+$/, '').replace(/\.$/, '');
  return name.includes(':') || name.includes('[') ? null : name;
}

/** Whether a Host header names this machine's loopback (or is absent: HTTP/1.0 clients send none). */
export function loopbackHostAllowed(hostHeader: string | undefined): boolean {
  const name = hostHeaderName(hostHeader);
  return name !== null && (name === '' || isLoopback(name));
}

/** This machine's interface addresses (IPv6 without zone) and its name, read afresh at most every few seconds. */
export function ownNames(ttlMs = 5000, now: () => number = Date.now): () => ReadonlySet<string> {
  let cached: { at: number; names: Set<string> } | null = null;
  return () => {
    if (cached && now() - cached.at < ttlMs) return cached.names;
    const names = new Set<string>([hostname().toLowerCase()]);
    for (const list of Object.values(networkInterfaces())) {
      for (const a of list ?? []) names.add(a.address.toLowerCase().replace(/%.*$/, ''));
    }
    cached = { at: now(), names };
    return names;
  };
}

/**
 * The Host check of a server listening beyond loopback: loopback names, this machine's own addresses and name, or
 * one of `server.public_names` (each with any port). Reaching the server by IP therefore works with nothing set.
 */
export function publicHostAllowed(hostHeader: string | undefined, publicNames: ReadonlySet<string>, own: () => ReadonlySet<string>): boolean {
  const name = hostHeaderName(hostHeader);
  if (name === null) return false;
  return name === '' || isLoopback(name) || publicNames.has(name) || own().has(name);
}

/**
 * The exact origin the browser must send with cookie-authenticated changes, http or https. req.host is the Host
 * header (which the onRequest hook has already held to this server's names), or a trusted proxy's
 * X-Forwarded-Host (the name the browser used), so an accepted Origin names the server the same way.
 */
export function originAllowed(req: FastifyRequest): boolean {
  const origin = req.headers.origin;
  const host = req.host;
  if (!origin || !host) return false;
  return origin.toLowerCase() === `http://${host.toLowerCase()}` || origin.toLowerCase() === `https://${host.toLowerCase()}`;
}
