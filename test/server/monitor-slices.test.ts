/**
 * A large fleet's cycle is stored in slices of STORE_SLICE_HOSTS hosts with the event loop free between them, and
 * still completely: every host's sample, then the alerts. The hosts answer with a real probe answer built from the
 * H100 capture (no SSH here: the transport hands the answer over), parsed on the parse pool's workers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { parseConfigObject } from '../../src/core/config.js';
import type { ProbeChannel } from '../../src/protocol/probe-channel.js';
import type { Transport } from '../../src/server/collector/transport.js';
import { Monitor, STORE_SLICE_HOSTS } from '../../src/server/monitor.js';
import { closeDatabase, openDatabase } from '../../src/server/store/db.js';
import { asGrepOutput, tempDir, testDir } from '../helpers/common.js';

const read = (name: string) => readFileSync(join(testDir, 'fixtures', 'gpu-host-h100', name), 'utf8');

function answer(nonce: string): string {
  const m = `@@fm-${nonce}`;
  return [
    `${m} begin v1 4096 100`,
    `${m} proc`,
    asGrepOutput('/proc/stat', read('proc-stat-1.txt')),
    asGrepOutput('/proc/meminfo', read('proc-meminfo.txt')),
    asGrepOutput('/proc/loadavg', read('proc-loadavg.txt')),
    `/proc/uptime:${read('proc-uptime.txt').trim()}`,
    `${m} rc proc 0`,
    `${m} end`,
  ].join('\n');
}

const transport = (): Transport => ({
  kind: 'ssh',
  channel: async () => ({ poll: async () => ({ nonce: 'x1', text: answer('x1') }) }) as unknown as ProbeChannel,
  run: async () => ({ stdout: '', stderr: '', code: 0 }),
  close: () => undefined,
});

test('a cycle of many hosts is stored in slices, the event loop turning between them, and every host is stored', async (t) => {
  const n = STORE_SLICE_HOSTS * 3 + 5;
  const dir = tempDir();
  const config = parseConfigObject({ hosts: Array.from({ length: n }, (_, i) => ({ name: `h${i}`, address: `10.0.${i >> 8}.${i & 255}`, has_gpu: false })) }, 'test');
  const { db } = openDatabase(dir.path);
  const monitor = new Monitor({ config, db, log: pino({ level: 'silent' }), makeTransport: transport });
  t.after(async () => {
    await monitor.stop();
    closeDatabase(db);
    dir.remove();
  });
  let storing = false;
  let turns = 0;
  const original = monitor['store'].writeSamples.bind(monitor['store']);
  monitor['store'].writeSamples = (ts, hosts, states) => {
    storing = true;
    original(ts, hosts, states);
  };
  const cycle = monitor.poller.runCycle();
  // Counts event-loop turns (setImmediate) that run while the cycle is being stored.
  const spin = async () => {
    while (true) {
      await new Promise((r) => setImmediate(r));
      if (storing) turns += 1;
      if (!spin.on) return;
    }
  };
  spin.on = true;
  const spinning = spin();
  await cycle;
  spin.on = false;
  await spinning;
  assert.ok(turns >= 3, `the event loop turned ${turns} times while ${n} hosts were stored (expected one per slice)`);
  const stored = db.prepare('SELECT COUNT(DISTINCT host) AS n FROM host_samples').get() as { n: number };
  assert.equal(stored.n, n);
  assert.equal(monitor.hosts().filter((h) => h.status === 'online').length, n);
});
