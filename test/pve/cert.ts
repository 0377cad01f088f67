/**
 * A throwaway PKI shaped like a Proxmox node's: a cluster CA (`pve-root-ca.pem`) and a node certificate signed by it
 * (`pve-ssl.pem`) with the node's names and 127.0.0.1 as SANs. Made with the `openssl` CLI into a temp dir, so no
 * npm package is needed; arguments are passed as argv, never through a shell.
 */
import { execFileSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestPki {
  dir: string;
  caPem: string;
  caFile: string;
  certPem: string;
  keyPem: string;
  /** SHA-256 of the node certificate (DER), `AA:BB:…` as the Proxmox GUI shows it. */
  certSha256: string;
  /** SHA-256 of the node's public key (SubjectPublicKeyInfo DER), base64, as `--fingerprint sha256//…` takes it. */
  spkiSha256: string;
  cleanup(): void;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

export function makePki(opts: { nodeName?: string; cn?: string } = {}): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'fleetmon-pve-pki-'));
  try {
    const nodeName = opts.nodeName ?? 'pve';
    openssl(
      ['req', '-x509', ...EC_KEY, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '30',
        '-subj', '/CN=Proxmox Virtual Environment/OU=fleetmon-test/O=PVE Cluster Manager CA',
        '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
      dir,
    );
    openssl(
      ['req', '-new', ...EC_KEY, '-keyout', 'node.key', '-out', 'node.csr',
        '-subj', `/CN=${opts.cn ?? `${nodeName}.test`}/OU=PVE Cluster Node/O=Proxmox Virtual Environment`],
      dir,
    );
    writeFileSync(
      join(dir, 'ext.cnf'),
      `basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n` +
        `subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:${nodeName},DNS:${nodeName}.test\n`,
    );
    openssl(
      ['x509', '-req', '-in', 'node.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial',
        '-out', 'node.pem', '-days', '30', '-extfile', 'ext.cnf'],
      dir,
    );
    const caPem = readFileSync(join(dir, 'ca.pem'), 'utf8');
    const certPem = readFileSync(join(dir, 'node.pem'), 'utf8');
    const keyPem = readFileSync(join(dir, 'node.key'), 'utf8');
    const x509 = new X509Certificate(certPem);
    const spki = x509.publicKey.export({ type: 'spki', format: 'der' });
    return {
      dir,
      caPem,
      caFile: join(dir, 'ca.pem'),
      certPem,
      keyPem,
      certSha256: x509.fingerprint256,
      spkiSha256: createHash('sha256').update(spki).digest('base64'),
      cleanup: () => rmSync(dir, { recursive: true, force: true }),
    };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
