/**
 * Request/response framing over a long-lived probe stream (an SSH exec channel or a local child process):
 * write one `poll NONCE GPU` line, collect stdout until the nonce's `end` marker. Every request has a deadline and
 * an output cap; breaking either kills the stream, because a probe that is late or babbling is not trusted again.
 */
import { randomBytes } from 'node:crypto';
import type { Readable, Writable } from 'node:stream';
import { FleetmonError } from '../core/errors.js';

export const MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

export interface ProbeStreams {
  stdin: Writable;
  stdout: Readable;
  stderr?: Readable | undefined;
  /** Tear the stream down (kill the process / close the channel and connection). */
  destroy(): void;
}

export class ProbeChannel {
  private buffer = '';
  private bytes = 0;
  private waiter: { nonce: string; endMarker: string; resolve: (s: string) => void; reject: (e: Error) => void } | null = null;
  private stderrTail = '';
  private closedReason: string | null = null;

  constructor(private readonly streams: ProbeStreams) {
    streams.stdout.setEncoding('utf8');
    streams.stdout.on('data', (chunk: string) => this.onData(chunk));
    streams.stdout.on('close', () => this.fail('probe stream closed'));
    streams.stdout.on('error', (err: Error) => this.fail(`probe stream error: ${err.message}`));
    streams.stdin.on('error', (err: Error) => this.fail(`probe stream error: ${err.message}`));
    streams.stderr?.setEncoding('utf8');
    streams.stderr?.on('data', (chunk: string) => {
      this.stderrTail = (this.stderrTail + chunk).slice(-2000);
    });
  }

  get alive(): boolean {
    return this.closedReason === null;
  }

  /**
   * Sends one poll and resolves with the raw answer (markers included). `disks: false` skips df this time;
   * `intervalMs` (the poll interval) lets the probe keep nvidia-smi resident in loop mode at that interval
   * instead of forking it per poll (without it, the probe calls nvidia-smi per poll as before).
   */
  poll(
    gpu: 'on' | 'off' | 'auto',
    deadlineMs: number,
    opts: { disks?: boolean; intervalMs?: number } = {},
  ): Promise<{ nonce: string; text: string }> {
    if (this.closedReason) return Promise.reject(new FleetmonError('PROBE_CLOSED', this.closedReason, { kind: 'ssh' }));
    if (this.waiter) return Promise.reject(new FleetmonError('PROBE_BUSY', 'a poll is already in flight', { kind: 'ssh' }));
    const nonce = randomBytes(9).toString('hex');
    this.buffer = '';
    this.bytes = 0;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.fail(`probe did not answer within ${Math.round(deadlineMs)} ms`, 'PROBE_TIMEOUT');
      }, deadlineMs);
      this.waiter = {
        nonce,
        endMarker: `@@fm-${nonce} end`,
        resolve: (text) => {
          clearTimeout(timer);
          resolve({ nonce, text });
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      // "users": every user's tmux servers where the host has the all-users helper (an older probe ignores it).
      // The interval goes last, so an older probe (which ignores words after USERS) still answers as before.
      const interval = opts.intervalMs !== undefined && opts.intervalMs >= 100 ? ` ${Math.round(opts.intervalMs)}` : '';
      this.streams.stdin.write(`poll ${nonce} ${gpu} ${opts.disks === false ? 'nodf' : 'df'} users${interval}\n`);
    });
  }

  close(): void {
    if (this.closedReason) return;
    this.closedReason = 'probe channel closed';
    try {
      this.streams.stdin.end('quit\n');
    } catch {
      /* already gone */
    }
    this.streams.destroy();
  }

  private onData(chunk: string): void {
    if (!this.waiter) return; // unsolicited output between polls is dropped
    this.bytes += Buffer.byteLength(chunk);
    if (this.bytes > MAX_RESPONSE_BYTES) {
      this.fail(`probe answer exceeded ${MAX_RESPONSE_BYTES} bytes`, 'PROBE_TOO_LARGE');
      return;
    }
    this.buffer += chunk;
    const at = this.buffer.indexOf(this.waiter.endMarker);
    if (at >= 0) {
      const text = this.buffer.slice(0, at + this.waiter.endMarker.length);
      this.buffer = '';
      const w = this.waiter;
      this.waiter = null;
      w.resolve(text);
    }
  }

  private fail(reason: string, code = 'PROBE_CLOSED'): void {
    const detail = this.stderrTail.trim() ? `${reason} (${this.stderrTail.trim().split('\n').slice(-1)[0]})` : reason;
    if (!this.closedReason) {
      this.closedReason = detail;
      this.streams.destroy();
    }
    const w = this.waiter;
    this.waiter = null;
    w?.reject(new FleetmonError(code, detail, { kind: code === 'PROBE_TIMEOUT' ? 'timeout' : 'ssh' }));
  }
}
