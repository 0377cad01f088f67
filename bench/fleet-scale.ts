/**
 * Section 3: a poll cycle against fleet size. One fake fleet of the largest size (real sshd per host, tmux
 * sessions on each, every second host a GPU host replaying the H100 capture) and, per size, a real `fleetmon
 * serve` polling the first N hosts: time from cycle start until every snapshot is stored, server CPU per cycle,
 * server RSS. While the server for `apiSize` hosts runs, `during` (section 4) gets it.
 */
import { fleetConfigSection, startFleet, type Fleet } from '../test/fleet/fleet.js';
import { SERVE_NODE_FLAGS } from '../src/paths.js';
import { memoryOf } from './lib/proc-cpu.js';
import type { Report } from './lib/report.js';
import { apiGet, startBenchServer, type BenchServer, type CycleLine } from './lib/server.js';
import { linearFit, round, summarize } from './lib/stats.js';

export interface FleetScaleOptions {
  sizes: number[];
  sessionsPerHost: number;
  steadyCycles: number;
  intervalSeconds: number;
  apiSize: number;
  /** Host names per sshd (each its own SSH connection and poll): a 1000-host fleet from 200 sshd's. */
  hostsPerSshd?: number;
  nodeArgs?: string[];
  during?: (server: BenchServer, fleet: Fleet) => Promise<void>;
  /** Given the largest size's server while it still runs (the Prometheus scrape). */
  atLargest?: (server: BenchServer, hosts: number) => Promise<void>;
}

const SECTION = '3. fleet size';
const TARGET_MS: Record<number, number> = { 100: 1500, 200: 3000 };
/** RSS targets, MB (10^6 bytes): 150 at 200 hosts, 250 at 1000 (issue 18). */
const TARGET_RSS_MB: Record<number, number> = { 200: 150, 1000: 250 };

