/**
 * Whole probe answers built from other machines' /proc files (node_exporter and procfs fixtures, see their
 * README.md), to check what the host metrics say when a CPU goes offline between two polls.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { splitProbeResponse } from '../../../src/server/collector/parse.js';
import { buildSnapshot, type Counters, type SnapshotInput } from '../../../src/server/collector/snapshot.js';
import { asGrepOutput, testDir } from '../../helpers/common.js';

const read = (dir: string, name: string) => readFileSync(join(testDir, 'fixtures', dir, name), 'utf8');

/** Adds ticks to chosen cpu lines (user = field 1, idle = field 4), so a second poll has known deltas. */
function advance(stat: string, add: Record<string, { user?: number; idle?: number }>): string {
  return stat
    .split('\n')
    .map((l) => {
      const parts = l.split(' ');
      const head = parts[0]!;
      const key = head === 'cpu' ? 'cpu' : head;
      const d = add[key];
      if (!d || !/^cpu\d*$/.test(head)) return l;
      // The aggregate line has two spaces after "cpu"; keep the spacing as the kernel prints it.
      const first = parts.findIndex((p, i) => i > 0 && p !== '');
      parts[first] = String(Number(parts[first]) + (d.user ?? 0));
      parts[first + 3] = String(Number(parts[first + 3]) + (d.idle ?? 0));
      return parts.join(' ');
    })
    .join('\n');
}

function answer(stat: string, uptime: string): string {
  const m = '@@fm-n1';
  return [
    `${m} begin v1 4096 100`,
    `${m} proc`,
    asGrepOutput('/proc/stat', stat),
    asGrepOutput('/proc/meminfo', read('node-exporter', 'proc-meminfo')),
    asGrepOutput('/proc/loadavg', read('node-exporter', 'proc-loadavg')),
    // The fixtures have no /proc/uptime; the probe always sends one, and CPU deltas need it.
    `/proc/uptime:${uptime}`,
    asGrepOutput('/proc/net/dev', read('procfs', 'proc-net-dev')),
    `${m} rc proc 0`,
    `${m} end`,
  ].join('\n');
}

function input(text: string, previous: Counters | null): SnapshotInput {
  return {
    hostName: 'node',
    address: '10.0.0.9',
    sshUser: 'fleetmon',
    sshPort: 22,
    hasGpu: false,
    legacyThresholdHours: 72,
    response: splitProbeResponse(text, 'n1'),
    previous,
    nowMs: 1418190000_000,
  };
}

test('a CPU that goes offline between polls is neither counted nor confused with its neighbour', () => {
  const first = buildSnapshot(input(answer(read('node-exporter', 'proc-stat'), '7000.00 50000.00'), null));
  assert.deepEqual(first.problems, []);
  assert.equal(first.metrics?.cpu_count, 8);
  assert.deepEqual(first.metrics?.cpu_per_core, [null, null, null, null, null, null, null, null], 'first poll: no deltas');

  // One second later cpu2 is offline (no line, as the kernel prints only online CPUs); cpu3 was fully busy and
  // every other online core idle.
  const online = [0, 1, 3, 4, 5, 6, 7];
  const add: Record<string, { user?: number; idle?: number }> = { cpu: { user: 100, idle: 600 } };
  for (const id of online) add[`cpu${id}`] = id === 3 ? { user: 100 } : { idle: 100 };
  const stat2 = advance(read('node-exporter', 'proc-stat-cpu2-offline'), add);
  const second = buildSnapshot(input(answer(stat2, '7001.00 50006.00'), first.counters));
  assert.deepEqual(second.problems, []);
  assert.equal(second.metrics?.cpu_count, 7, 'seven CPUs are online');
  assert.deepEqual(second.metrics?.cpu_per_core, [0, 0, 100, 0, 0, 0, 0], 'cpu3 (third online core) was the busy one');
  assert.equal(second.metrics?.cpu_percent, Math.round((100 / 700) * 1000) / 10);
  assert.deepEqual(
    second.metrics?.network.map((n) => [n.iface, n.rx_bytes, n.rx_bytes_per_s]),
    [
      ['vethf345468', 648, 0],
      ['docker0', 2568, 0],
      ['eth0', 874354587, 0],
    ],
  );
});

test('SMT switched off: only even CPUs are online, and only they are counted', () => {
  const snap = buildSnapshot(input(answer(read('node-exporter', 'proc-stat-smt-off'), '7000.00 50000.00'), null));
  assert.equal(snap.metrics?.cpu_count, 4);
  assert.equal(snap.metrics?.cpu_per_core.length, 4);
  assert.equal(snap.metrics?.memory_total_mb, Math.round((3742148 / 1024) * 10) / 10);
});
