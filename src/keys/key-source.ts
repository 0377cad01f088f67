/**
 * Where `keys deploy` gets the monitor's key from: a file (--key: the .pub, or the private key, from which the
 * public half is derived and which then also verifies the login), or the running server (--from-server URL:
 * GET <URL>/api/public-key answers the OpenSSH public key line as text).
 */
import { existsSync, readFileSync } from 'node:fs';
import ssh2 from 'ssh2';
import { FleetmonError, errorMessage } from '../core/errors.js';
import { parsePublicKey, type PublicKey } from './authorized-keys.js';

export interface FleetKey {
  publicKey: PublicKey;
  /** The private key, when it is at hand (verifies the login for real). */
  privateKey?: Buffer;
  source: string;
}

export const SERVER_PUBLIC_KEY_PATH = '/api/public-key';

function fromPrivate(content: Buffer, file: string, passphrase?: string): FleetKey | null {
  const parsed = ssh2.utils.parseKey(content, passphrase);
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!key || key instanceof Error || !key.isPrivateKey()) return null;
  const blob = key.getPublicSSH();
  const line = `${key.type} ${blob.toString('base64')} ${key.comment || 'fleetmon@server'}`;
  return { publicKey: parsePublicKey(line), privateKey: content, source: file };
}

export function loadKeyFile(file: string, passphrase?: string): FleetKey {
  let content: Buffer;
  try {
    content = readFileSync(file);
  } catch (err) {
    throw new FleetmonError('KEY_UNREADABLE', `cannot read ${file}: ${errorMessage(err)}`, { kind: 'usage' });
  }
  const text = content.toString('utf8');
  if (/PRIVATE KEY-----/.test(text)) {
    const k = fromPrivate(content, file, passphrase);
    if (!k) throw new FleetmonError('BAD_PRIVATE_KEY', `${file}: cannot read this private key (encrypted? set FLEETMON_KEY_PASSPHRASE)`, { kind: 'usage' });
    return k;
  }
  const publicKey = parsePublicKey(text);
  // The private half next to a .pub, when readable, verifies the login.
  const sibling = file.endsWith('.pub') ? file.slice(0, -4) : undefined;
  if (sibling && existsSync(sibling)) {
    try {
      const k = fromPrivate(readFileSync(sibling), sibling, passphrase);
      if (k && k.publicKey.data === publicKey.data) return { publicKey, privateKey: k.privateKey!, source: file };
    } catch {
      // not readable: verify without it
    }
  }
  return { publicKey, source: file };
}

export function publicKeyUrl(server: string): string {
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw new FleetmonError('BAD_URL', `not a URL: ${server}`, { kind: 'usage', suggestions: ['e.g. --from-server http://10.0.0.5:8080'] });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new FleetmonError('BAD_URL', `not an http(s) URL: ${server}`);
  if (url.pathname === '/' || url.pathname === '') url.pathname = SERVER_PUBLIC_KEY_PATH;
  return url.toString();
}

export async function fetchServerKey(server: string, opts: { token?: string; fetchImpl?: typeof fetch; timeoutMs?: number } = {}): Promise<FleetKey> {
  const url = publicKeyUrl(server);
  const doFetch = opts.fetchImpl ?? fetch;
  let res: Response;
  try {
    res = await doFetch(url, {
      headers: { accept: 'text/plain', ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}) },
      signal: AbortSignal.timeout(opts.timeoutMs ?? 10_000),
      redirect: 'error',
    });
  } catch (err) {
    throw new FleetmonError('SERVER_UNREACHABLE', `cannot reach ${url}: ${errorMessage(err)}`, { kind: 'server' });
  }
  if (!res.ok) {
    throw new FleetmonError('SERVER_KEY_FAILED', `${url} answered ${res.status}`, {
      kind: res.status === 401 || res.status === 403 ? 'auth' : 'server',
      suggestions: res.status === 401 || res.status === 403 ? ['pass the API token with --token (FLEETMON_TOKEN)'] : [],
    });
  }
  const text = (await res.text()).slice(0, 16_384);
  return { publicKey: parsePublicKey(text), source: url };
}
