/**
 * The alert types that need a threshold on a filesystem or a condition held for a time: disk_full, gpu_idle_holder
 * and session_finished. The evaluation is pure; its memory between polls (AlertTimers) is data passed in and
 * returned, so these tests drive it with a fake clock and look at the timers themselves.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfigObject } from '../../../src/core/config.js';
import type { Host } from '../../../src/core/model.js';
import { evaluateAlerts, noTimers, type AlertTimers, type Evaluated, type OpenAlert } from '../../../src/server/alerts/evaluate.js';
import { H100, h100Host, offlineHost, session } from '../../helpers/mock-fleet.js';

const T0 = Date.parse('2026-12-01T12:00:00Z');
const MIN = 60_000;
const config = (alerts: Record<string, unknown> = {}) => parseConfigObject({ alerts }, 't').alerts;

/** The evaluator with a store's bookkeeping around it: open alerts raised, updated and resolved; timers kept. */
class Sim {
  open: OpenAlert[] = [];
  timers: AlertTimers = noTimers();
  now = T0;
  private n = 0;
  constructor(private readonly t = config()) {}

  step(hosts: Host[], opts: { timing?: boolean } = {}): Evaluated {
    const r = evaluateAlerts(hosts.map((host) => ({ host, hostKeyChanged: null })), this.open, this.t, opts.timing === false ? undefined : { now: this.now, timers: this.timers });
    this.timers = r.timers;
    this.open = this.open
      .filter((a) => !r.resolve.some((x) => x.id === a.id))
      .map((a) => {
        const u = r.update.find((x) => x.id === a.id);
        return u ? { ...a, value: u.condition.value, message: u.condition.message } : a;
      });
    for (const c of r.raise) this.open.push({ id: `a${this.n++}`, conditionKey: c.conditionKey, type: c.type, host: c.host, value: c.value, message: c.message });
    return r;
  }

  /** Polls every minute for `minutes`, the fleet as `hosts(now)` says; returns every change on the way. */
  run(minutes: number, hosts: (now: number) => Host[]): Evaluated[] {
    const out: Evaluated[] = [];
    for (let i = 0; i < minutes; i++) {
      this.now += MIN;
      out.push(this.step(hosts(this.now)));
    }
    return out;
  }

  types(): string[] {
    return this.open.map((a) => a.type).sort();
  }
}

const disk = (percent: number | null, mount = '/data') => ({ filesystem: '/dev/nvme0n1p1', mount, total_bytes: 1e12, used_bytes: (percent ?? 0) * 1e10, available_bytes: 1e12 - (percent ?? 0) * 1e10, percent });
/** The H100 host with no sessions' CPU load (only the fields a test names differ). */
const quietH100 = (now: number, o: Partial<Host> = {}): Host => ({ ...h100Host(now), sessions: [], ...o });

test('disk_full: a filesystem above the threshold is one warning naming the mount and free space; it clears below the hysteresis band', () => {
  const sim = new Sim();
  const r = sim.step([quietH100(T0, { disks: [disk(21, '/'), disk(93)] })]);
  assert.deepEqual(r.raise.map((c) => [c.type, c.severity, c.conditionKey, c.value, c.threshold]), [['disk_full', 'warning', 'disk_full|gpu-h100|disk:/data', 93, 90]]);
  assert.equal(r.raise[0]!.message, 'gpu-h100 filesystem /data (/dev/nvme0n1p1) is 93% full, 65.2 GiB free (alert at 90%)');
  // 86 % is under 90 but inside the 5 % band (85.5): still open, updated.
  assert.deepEqual(sim.step([quietH100(T0, { disks: [disk(86)] })]).resolve, []);
  // Not measured this time: neither updated nor resolved.
  const unknown = sim.step([quietH100(T0, { disks: [disk(null)] })]);
  assert.deepEqual([unknown.update, unknown.resolve], [[], []]);
  assert.equal(sim.step([quietH100(T0, { disks: [disk(85)] })]).resolve.length, 1);
  assert.deepEqual(sim.types(), []);
});

test('disk_full.percent sets the threshold and disk_full.enabled: false switches it off (an open one resolves)', () => {
  const sim = new Sim(config({ disk_full: { percent: 97 } }));
  assert.deepEqual(sim.step([quietH100(T0, { disks: [disk(93)] })]).raise, []);
  assert.equal(sim.step([quietH100(T0, { disks: [disk(98)] })]).raise.length, 1);
  const off = evaluateAlerts([{ host: quietH100(T0, { disks: [disk(99)] }), hostKeyChanged: null }], sim.open, config({ disk_full: { enabled: false } }));
  assert.deepEqual([off.raise.length, off.resolve.map((a) => a.type)], [0, ['disk_full']]);
});

