/**
 * Response bodies as JSON, serialized at most once per published poll cycle and shared by every reader: with 100
 * hosts × 10 sessions /api/hosts is ~750 KiB, and stringifying it per request (or per WebSocket client) would cost
 * more CPU than polling the fleet. Readers between two cycles get the same bytes; gzip is made once, on demand.
 * Keys must come from a small fixed set (they are never user input).
 */
import { gzipSync } from 'node:zlib';

export class BodyCache {
  /** Bumped when a cycle is published; a body is valid for one generation. */
  private generation = 0;
  private readonly bodies = new Map<string, { generation: number; json: Buffer; gzip: Buffer | null }>();

  /** A new cycle was published: every body is stale. */
  invalidate(): void {
    this.generation += 1;
  }

  get(key: string, build: () => unknown, encoding: 'identity' | 'gzip' = 'identity'): Buffer {
    let entry = this.bodies.get(key);
    if (!entry || entry.generation !== this.generation) {
      entry = { generation: this.generation, json: Buffer.from(JSON.stringify(build())), gzip: null };
      this.bodies.set(key, entry);
    }
    if (encoding === 'identity') return entry.json;
    entry.gzip ??= gzipSync(entry.json, { level: 6 });
    return entry.gzip;
  }
}
