/**
 * The probe's resident nvidia-smi readers, against a fake fleet host (real sshd, the probe over one SSH channel as
 * the collector runs it, the fake nvidia-smi replaying the H100 capture in loop mode): nvidia-smi is started once
 * per query instead of twice per poll, the sections stay byte-identical to the per-poll calls, a killed reader is
 * restarted with the poll in between saying stale, and a hung one neither hangs a poll nor passes off old data.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { probeScriptPath } from '../../src/paths.js';
import { parseGpuResident, splitProbeResponse } from '../../src/server/collector/parse.js';
import { buildSnapshot, type HostSnapshot } from '../../src/server/collector/snapshot.js';
import { SshTransport } from '../../src/server/collector/transport.js';
import { startFleet, type FakeHost, type Fleet } from '../fleet/fleet.js';
import { descendants, isAlive } from '../fleet/proc.js';

const INTERVAL_MS = 400;
const probe = readFileSync(probeScriptPath, 'utf8');
let fleet: Fleet;
let host: FakeHost;

before(async () => {
  fleet = await startFleet({ hosts: [{ name: 'gpu-resident', gpu: true }] });
  host = fleet.hosts[0]!;
});
after(async () => {
  await fleet?.stop();
});

function transport(): SshTransport {
  return new SshTransport(
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
}

interface Polled {
  gpu: string | undefined;
  apps: string | undefined;
  rc: { gpu: number | undefined; apps: number | undefined };
  resident: ReturnType<typeof parseGpuResident>;
  hasResidentSection: boolean;
  snap: HostSnapshot;
  wallMs: number;
}

async function poll(t: SshTransport, intervalMs?: number): Promise<Polled> {
  const channel = await t.channel();
  const t0 = performance.now();
  const { nonce, text } = await channel.poll('on', 15_000, { disks: false, ...(intervalMs === undefined ? {} : { intervalMs }) });
  const wallMs = performance.now() - t0;
  const response = splitProbeResponse(text, nonce);
  assert.ok(response.complete, 'the answer ends with its end marker');
  const snap = buildSnapshot({
    hostName: host.name,
    address: host.address,
    sshUser: fleet.user,
    sshPort: host.port,
    hasGpu: true,
    legacyThresholdHours: 72,
    response,
    previous: null,
    nowMs: Date.now(),
  });
  return {
    gpu: response.sections.get('gpu'),
    apps: response.sections.get('gpuapps'),
    rc: { gpu: response.exitCodes.get('gpu'), apps: response.exitCodes.get('gpuapps') },
    resident: parseGpuResident(response.sections.get('gpuresident') ?? ''),
    hasResidentSection: response.sections.has('gpuresident'),
    snap,
    wallMs,
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls once an interval until both readers answer from their blocks. */
async function untilFresh(t: SshTransport, maxPolls = 15): Promise<Polled> {
  for (let i = 0; i < maxPolls; i++) {
    const p = await poll(t, INTERVAL_MS);
    if (p.resident.gpu?.state === 'fresh' && p.resident.gpuapps?.state === 'fresh') return p;
    await sleep(INTERVAL_MS);
  }
  throw new Error(`the resident readers did not become fresh within ${maxPolls} polls`);
}

/**
 * The host's resident GPU-query reader processes: under its sshd, with nvidia-smi's command line (the fake's loop
 * sets it, overwriting its environment block, so TMUX_TMPDIR cannot find it).
 */
function gpuReaders(): number[] {
  return descendants(host.sshdPid === undefined ? [] : [host.sshdPid]).filter((pid) => {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      return cmd.startsWith('nvidia-smi --query-gpu=count,') && cmd.includes('--loop-ms=');
    } catch {
      return false;
    }
  });
}

const loopStarts = () => host.gpuCalls().filter((c) => c.includes('--loop-ms=')).length;

