/**
 * The certificate `fleetmon serve` listens with (`server.tls`): PEM files the user names, or `self-signed`, a
 * certificate and key made once into the data dir and reused at every later start, so its fingerprint — printed
 * at start, in the `AA:BB:…` form `--fingerprint` takes — stays the one a user pinned. Node's crypto cannot issue a
 * certificate, so the self-signed one comes from `openssl req -x509`, run with an argv (no shell).
 */
import { execFile } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { isIP } from 'node:net';
import { hostname, networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { FleetConfig } from '../core/config.js';
import { FleetmonError } from '../core/errors.js';
import { fingerprintsOf, SELF_SIGNED_CERT_FILE, SELF_SIGNED_KEY_FILE, type Fingerprints } from '../core/tls-pin.js';

export { SELF_SIGNED_CERT_FILE, SELF_SIGNED_KEY_FILE };

/** Ten years: a self-signed certificate is trusted by its pin, not its dates, and a renewal would change the pin. */
const SELF_SIGNED_DAYS = 3650;

export interface ServerTls {
  cert: string;
  key: string;
  certFile: string;
  keyFile: string;
  fingerprints: Fingerprints;
  /** `files`: the user's; `created`: self-signed, made at this start; `reused`: self-signed, made earlier. */
  source: 'files' | 'created' | 'reused';
}

/** Undefined for plain HTTP. Errors name the file and what to do. */
export async function resolveServerTls(server: FleetConfig['server'], dataDir: string): Promise<ServerTls | undefined> {
  const tls = server.tls;
  if (tls === null || tls === undefined) return undefined;
  if (tls === 'self-signed') {
    const certFile = join(dataDir, SELF_SIGNED_CERT_FILE);
    const keyFile = join(dataDir, SELF_SIGNED_KEY_FILE);
    const reuse = existsSync(certFile) && existsSync(keyFile);
    if (!reuse) await makeSelfSigned(certFile, keyFile, subjectAltNames(server.host));
    return { ...loadPair(certFile, keyFile, `the self-signed certificate in ${dataDir}`), source: reuse ? 'reused' : 'created' };
  }
  return { ...loadPair(tls.cert_file, tls.key_file, 'server.tls'), source: 'files' };
}

function loadPair(certFile: string, keyFile: string, what: string): Omit<ServerTls, 'source'> {
  const fix =
    what === 'server.tls'
      ? 'point server.tls.cert_file and key_file at readable PEM files, or write `tls: self-signed`'
      : `delete ${certFile} and ${keyFile}: the next start makes a new pair (and prints its new fingerprint)`;
  const read = (file: string, key: string) => {
    try {
      return readFileSync(file, 'utf8');
    } catch (err) {
      throw new FleetmonError('TLS_FILE', `${what}: cannot read ${key} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, {
        kind: 'config',
        suggestions: [fix],
      });
    }
  };
  const cert = read(certFile, 'cert_file');
  const key = read(keyFile, 'key_file');
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch {
    throw new FleetmonError('TLS_FILE', `${what}: cert_file ${certFile} holds no PEM certificate`, { kind: 'config', suggestions: [fix] });
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch {
    throw new FleetmonError('TLS_FILE', `${what}: key_file ${keyFile} holds no unencrypted PEM private key`, {
      kind: 'config',
      suggestions: ['give the key without a passphrase (openssl pkey -in KEY -out KEY.plain)', fix],
    });
  }
  if (!x509.checkPrivateKey(privateKey)) {
    throw new FleetmonError('TLS_FILE', `${what}: key_file ${keyFile} is not the key of cert_file ${certFile}`, {
      kind: 'config',
      suggestions: ['give the key the certificate was issued for', fix],
    });
  }
  return { cert, key, certFile, keyFile, fingerprints: fingerprintsOf(cert) };
}

/**
 * What a user may type in the address bar to reach us: localhost, the loopback addresses, this machine's name,
 * the listen address, and — bound to every interface — each interface's address.
 */
export function subjectAltNames(listenHost: string): string[] {
  const names = new Set<string>(['DNS:localhost', 'IP:127.0.0.1', 'IP:::1']);
  const add = (name: string) => {
    const n = name.replace(/^\[|\]$/g, '');
    if (isIP(n)) names.add(`IP:${n}`);
    // A SAN list is comma-separated: only a plain DNS name may go in.
    else if (/^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/.test(n)) names.add(`DNS:${n}`);
  };
  add(hostname());
  if (listenHost === '0.0.0.0' || listenHost === '::') {
    for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) if (!a.internal) add(a.address.replace(/%.*$/, ''));
  } else add(listenHost);
  return [...names];
}

async function makeSelfSigned(certFile: string, keyFile: string, sans: string[]): Promise<void> {
  // Made in a private directory beside the targets, then renamed in: no other user can read the key while it is
  // written, and a start killed halfway leaves no half pair that the next one would reuse.
  const dir = mkdtempSync(join(join(certFile, '..'), '.tls-'));
  try {
    const key = join(dir, 'key.pem');
    const cert = join(dir, 'cert.pem');
    try {
      await promisify(execFile)(
        'openssl',
        ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', String(SELF_SIGNED_DAYS),
          '-subj', '/CN=fleetmon', '-addext', `subjectAltName=${sans.join(',')}`, '-keyout', key, '-out', cert],
        { timeout: 30_000 },
      );
    } catch (err) {
      const e = err as NodeJS.ErrnoException & { stderr?: string };
      if (e.code === 'ENOENT') {
        throw new FleetmonError('OPENSSL_MISSING', 'server.tls is self-signed, but openssl is not installed to make the certificate', {
          kind: 'config',
          suggestions: ['install it (apt-get install openssl), or give server.tls {cert_file, key_file}'],
        });
      }
      throw new FleetmonError('TLS_SELF_SIGNED', `openssl could not make the self-signed certificate: ${(e.stderr ?? e.message).trim().split('\n')[0]}`, {
        kind: 'server',
        suggestions: ['check that openssl 1.1.1 or newer is installed (openssl version), or give server.tls {cert_file, key_file}'],
      });
    }
    chmodSync(key, 0o600);
    chmodSync(cert, 0o644);
    renameSync(key, keyFile);
    renameSync(cert, certFile);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
