/**
 * The "done when", on the mocked fleet (test/helpers/mock-fleet.ts) through the real alert evaluator: a
 * legacy session, a hot GPU and an offline host each reach all five channel types (webhook, ntfy and slack on a
 * loopback receiver, email through a real SMTP server with STARTTLS, a real Alertmanager) once, remind on schedule,
 * resolve, and survive a receiver outage and a restart without loss or duplicates.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';
import { parseConfigObject } from '../../../src/core/config.js';
import type { Host } from '../../../src/core/model.js';
import { evaluateAlerts } from '../../../src/server/alerts/evaluate.js';
import { H100, h100Host, offlineHost, session } from '../../helpers/mock-fleet.js';
import { freePort, tempDir, waitFor } from '../../helpers/common.js';
import { Harness, Receiver } from './helpers.js';

const AM = '/usr/bin/prometheus-alertmanager';
const dir = tempDir('fleetmon-e2e-');
const cert = join(dir.path, 'cert.pem');
const mails: string[] = [];
let smtp: SMTPServer;
let smtpPort = 0;
let am: ChildProcess | undefined;
let amUrl = '';

before(async () => {
  const key = join(dir.path, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  smtp = new SMTPServer({
    key: readFileSync(key),
    cert: readFileSync(cert),
    authOptional: true,
    logger: false,
    onData(stream, _s, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        mails.push(Buffer.concat(chunks).toString('utf8'));
        cb();
      });
    },
  });
  await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', () => resolve()));
  smtpPort = (smtp.server.address() as AddressInfo).port;
  if (!existsSync(AM)) throw new Error(`${AM} is missing: apt-get install prometheus-alertmanager`);
  writeFileSync(join(dir.path, 'am.yml'), 'route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n');
  const port = await freePort();
  amUrl = `http://127.0.0.1:${port}`;
  am = spawn(AM, [`--config.file=${join(dir.path, 'am.yml')}`, `--storage.path=${join(dir.path, 'am')}`, `--web.listen-address=127.0.0.1:${port}`, '--cluster.listen-address='], { stdio: 'ignore' });
  await waitFor(async () => (await fetch(`${amUrl}/-/ready`).catch(() => null))?.ok, 20_000, 'alertmanager ready');
});

after(async () => {
  await new Promise<void>((resolve) => smtp.close(() => resolve()));
  if (am && am.exitCode === null) {
    am.kill('SIGTERM');
    await new Promise((resolve) => am!.once('exit', resolve));
  }
  dir.remove();
});

const amActive = async () => ((await (await fetch(`${amUrl}/api/v2/alerts?active=true`)).json()) as Array<{ labels: Record<string, string> }>).map((a) => a.labels.alertname).sort();

test('a legacy session, a hot GPU and an offline host reach all five channels once, remind, resolve, and survive an outage and a restart', async () => {
  const rx = await Receiver.start();
  const thresholds = parseConfigObject({}, 't').alerts;
  const channels = [
    { name: 'hook', type: 'webhook', url: `${rx.url}/hook`, repeat_every: '30m' },
    { name: 'phone', type: 'ntfy', url: `${rx.url}/fleet`, repeat_every: '30m' },
    { name: 'chat', type: 'slack', url: `${rx.url}/slack`, repeat_every: '30m' },
    { name: 'mail', type: 'email', smtp: { host: '127.0.0.1', port: smtpPort, ca_file: cert }, from: 'f@example.org', to: ['t@example.org'], repeat_every: '30m' },
    { name: 'am', type: 'alertmanager', url: amUrl },
  ];
  // Alertmanager judges times by its own clock: the fake one runs from 40 minutes ago, so every time this test
  // makes lies in Alertmanager's past, and a long resend interval keeps the open alerts' endsAt ahead of it.
  const h = new Harness({ retry_initial_seconds: 5, retry_max_seconds: 20, alertmanager_resend_seconds: 3600, channels });
  h.clock = Date.now() - 40 * 60_000;
  const legacy = session('gpu-h100', 'old-experiment', h.clock, { status: 'legacy', detached_hours: 100, cpu_percent: 0, memory_mb: 10 });
  const sick: Host[] = [h100Host(h.clock, { gpus: [{ ...H100, temperature_c: 95 }], sessions: [legacy] }), offlineHost(h.clock)];
  const healthy: Host[] = [h100Host(h.clock, { sessions: [] }), { ...h100Host(h.clock, { sessions: [] }), hostname: 'gpu-b' }];
  const evaluate = (hosts: Host[]) => {
    const changes = evaluateAlerts(hosts.map((host) => ({ host, hostKeyChanged: null })), h.store.alerts.open(), thresholds);
    const at = h.clock;
    h.store.writeCycle({ ts: at, hosts, alertsAt: at, states: false, alertChanges: changes, planNotifications: (ev, get) => h.dispatcher.plan(ev, get, at) });
  };
  try {
    await rx.down();
    evaluate(sick);
    const alerts = h.store.alerts.list({ state: 'open' });
    assert.deepEqual(alerts.map((a) => a.type).sort(), ['gpu_temp_critical', 'host_offline', 'legacy_session']);
    await h.run(2 * 60_000, 5000);
    assert.equal(mails.length, 3, 'email and Alertmanager were up all along');
    assert.deepEqual(await amActive(), ['gpu_temp_critical', 'host_offline', 'legacy_session']);
    await h.restart();
    await rx.up();
    await h.run(60_000, 5000);
    const byPath = (path: string) => rx.requests.filter((r) => r.url === path).length;
    assert.deepEqual([byPath('/hook'), byPath('/'), byPath('/slack')], [3, 3, 3], 'each new alert once per HTTP channel after the outage and restart');

    // Reminders 30 minutes after each first message (Alertmanager does its own).
    const sentBefore = rx.requests.length;
    const mailsBefore = mails.length;
    await h.run(30 * 60_000, 60_000);
    assert.equal(rx.requests.length - sentBefore, 9, 'one reminder per alert on each HTTP channel');
    assert.equal(mails.length - mailsBefore, 3);
    const reminders = h.store.outbox.log().filter((r) => r.event === 'reminder');
    assert.deepEqual([...new Set(reminders.map((r) => r.channel))].sort(), ['chat', 'hook', 'mail', 'phone']);
    assert.ok(reminders.every((r) => r.state === 'delivered'));
    // On schedule: each reminder planned 30 minutes (within one 60 s step) after the first message on its channel.
    const log = h.store.outbox.log();
    for (const r of reminders) {
      const first = log.find((f) => f.event === 'new' && f.channel === r.channel && f.alert_id === r.alert_id);
      const late = r.created_at - (first?.delivered_at ?? Number.NaN) - 30 * 60_000;
      assert.ok(late >= 0 && late < 60_000, `${r.channel} reminder ${late} ms off schedule`);
    }

    // The fleet recovers: every alert resolves on every channel, and Alertmanager ends them.
    evaluate(healthy);
    await h.run(10_000, 5000);
    const resolved = h.store.outbox.log().filter((r) => r.event === 'resolved');
    assert.equal(resolved.length, 15);
    assert.ok(resolved.every((r) => r.state === 'delivered'), JSON.stringify(resolved));
    await waitFor(async () => (await amActive()).length === 0, 10_000, 'Alertmanager to end the alerts');

    // Nothing twice: per channel type, each (alert, event) exactly once.
    const keys = rx.requests.map((r) => `${r.url}|${String(r.headers['idempotency-key'] ?? r.headers['x-fleetmon-key'] ?? r.body)}`);
    assert.equal(new Set(keys).size, keys.length, 'no duplicates on the HTTP channels');
    const mailKeys = mails.map((m) => /^X-Fleetmon-Key: (.*)$/im.exec(m)?.[1]?.trim());
    assert.equal(new Set(mailKeys).size, mails.length);
    assert.equal(mails.length, 9, 'email: 3 new, 3 reminders, 3 resolved');
  } finally {
    await h.close();
    await rx.down();
  }
});
