import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  cpuPercent,
  gpuNumber,
  parseDf,
  parseGpuApps,
  parseGpus,
  parseLoadavg,
  parseMeminfo,
  parseNetDev,
  parsePidStat,
  parseProcStat,
  parseTmux,
  parseUptime,
  splitProbeResponse,
} from '../../../src/server/collector/parse.js';
import { fixture } from '../../helpers/common.js';

const lines = (name: string) => fixture(name).split('\n');

test('CPU from the two real /proc/stat captures one second apart', () => {
  const a = parseProcStat(lines('proc-stat-1.txt'));
  const b = parseProcStat(lines('proc-stat-2.txt'));
  assert.equal(a.cores.length, 16);
  assert.ok(a.bootTime && a.bootTime > 1_700_000_000);
  const overall = cpuPercent(a.total, b.total);
  assert.ok(overall !== null && overall > 0 && overall <= 100, `overall ${overall}`);
  // The busy share must match an independent computation from the raw counters.
  const raw = (l: string) => l.trim().split(/\s+/).slice(1, 9).map(Number);
  const c1 = raw(lines('proc-stat-1.txt')[0]!);
  const c2 = raw(lines('proc-stat-2.txt')[0]!);
  const d = c2.map((v, i) => v - c1[i]!);
  const total = d.reduce((x, y) => x + y, 0);
  const expected = Math.round(((total - d[3]! - d[4]!) / total) * 1000) / 10;
  assert.equal(overall, expected);
  assert.equal(b.cores.map((c, i) => cpuPercent(a.cores[i], c)).filter((v) => v !== null).length, 16);
});

test('the first poll has no CPU figure, and counters going backwards give null', () => {
  const b = parseProcStat(lines('proc-stat-2.txt'));
  assert.equal(cpuPercent(null, b.total), null);
  assert.equal(cpuPercent(b.total, parseProcStat(lines('proc-stat-1.txt')).total), null);
});

test('memory from the real meminfo agrees with free -m', () => {
  const m = parseMeminfo(lines('proc-meminfo.txt'))!;
  const free = fixture('free-m.txt').split('\n').find((l) => l.startsWith('Mem:'))!.trim().split(/\s+/);
  assert.ok(Math.abs(m.totalMb - Number(free[1])) <= 1, `${m.totalMb} vs ${free[1]}`);
  // free -m was captured a moment apart from meminfo, so "available" agrees to within 1 %, and exactly with MemAvailable.
  assert.ok(Math.abs(m.availableMb - Number(free[6])) / Number(free[6]) < 0.01, `${m.availableMb} vs ${free[6]}`);
  assert.equal(m.availableMb, Math.round((104577752 / 1024) * 10) / 10);
  assert.equal(m.usedMb, Math.round(((131981020 - 104577752) / 1024) * 10) / 10);
  assert.ok(m.percent > 0 && m.percent < 100);
});

test('load average and uptime', () => {
  assert.deepEqual(parseLoadavg(lines('proc-loadavg.txt')), [1.92, 0.46, 0.15]);
  assert.equal(parseUptime(lines('proc-uptime.txt')), 50.5);
  assert.equal(parseLoadavg(['garbage']), null);
  assert.equal(parseUptime(['']), null);
});

test('network counters skip loopback', () => {
  const net = parseNetDev(lines('proc-net-dev.txt'));
  assert.ok(net.length > 0);
  assert.ok(net.every((n) => n.iface !== 'lo' && Number.isFinite(n.rxBytes)));
});

test('df keeps real filesystems with their numbers', () => {
  const disks = parseDf(fixture('df.txt'));
  const root = disks.find((d) => d.mount === '/')!;
  assert.equal(root.totalBytes, 270553174016);
  assert.equal(root.percent, 21);
  assert.ok(!disks.some((d) => d.mount === '/dev/shm' && d.totalBytes === 0));
  const spaced = parseDf('/dev/sdb1 1000 500 500 50% /mnt/my disk\r\n');
  assert.equal(spaced[0]?.mount, '/mnt/my disk');
});

test('GPU readings from the real H100 capture (seed field order)', () => {
  const seedFields = ['index', 'name', 'power.draw', 'power.limit', 'memory.used', 'memory.total', 'utilization.gpu', 'temperature.gpu'];
  const [g] = parseGpus(fixture('query-gpu.csv'), seedFields);
  assert.deepEqual(g, {
    index: 0,
    uuid: null,
    name: 'NVIDIA H100 80GB HBM3',
    powerDrawW: 686.26,
    powerLimitW: 700,
    memoryUsedMb: 31554,
    memoryTotalMb: 81559,
    utilizationPercent: 100,
    temperatureC: 62,
  });
  const apps = parseGpuApps(fixture('query-apps.csv'), ['pid', 'process_name', 'used_memory']);
  assert.deepEqual(
    apps.map((a) => [a.pid, a.processName, a.usedMemoryMb]),
    [
      [407, 'python3', 21130],
      [411, 'python3', 3658],
      [418, 'python3', 6746],
    ],
  );
});

