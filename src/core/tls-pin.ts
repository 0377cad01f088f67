/**
 * Certificate pinning and CA trust for the HTTPS clients fleetmon has: the Proxmox API (`lxc`, `up`) and the fleetmon
 * server itself (`--server https://…`). Both take `--ca-file` and `--fingerprint` with the same meaning, so the
 * parsing, the hashing and the undici connector that checks a pin live here, below both.
 *
 * A pin is checked in the connector, after the handshake and before undici gets the socket, so a mismatch closes the
 * connection before a single byte of HTTP (and so any token) is written. Session resumption is off, so every
 * connection presents its certificate again. `NODE_TLS_REJECT_UNAUTHORIZED` is never touched.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { TLSSocket } from 'node:tls';
import { Agent, buildConnector } from 'undici';
import { FleetmonError } from './errors.js';

/** The self-signed pair `server.tls: self-signed` makes in the data dir (provision reads the certificate back). */
export const SELF_SIGNED_CERT_FILE = 'tls-cert.pem';
export const SELF_SIGNED_KEY_FILE = 'tls-key.pem';

export interface Fingerprints {
  /** SHA-256 of the certificate, `AA:BB:…` (what the Proxmox GUI shows under Certificates, and `fleetmon serve` prints). */
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

/** Both fingerprints of a certificate, DER or PEM. */
export function fingerprintsOf(cert: Buffer | string): Fingerprints {
  const x509 = new X509Certificate(cert);
  const spki = x509.publicKey.export({ type: 'spki', format: 'der' });
  return { cert: x509.fingerprint256, spki: createHash('sha256').update(spki).digest('base64') };
}

export function pinMatches(pin: Pin, fp: Fingerprints): boolean {
  const spki = Buffer.from(fp.spki, 'base64');
  if (spki.equals(pin.sha256)) return true;
  return pin.kind === 'any' && Buffer.from(fp.cert.replace(/:/g, ''), 'hex').equals(pin.sha256);
}

/** The peer presented a certificate whose SHA-256 does not match `--fingerprint`; nothing was sent. */
export class PinMismatchError extends Error {
  constructor(
    readonly expected: string,
    readonly presented: Fingerprints,
    /** Whose certificate, for the message: "the Proxmox server", "the fleetmon server". */
    readonly peer: string,
    readonly code: string,
  ) {
    super(
      `${peer}'s certificate does not match the pinned fingerprint ${expected} ` +
        `(it presented certificate SHA256 ${presented.cert}, public key sha256//${presented.spki})`,
    );
    this.name = 'PinMismatchError';
  }
}

/** Reads `--ca-file`: a missing file or one without a PEM certificate is refused, naming it. */
export function readCaFile(path: string, code: string): string {
  let pem: string;
  try {
    pem = readFileSync(path, 'utf8');
  } catch (err) {
    throw new FleetmonError(code, `cannot read --ca-file ${path}: ${(err as Error).message}`, { kind: 'config' });
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new FleetmonError(code, `--ca-file ${path} holds no PEM certificate`, { kind: 'config' });
  }
  return pem;
}

export interface TlsOptions {
  /** PEM of the CA(s) to trust instead of the system store. */
  caPem?: string | undefined;
  pin?: Pin | undefined;
  /** Skip verification entirely (the caller warns). */
  insecure?: boolean | undefined;
  /** Called with the fingerprints of each unverified peer under --insecure, so the warning can show what to pin. */
  onInsecurePeer?: (fp: Fingerprints) => void;
  connectTimeoutMs?: number | undefined;
  /** For the mismatch message: "the Proxmox server". */
  peer: string;
  /** PinMismatchError's code. */
  mismatchCode: string;
}

/**
 * An undici Agent that trusts `caPem` (else the system store) or, with only a pin, checks the pin instead of the
 * chain (a pinned self-signed certificate has no chain to check).
 */
export function createPinnedDispatcher(opts: TlsOptions): Agent {
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
        callback(new PinMismatchError(opts.pin.text, fp ?? { cert: '(none)', spki: '(none)' }, opts.peer, opts.mismatchCode), null);
        return;
      }
      if (opts.insecure && !opts.pin && fp) opts.onInsecurePeer?.(fp);
      callback(null, socket);
    });
  };
  return new Agent({ connect });
}

/** Certificate errors that mean "not trusted by what you told me to trust", for which a pin or a CA file is the fix. */
export const TLS_UNTRUSTED = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
  'CERT_UNTRUSTED',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_SIGNATURE_FAILURE',
]);
