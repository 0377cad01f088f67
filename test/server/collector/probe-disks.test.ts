/**
 * Disk usage is read only now and then: the collector asks the real probe (run locally, as the embedded default
 * does) for df on the first poll and every DISK_REFRESH_MS after, and the host keeps its last reading in between;
 * every poll carries the polling interval.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parseConfigObject } from '../../../src/core/config.js';
import { probeScriptPath } from '../../../src/paths.js';
import { splitProbeResponse } from '../../../src/server/collector/parse.js';
import { DISK_REFRESH_MS, Poller } from '../../../src/server/collector/poller.js';
import { LocalTransport, type Transport } from '../../../src/server/collector/transport.js';

const probe = readFileSync(probeScriptPath, 'utf8');

test('the probe runs df unless the request says nodf', async () => {
  const transport = new LocalTransport(probe);
  try {
    const channel = await transport.channel();
    for (const [disks, expected] of [[undefined, true], [true, true], [false, false], [true, true]] as const) {
      const { nonce, text } = await channel.poll('off', 10_000, disks === undefined ? {} : { disks });
      const answer = splitProbeResponse(text, nonce);
      assert.ok(answer.complete, 'the answer ends with its end marker');
      assert.equal(answer.sections.has('df'), expected, `df section with disks=${String(disks)}`);
      assert.equal(answer.exitCodes.has('df'), expected);
      assert.ok(answer.sections.has('proc'), 'the host counters are read every poll');
    }
  } finally {
    transport.close();
  }
});

test('a three-word request, as an older collector sends, still gets df', () => {
  const r = spawnSync('sh', ['-c', probe, 'fleetmon-probe'], { input: 'poll old3 off\nquit\n', encoding: 'utf8', timeout: 10_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^@@fm-old3 df$/m);
  assert.match(r.stdout, /^@@fm-old3 rc df \d+$/m);
  assert.match(r.stdout, /^@@fm-old3 end$/m);
});

test('the poller asks for disks on the first poll and again after DISK_REFRESH_MS, keeping the last reading between', async () => {
  let now = 1_800_000_000_000;
  const requests: boolean[] = [];
  const intervals: Array<number | undefined> = [];
  const local = new LocalTransport(probe);
  // The real local probe, with each request's disks flag recorded on its way through.
  const recording: Transport = {
    kind: 'local',
    async channel() {
      const channel = await local.channel();
      return new Proxy(channel, {
        get(target, prop, receiver) {
          if (prop !== 'poll') return Reflect.get(target, prop, receiver) as unknown;
          return (gpu: 'on' | 'off' | 'auto', deadlineMs: number, opts: { disks?: boolean; intervalMs?: number } = {}) => {
            requests.push(opts.disks !== false);
            intervals.push(opts.intervalMs);
            return target.poll(gpu, deadlineMs, opts);
          };
        },
      });
    },
    run: (argv, deadlineMs) => local.run(argv, deadlineMs),
    close: () => local.close(),
  };
  const config = parseConfigObject({ polling_interval_seconds: 30, hosts: [{ name: 'here', address: 'localhost', transport: 'local', has_gpu: false }] }, '<test>');
  const poller = new Poller({ config, now: () => now, makeTransport: () => recording });
  try {
    const disksAfter = async () => {
      await poller.runCycle();
      const host = poller.hosts()[0]!;
      assert.equal(host.status, 'online', `host polled: ${host.last_error ?? host.problems.join('; ')}`);
      return host.disks;
    };
    // (In a container whose root is an overlay, df lists nothing: the reading is then [] throughout, which the
    // request pattern below still checks; snapshot.test.ts covers keeping a non-empty reading.)
    const first = await disksAfter();
    const polls = DISK_REFRESH_MS / 30_000;
    for (let i = 1; i < polls; i++) {
      now += 30_000;
      assert.deepEqual(await disksAfter(), first, `poll ${i + 1} keeps the first reading`);
    }
    now += 30_000;
    await disksAfter();
    assert.deepEqual(requests, [true, ...Array.from({ length: polls - 1 }, () => false), true]);
    // Every poll tells the probe the interval, at which it keeps nvidia-smi resident (probe-resident.test.ts).
    assert.deepEqual(new Set(intervals), new Set([30_000]));
  } finally {
    await poller.stop();
  }
});
