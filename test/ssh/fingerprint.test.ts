/**
 * The one fingerprint function against OpenSSH itself: for keys ssh-keygen generates, `SHA256:…` must be exactly
 * what `ssh-keygen -lf` prints, and the type the one in the .pub line.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fingerprintOf, hostKeyInfo, keyTypeOf } from '../../src/ssh/fingerprint.js';
import { parsePublicKey } from '../../src/keys/authorized-keys.js';
import { tempDir } from '../helpers/common.js';

const dir = tempDir('fleetmon-test-fp-');
after(() => dir.remove());

function keygen(type: string, bits?: number): { line: string; printed: string } {
  const path = join(dir.path, `key-${type}-${bits ?? 0}`);
  const made = spawnSync('ssh-keygen', ['-q', '-t', type, ...(bits ? ['-b', String(bits)] : []), '-N', '', '-C', 'fp-test', '-f', path], { encoding: 'utf8' });
  assert.equal(made.status, 0, made.stderr);
  const listed = spawnSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${path}.pub`], { encoding: 'utf8' });
  assert.equal(listed.status, 0, listed.stderr);
  // "256 SHA256:… fp-test (ED25519)"
  return { line: readFileSync(`${path}.pub`, 'utf8').trim(), printed: listed.stdout.split(' ')[1]! };
}

for (const [type, bits] of [['ed25519'], ['ecdsa', 256], ['ecdsa', 521], ['rsa', 2048]] as const) {
  test(`${type}${bits ? `-${bits}` : ''}: the fingerprint is what ssh-keygen -lf prints`, () => {
    const { line, printed } = keygen(type, bits);
    const [keyType, data] = line.split(' ');
    const blob = Buffer.from(data!, 'base64');
    assert.match(printed, /^SHA256:[A-Za-z0-9+/]{43}$/);
    assert.equal(fingerprintOf(blob), printed);
    assert.equal(keyTypeOf(blob), keyType);
    assert.deepEqual(hostKeyInfo(blob), { fingerprint: printed, type: keyType });
    // The keys module names a public key through the same function.
    assert.equal(parsePublicKey(line).fingerprint, printed);
  });
}

test('no padding, and a blob without a type string is "unknown"', () => {
  assert.equal(fingerprintOf(Buffer.alloc(0)), 'SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU');
  assert.equal(keyTypeOf(Buffer.alloc(0)), 'unknown');
  assert.equal(keyTypeOf(Buffer.from([0, 0, 0, 0])), 'unknown');
  assert.equal(keyTypeOf(Buffer.from([0, 0, 0, 20, 0x61])), 'unknown');
});
