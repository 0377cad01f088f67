/** Small shared test helpers. */
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer, type AddressInfo } from 'node:net';

export const testDir = join(dirname(fileURLToPath(import.meta.url)), '..');

export function fixture(name: string): string {
  return readFileSync(join(testDir, 'fixtures', 'gpu-host-h100', name), 'utf8');
}

export function tempDir(prefix = 'fleetmon-test-'): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** Polls until the check returns a truthy value or the deadline passes. */
export async function waitFor<T>(check: () => T | Promise<T>, timeoutMs = 10_000, what = 'condition'): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A file's text as the probe sends /proc files: `grep -H \'\'` lines of `PATH:LINE`, empty lines dropped. */
export function asGrepOutput(path: string, text: string): string {
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => `${path}:${l}`)
    .join('\n');
}

/** A TCP port on 127.0.0.1 that was free a moment ago: for a peer (Alertmanager, a packed server) started on its own. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}
