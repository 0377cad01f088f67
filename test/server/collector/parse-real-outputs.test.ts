/**
 * The pure parsers against outputs captured on other machines: the fixtures of prometheus/procfs and
 * prometheus/node_exporter, the nvidia-smi captures of utkuozdemir/nvidia_gpu_exporter, and a few captures taken on
 * a development machine (see each folder's README.md for where every file comes from and what was derived).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  GPU_APP_FIELDS,
  GPU_FIELDS,
  cpuPercent,
  gpuNumber,
  groupGrepByFile,
  parseDf,
  parseGpuApps,
  parseGpus,
  parseLoadavg,
  parseMeminfo,
  parseNetDev,
  parsePidStat,
  parseProcStat,
} from '../../../src/server/collector/parse.js';
import { testDir } from '../../helpers/common.js';

const read = (dir: string, name: string) => readFileSync(join(testDir, 'fixtures', dir, name), 'utf8');
const lines = (dir: string, name: string) => read(dir, name).split('\n');

/** The first eight counters of a /proc/stat cpu line (guest and guest_nice are already inside user and nice). */
const rawCpu = (line: string) => {
  const n = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = n.reduce((a, b) => a + b, 0);
  return { busy: total - n[3]! - n[4]!, total };
};

// ---- df -P -B1 -l ----

test('df: filesystems whose names have spaces keep their row (GNU df 9.1 capture)', () => {
  const disks = parseDf(read('dev-capture', 'df-P-B1-l.txt'));
  const share = disks.find((d) => d.mount === '/tmp/fm df/mnt point');
  assert.deepEqual(share, {
    filesystem: '//server/my share',
    mount: '/tmp/fm df/mnt point',
    totalBytes: 67108864,
    usedBytes: 0,
    availableBytes: 67108864,
    percent: 0,
  });
  // A name whose last word is a number must not shift the columns: 2024 is part of the name, not the size.
  const dataset = disks.find((d) => d.mount === '/tmp/fm df/tank data');
  assert.equal(dataset?.filesystem, 'tank/my data 2024');
  assert.equal(dataset?.totalBytes, 16777216);
  assert.equal(dataset?.availableBytes, 16777216);
  const root = disks.find((d) => d.mount === '/')!;
  assert.deepEqual([root.filesystem, root.totalBytes, root.usedBytes, root.availableBytes, root.percent], ['/dev/vda', 270553174016, 24084406272, 84859887616, 23]);
  assert.equal(disks.length, 6, 'every data row of the capture, none dropped');
});

test('df: a name ending in digits is read from the right, with CRLF', () => {
  const [a, ...rest] = parseDf(
    'Filesystem 1-blocks Used Available Capacity Mounted on\r\n' + 'tank/backups 2023 1000 400 600 40% /srv/backups 2023\r\n',
  );
  assert.equal(rest.length, 0);
  assert.deepEqual([a?.filesystem, a?.totalBytes, a?.usedBytes, a?.availableBytes, a?.percent, a?.mount], ['tank/backups 2023', 1000, 400, 600, 40, '/srv/backups 2023']);
});

// ---- /proc/net/dev ----

test('net/dev: the procfs fixture, loopback skipped', () => {
  const net = parseNetDev(lines('procfs', 'proc-net-dev'));
  assert.deepEqual(net, [
    { iface: 'vethf345468', rxBytes: 648, txBytes: 438 },
    { iface: 'docker0', rxBytes: 2568, txBytes: 438 },
    { iface: 'eth0', rxBytes: 874354587, txBytes: 563352563 },
  ]);
  assert.deepEqual(parseNetDev(lines('procfs', 'proc-26231-net-dev')), [{ iface: 'eth0', rxBytes: 438, txBytes: 648 }]);
});

test('net/dev: names with dots, dashes and underscores, longer than the 6-column field (veth/bridge capture)', () => {
  const net = parseNetDev(lines('dev-capture', 'proc-net-dev-netns.txt'));
  assert.deepEqual(net, [
    { iface: 'br-1a2b3c4d5e6f', rxBytes: 266, txBytes: 266 },
    { iface: 'veth.100', rxBytes: 266, txBytes: 266 },
    { iface: 'wg-vpn_01', rxBytes: 0, txBytes: 0 },
  ]);
});

