/**
 * /metrics as Prometheus' own checker reads it: `promtool check metrics` (Debian's prometheus package) passes on the
 * route's answer for a live cycle of this machine (real probe, real SQLite) and on the exposition of a fleet with a
 * GPU host, an offline host and session names that need escaping.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { pino } from 'pino';
import { parseConfigObject } from '../../../src/core/config.js';
import { buildApp } from '../../../src/server/app.js';
import { Monitor } from '../../../src/server/monitor.js';
import { renderMetrics } from '../../../src/server/routes/metrics.js';
import { closeDatabase, openDatabase } from '../../../src/server/store/db.js';
import { tempDir } from '../../helpers/common.js';
import { h100Host, offlineHost, session } from '../../helpers/mock-fleet.js';

const PROMTOOL = '/usr/bin/promtool';
const missing = existsSync(PROMTOOL) ? false : `${PROMTOOL} is missing: apt-get install prometheus`;

function promtool(text: string): { code: number | null; out: string } {
  const r = spawnSync(PROMTOOL, ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

test('promtool check metrics passes on a GPU host, an offline host and names that need escaping', { skip: missing }, () => {
  const now = Date.now();
  const gpu = h100Host(now);
  const hostile = { ...gpu, hostname: 'odd"host', sessions: [session('odd"host', 'a "quoted"\\name\nnext', now), session('odd"host', 'ünïcode ✓', now)] };
  const text = renderMetrics([gpu, hostile, offlineHost(now)], 3);
  assert.match(text, /fleetmon_gpu_temperature_celsius\{/);
  const r = promtool(text);
  assert.equal(r.code, 0, r.out);
});

test('promtool check metrics passes on GET /metrics after a live cycle of this machine', { skip: missing }, async (t) => {
  const dir = tempDir();
  const config = parseConfigObject({ hosts: [{ name: 'local', address: 'localhost', transport: 'local' }] }, 'test');
  const { db } = openDatabase(dir.path);
  const monitor = new Monitor({ config, db, log: pino({ level: 'silent' }) });
  const token = 'metrics-promtool-token-5b1e0c7a92d44f13';
  const app = await buildApp({ config, monitor, db, token, logger: pino({ level: 'silent' }) });
  t.after(async () => {
    await app.close();
    await monitor.stop();
    closeDatabase(db);
    dir.remove();
  });
  await monitor.poller.runCycle();
  const res = await app.inject({ url: '/metrics', headers: { authorization: `Bearer ${token}` } });
  assert.equal(res.statusCode, 200);
  assert.match(res.body, /^fleetmon_host_up\{host="local"\} 1$/m);
  const r = promtool(res.body);
  assert.equal(r.code, 0, r.out);
});

test('a host is rendered once per object: a replaced host (its next poll) shows its new figures', () => {
  const now = Date.now();
  const first = { ...h100Host(now), cpu_percent: 12.5 };
  assert.match(renderMetrics([first], 0), /^fleetmon_host_cpu_percent\{host="gpu-h100"\} 12\.5$/m);
  const next = { ...first, cpu_percent: 87 };
  const text = renderMetrics([next], 0);
  assert.match(text, /^fleetmon_host_cpu_percent\{host="gpu-h100"\} 87$/m);
  assert.doesNotMatch(text, /12\.5/);
});
