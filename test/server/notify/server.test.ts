/**
 * The whole path in a real server monitoring this machine: the monitor's cycle raises an alert and plans its
 * notification in the same transaction, the dispatcher delivers it to a loopback webhook; GET /api/notifications,
 * `fleetmon notify log --json` and `fleetmon notify test` as a user runs them (bin/run.js); /api/config without
 * secrets; a restart with an undelivered outbox delivers once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { parseConfigObject } from '../../../src/core/config.js';
import type { NotificationsLog, NotifyTestResult } from '../../../src/client/api-client.js';
import { startServer, type RunningServer } from '../../../src/server/start.js';
import { tempDir, testDir, waitFor } from '../../helpers/common.js';
import { Receiver } from './helpers.js';

const bin = join(testDir, '..', 'bin', 'run.js');

function cli(args: string[], dataDir: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], { env: { ...process.env, FLEETMON_DATA_DIR: dataDir } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

test('a real server notifies its alert once, across a receiver outage and a restart; the log, the CLI and the test message', async () => {
  const rx = await Receiver.start();
  // A port nothing listens on: a receiver started and stopped again.
  const dead = await Receiver.start();
  await dead.down();
  const data = tempDir();
  const secret = join(data.path, 'hook-secret');
  writeFileSync(secret, 's3cr3t-signing-key-4242\n', { mode: 0o600 });
  const config = parseConfigObject(
    {
      polling_interval_seconds: 1,
      // Any machine uses more than 1 % of its memory: a real alert from a real poll.
      alerts: { host_memory_warning: 1 },
      hosts: [{ name: 'here', address: 'localhost', transport: 'local' }],
      server: { port: 0, data_dir: data.path, public_read: false },
      notifications: {
        retry_initial_seconds: 0.2,
        retry_max_seconds: 0.5,
        channels: [
          { name: 'hook', type: 'webhook', url: `${rx.url}/in/very-secret-path-123`, secret_file: secret, types: ['high_memory'] },
          { name: 'down', type: 'slack', url: `${dead.url}/services/unreachable`, types: ['high_memory'] },
        ],
      },
    },
    'test',
  );
  let server: RunningServer | undefined;
  try {
    await rx.down();
    server = await startServer(config, { log: pino({ level: 'silent' }) });
    await waitFor(() => server!.monitor.alerts.list({ state: 'open' }).some((a) => a.type === 'high_memory'), 15_000, 'the memory alert');
    const alert = server.monitor.alerts.list({ state: 'open' }).find((a) => a.type === 'high_memory')!;
    const log = async () => {
      const res = await fetch(`${server!.url}/api/notifications`, { headers: { authorization: `Bearer ${server!.token.token}` } });
      assert.equal(res.status, 200);
      return (await res.json()) as NotificationsLog;
    };
    await waitFor(async () => (await log()).log.some((e) => e.channel === 'hook' && e.attempts >= 2), 10_000, 'failed attempts while the receiver is down');
    const failing = await log();
    assert.equal(failing.channels.find((c) => c.name === 'hook')!.health, 'failing');
    assert.equal(failing.channels.find((c) => c.name === 'hook')!.pending, 1);

    // Stopped with the message still pending; started again with the receiver back: it goes, once.
    await server.close();
    server = undefined;
    await rx.up();
    server = await startServer(config, { log: pino({ level: 'silent' }) });
    await waitFor(() => rx.requests.length >= 1, 10_000, 'the delivery after the restart');
    await new Promise((r) => setTimeout(r, 2500));
    const newOnes = rx.json<{ event: string; alert: { id: string } }>().filter((d) => d.event === 'new');
    assert.deepEqual(newOnes.map((d) => d.alert.id), [alert.id], 'delivered once');
    assert.equal(rx.requests[0]!.url, '/in/very-secret-path-123');

    const after = await log();
    const hook = after.channels.find((c) => c.name === 'hook')!;
    assert.equal(hook.health, 'ok');
    assert.equal(hook.pending, 0);
    const delivered = after.log.find((e) => e.channel === 'hook' && e.event === 'new')!;
    assert.equal(delivered.state, 'delivered');
    assert.ok(delivered.attempts >= 3, `attempts before and after the restart: ${delivered.attempts}`);
    assert.equal(after.channels.find((c) => c.name === 'down')!.health, 'failing');

    // The CLI, as a user runs it.
    const logCmd = await cli(['notify', 'log', '--json', '--server', server.url], data.path);
    assert.equal(logCmd.code, 0, logCmd.stderr);
    const parsed = JSON.parse(logCmd.stdout) as NotificationsLog;
    assert.deepEqual(parsed.channels.map((c) => c.name), ['hook', 'down']);
    const human = await cli(['notify', 'log', '--server', server.url], data.path);
    assert.match(human.stdout, /^CHANNEL\s+TYPE\s+HEALTH/m);
    assert.match(human.stdout, /^hook\s+webhook\s+ok\s+0/m);

    const ok = await cli(['notify', 'test', 'hook', '--json', '--server', server.url], data.path);
    assert.equal(ok.code, 0, ok.stderr);
    const result = JSON.parse(ok.stdout) as NotifyTestResult;
    assert.equal(result.ok, true);
    assert.equal(result.detail, `HTTP 200 from ${rx.url}`);
    assert.equal(rx.json<{ event: string }>().at(-1)!.event, 'test');
    const bad = await cli(['notify', 'test', 'down', '--server', server.url], data.path);
    assert.equal(bad.code, 4);
    assert.match(bad.stderr, /the test message to 'down' \(slack\) failed after \d+ ms: cannot reach http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/);
    assert.ok(!bad.stderr.includes('unreachable'), 'the URL path is not shown');
    const missing = await cli(['notify', 'test', 'nope', '--server', server.url], data.path);
    assert.equal(missing.code, 10);
    assert.match(missing.stderr, /no notification channel 'nope'; configured: hook, down/);

    // No URL or secret anywhere the API shows.
    const cfg = await (await fetch(`${server.url}/api/config`, { headers: { authorization: `Bearer ${server.token.token}` } })).text();
    assert.match(cfg, /"notifications":\{"channels":\[\{"name":"hook","type":"webhook"/);
    const everything = cfg + JSON.stringify(await log()) + logCmd.stdout;
    for (const s of ['very-secret-path', 's3cr3t', 'hook-secret', 'unreachable']) assert.ok(!everything.includes(s), `${s} leaked`);
  } finally {
    await server?.close();
    await rx.down().catch(() => undefined);
    data.remove();
  }
});