test('without an interval (an older collector) nvidia-smi runs twice per poll and there is no gpuresident section', async () => {
  const t = transport();
  try {
    const before = host.gpuCalls().length;
    const p1 = await poll(t);
    await poll(t);
    assert.equal(host.gpuCalls().length - before, 4, 'two calls per poll');
    assert.equal(p1.hasResidentSection, false);
    assert.deepEqual(p1.snap.problems, []);
  } finally {
    t.close();
  }
});

test('with the interval, nvidia-smi is started once per query, not per poll, and the sections are byte-identical', async () => {
  const t = transport();
  const oneOff = transport();
  let readers: number[] = [];
  try {
    const reference = await poll(oneOff);
    const first = await untilFresh(t);
    assert.equal(first.gpu, reference.gpu, 'the GPU rows as the per-poll call prints them (count field dropped)');
    assert.equal(first.apps, reference.apps);
    const calls = host.gpuCalls().length;
    for (let i = 0; i < 5; i++) {
      await sleep(INTERVAL_MS);
      const p = await poll(t, INTERVAL_MS);
      assert.equal(p.resident.gpu?.state, 'fresh');
      assert.equal(p.resident.gpuapps?.state, 'fresh');
      assert.ok(p.resident.gpu!.ageMs <= INTERVAL_MS + 1000, `block age ${p.resident.gpu!.ageMs} ms`);
      assert.equal(p.gpu, reference.gpu);
      assert.equal(p.apps, reference.apps);
      assert.deepEqual(p.snap.problems, []);
      assert.equal(p.snap.gpu.gpus[0]?.name, 'NVIDIA H100 80GB HBM3');
    }
    assert.equal(host.gpuCalls().length, calls, 'no nvidia-smi started during 5 polls');
    readers = gpuReaders();
    assert.equal(readers.length, 1, 'one resident GPU reader');
  } finally {
    t.close();
    oneOff.close();
  }
  // Closing the channel ends the probe, and its readers with it (not orphaned: checked by pid, wherever it went).
  const deadline = Date.now() + 3000;
  while (readers.some(isAlive) && Date.now() < deadline) await sleep(50);
  assert.deepEqual(readers.filter(isAlive), [], 'the readers end with the probe');
});

test('a killed reader is restarted: the poll in between says stale (a host problem), the next is fresh again', async () => {
  const t = transport();
  try {
    await untilFresh(t);
    const readers = gpuReaders();
    assert.equal(readers.length, 1);
    const starts = loopStarts();
    process.kill(readers[0]!, 'SIGKILL');
    await sleep(200);
    const between = await poll(t, INTERVAL_MS);
    assert.equal(between.resident.gpu?.state, 'stale');
    assert.equal(between.resident.gpu?.cause, 'exited');
    assert.equal(between.gpu, '', 'no old rows passed off as current');
    assert.equal(between.snap.gpu.available, false);
    assert.ok(
      between.snap.problems.some((p) => /^GPU: the resident nvidia-smi reader exited: its last reading is [\d.]+ s old/.test(p)),
      between.snap.problems.join('; '),
    );
    // The new reader starts in the background: its invocation lands in the fake's log a moment after the answer.
    const until = Date.now() + 2000;
    while (loopStarts() < starts + 1 && Date.now() < until) await sleep(50);
    assert.equal(loopStarts(), starts + 1, 'a new GPU reader was started');
    const again = await untilFresh(t, 6);
    assert.deepEqual(again.snap.problems, []);
    assert.equal(again.snap.gpu.available, true);
    const now = gpuReaders();
    assert.equal(now.length, 1);
    assert.notEqual(now[0], readers[0]);
  } finally {
    t.close();
  }
});

