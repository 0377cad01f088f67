/**
 * The API token: from the config, FLEETMON_TOKEN, or generated into the data directory with mode 0600. The
 * server resolves it at start; clients on the same machine read the file it wrote (TOKEN_FILE).
 */
import { randomBytes, timingSafeEqual, createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync, mkdirSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { checkTokenStrength } from './config.js';
import { FleetmonError } from './errors.js';

/** The token's file name inside the data directory. */
export const TOKEN_FILE = 'api-token';

export interface TokenSource {
  token: string;
  source: 'config' | 'env' | 'file' | 'generated';
  path: string | null;
}

export function resolveApiToken(configToken: string | null, dataDir: string, env = process.env): TokenSource {
  if (configToken) return { token: configToken, source: 'config', path: null };
  if (env.FLEETMON_TOKEN) {
    const weak = checkTokenStrength(env.FLEETMON_TOKEN);
    if (weak) {
      throw new FleetmonError('CONFIG_INVALID', `FLEETMON_TOKEN is too weak: ${weak}`, {
        kind: 'config',
        suggestions: ['generate one with `openssl rand -hex 32`', 'or unset FLEETMON_TOKEN to have fleetmon generate one into <data_dir>/api-token'],
      });
    }
    return { token: env.FLEETMON_TOKEN, source: 'env', path: null };
  }
  const path = join(dataDir, TOKEN_FILE);
  if (existsSync(path)) {
    const token = readFileSync(path, 'utf8').trim();
    if (token.length >= 16) return { token, source: 'file', path };
  }
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const token = `fm_${randomBytes(24).toString('base64url')}`;
  writeFileSync(path, `${token}\n`, { mode: 0o600 });
  chmodSync(path, 0o600);
  return { token, source: 'generated', path };
}

export function tokensEqual(given: string, expected: string): boolean {
  // Compare digests so the comparison takes the same time whatever the lengths.
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}
