/**
 * The one place that names an SSH public key: its `SHA256:…` fingerprint exactly as `ssh-keygen -lf` prints it
 * (unpadded base64 of the SHA-256 of the key blob) and its type (the blob's first length-prefixed string).
 */
import { createHash } from 'node:crypto';

export interface HostKeyInfo {
  /** `SHA256:` + unpadded base64 of the key blob's SHA-256, as OpenSSH prints it. */
  fingerprint: string;
  /** The key's type, e.g. ssh-ed25519. */
  type: string;
}

/** `SHA256:…` of a key blob (the decoded base64 of a .pub or known_hosts line, or what the server sends). */
export function fingerprintOf(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** The key type is the first length-prefixed string of an SSH public key blob; 'unknown' when it has none. */
export function keyTypeOf(blob: Buffer): string {
  const len = blob.length >= 4 ? blob.readUInt32BE(0) : 0;
  return len > 0 && len < 64 && blob.length >= 4 + len ? blob.subarray(4, 4 + len).toString('latin1') : 'unknown';
}

export function hostKeyInfo(blob: Buffer): HostKeyInfo {
  return { fingerprint: fingerprintOf(blob), type: keyTypeOf(blob) };
}
