/**
 * TLS for the Proxmox API. Proxmox nodes serve a certificate signed by the cluster's own CA, so we verify against
 * `--ca-file` (the cluster's pve-root-ca.pem), or pin the node's key with `--fingerprint`, or — only with
 * `--insecure`, loudly — not at all. `proxmox-api` has no TLS option, so this builds an undici Agent that the
 * transport hands to fetch. The pinning itself is core's (src/core/tls-pin.ts), shared with `--server https://…`.
 */
import type { Agent } from 'undici';
import { createPinnedDispatcher, type TlsOptions as CoreTlsOptions } from '../../core/tls-pin.js';

export { fingerprintsOf, parseFingerprint, pinMatches, type Fingerprints, type Pin } from '../../core/tls-pin.js';

export type TlsOptions = Omit<CoreTlsOptions, 'peer' | 'mismatchCode'>;

export function createPveDispatcher(opts: TlsOptions): Agent {
  return createPinnedDispatcher({ ...opts, peer: 'the Proxmox server', mismatchCode: 'PVE_TLS_PIN_MISMATCH' });
}
