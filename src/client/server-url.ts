/**
 * The `--server` value a person types, read into the server's root URL. `host:port`, `host`, `[::1]:8080` and
 * `http(s)://host[:port][/]` are accepted; anything else (another scheme, a path such as `/api`, a query, user
 * info, an empty host) is refused in one line that says what to write instead, before any request is made.
 */
import { FleetmonError } from '../core/errors.js';

export const DEFAULT_SERVER_PORT = 8080;

const refuse = (given: string, why: string) =>
  new FleetmonError('BAD_SERVER_URL', `--server ${JSON.stringify(given)}: ${why}`, {
    kind: 'usage',
    suggestions: ['write it as http://HOST:PORT, https://HOST:PORT or HOST:PORT (e.g. --server 127.0.0.1:8080)'],
  });

export function parseServerUrl(given: string): string {
  const text = given.trim();
  if (text === '') throw refuse(given, 'is empty');
  const hasScheme = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(text);
  let url: URL;
  try {
    url = new URL(hasScheme ? text : `http://${text}`);
  } catch {
    throw refuse(given, 'is not a URL or HOST:PORT');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw refuse(given, `${url.protocol.slice(0, -1)} is not a scheme fleetmon speaks (http or https)`);
  if (!url.hostname) throw refuse(given, 'has no host');
  if (url.username || url.password) throw refuse(given, 'must not carry a user or password (use --token)');
  if (url.pathname !== '/' && url.pathname !== '') throw refuse(given, `names the path ${url.pathname}: give the server's root, without /api or any other path`);
  if (url.search || url.hash) throw refuse(given, 'must not have a query or a fragment');
  // A bare word without a dot, colon or scheme ("notaurl") is far more often a typo than a host name on the LAN.
  if (!hasScheme && !/[.:[]/.test(text) && text !== 'localhost') throw refuse(given, 'is not a URL or HOST:PORT');
  if (!hasScheme && !url.port) url.port = String(DEFAULT_SERVER_PORT);
  return url.origin;
}
