/**
 * Sections 1 and 2: what one poll costs, per host. fleetmon's probe (one persistent SSH channel, one request line
 * per poll) against a reproduction of the seed's method (a new SSH connection per command: top, free, loadavg,
 * tmux, two nvidia-smi, pstree per session), and against one scrape of Prometheus' node_exporter, on the same fake
 * host. Wall time is per poll; host CPU is measured per batch of polls (the kernel counts in clock ticks) and
 * divided by the batch size.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { embeddedConfig } from '../src/core/config.js';
import { probeScriptPath } from '../src/paths.js';
import { splitProbeResponse } from '../src/server/collector/parse.js';
import { buildSnapshot, type Counters } from '../src/server/collector/snapshot.js';
import { SshTransport } from '../src/server/collector/transport.js';
import { DISK_REFRESH_MS } from '../src/server/collector/poller.js';
import { startFleet, shQuote, type FakeHost, type Fleet } from '../test/fleet/fleet.js';
import { descendants, pidsWithEnv } from '../test/fleet/proc.js';
import { sshExec } from '../test/fleet/ssh-exec.js';
import { cpuBetween, procTimes, treeCpu } from './lib/proc-cpu.js';
import type { Report } from './lib/report.js';
import { round, summarize, type Summary } from './lib/stats.js';

export interface PollCostOptions {
  /** fleetmon polls per batch and batches. */
  probeBatch: number;
  probeBatches: number;
  seedBatch: number;
  seedBatches: number;
}

const SECTION_1 = '1. poll cost';
/** The poll interval the probe polls are paced at and told (the collector's default is 30 s; this keeps runs short). */
const POLL_INTERVAL_MS = 250;
const SECTION_2 = '2. vs node_exporter';

/** The sessions of the captured H100 host (names with a space and a #), each running real processes. */
async function addCapturedSessions(host: FakeHost): Promise<string[]> {
  await host.newSession('train-llama', ['sh -c "sleep 100000 & sleep 100000; wait"']);
  await host.tmux(['new-window', '-t', '=train-llama', 'sleep 100000']);
  await host.newSession('eval run #2', ['sleep 100000']);
  await host.newSession('jupyter', ['sleep 100000']);
  await host.newSession('idle-shell', ['sh']);
  return ['train-llama', 'eval run #2', 'jupyter', 'idle-shell'];
}

/** The host's long-lived processes: its sshd listener (with everything under it) and its tmux server. */
function hostCpu(host: FakeHost): Map<number, number> {
  return treeCpu(host.sshdPid === undefined ? [] : [host.sshdPid], pidsWithEnv([`TMUX_TMPDIR=${host.tmuxTmpdir}`]));
}

/** Host CPU ms per wall ms while nothing polls it: the background the paced polls' batches must not be charged. */
async function idleRate(host: FakeHost, ms: number): Promise<number> {
  const before = hostCpu(host);
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, ms));
  return Math.max(0, cpuBetween(before, hostCpu(host))) / (performance.now() - t0);
}