/** Starts `count` tmux sessions running `sleep` on every host, with one tmux command per host. */
async function addSessions(fleet: Fleet, count: number): Promise<void> {
  const queue = [...fleet.hosts];
  const worker = async () => {
    for (let h = queue.shift(); h; h = queue.shift()) {
      const args: string[] = [];
      for (let i = 0; i < count; i++) args.push(...(i ? [';'] : []), 'new-session', '-d', '-s', `job-${i}`, 'sleep 1000000');
      const r = await h.tmux(args);
      if (r.code !== 0) throw new Error(`tmux on ${h.name}: ${r.stderr}`);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
}

export async function benchFleetScale(report: Report, opts: FleetScaleOptions): Promise<void> {
  const largest = Math.max(...opts.sizes);
  const perSshd = Math.max(1, opts.hostsPerSshd ?? 1);
  const sshds = Math.ceil(largest / perSshd);
  console.log(`\n${SECTION} — fake fleet of ${largest} hosts${perSshd > 1 ? ` (${perSshd} host names per sshd: ${sshds} sshd's)` : ''} (real sshd each in its own PID namespace at idle CPU priority, ${opts.sessionsPerHost} tmux sessions per host, every 2nd host a GPU host), real fleetmon serve`);
  const t0 = performance.now();
  // Idle priority: on a real fleet the hosts are other machines; here their probes and sshd's would otherwise take
  // the server's share of the same two cores, and the API figures would measure this box's scheduler, not fleetmon.
  const fleet = await startFleet({ hosts: sshds, gpuEvery: 2, pidNamespace: true, idlePriority: true });
  try {
    await addSessions(fleet, opts.sessionsPerHost);
    report.note(`fleet of ${sshds} sshd's with ${sshds * opts.sessionsPerHost} sessions up in ${round((performance.now() - t0) / 1000, 1)} s${perSshd > 1 ? `; each sshd answers ${perSshd} host names (own connection and poll each, same tmux sessions), ${largest} hosts in all` : ''}`);
    const real = fleetConfigSection(fleet);
    // Host names beyond the sshd's: the same address, key and pin under another name, interleaved so that the
    // first N of the list spread over the sshd's.
    const hosts = Array.from({ length: perSshd }, (_, v) => real.hosts.map((h) => (v === 0 ? h : { ...h, name: `${h.name}-v${v}` }))).flat();
    const section = { ...real, hosts };
    const rows: Array<{ n: number; stored: number; cpu: number; rss: number; peak: number }> = [];
    // A large fake fleet's probes share this machine's cores with the server: the interval grows with the fleet
    // (1 s per 50 hosts) so that a cycle fits in it.
    const interval = (n: number) => Math.max(opts.intervalSeconds, Math.ceil(n / 50));
    const start = (n: number, env?: Record<string, string>) =>
      startBenchServer(
        {
          polling_interval_seconds: interval(n),
          ssh: { ...section.ssh, timeout: Math.max(10, interval(n)) },
          hosts: section.hosts.slice(0, n),
        },
        { nodeArgs: opts.nodeArgs, env },
      );
    for (const n of opts.sizes) {
      const server = await start(n);
      // The first cycle opens every SSH connection: on a loaded 2-core box 1000 of them took over two minutes.
      const firstTimeout = 120_000 + n * 300;
      try {
        const [cold] = await server.cycles(1, firstTimeout);
        await server.cycles(1, firstTimeout); // the early second cycle (2 s after the first)
        // One deadline covers all the steady cycles: each gets two intervals.
        const steady: CycleLine[] = await server.cycles(opts.steadyCycles, 60_000 + opts.steadyCycles * interval(n) * 2000);
        const summary = await apiGet<{ hosts_online: number; hosts_degraded: number; sessions_active: number }>(server, '/api/summary');
        const up = summary.hosts_online + summary.hosts_degraded;
        if (up !== n) report.note(`${n} hosts: only ${up} answered (${n - up} failed); the figures cover a partial cycle`);
        const stored = summarize(steady.map((c) => c.ms + c.writeMs));
        const write = summarize(steady.map((c) => c.writeMs));
        const cpu = summarize(steady.map((c) => c.cpuMs));
        const mem = memoryOf(server.pid);
        const target = TARGET_MS[n];
        report.add({
          section: SECTION,
          name: `${n} hosts: cycle start → all stored, median`,
          value: round(stored.median, 0),
          unit: 'ms',
          comparison: `p95 ${round(stored.p95, 0)} ms; storing ${round(write.median, 1)} ms; first cycle (SSH connects) ${round((cold?.ms ?? 0) + (cold?.writeMs ?? 0), 0)} ms; ${summary.sessions_active} sessions`,
          ...(target ? { target: `< ${target} ms`, holds: stored.median < target } : {}),
        });
        // The kernel counts CPU in 10 ms ticks, so a single cycle's figure is coarse: the mean over the steady
        // cycles (total CPU ÷ cycles) is the finer one.
        report.add({ section: SECTION, name: `${n} hosts: server CPU per cycle, mean`, value: round(cpu.mean, 0), unit: 'ms', comparison: `${round(cpu.mean / n, 2)} ms per host; median ${round(cpu.median, 0)} ms` });
        if (mem) {
          report.add({
            section: SECTION,
            name: `${n} hosts: server RSS`,
            value: round(mem.rssMiB, 0),
            unit: 'MiB',
            comparison: `peak ${round(mem.peakMiB, 0)} MiB; V8 heap in use ${round(steady.at(-1)?.heapUsedMiB ?? Number.NaN, 0)} MiB; runs with ${SERVE_NODE_FLAGS.join(' ')}`,
            ...(TARGET_RSS_MB[n] ? { target: `≤ ${TARGET_RSS_MB[n]} MB`, holds: mem.rssMiB * 1.048576 <= TARGET_RSS_MB[n]! } : {}),
          });
        }
        if (n === largest && opts.atLargest) await opts.atLargest(server, n);
        rows.push({ n, stored: stored.median, cpu: cpu.mean, rss: mem?.rssMiB ?? Number.NaN, peak: mem?.peakMiB ?? Number.NaN });
      } catch (err) {
        // One size that could not be measured is a row saying so, not the end of the run.
        report.skip(SECTION, `${n} hosts`, err instanceof Error ? err.message.slice(0, 300) : String(err));
      } finally {
        await server.stop();
      }
      if (n === opts.apiSize && opts.during) {
        // A server of its own, measuring its event-loop delay (whose timer would have added to the CPU rows above).
        const apiServer = await start(n, { FLEETMON_LOOP_DELAY: '1' });
        try {
          await apiServer.cycles(2); // connected, and the early second cycle done
          await opts.during(apiServer, fleet);
        } finally {
          await apiServer.stop();
        }
      }
    }
    if (rows.length >= 3) {
      const xs = rows.map((r) => r.n);
      const time = linearFit(xs, rows.map((r) => r.stored));
      const cpu = linearFit(xs, rows.map((r) => r.cpu));
      report.add({ section: SECTION, name: 'cycle time growth: ms per extra host (linear fit)', value: round(time.slope, 2), unit: 'ms', comparison: `R² ${round(time.r2, 3)}, intercept ${round(time.intercept, 0)} ms` });
      report.add({ section: SECTION, name: 'server CPU growth: ms per extra host (linear fit)', value: round(cpu.slope, 2), unit: 'ms', comparison: `R² ${round(cpu.r2, 3)}` });
      const linear = time.r2 >= 0.95 && cpu.r2 >= 0.95;
      report.note(linear ? 'cost grows linearly with fleet size (R² ≥ 0.95 for time and CPU)' : 'cost does NOT grow cleanly linearly with fleet size (R² < 0.95): see the per-size rows');
    }
  } finally {
    await fleet.stop();
  }
}