test('a hung reader does not hang the poll: stale within one interval + 1 s, no one-off call, fresh again once it answers', async () => {
  const t = transport();
  try {
    await untilFresh(t);
    const calls = host.gpuCalls().length;
    host.setGpuMode('hang');
    const deadline = Date.now() + INTERVAL_MS + 1000 + 3 * INTERVAL_MS;
    let stale: Polled | undefined;
    while (!stale && Date.now() < deadline) {
      await sleep(INTERVAL_MS);
      const p = await poll(t, INTERVAL_MS);
      assert.ok(p.wallMs < 2000, `a poll took ${Math.round(p.wallMs)} ms while nvidia-smi hangs`);
      if (p.resident.gpu?.state === 'stale') stale = p;
      else assert.equal(p.resident.gpu?.state, 'fresh', 'fresh until the block is too old');
    }
    assert.ok(stale, 'a poll said stale within one interval + 1 s');
    assert.equal(stale.resident.gpu?.cause, 'stalled');
    assert.ok(stale.resident.gpu!.ageMs > INTERVAL_MS + 1000 - 100, `age ${stale.resident.gpu!.ageMs} ms`);
    assert.equal(stale.rc.gpu, 124);
    assert.equal(stale.gpu, '');
    assert.equal(stale.resident.gpuapps?.state, 'stale', 'the process list is not trusted while the GPU reader is stale');
    assert.ok(stale.snap.problems.some((p) => p.startsWith('GPU: the resident nvidia-smi reader stalled')), stale.snap.problems.join('; '));
    // Still hung: the polls stay quick and stale (a restarted reader gets no one-off call that would hang 5 s).
    for (let i = 0; i < 3; i++) {
      await sleep(INTERVAL_MS);
      const p = await poll(t, INTERVAL_MS);
      assert.ok(p.wallMs < 2000, `a poll took ${Math.round(p.wallMs)} ms while nvidia-smi hangs`);
      assert.equal(p.resident.gpu?.state, 'stale');
    }
    assert.equal(host.gpuCalls().filter((c) => !c.includes('--loop-ms=')).length, host.gpuCalls().slice(0, calls).filter((c) => !c.includes('--loop-ms=')).length, 'no one-off nvidia-smi call while it hangs');
    host.setGpuMode('replay');
    const back = await untilFresh(t, 10);
    assert.deepEqual(back.snap.problems, []);
  } finally {
    host.setGpuMode('replay');
    t.close();
  }
});

test('a driver failure in loop mode is reported as a one-off call reports it, and the readers come back with the driver', async () => {
  const t = transport();
  try {
    await untilFresh(t);
    host.setGpuMode('fail');
    let failed: Polled | undefined;
    for (let i = 0; i < 5 && !failed; i++) {
      await sleep(INTERVAL_MS);
      const p = await poll(t, INTERVAL_MS);
      if (p.rc.gpu === 9) failed = p;
    }
    assert.ok(failed, 'a poll reported the driver failure');
    assert.match(failed.snap.gpu.reason ?? '', /^nvidia-smi failed \(exit 9\): NVIDIA-SMI has failed because it couldn't communicate/);
    host.setGpuMode('replay');
    const back = await untilFresh(t, 15);
    assert.deepEqual(back.snap.problems, []);
  } finally {
    host.setGpuMode('replay');
    t.close();
  }
});

test('a process name that spells the block lines (a newline, then "@fm-block 9 9, , , ") is not taken for one: the block is read whole', async () => {
  // Only a name with a newline in it could start a line of nvidia-smi's output; arithmetic on such a "trailer"
  // would have ended the probe (dash aborts on a bad $((…))).
  host.setGpuApps([
    { pid: 4242, processName: 'evil\n@fm-block 9 9, , , ', usedMemoryMiB: 100 },
    { pid: 4243, processName: 'evil\n@fm-start 9', usedMemoryMiB: 200 },
    { pid: 4244, processName: 'python3', usedMemoryMiB: 300 },
  ]);
  const t = transport();
  try {
    const first = await untilFresh(t);
    for (let i = 0; i < 3; i++) {
      await sleep(INTERVAL_MS);
      const p = await poll(t, INTERVAL_MS);
      assert.equal(p.resident.gpuapps?.state, 'fresh', 'the block is still read: the forged lines are not block lines');
      assert.doesNotMatch(p.apps ?? '', /@fm-/);
      assert.match(p.apps ?? '', /, 4244, python3, 300/);
    }
    assert.equal(first.resident.gpu?.state, 'fresh');
  } finally {
    t.close();
    host.setGpuApps(null);
  }
});
