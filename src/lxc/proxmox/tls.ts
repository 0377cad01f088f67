/**
 * TLS for the Proxmox API. Proxmox nodes serve a certificate signed by the cluster's own CA, so we verify against
 * `--ca-file` (the cluster's pve-root-ca.pem), or pin the node's key with `--fingerprint`, or — only with
 * `--insecure`, loudly — not at all. `proxmox-api` has no TLS option, so this builds an undici Agent that the
 * transport hands to fetch; `NODE_TLS_REJECT_UNAUTHORIZED` is never touched.
 *
 * A pin is checked in the connector, after the handshake and before undici gets the socket, so a mismatch closes the
 * connection before a single byte of HTTP (and so the API token) is written. Session resumption is off, so every
 * connection presents its certificate again.
 */
import { createHash, X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { Agent, buildConnector } from 'undici';
import { FleetmonError } from '../../core/errors.js';
import { PinMismatchError } from './errors.js';

export interface Fingerprints {
  /** SHA-256 of the certificate, `AA:BB:…` (what the Proxmox GUI shows under Certificates). */
  cert: string;
  /** SHA-256 of the SubjectPublicKeyInfo, base64 (what `sha256//…` pins; survives certificate renewal). */
  spki: string;
}

export interface Pin {
  /** As the user wrote it, for messages. */
  text: string;
  /** `spki`: only the public-key hash may match; `any`: a hex value may be either hash. */
  kind: 'spki' | 'any';
  sha256: Buffer;
}

/**
 * Accepts `sha256//BASE64` (curl's --pinnedpubkey form) or `SHA256:BASE64` for the public key, or 64 hex digits
 * (colons allowed) for the certificate's or the key's SHA-256.
 */
export function parseFingerprint(text: string): Pin {
  const t = text.trim();
  const b64 = /^(?:sha256\/\/|SHA256:)([A-Za-z0-9+/]{43}=?)$/i.exec(t);
  if (b64?.[1]) return { text: t, kind: 'spki', sha256: Buffer.from(b64[1], 'base64') };
  const hex = t.replace(/:/g, '');
  if (/^[0-9a-f]{64}$/i.test(hex)) return { text: t, kind: 'any', sha256: Buffer.from(hex, 'hex') };
  throw new FleetmonError('BAD_FINGERPRINT', `--fingerprint ${JSON.stringify(text)} is not a SHA-256 fingerprint`, {
    kind: 'usage',
    suggestions: ['use sha256//BASE64 (the public key, survives renewals) or the certificate SHA-256 as AA:BB:… (64 hex digits)'],
  });
}

export function fingerprintsOf(certDer: Buffer): Fingerprints {
  const x509 = new X509Certificate(certDer);
  const spki = x509.publicKey.export({ type: 'spki', format: 'der' });
  return { cert: x509.fingerprint256, spki: createHash('sha256').update(spki).digest('base64') };
}

export function pinMatches(pin: Pin, fp: Fingerprints): boolean {
  const spki = Buffer.from(fp.spki, 'base64');
  if (spki.equals(pin.sha256)) return true;
  return pin.kind === 'any' && Buffer.from(fp.cert.replace(/:/g, ''), 'hex').equals(pin.sha256);
}

export interface TlsOptions {
  /** PEM of the CA(s) to trust instead of the system store. */
  caPem?: string;
  pin?: Pin;
  /** Skip verification entirely (the caller warns). */
  insecure?: boolean;
  /** Called with the fingerprints of each unverified peer under --insecure, so the warning can show what to pin. */
  onInsecurePeer?: (fp: Fingerprints) => void;
  connectTimeoutMs?: number;
}

export function createPveDispatcher(opts: TlsOptions): Agent {
  const verifyChain = !opts.insecure && (!opts.pin || opts.caPem !== undefined);
  const base = buildConnector({
    ...(opts.caPem !== undefined ? { ca: opts.caPem } : {}),
    rejectUnauthorized: verifyChain,
    maxCachedSessions: 0,
    timeout: opts.connectTimeoutMs ?? 10_000,
  });
  const connect: buildConnector.connector = (options, callback) => {
    base(options, (err, socket) => {
      if (err || !socket) {
        callback(err ?? new Error('TLS connection failed'), null);
        return;
      }
      if (!opts.pin && !opts.insecure) {
        callback(null, socket);
        return;
      }
      const peer = (socket as TLSSocket).getPeerCertificate(false);
      const fp = peer?.raw ? fingerprintsOf(peer.raw) : undefined;
      if (opts.pin && (!fp || !pinMatches(opts.pin, fp))) {
        socket.destroy();
        callback(new PinMismatchError(opts.pin.text, fp ?? { cert: '(none)', spki: '(none)' }), null);
        return;
      }
      if (opts.insecure && !opts.pin && fp) opts.onInsecurePeer?.(fp);
      callback(null, socket);
    });
  };
  return new Agent({ connect });
}
