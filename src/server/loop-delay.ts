/**
 * Event-loop delay between two poll cycles, for the debug 'poll cycle' line: how long a request could have waited.
 * Measured only with FLEETMON_LOOP_DELAY=1: its 10 ms timer costs about as much CPU as polling ten hosts.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

export class LoopDelay {
  private readonly histogram: IntervalHistogram | null;

  constructor(enabled = process.env.FLEETMON_LOOP_DELAY === '1') {
    this.histogram = enabled ? monitorEventLoopDelay({ resolution: 10 }) : null;
  }

  start(): void {
    this.histogram?.enable();
  }

  stop(): void {
    this.histogram?.disable();
  }

  /** The worst delay since the last call, in ms to two places (undefined when not measured); starts a new period. */
  takeMaxMs(): number | undefined {
    if (!this.histogram) return undefined;
    const ms = Math.round(this.histogram.max / 1e4) / 100;
    this.histogram.reset();
    return ms;
  }
}
