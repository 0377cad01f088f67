/**
 * Response bodies as JSON, serialized at most once per published poll cycle and shared by every reader: with 100
 * hosts × 10 sessions /api/hosts is ~750 KiB, and stringifying it per request (or per WebSocket client) would cost
 * more CPU than polling the fleet. Readers between two cycles get the same bytes; gzip is made once, on demand.
 * Keys must come from a small fixed set (they are never user input).
 *
 * Nothing here may hold the event loop for long (the server must answer within a few ms while a cycle lands): a list
 * is joined from each item's own JSON, memoized per item object (the poller replaces a host's object when it
 * changes, never edits it, and warm() serializes each one as its poll lands, spread over the cycle), and gzip runs
 * on libuv's thread pool, not on the main thread.
 */
import { promisify } from 'node:util';
import { gzip as gzipCb } from 'node:zlib';

const gzip = promisify(gzipCb);
const OPEN = Buffer.from('[');
const CLOSE = Buffer.from(']');
const COMMA = Buffer.from(',');

export class BodyCache {
  /** Bumped when a cycle is published; a body is valid for one generation. */
  private generation = 0;
  private readonly bodies = new Map<string, { generation: number; json: Buffer; gzip: Promise<Buffer> | null }>();
  /** Each list item's JSON, for as long as the item object lives. */
  private readonly items = new WeakMap<object, Buffer>();

  /** A new cycle was published: every body is stale. */
  invalidate(): void {
    this.generation += 1;
  }

  /** Serializes an item now (a host whose poll just landed), so the next list body only joins bytes. */
  warm(item: object): void {
    this.item(item);
  }

  /** The list's JSON bytes for this generation. */
  json(key: string, build: () => object[]): Buffer {
    return this.entry(key, build).json;
  }

  /** The list's bytes as asked: JSON, or its gzip (made once per generation, off the main thread). */
  get(key: string, build: () => object[], encoding: 'identity' | 'gzip' = 'identity'): Buffer | Promise<Buffer> {
    const entry = this.entry(key, build);
    if (encoding === 'identity') return entry.json;
    entry.gzip ??= gzip(entry.json, { level: 6 });
    return entry.gzip;
  }

  private entry(key: string, build: () => object[]) {
    let entry = this.bodies.get(key);
    if (!entry || entry.generation !== this.generation) {
      const list = build();
      const parts: Buffer[] = [OPEN];
      list.forEach((x, i) => {
        if (i > 0) parts.push(COMMA);
        parts.push(this.item(x));
      });
      parts.push(CLOSE);
      entry = { generation: this.generation, json: Buffer.concat(parts), gzip: null };
      this.bodies.set(key, entry);
    }
    return entry;
  }

  private item(x: object): Buffer {
    let b = this.items.get(x);
    if (!b) {
      b = Buffer.from(JSON.stringify(x));
      this.items.set(x, b);
    }
    return b;
  }
}
