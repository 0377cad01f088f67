/**
 * Looking a host's key up in OpenSSH known_hosts text (sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT"): comma-separated
 * host patterns with `*`, `?` and `!` negation, `[host]:port` for a port other than 22, hashed names
 * (`|1|salt|HMAC-SHA1(salt, name)`, HashKnownHosts), `@revoked` keys. `@cert-authority` lines are skipped: fleetmon
 * does not accept host certificates.
 */
import { createHmac } from 'node:crypto';
import { fingerprintOf } from './fingerprint.js';

export type KnownHostsVerdict =
  | { verdict: 'known' }
  /** The host is listed, with other keys (their fingerprints). */
  | { verdict: 'changed'; expected: string[] }
  | { verdict: 'revoked' }
  | { verdict: 'unknown' };

/** The name known_hosts lists a host under: `host`, or `[host]:port` for another port than 22. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

function globMatch(pattern: string, name: string): boolean {
  const re = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${re}$`, 'i').test(name);
}

function hashedMatch(entry: string, name: string): boolean {
  const [, magic, salt, hash] = entry.split('|');
  if (magic !== '1' || !salt || !hash) return false;
  return createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64') === hash;
}

function hostMatches(patterns: string, name: string): boolean {
  let matched = false;
  for (const p of patterns.split(',')) {
    if (p.startsWith('|')) {
      if (hashedMatch(p, name)) matched = true;
    } else if (p.startsWith('!')) {
      if (globMatch(p.slice(1), name)) return false;
    } else if (globMatch(p, name)) matched = true;
  }
  return matched;
}

/** What known_hosts says about the key blob a host presented. */
export function lookupKnownHost(text: string, host: string, port: number, blob: Buffer): KnownHostsVerdict {
  const name = knownHostsName(host, port);
  const listed: Buffer[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const fields = line.split(/\s+/);
    const marker = fields[0]!.startsWith('@') ? fields.shift() : undefined;
    const [patterns, , data] = fields;
    if (!patterns || !data || marker === '@cert-authority' || !hostMatches(patterns, name)) continue;
    const key = Buffer.from(data, 'base64');
    if (marker === '@revoked') {
      if (key.equals(blob)) return { verdict: 'revoked' };
      continue;
    }
    if (marker === undefined) listed.push(key);
  }
  if (listed.some((k) => k.equals(blob))) return { verdict: 'known' };
  if (listed.length > 0) return { verdict: 'changed', expected: listed.map(fingerprintOf) };
  return { verdict: 'unknown' };
}
