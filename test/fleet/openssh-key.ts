/**
 * Ed25519 key pairs in OpenSSH's own file formats, made in-process: a 200-host fleet would otherwise fork
 * ssh-keygen 200 times, most of its start-up on a small machine. The private key is the unencrypted
 * "openssh-key-v1" container (PROTOCOL.key in the OpenSSH sources), which sshd, ssh and ssh2 all read.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';

export interface OpenSshKeyPair {
  /** "-----BEGIN OPENSSH PRIVATE KEY-----…", as ssh-keygen writes it with no passphrase. */
  privateKey: string;
  /** "ssh-ed25519 AAAA… comment", the .pub line. */
  publicKey: string;
}

function sshString(data: Buffer | string): Buffer {
  const body = typeof data === 'string' ? Buffer.from(data) : data;
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length);
  return Buffer.concat([len, body]);
}

function uint32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

export function generateEd25519(comment: string): OpenSshKeyPair {
  const jwk = generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' });
  const seed = Buffer.from(jwk.d as string, 'base64url');
  const pub = Buffer.from(jwk.x as string, 'base64url');
  const pubBlob = Buffer.concat([sshString('ssh-ed25519'), sshString(pub)]);
  const check = randomBytes(4).readUInt32BE();
  let secret = Buffer.concat([
    uint32(check),
    uint32(check),
    sshString('ssh-ed25519'),
    sshString(pub),
    sshString(Buffer.concat([seed, pub])), // OpenSSH keeps the 64-byte form: seed then public key
    sshString(comment),
  ]);
  const pad = (8 - (secret.length % 8)) % 8; // cipher "none" has block size 8; padding bytes are 1, 2, 3…
  secret = Buffer.concat([secret, Buffer.from(Array.from({ length: pad }, (_, i) => i + 1))]);
  const container = Buffer.concat([
    Buffer.from('openssh-key-v1\0'),
    sshString('none'),
    sshString('none'),
    sshString(''),
    uint32(1),
    sshString(pubBlob),
    sshString(secret),
  ]);
  const lines = container.toString('base64').match(/.{1,70}/g) ?? [];
  return {
    privateKey: `-----BEGIN OPENSSH PRIVATE KEY-----\n${lines.join('\n')}\n-----END OPENSSH PRIVATE KEY-----\n`,
    publicKey: `ssh-ed25519 ${pubBlob.toString('base64')} ${comment}`,
  };
}