/**
 * The H100 capture with its GPU at `util` %: pids 407 (21130 MiB) and 411 (3658 MiB) in train-llama, 418 (6746 MiB)
 * in 'eval run #2'; its sessions idle, small and active, so that no other alert type joins in.
 */
const gpuAt = (util: number | null) => (now: number): Host[] => {
  const h = h100Host(now, { gpus: [{ ...H100, utilization_percent: util }] });
  return [{ ...h, sessions: h.sessions.map((s) => ({ ...s, cpu_percent: 0, memory_mb: 10, status: 'active' as const })) }];
};

test('gpu_idle_holder: processes holding ≥ 4 GiB on a GPU at ≤ 5 % for 30 minutes, each named with its owner and session', () => {
  const sim = new Sim();
  const early = sim.run(30, gpuAt(0));
  assert.deepEqual(early.flatMap((r) => r.raise), [], 'nothing before 30 minutes (first seen at T0 + 1 min, now T0 + 30 min)');
  // The timers as data: since when each big process has been holding idle memory; 411 (3.6 GiB) is under 4 GiB.
  assert.deepEqual(sim.timers.idleHolders, { 'gpu-h100': { 'gpu0:pid407': T0 + MIN, 'gpu0:pid418': T0 + MIN } });
  const [at30] = sim.run(1, gpuAt(0));
  assert.deepEqual(
    at30!.raise.map((c) => [c.type, c.severity, c.session, c.gpuIndex, c.value]),
    [
      ['gpu_idle_holder', 'warning', 'gpu-h100:train-llama', 0, 21130],
      ['gpu_idle_holder', 'warning', 'gpu-h100:eval run #2', 0, 6746],
    ],
  );
  assert.equal(at30!.raise[0]!.message, "python3 (pid 407, root, session 'train-llama') holds 20.6 GiB on GPU 0 (NVIDIA H100 80GB HBM3) of gpu-h100 at 0% utilization for over 30 min (alert at 4 GiB, 5%)");
  // Busy again: resolved, and the timers forget them.
  const busy = sim.step(gpuAt(60)(sim.now));
  assert.deepEqual([busy.resolve.length, sim.timers.idleHolders], [2, {}]);
});

test('gpu_idle_holder: a busy spell restarts the count; an unreachable host or a failed nvidia-smi keeps it; a process outside tmux is said to be', () => {
  const sim = new Sim();
  sim.run(20, gpuAt(0));
  sim.run(1, gpuAt(50));
  assert.deepEqual(sim.run(29, gpuAt(0)).flatMap((r) => r.raise), [], 'counted again from the busy spell');
  // Offline for a poll and nvidia-smi failing for another: the count goes on.
  sim.now += MIN;
  sim.step([{ ...offlineHost(sim.now), hostname: 'gpu-h100' }]);
  sim.now += MIN;
  sim.step([{ ...gpuAt(0)(sim.now)[0]!, gpus: [], gpu_available: false, gpu_error: 'nvidia-smi failed' }]);
  assert.equal(sim.timers.idleHolders['gpu-h100']!['gpu0:pid407'], T0 + 22 * MIN);
  const orphan = (now: number) => gpuAt(0)(now).map((h) => ({ ...h, sessions: [] }));
  const [r] = sim.run(1, orphan);
  assert.match(r!.raise[0]!.message, /^python3 \(pid 407, not in a tmux session\) holds/);
  assert.equal(r!.raise[0]!.session, null);
});

test('gpu_idle_holder: thresholds from alerts.gpu_idle_holder, and enabled: false switches it off', () => {
  const strict = new Sim(config({ gpu_idle_holder: { memory_gib: 3, utilization_percent: 10, minutes: 5 } }));
  const [r] = strict.run(6, gpuAt(8)).filter((x) => x.raise.length > 0);
  assert.deepEqual(r!.raise.map((c) => c.value), [21130, 3658, 6746], '3.6 GiB counts at 3 GiB; 8 % is idle at 10 %');
  const off = new Sim(config({ gpu_idle_holder: { enabled: false } }));
  assert.deepEqual([off.run(60, gpuAt(0)).flatMap((x) => x.raise), off.timers], [[], noTimers()]);
});

test('gpu_idle_holder after a restart (empty timers): an open alert whose condition holds stays open, unchanged', () => {
  const sim = new Sim();
  sim.run(31, gpuAt(0));
  assert.equal(sim.open.length, 2);
  sim.timers = noTimers();
  const after = sim.step(gpuAt(0)(sim.now + MIN));
  assert.deepEqual([after.raise, after.update, after.resolve], [[], [], []]);
  // Without timing (a caller that keeps none) the timed alerts are left as they are, not resolved.
  const untimed = sim.step(gpuAt(60)(sim.now), { timing: false });
  assert.deepEqual(untimed.resolve, []);
});

