// The benchmark's measuring code, run small: every figure it reports must be a real measurement (finite, in its
// unit), so `npm run bench` cannot rot between the times someone runs it. No speed is asserted here: speed is
// the benchmark's business, on a quiet machine, never a unit test's.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { benchPollCost } from '../../bench/poll-cost.js';
import { Report } from '../../bench/lib/report.js';
import { cpuBetween, treeCpu } from '../../bench/lib/proc-cpu.js';
import { linearFit, summarize } from '../../bench/lib/stats.js';
import { benchStorage } from '../../bench/storage.js';

test('stats: nearest-rank percentiles and a linear fit', () => {
  const s = summarize([5, 1, 4, 2, 3]);
  assert.deepEqual([s.min, s.median, s.p95, s.max], [1, 3, 5, 5]);
  const fit = linearFit([10, 50, 100], [100, 500, 1000]);
  assert.equal(Math.round(fit.slope), 10);
  assert.ok(fit.r2 > 0.999);
});

test('host CPU accounting counts a child that exited, once', async () => {
  const { spawn } = await import('node:child_process');
  const before = treeCpu([process.pid]);
  // A child that burns CPU and is reaped: its time moves into our cutime/cstime.
  await new Promise<void>((resolve) => spawn('sh', ['-c', 'i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done']).on('close', () => resolve()));
  const spent = cpuBetween(before, treeCpu([process.pid]));
  assert.ok(spent > 0, `the child's CPU shows up (${spent} ms)`);
});

test('storage: a simulated history is written, and retention bounds the file', () => {
  const report = new Report();
  benchStorage(report, { hosts: 1, sessionsPerHost: 2, days: 9 });
  const perDay = report.figures.find((f) => f.name.startsWith('SQLite per host per day'));
  assert.ok(perDay && perDay.value > 0 && Number.isFinite(perDay.value));
  const bounded = report.figures.find((f) => f.name.includes('file growth after day'));
  assert.equal(bounded?.holds, true, `file keeps growing past retention: ${JSON.stringify(bounded)}`);
});

test('poll cost: fleetmon, the seed method and node_exporter measured on one fake host', { skip: process.getuid?.() !== 0 && 'needs root (fake fleet)' }, async () => {
  const report = new Report();
  await benchPollCost(report, { probeBatch: 3, probeBatches: 2, seedBatch: 1, seedBatches: 1 });
  const names = report.figures.map((f) => f.name);
  for (const want of ['fleetmon poll wall time, median', 'seed method poll wall time, median', 'fleetmon host CPU per poll, median', 'seed method host CPU per poll, median']) {
    const f = report.figures.find((x) => x.name === want);
    assert.ok(f && Number.isFinite(f.value) && f.value >= 0, `${want}: ${JSON.stringify(f)} among ${names.join('; ')}`);
  }
  // node_exporter is optional: measured, or listed as not measured with the reason.
  assert.ok(names.some((n) => n.startsWith('node_exporter')) || report.skipped.some((s) => s.what === 'node_exporter scrape'));
});
