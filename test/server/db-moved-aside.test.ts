/**
 * A damaged database moved aside at start is loud: a critical alert in /api/alerts naming the file, where it went and
 * which hosts lost their recorded keys (and which stay pinned by hosts.yml), the same words in the log, and /health.
 * Real SQLite, real HTTP; the alert outlives poll cycles (the evaluation does not resolve it).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { parseConfigObject } from '../../src/core/config.js';
import type { Alert } from '../../src/core/model.js';
import { startServer } from '../../src/server/start.js';
import { tempDir, waitFor } from '../helpers/common.js';

const TOKEN = 'moved-aside-test-token-0123456789abcdef';
const PIN = 'SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s';

test('a damaged database moved aside raises an alert, logs it and shows in /health', async (t) => {
  const data = tempDir();
  t.after(data.remove);
  const dbPath = join(data.path, 'fleetmon.db');
  writeFileSync(dbPath, 'not an SQLite database, a damaged one. '.repeat(50));
  const lines: Array<{ level: number; msg: string; movedAside?: string }> = [];
  const sink = new Writable({ write: (chunk: Buffer, _enc, done) => (lines.push(JSON.parse(chunk.toString()) as never), done()) });
  const config = parseConfigObject(
    {
      polling_interval_seconds: 1,
      offline_after_failures: 1,
      ssh: { timeout: 1, reconnect_max_seconds: 1 },
      server: { port: 0, data_dir: data.path, token: TOKEN },
      // Port 9 (discard) refuses: both hosts fail fast, cycles keep coming.
      hosts: [
        { name: 'tofu1', address: '127.0.0.1', port: 9 },
        { name: 'pinned1', address: '127.0.0.1', port: 9, host_key: PIN },
      ],
    },
    'moved-aside-test',
  );
  const server = await startServer(config, { log: pino({ level: 'info' }, sink) });
  t.after(() => server.close());

  const logged = lines.find((l) => l.movedAside);
  assert.ok(logged, JSON.stringify(lines));
  assert.equal(logged.level, 50);
  const movedTo = logged.movedAside!;
  assert.ok(movedTo.startsWith(`${dbPath}.corrupt-`) && existsSync(movedTo), movedTo);

  const get = async <T>(path: string) => {
    const res = await fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });
    return { status: res.status, body: (await res.json()) as T };
  };
  const alerts = (await get<Alert[]>('/api/alerts')).body.filter((a) => a.type === 'database_moved_aside');
  assert.equal(alerts.length, 1, JSON.stringify(alerts));
  const [alert] = alerts as [Alert];
  assert.equal(alert.severity, 'critical');
  assert.equal(alert.host, '(server)');
  assert.ok(alert.message.includes(`the database ${dbPath} failed its integrity check and was moved aside to ${movedTo}`), alert.message);
  assert.match(alert.message, /host keys recorded on first use were lost with it: tofu1 will trust the next key/);
  assert.match(alert.message, /pin it with host_key in hosts\.yml/);
  assert.match(alert.message, /Still pinned by the configuration \(host_key or ssh\.known_hosts\): pinned1\./);
  assert.equal(logged.msg, alert.message);

  const health = await get<{ status: string; database: { moved_aside: { at: string; alert_id: string } | null } }>('/health');
  assert.equal(health.status, 200);
  assert.equal(health.body.database.moved_aside?.alert_id, alert.id);

  // Poll cycles (both hosts offline) neither update nor resolve it.
  let cycles = 0;
  server.monitor.on('cycle', () => cycles++);
  await waitFor(() => cycles >= 2, 10_000, 'two poll cycles');
  const after = (await get<Alert[]>('/api/alerts')).body.find((a) => a.id === alert.id);
  assert.equal(after?.state, 'open');
  assert.equal(after?.message, alert.message);
});

test('a healthy database raises no such alert and /health says nothing was moved', async (t) => {
  const data = tempDir();
  t.after(data.remove);
  const config = parseConfigObject({ server: { port: 0, data_dir: data.path, token: TOKEN }, hosts: [] }, 'moved-aside-test');
  const first = await startServer(config, { log: pino({ level: 'silent' }) });
  await first.close();
  const server = await startServer(config, { log: pino({ level: 'silent' }) });
  t.after(() => server.close());
  const health = (await (await fetch(`${server.url}/health`)).json()) as { database: { moved_aside: unknown } };
  assert.equal(health.database.moved_aside, null);
  assert.deepEqual(server.monitor.alerts.list({ state: 'all' }).filter((a) => a.type === 'database_moved_aside'), []);
});