/** One host with a session `job` whose CPU is `cpu` (and its pid 900 on the GPU at `gpu` % when given). */
function jobHost(now: number, cpu: number | null, gpu?: number): Host[] {
  const job = session('gpu-h100', 'job', now, { cpu_percent: cpu, pids: [900, 901], fleetmon_id: 'gpu-h100:alice:job', user: 'alice' });
  const gpus = gpu === undefined ? [{ ...H100, utilization_percent: 0, processes: [] }] : [{ ...H100, utilization_percent: gpu, processes: [{ pid: 901, name: 'python3', memory_mb: 1000, session_id: job.id, uid: 1000, user: 'alice', cmdline: 'python3 job.py' }] }];
  return [{ ...h100Host(now), sessions: [job], gpus }];
}

test('session_finished: busy for 12 minutes, then quiet for 5: one info alert, "its job looks done"; busy again resolves it', () => {
  const sim = new Sim();
  sim.run(12, (now) => jobHost(now, 150));
  assert.deepEqual(sim.timers.sessions, { 'gpu-h100': { 'session:alice:job': { busySince: T0 + MIN, quietSince: null } } });
  assert.deepEqual(sim.run(5, (now) => jobHost(now, 0.3)).flatMap((r) => r.raise), [], 'quiet under 5 minutes');
  const [r] = sim.run(1, (now) => jobHost(now, 0.3));
  assert.deepEqual(r!.raise.map((c) => [c.type, c.severity, c.session, c.value]), [['session_finished', 'info', 'gpu-h100:job', 12]]);
  assert.equal(r!.raise[0]!.message, "session 'job' (alice) on gpu-h100 has gone quiet after 12 min busy: its job looks done");
  assert.deepEqual(sim.run(10, (now) => jobHost(now, 0.3)).flatMap((x) => [...x.raise, ...x.update]), [], 'raised once, not updated while quiet');
  const again = sim.step(jobHost(sim.now + MIN, 120));
  assert.equal(again.resolve.length, 1);
});

test('session_finished: a short quiet spell inside a job does not split it; a short busy spell is not a job; the GPU counts as busy', () => {
  const sim = new Sim();
  sim.run(6, (now) => jobHost(now, 150));
  sim.run(2, (now) => jobHost(now, 0));
  sim.run(6, (now) => jobHost(now, 150));
  const done = sim.run(6, (now) => jobHost(now, 0)).flatMap((r) => r.raise);
  assert.deepEqual(done.map((c) => c.value), [14], 'one 14-minute job, not two of 6');

  const blip = new Sim();
  blip.run(5, (now) => jobHost(now, 150));
  assert.deepEqual(blip.run(30, (now) => jobHost(now, 0)).flatMap((r) => r.raise), []);
  assert.deepEqual(blip.timers.sessions, {}, 'forgotten once quiet long enough');

  const gpu = new Sim();
  gpu.run(12, (now) => jobHost(now, 1, 97));
  const [r] = gpu.run(6, (now) => jobHost(now, 1, 0)).filter((x) => x.raise.length > 0);
  assert.equal(r!.raise[0]!.type, 'session_finished', 'CPU idle, GPU busy: a GPU job');
});

test('session_finished: unknown CPU keeps the state; a session gone resolves; restart carries it; thresholds and enabled: false from alerts.session_finished', () => {
  const sim = new Sim();
  sim.run(12, (now) => jobHost(now, 150));
  sim.run(1, (now) => jobHost(now, null));
  assert.deepEqual(sim.timers.sessions['gpu-h100']!['session:alice:job'], { busySince: T0 + MIN, quietSince: null });
  sim.run(6, (now) => jobHost(now, 0));
  assert.deepEqual(sim.types(), ['session_finished']);
  sim.timers = noTimers();
  const carried = sim.step(jobHost(sim.now + MIN, 0));
  assert.deepEqual([carried.raise, carried.update, carried.resolve], [[], [], []]);
  const gone = sim.step([{ ...jobHost(sim.now, 0)[0]!, sessions: [] }]);
  assert.deepEqual([gone.resolve.map((a) => a.type), sim.timers.sessions], [['session_finished'], {}]);

  const quick = new Sim(config({ session_finished: { busy_cpu_percent: 90, busy_minutes: 2, quiet_minutes: 1 } }));
  quick.run(3, (now) => jobHost(now, 95));
  assert.deepEqual(quick.run(2, (now) => jobHost(now, 80)).flatMap((r) => r.raise.map((c) => c.value)), [3], '80 % is quiet at 90 %');
  const off = new Sim(config({ session_finished: { enabled: false } }));
  off.run(12, (now) => jobHost(now, 150));
  assert.deepEqual(off.run(10, (now) => jobHost(now, 0)).flatMap((r) => r.raise), []);
});
