/**
 * Probe answers parsed and turned into snapshots on worker threads, so the server's event loop stays free for
 * requests while a large fleet's answers land together (200 hosts × ~1 ms of parsing in one stretch made it late
 * by tens of ms). Jobs go to the least busy worker; a worker that dies fails its jobs (the host's poll fails and is
 * retried as any failed poll) and is replaced. `size` 0, or a source checkout run without tsx, parses inline.
 */
import { existsSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { splitProbeResponse } from './parse.js';
import { buildSnapshot, type HostSnapshot, type SnapshotInput } from './snapshot.js';

export type ParseInput = Omit<SnapshotInput, 'response'> & { text: string; nonce: string };
export interface ParseJob {
  id: number;
  input: ParseInput;
}
export type ParseReply = { id: number; snapshot: HostSnapshot } | { id: number; error: string };

/** Parse and snapshot on the calling thread: what a pool of size 0 does, and what tests of the pure parts use. */
export function parseInline(input: ParseInput): HostSnapshot {
  const { text, nonce, ...rest } = input;
  return buildSnapshot({ ...rest, response: splitProbeResponse(text, nonce) });
}

interface Slot {
  worker: Worker;
  pending: Map<number, { resolve: (s: HostSnapshot) => void; reject: (e: Error) => void }>;
}

/** Where the worker's entry lies: beside this file, compiled (.js) or, in a source checkout under tsx, .ts. */
function workerEntry(): { url: URL; source: boolean } | null {
  const here = import.meta.url;
  if (here.endsWith('.js')) return { url: new URL('./parse-worker.js', here), source: false };
  const ts = new URL('./parse-worker.ts', here);
  if (!existsSync(fileURLToPath(ts))) return null;
  return { url: ts, source: true };
}

/** Sources run only through tsx, and a worker does not inherit its hooks: it registers them before the entry. */
const TSX_BOOT = `import('tsx/esm/api').then(({ register }) => { register(); return import(require('node:worker_threads').workerData.entry); });`;

/** Default pool size: one worker per core but one (the main thread keeps its core), at least one, at most four. */
export function defaultPoolSize(): number {
  return Math.max(1, Math.min(4, cpus().length - 1));
}

export class ParsePool {
  private readonly slots: Slot[] = [];
  private nextId = 1;
  private closed = false;
  private readonly entry: ReturnType<typeof workerEntry>;

  constructor(private readonly size = defaultPoolSize()) {
    this.entry = size > 0 ? workerEntry() : null;
  }

  /** Whether jobs go to workers (false: parsed inline). */
  get threaded(): boolean {
    return this.entry !== null && this.size > 0 && !this.closed;
  }

  parse(input: ParseInput): Promise<HostSnapshot> {
    if (!this.threaded) return Promise.resolve().then(() => parseInline(input));
    const slot = this.pick();
    const id = this.nextId++;
    return new Promise<HostSnapshot>((resolve, reject) => {
      slot.pending.set(id, { resolve, reject });
      slot.worker.postMessage({ id, input } satisfies ParseJob);
    });
  }

  /** How many workers are running now. */
  get workers(): number {
    return this.slots.length;
  }

  /** Kills the running workers as a crash would (tests of the replacement). */
  async terminateWorkersForTest(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }

  async close(): Promise<void> {
    this.closed = true;
    const slots = this.slots.splice(0);
    for (const s of slots) this.fail(s, new Error('the parse pool was closed'));
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }

  private pick(): Slot {
    if (this.slots.length < this.size) {
      const least = this.slots.find((s) => s.pending.size === 0);
      if (least) return least;
      return this.spawn();
    }
    return this.slots.reduce((a, b) => (b.pending.size < a.pending.size ? b : a));
  }

  private spawn(): Slot {
    const entry = this.entry!;
    const worker = entry.source ? new Worker(TSX_BOOT, { eval: true, workerData: { entry: entry.url.href } }) : new Worker(entry.url);
    // Idle workers must not keep a finished process (a CLI test, a stopped server) alive.
    worker.unref();
    const slot: Slot = { worker, pending: new Map() };
    worker.on('message', (r: ParseReply) => {
      const p = slot.pending.get(r.id);
      if (!p) return;
      slot.pending.delete(r.id);
      if ('error' in r) p.reject(new Error(r.error));
      else p.resolve(r.snapshot);
    });
    const gone = (err: Error) => {
      const i = this.slots.indexOf(slot);
      if (i >= 0) this.slots.splice(i, 1);
      this.fail(slot, err);
    };
    worker.on('error', (err) => gone(new Error(`the parse worker failed: ${err.message}; the host is polled again next cycle`)));
    worker.on('exit', (code) => gone(new Error(`the parse worker exited (${code}); the host is polled again next cycle`)));
    this.slots.push(slot);
    return slot;
  }

  private fail(slot: Slot, err: Error): void {
    for (const p of slot.pending.values()) p.reject(err);
    slot.pending.clear();
  }
}