test('net/dev: an alias name (eth0:1) keeps its colon and its counters', () => {
  // The line procfs's TestNetDevParseLine reads for both "eth0" and "eth0:1".
  const alias = '  eth0:1: 1 2 3    4    5     6          7         8 9  10    11    12    13     14       15          16';
  assert.deepEqual(parseNetDev([alias]), [{ iface: 'eth0:1', rxBytes: 1, txBytes: 9 }]);
  // As the probe sends it: grep -H style, split at the first colon (the path's).
  const files = groupGrepByFile(`/proc/net/dev:${alias}\n/proc/net/dev:${alias.replace('eth0:1', '  eth0')}`);
  assert.deepEqual(parseNetDev(files.get('/proc/net/dev')!), [
    { iface: 'eth0:1', rxBytes: 1, txBytes: 9 },
    { iface: 'eth0', rxBytes: 1, txBytes: 9 },
  ]);
});

test('net/dev: counters glued to the colon (Linux 2.4 printed "%6s:%8lu") are read, alias or not', () => {
  const glued = [
    '  eth0:1234567890 9876543    0    0    0     0          0         0 987654321 1234567    0    0    0     0       0          0',
    'eth0:1:123456789 98765    0    0    0     0          0         0 87654321 12345    0    0    0     0       0          0',
  ];
  assert.deepEqual(parseNetDev(glued), [
    { iface: 'eth0', rxBytes: 1234567890, txBytes: 987654321 },
    { iface: 'eth0:1', rxBytes: 123456789, txBytes: 87654321 },
  ]);
});

// ---- /proc/stat ----

test('/proc/stat: node_exporter fixture, eight cores, guest time not counted twice', () => {
  const text = lines('node-exporter', 'proc-stat');
  const s = parseProcStat(text);
  assert.equal(s.cores.length, 8);
  assert.deepEqual(s.total, rawCpu(text[0]!));
  assert.equal(s.total?.total, 301854 + 612 + 111922 + 8979004 + 3552 + 2 + 3944 + 0);
  assert.deepEqual(s.cores[7], { id: 7, ...rawCpu(text[8]!) });
  assert.equal(s.bootTime, 1418183276);
});

test('/proc/stat: an offline CPU has no line and is not invented (cpu2 offline, as procfs sysfs fixture says)', () => {
  assert.equal(read('procfs', 'sys-devices-system-cpu-offline').trim(), '2');
  const s = parseProcStat(lines('node-exporter', 'proc-stat-cpu2-offline'));
  assert.equal(s.cores.length, 7);
  assert.deepEqual(s.cores.map((c) => c.id), [0, 1, 3, 4, 5, 6, 7]);
  assert.ok(s.cores.every((c) => c.total > 0), 'no zero-filled placeholder core');
});

test('/proc/stat: non-contiguous numbering (SMT off: cpu0 cpu2 cpu4 cpu6 online)', () => {
  const text = lines('node-exporter', 'proc-stat-smt-off');
  const s = parseProcStat(text);
  assert.deepEqual(s.cores.map((c) => c.id), [0, 2, 4, 6]);
  assert.deepEqual(s.cores[1], { id: 2, ...rawCpu(text.find((l) => l.startsWith('cpu2 '))!) });
});

test('/proc/stat: cores are compared by CPU number, not position, across a hotplug', () => {
  const before = parseProcStat(lines('node-exporter', 'proc-stat'));
  const after = parseProcStat(lines('node-exporter', 'proc-stat-cpu2-offline'));
  const cpu3Before = before.cores.find((c) => c.id === 3);
  const cpu3After = after.cores.find((c) => c.id === 3);
  assert.deepEqual(cpu3Before, cpu3After);
  assert.equal(cpuPercent(cpu3Before, { busy: cpu3After!.busy + 50, total: cpu3After!.total + 100 }), 50);
});

// ---- other /proc files from the same fixtures ----

test('meminfo and loadavg from the node_exporter fixtures', () => {
  const m = parseMeminfo(lines('node-exporter', 'proc-meminfo'))!;
  const kb = (key: string) => Number(/\s(\d+) kB/.exec(lines('node-exporter', 'proc-meminfo').find((l) => l.startsWith(`${key}:`))!)![1]);
  assert.equal(m.totalMb, Math.round((kb('MemTotal') / 1024) * 10) / 10);
  assert.equal(m.swapTotalMb, Math.round((kb('SwapTotal') / 1024) * 10) / 10);
  assert.ok(m.availableMb > 0 && m.availableMb < m.totalMb);
  assert.deepEqual(parseLoadavg(lines('node-exporter', 'proc-loadavg')), [0.21, 0.37, 0.39]);
});