test('GPU output with a header and units is still read (the busy capture)', () => {
  const text = fixture('query-apps-busy-header.csv').split('\n').slice(1).join('\n');
  const apps = parseGpuApps(text, ['pid', 'process_name', 'used_memory', 'gpu_uuid']);
  assert.deepEqual(apps.map((a) => a.usedMemoryMb), [21130, 6746]);
  assert.equal(apps[0]?.gpuUuid, 'GPU-562781d5-2471-9cfe-d7bb-3775efa63be6');
});

test('[N/A] and [Not Supported] are missing values, never a broken poll', () => {
  assert.equal(gpuNumber('[N/A]'), null);
  assert.equal(gpuNumber('[Not Supported]'), null);
  assert.equal(gpuNumber(' 62 '), 62);
  const [g] = parseGpus('0, GPU-1, Tesla T4, [N/A], [Not Supported], 10, 15360, [N/A], 40\n');
  assert.equal(g?.powerDrawW, null);
  assert.equal(g?.utilizationPercent, null);
  assert.equal(g?.temperatureC, 40);
  assert.deepEqual(parseGpus('NVIDIA-SMI has failed because it couldn\'t communicate with the NVIDIA driver.\n'), []);
  assert.deepEqual(parseGpus('0, GPU-1, truncat'), []);
});

test('a process name containing ", " stays one field', () => {
  const apps = parseGpuApps('GPU-1, 77, python3, weird, name, 100\n');
  assert.equal(apps[0]?.processName, 'python3, weird, name');
  assert.equal(apps[0]?.usedMemoryMb, 100);
});

test('/proc/PID/stat with spaces and parentheses in the command name', () => {
  const line = '4242 (evil) (name x) S 1 4242 4242 0 -1 4194560 100 0 0 0 150 50 0 0 20 0 1 0 12345 1000000 321 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0';
  const p = parsePidStat(line)!;
  assert.equal(p.pid, 4242);
  assert.equal(p.comm, 'evil) (name x');
  assert.equal(p.ppid, 1);
  assert.equal(p.ticks, 200);
  assert.equal(p.startTime, 12345);
  assert.equal(p.rssPages, 321);
  assert.equal(parsePidStat('4242 (trunc'), null);
  assert.equal(parsePidStat(''), null);
});

test('tmux lines with hostile names are read whole', () => {
  const names = ['eval run #2', 'a|b|c', `a'b"c`, '$(touch /tmp/pwned)', ';reboot', 'ユニコード 🚀', 'x'.repeat(300)];
  const text = names.map((n, i) => `S|$${i}|1795340155|${i % 2}|1|1795340180||${n}`).join('\r\n') + '\r\nP|$1|0|0|404|bash|x\n';
  const { sessions, panes } = parseTmux(text);
  assert.deepEqual(sessions.map((s) => s.name), names);
  assert.equal(sessions[1]?.attachedClients, 1);
  assert.equal(sessions[0]?.lastAttached, null);
  assert.deepEqual(panes, [{ sessionId: '$1', windowIndex: 0, paneIndex: 0, pid: 404, command: 'bash|x' }]);
});

test('tmux output that is truncated or noise yields nothing wrong', () => {
  const { sessions, panes } = parseTmux('S|$0|17953\nS|$0|notanumber|0|1|1||x\nno server running on /tmp/tmux-0/default\nP|$0|0|0|abc|bash\n');
  assert.deepEqual(sessions, []);
  assert.deepEqual(panes, []);
});

test('probe answers are split by the nonce only; forged markers from a session name are data', () => {
  const text = [
    '@@fm-abc begin v1 4096 100',
    '@@fm-abc tmux',
    'S|$0|1|0|1|1||@@fm-zzz end',
    '@@fm-abc rc tmux 0',
    '@@fm-abc end',
  ].join('\n');
  const r = splitProbeResponse(text, 'abc');
  assert.equal(r.complete, true);
  assert.equal(r.exitCodes.get('tmux'), 0);
  assert.equal(parseTmux(r.sections.get('tmux')!).sessions[0]?.name, '@@fm-zzz end');
  const truncated = splitProbeResponse('@@fm-abc begin v1 4096 100\n@@fm-abc proc\n/proc/stat:cpu 1 2', 'abc');
  assert.equal(truncated.complete, false);
  assert.equal(truncated.sections.get('proc'), '/proc/stat:cpu 1 2');
});