/** Waits until the listener has no connection children left, so a closed connection's CPU is reaped and counted. */
async function connectionsGone(host: FakeHost, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (host.sshdPid !== undefined && descendants([host.sshdPid]).length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** One poll the seed's way: every command over its own new SSH connection, one after another. */
async function seedPoll(host: FakeHost, fleet: Fleet, sessions: string[]): Promise<void> {
  const run = async (cmd: string) => {
    const r = await sshExec(host, fleet, cmd, { timeoutMs: 30_000 });
    if (r.code !== 0) throw new Error(`seed command failed (${r.code}): ${cmd}: ${r.stderr}`);
    return r.stdout;
  };
  await run(`top -bn1 | grep "Cpu(s)" | awk '{print $2}'`);
  await run(`free -m | awk 'NR==2{printf "%s %s %.1f", $3, $2, $3*100/$2}'`);
  await run('cat /proc/loadavg');
  await run(`tmux list-sessions -F '#{session_name}|#{session_created}|#{session_attached}|#{session_windows}|#{session_activity}'`);
  await run('nvidia-smi --query-gpu=index,name,power.draw,power.limit,memory.used,memory.total,utilization.gpu,temperature.gpu --format=csv,noheader,nounits');
  await run('nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv,noheader,nounits');
  for (const s of sessions) {
    await run(`tmux list-panes -s -t ${shQuote(s)} -F '#{pane_pid}' | xargs -n1 pstree -p | grep -oP '\\(\\K[0-9]+(?=\\))'`);
  }
}

interface Measured {
  wall: Summary;
  hostCpu: Summary;
}

async function measureProbe(host: FakeHost, fleet: Fleet, gpu: 'on' | 'off', opts: PollCostOptions, idleMsPerMs: number): Promise<Measured & { coldMs: number; bytes: number; smiCalls: number; polls: number }> {
  const probe = readFileSync(probeScriptPath, 'utf8');
  const transport = new SshTransport(
    {
      host: host.name,
      address: host.address,
      port: host.port,
      user: fleet.user,
      keyPath: fleet.keyPath,
      timeoutMs: 10_000,
      gate: false,
      hostKey: { pinned: host.hostKeyFingerprint, knownHosts: null, onUnpinned: () => false },
    },
    probe,
  );
  let counters: Counters | null = null;
  let bytes = 0;
  let polls = 0;
  // Polls are paced at POLL_INTERVAL_MS and the probe is told that interval, as the collector does: its resident
  // nvidia-smi readers then print one block per poll, so their cost is counted per poll, not spread over idle time.
  let nextAt = performance.now();
  const paced = async () => {
    const wait = nextAt - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    nextAt = Math.max(nextAt, performance.now()) + POLL_INTERVAL_MS;
  };
  // As the collector does at the default 30 s interval: disk usage (df) on every 10th poll (DISK_REFRESH_MS).
  const dfEvery = Math.max(1, Math.round(DISK_REFRESH_MS / (embeddedConfig().polling_interval_seconds * 1000)));
  const pollOnce = async () => {
    const channel = await transport.channel();
    const { nonce, text } = await channel.poll(gpu, 10_000, { disks: polls++ % dfEvery === 0, intervalMs: POLL_INTERVAL_MS });
    bytes = Buffer.byteLength(text);
    const snap = buildSnapshot({
      hostName: host.name,
      address: host.address,
      sshUser: fleet.user,
      sshPort: host.port,
      hasGpu: gpu === 'on',
      legacyThresholdHours: 72,
      response: splitProbeResponse(text, nonce),
      previous: counters,
      nowMs: Date.now(),
    });
    if (snap.problems.length > 0) throw new Error(`probe poll reported problems: ${snap.problems.join('; ')}`);
    counters = snap.counters;
    return snap;
  };
  try {
    const c0 = performance.now();
    const first = await pollOnce();
    const coldMs = performance.now() - c0;
    if (first.sessions.length === 0) throw new Error('the probe saw no tmux sessions on the bench host');
    // Warm-up long enough for the resident readers to have started and printed (they start on the first poll).
    for (let i = 0; i < 6; i++) {
      await paced();
      await pollOnce();
    }
    const walls: number[] = [];
    const cpus: number[] = [];
    const callsBefore = host.gpuCalls().length;
    for (let b = 0; b < opts.probeBatches; b++) {
      const before = hostCpu(host);
      const b0 = performance.now();
      for (let i = 0; i < opts.probeBatch; i++) {
        await paced();
        const t0 = performance.now();
        await pollOnce();
        walls.push(performance.now() - t0);
      }
      // One interval more, so the readers' block for the last poll is counted too.
      await paced();
      // Minus what the host spends idle over as long (its tmux server's timers): pacing made the batch that long.
      cpus.push((cpuBetween(before, hostCpu(host)) - idleMsPerMs * (performance.now() - b0)) / opts.probeBatch);
    }
    return { wall: summarize(walls), hostCpu: summarize(cpus), coldMs, bytes, smiCalls: host.gpuCalls().length - callsBefore, polls: walls.length };
  } finally {
    transport.close();
    await connectionsGone(host);
  }
}

async function measureSeed(host: FakeHost, fleet: Fleet, sessions: string[], opts: PollCostOptions): Promise<Measured> {
  await seedPoll(host, fleet, sessions); // warm-up: page cache, tmux server
  await connectionsGone(host);
  const walls: number[] = [];
  const cpus: number[] = [];
  for (let b = 0; b < opts.seedBatches; b++) {
    const before = hostCpu(host);
    for (let i = 0; i < opts.seedBatch; i++) {
      const t0 = performance.now();
      await seedPoll(host, fleet, sessions);
      walls.push(performance.now() - t0);
    }
    await connectionsGone(host);
    cpus.push(cpuBetween(before, hostCpu(host)) / opts.seedBatch);
  }
  return { wall: summarize(walls), hostCpu: summarize(cpus) };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

const NODE_EXPORTER = ['/usr/bin/prometheus-node-exporter', '/usr/local/bin/node_exporter', '/usr/bin/node_exporter'];

async function measureNodeExporter(opts: PollCostOptions): Promise<{ hostCpu: Summary; wall: Summary; bytes: number; binary: string } | string> {
  const binary = NODE_EXPORTER.find((p) => existsSync(p));
  if (!binary) return 'node_exporter is not installed (Debian: apt-get install prometheus-node-exporter)';
  const port = await freePort();
  const child: ChildProcess = spawn(binary, [`--web.listen-address=127.0.0.1:${port}`, '--log.level=error'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  try {
    const url = `http://127.0.0.1:${port}/metrics`;
    let bytes = 0;
    const scrape = async () => {
      const res = await fetch(url);
      const body = await res.text();
      if (res.status !== 200) throw new Error(`node_exporter answered ${res.status}`);
      bytes = Buffer.byteLength(body);
    };
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        await scrape();
        break;
      } catch (err) {
        if (Date.now() > deadline || child.exitCode !== null) return `node_exporter did not start: ${(err as Error).message} ${stderr.slice(-300)}`;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    for (let i = 0; i < 3; i++) await scrape();
    const pid = child.pid as number;
    const cpuOf = () => {
      const t = procTimes(pid);
      return t ? t.self + t.children : Number.NaN;
    };
    const walls: number[] = [];
    const cpus: number[] = [];
    for (let b = 0; b < opts.probeBatches; b++) {
      const before = cpuOf();
      for (let i = 0; i < opts.probeBatch; i++) {
        const t0 = performance.now();
        await scrape();
        walls.push(performance.now() - t0);
      }
      cpus.push((cpuOf() - before) / opts.probeBatch);
    }
    return { hostCpu: summarize(cpus), wall: summarize(walls), bytes, binary };
  } finally {
    child.kill('SIGTERM');
  }
}

export async function benchPollCost(report: Report, opts: PollCostOptions): Promise<void> {
  console.log(`\n${SECTION_1} — one fake H100 host (real sshd, 4 tmux sessions as captured, fake nvidia-smi)`);
  const fleet = await startFleet({ hosts: [{ name: 'bench-gpu', gpu: true }] });
  try {
    const host = fleet.hosts[0]!;
    const sessions = await addCapturedSessions(host);
    const idle = await idleRate(host, opts.probeBatch * POLL_INTERVAL_MS * opts.probeBatches);
    const probe = await measureProbe(host, fleet, 'on', opts, idle);
    const probeCpuOnly = await measureProbe(host, fleet, 'off', opts, idle);
    const seed = await measureSeed(host, fleet, sessions, opts);
    const wallRatio = seed.wall.median / probe.wall.median;
    const cpuRatio = seed.hostCpu.median / probe.hostCpu.median;
    report.add({ section: SECTION_1, name: 'fleetmon poll wall time, median', value: round(probe.wall.median, 2), unit: 'ms', comparison: `p95 ${round(probe.wall.p95, 2)} ms; first poll incl. SSH connect ${round(probe.coldMs, 0)} ms` });
    report.add({ section: SECTION_1, name: 'seed method poll wall time, median', value: round(seed.wall.median, 0), unit: 'ms', comparison: `p95 ${round(seed.wall.p95, 0)} ms` });
    report.add({ section: SECTION_1, name: 'wall time: seed ÷ fleetmon', value: round(wallRatio, 1), unit: '×', target: '≥ 20×', holds: wallRatio >= 20 });
    report.add({ section: SECTION_1, name: 'fleetmon host CPU per poll, median', value: round(probe.hostCpu.median, 2), unit: 'ms', comparison: `p95 ${round(probe.hostCpu.p95, 2)} ms (batches of ${opts.probeBatch})` });
    report.add({ section: SECTION_1, name: 'seed method host CPU per poll, median', value: round(seed.hostCpu.median, 1), unit: 'ms', comparison: `p95 ${round(seed.hostCpu.p95, 1)} ms (batches of ${opts.seedBatch})` });
    report.add({ section: SECTION_1, name: 'host CPU: seed ÷ fleetmon', value: round(cpuRatio, 1), unit: '×', target: '≥ 5×', holds: cpuRatio >= 5 });
    report.note('fleetmon polls ask for disk usage (df) on every 10th poll, as the collector does at the default 30 s interval');
    report.note(`the host's idle CPU over each paced batch's wall time is subtracted: ${round(idle * 1000, 1)} ms per s, measured with no probe connected`);
    report.note(`nvidia-smi started ${probe.smiCalls} times during ${probe.polls} measured polls (resident loop-mode readers, ${POLL_INTERVAL_MS} ms interval)`);
    report.note(`probe answer: ${probe.bytes} bytes per poll; the same host without the GPU part: ${round(probeCpuOnly.hostCpu.median, 2)} ms host CPU, ${round(probeCpuOnly.wall.median, 2)} ms wall`);

    console.log(`\n${SECTION_2} — host CPU of one probe poll vs one node_exporter scrape, same machine`);
    const ne = await measureNodeExporter(opts);
    if (typeof ne === 'string') {
      report.skip(SECTION_2, 'node_exporter scrape', ne);
    } else {
      const ratio = probe.hostCpu.median / ne.hostCpu.median;
      report.add({ section: SECTION_2, name: 'node_exporter host CPU per scrape, median', value: round(ne.hostCpu.median, 2), unit: 'ms', comparison: `p95 ${round(ne.hostCpu.p95, 2)} ms; ${ne.bytes} bytes; wall ${round(ne.wall.median, 1)} ms` });
      report.add({ section: SECTION_2, name: 'fleetmon probe (with tmux, sessions, GPU) ÷ node_exporter', value: round(ratio, 2), unit: '×', target: '≤ 0.5× (issue 18)', holds: ratio <= 0.5 });
      report.add({ section: SECTION_2, name: 'fleetmon probe without GPU part ÷ node_exporter', value: round(probeCpuOnly.hostCpu.median / ne.hostCpu.median, 2), unit: '×' });
      report.note('the fake nvidia-smi replays a capture (a shell script per call, one resident perl process in loop mode); a real nvidia-smi costs more CPU per call (driver and NVML start-up), which the resident reader pays once.');
    }
  } finally {
    await fleet.stop();
  }
}