test('/proc/PID/stat from procfs: a kernel thread with negative cutime, a name of spaces and parentheses', () => {
  const k = parsePidStat(read('procfs', 'proc-26232-stat'))!;
  assert.deepEqual([k.pid, k.comm, k.state, k.ppid, k.ticks, k.startTime, k.rssPages], [33, 'ata_sff', 'S', 2, 0, 5, 0]);
  const odd = parsePidStat(read('procfs', 'proc-584-stat'))!;
  assert.deepEqual([odd.pid, odd.comm, odd.state, odd.ppid, odd.ticks, odd.startTime, odd.rssPages], [1020, '(a b ) ( c d) ', 'R', 28378, 0, 10839175, 155]);
});

// ---- nvidia-smi ----

/**
 * The captures hold `--format=csv` (header, units) over every field; the probe asks for fleetmon's fields only.
 * This projects the capture's columns onto the probe's field list, as nvidia_gpu_exporter's fake nvidia-smi does.
 */
function project(csv: string, fields: readonly string[], aliases: Record<string, string> = {}): string {
  const [header, ...rows] = csv.split('\n').filter((l) => l.trim() !== '');
  const names = header!.split(', ').map((h) => h.replace(/ \[.*\]$/, '').trim());
  const at = fields.map((f) => names.indexOf(aliases[f] ?? f));
  assert.ok(at.every((i) => i >= 0), `every field is in the capture: ${fields.join(',')}`);
  return rows.map((r) => at.map((i) => r.split(', ')[i]!.trim()).join(', ')).join('\n');
}

test('nvidia-smi, H100 in MIG mode under load: utilization is [N/A] (null), the rest is read with units', () => {
  const [g, ...more] = parseGpus(project(read('nvidia-gpu-exporter', 'h100-mig-load-query-gpu.csv'), GPU_FIELDS));
  assert.equal(more.length, 0);
  assert.deepEqual(g, {
    index: 0,
    uuid: 'GPU-00000000-0000-0000-0000-000000000000',
    name: 'NVIDIA H100 80GB HBM3',
    powerDrawW: 433.78,
    powerLimitW: 700,
    memoryUsedMb: 11125,
    memoryTotalMb: 81559,
    utilizationPercent: null,
    temperatureC: 53,
  });
  const apps = parseGpuApps(
    project(read('nvidia-gpu-exporter', 'h100-mig-load-query-compute-apps.csv'), GPU_APP_FIELDS, { used_memory: 'used_gpu_memory' }),
  );
  assert.deepEqual(
    apps.map((a) => [a.gpuUuid, a.pid, a.processName, a.usedMemoryMb]),
    [
      ['GPU-00000000-0000-0000-0000-000000000000', 21180, '/root/tools/memhog', 2296],
      ['GPU-00000000-0000-0000-0000-000000000000', 21181, '/root/tools/memhog', 1272],
      ['GPU-00000000-0000-0000-0000-000000000000', 21198, './gpu_burn', 7484],
    ],
  );
});

test('nvidia-smi compute apps with [N/A] memory and long paths with spaces (WDDM capture)', () => {
  const csv = read('nvidia-gpu-exporter', 'windows-rtx-2080-super-idle-query-compute-apps.csv');
  const apps = parseGpuApps(project(csv, GPU_APP_FIELDS, { used_memory: 'used_gpu_memory' }));
  assert.equal(apps.length, csv.trim().split('\n').length - 1, 'one app per data row');
  assert.ok(apps.every((a) => a.usedMemoryMb === null));
  assert.equal(apps.find((a) => a.pid === 23988)?.processName, 'C:\\Program Files (x86)\\Microsoft\\Edge\\Application\\msedge.exe');
});

test('nvidia-smi placeholders seen in real output are missing values, never numbers', () => {
  for (const v of ['[N/A]', 'N/A', '', '[Not Supported]', '[Unknown Error]', '[Requested functionality has been deprecated]', '[Insufficient Permissions]', '[GPU requires reset]']) {
    assert.equal(gpuNumber(v), null, v);
  }
  assert.equal(gpuNumber('433.78 W'), 433.78);
  assert.equal(gpuNumber('11125 MiB'), 11125);
});
