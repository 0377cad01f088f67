/**
 * Delivery through real HTTP to a local receiver, from a real SQLite outbox, on a fake clock: the webhook, ntfy
 * and slack formats and the signature; a receiver outage; a restart with a pending outbox; reminders and their
 * end on acknowledgement; quiet hours; the rate limit; secrets kept out of errors and logs.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FleetmonError } from '../../../src/core/errors.js';
import { condition, Harness, Receiver, T0 } from './helpers.js';
import { tempDir } from '../../helpers/common.js';

const secrets = tempDir('fleetmon-secrets-');
after(() => secrets.remove());
const secretFile = (name: string, value: string) => {
  const path = join(secrets.path, name);
  writeFileSync(path, `${value}\n`, { mode: 0o600 });
  return path;
};

/** How many times each idempotency key reached the receiver. */
function keyCounts(r: Receiver, header = 'idempotency-key'): Map<string, number> {
  const counts = new Map<string, number>();
  for (const q of r.requests) {
    const k = String(q.headers[header]);
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  return counts;
}

test('webhook: a signed JSON document per event, with an idempotency key; resolution and acknowledgement follow', async () => {
  const rx = await Receiver.start();
  const secret = 'whsec-3f9a1c7e5b2d4680';
  const h = new Harness({ channels: [{ name: 'hook', type: 'webhook', url: `${rx.url}/hooks/fleetmon`, secret_file: secretFile('hook', secret) }] });
  try {
    const [a] = h.cycle({ raise: [condition('gpu_temp_critical', 'gpu1', { gpuIndex: 0, message: 'GPU 0 on gpu1 at 93 °C' })] });
    await h.run(1000);
    h.ack(a!.id);
    await h.run(1000);
    h.cycle({ resolve: [a!.id] });
    await h.run(1000);
    assert.deepEqual(rx.requests.map((r) => [r.method, r.url, r.headers['x-fleetmon-event']]), [
      ['POST', '/hooks/fleetmon', 'new'],
      ['POST', '/hooks/fleetmon', 'acknowledged'],
      ['POST', '/hooks/fleetmon', 'resolved'],
    ]);
    for (const r of rx.requests) {
      assert.equal(r.headers['content-type'], 'application/json');
      const expected = `sha256=${createHmac('sha256', secret).update(r.body).digest('hex')}`;
      assert.equal(r.headers['x-fleetmon-signature-256'], expected, 'HMAC-SHA256 over the exact body');
      const doc = JSON.parse(r.body) as { version: number; event: string; idempotency_key: string; alert: { id: string; type: string; host: string; gpu_index: number } };
      assert.equal(doc.version, 1);
      assert.equal(doc.idempotency_key, r.headers['idempotency-key']);
      assert.equal(doc.alert.id, a!.id);
      assert.equal(doc.alert.type, 'gpu_temp_critical');
      assert.equal(doc.alert.gpu_index, 0);
    }
    const docs = rx.json<{ event: string; alert: { state: string; acknowledged: boolean } }>();
    assert.equal(docs[1]!.alert.acknowledged, true);
    assert.equal(docs[2]!.alert.state, 'resolved');
    assert.equal(new Set(rx.requests.map((r) => r.headers['idempotency-key'])).size, 3);
    assert.deepEqual(h.store.outbox.log().map((r) => [r.event, r.state, r.attempts]), [
      ['resolved', 'delivered', 1],
      ['acknowledged', 'delivered', 1],
      ['new', 'delivered', 1],
    ]);
    assert.ok(!h.logs.join('').includes(secret), 'the signing secret is never logged');
  } finally {
    await h.close();
    await rx.down();
  }
});

test('ntfy: JSON publishing to the server root with topic, title, priority and tags by severity, and the token', async () => {
  const rx = await Receiver.start();
  const h = new Harness({ channels: [{ name: 'phone', type: 'ntfy', url: `${rx.url}/fleet-alerts`, token_env: 'NTFY_TOKEN' }] }, { NTFY_TOKEN: 'tk_0123456789abcdef' });
  try {
    const [hot] = h.cycle({ raise: [condition('gpu_temp_critical', 'gpu1', { gpuIndex: 1 }), condition('legacy_session', 'cpu1', { session: 'cpu1:alice:train' })] });
    await h.run(1000);
    h.cycle({ resolve: [hot!.id] });
    await h.run(1000);
    assert.deepEqual(rx.requests.map((r) => [r.url, r.headers.authorization]), Array(3).fill(['/', 'Bearer tk_0123456789abcdef']));
    const docs = rx.json<{ topic: string; title: string; message: string; priority: number; tags: string[] }>();
    assert.deepEqual(docs.map((d) => [d.topic, d.title, d.priority, d.tags]), [
      ['fleet-alerts', '[CRITICAL] gpu_temp_critical on gpu1', 5, ['rotating_light', 'gpu_temp_critical']],
      ['fleet-alerts', '[INFO] legacy_session on cpu1', 3, ['information_source', 'legacy_session']],
      ['fleet-alerts', '[CRITICAL] gpu_temp_critical on gpu1 (resolved)', 2, ['white_check_mark', 'gpu_temp_critical']],
    ]);
    assert.match(docs[1]!.message, /session: cpu1:alice:train/);
    assert.match(docs[0]!.message, /acknowledge: fleetmon alerts ack a/);
  } finally {
    await h.close();
    await rx.down();
  }
});

test('slack-compatible: text plus one coloured attachment, with <, > and & escaped as Slack requires', async () => {
  const rx = await Receiver.start();
  const h = new Harness({ channels: [{ name: 'chat', type: 'slack', url_file: secretFile('slack', `${rx.url}/services/T0/B0/sEcReTpAtH`) }] });
  try {
    h.cycle({ raise: [condition('host_offline', 'gpu2', { message: 'gpu2 is offline: <no route> & timeout' })] });
    await h.run(1000);
    assert.equal(rx.requests[0]!.url, '/services/T0/B0/sEcReTpAtH');
    const [doc] = rx.json<{ text: string; attachments: Array<{ color: string; title: string; text: string; fallback: string }> }>();
    assert.equal(doc!.text, '[CRITICAL] host_offline on gpu2: gpu2 is offline: &lt;no route&gt; &amp; timeout');
    assert.equal(doc!.attachments.length, 1);
    assert.equal(doc!.attachments[0]!.color, '#d1242f');
    assert.match(doc!.attachments[0]!.text, /^New: gpu2 is offline/);
  } finally {
    await h.close();
    await rx.down();
  }
});

test('receiver down while alerts fire, back two minutes later: every event delivered once, in order, with retries logged', async () => {
  const rx = await Receiver.start();
  const h = new Harness({ retry_initial_seconds: 5, retry_max_seconds: 30, channels: [{ name: 'hook', type: 'webhook', url: rx.url }] });
  try {
    await rx.down();
    const [a, b] = h.cycle({ raise: [condition('host_offline', 'gpu1'), condition('gpu_temp_warning', 'gpu2', { gpuIndex: 0 })] });
    await h.run(20_000);
    h.cycle({ resolve: [a!.id] });
    await h.run(40_000);
    const c = h.cycle({ raise: [condition('high_cpu', 'cpu1')] })[0]!;
    await h.run(60_000);
    assert.equal(rx.requests.length, 0);
    const waiting = h.store.outbox.log();
    assert.ok(waiting.every((r) => r.state === 'pending'));
    const first = waiting.find((r) => r.alert_id === a!.id && r.event === 'new')!;
    assert.ok(first.attempts >= 4, `retried with backoff: ${first.attempts} attempts`);
    assert.match(first.last_error ?? '', new RegExp(`^cannot reach http://127\\.0\\.0\\.1:${rx.port}: ECONNREFUSED`));
    await rx.up();
    await h.run(60_000);
    const events = rx.json<{ event: string; alert: { id: string } }>().map((d) => `${d.alert.id === a!.id ? 'a' : d.alert.id === b!.id ? 'b' : d.alert.id === c.id ? 'c' : '?'}:${d.event}`);
    assert.deepEqual([...events].sort(), ['a:new', 'a:resolved', 'b:new', 'c:new']);
    assert.ok(events.indexOf('a:new') < events.indexOf('a:resolved'), `in order: ${events.join(' ')}`);
    assert.ok([...keyCounts(rx).values()].every((n) => n === 1), 'each event once');
    // Nothing more goes later.
    await h.run(120_000, 10_000);
    assert.equal(rx.requests.length, 4);
  } finally {
    await h.close();
    await rx.down().catch(() => undefined);
  }
});

test('a server restarted with a pending outbox delivers it once, and sends nothing twice afterwards', async () => {
  const rx = await Receiver.start();
  const h = new Harness({ retry_initial_seconds: 5, channels: [{ name: 'hook', type: 'webhook', url: rx.url }] });
  try {
    await rx.down();
    h.cycle({ raise: [condition('host_offline', 'gpu1'), condition('legacy_session', 'gpu1', { session: 'gpu1:bob:old' })] });
    await h.run(10_000);
    assert.equal(h.store.outbox.log().filter((r) => r.state === 'pending').length, 2);
    await h.restart();
    await rx.up();
    await h.run(10_000);
    assert.equal(rx.requests.length, 2);
    await h.restart();
    await h.run(30_000);
    assert.equal(rx.requests.length, 2, 'a second restart sends nothing again');
    assert.ok([...keyCounts(rx).values()].every((n) => n === 1));
  } finally {
    await h.close();
    await rx.down();
  }
});

test('reminders every repeat_every while open and unacknowledged; acknowledging stops them; quiet hours hold them', async () => {
  const rx = await Receiver.start();
  const h = new Harness({
    channels: [
      { name: 'remind', type: 'webhook', url: `${rx.url}/r`, repeat_every: '30m' },
      // 12:00 → 13:00 UTC is quiet on this channel: the warning waits, the critical breaks through.
      { name: 'quiet', type: 'webhook', url: `${rx.url}/q`, quiet_hours: { from: '12:00', to: '13:00', tz: 'UTC' } },
    ],
  });
  try {
    const [warn, crit] = h.cycle({ raise: [condition('gpu_temp_warning', 'gpu1', { gpuIndex: 0 }), condition('host_offline', 'gpu2')] });
    await h.run(1000);
    const seen = () => rx.json<{ event: string; alert: { id: string } }>().map((d, i) => `${rx.requests[i]!.url}:${d.alert.id === warn!.id ? 'warn' : 'crit'}:${d.event}`);
    assert.deepEqual(seen().sort(), ['/q:crit:new', '/r:crit:new', '/r:warn:new']);
    await h.run(31 * 60_000, 60_000);
    assert.deepEqual(seen().slice(3).sort(), ['/r:crit:reminder', '/r:warn:reminder'], 'the warning is still held by the quiet hours');
    await h.run(30 * 60_000, 60_000);
    assert.deepEqual(seen().slice(5).sort(), ['/q:warn:new', '/r:crit:reminder', '/r:warn:reminder']);
    const quietEnd = h.store.outbox.log().find((r) => r.channel === 'quiet' && r.alert_id === warn!.id)!;
    assert.ok(quietEnd.delivered_at! >= Date.parse('2026-12-01T13:00:00Z'), 'held until the quiet hours ended');
    h.ack(warn!.id);
    await h.run(61 * 60_000, 60_000);
    const later = seen().slice(8);
    assert.deepEqual(later.filter((s) => s.includes(':warn:')).sort(), ['/q:warn:acknowledged', '/r:warn:acknowledged'], 'no reminder after the ack');
    assert.deepEqual(later.filter((s) => s.includes(':crit:')), ['/r:crit:reminder', '/r:crit:reminder']);
    assert.ok([...keyCounts(rx).values()].every((n) => n === 1));
    assert.ok(crit);
  } finally {
    await h.close();
    await rx.down();
  }
});

test('after an outage longer than collapse_after the backlog is collapsed: the open alert is told, the over-and-done one is not', async () => {
  const rx = await Receiver.start();
  const h = new Harness({ collapse_after_minutes: 15, retry_max_seconds: 60, channels: [{ name: 'hook', type: 'webhook', url: rx.url }] });
  try {
    await rx.down();
    assert.equal(h.clock, T0);
    const [gone, stays] = h.cycle({ raise: [condition('high_cpu', 'h1'), condition('host_offline', 'h2')] });
    await h.run(5 * 60_000, 10_000);
    h.cycle({ resolve: [gone!.id] });
    await h.run(20 * 60_000, 10_000);
    await rx.up();
    await h.run(2 * 60_000, 10_000);
    assert.deepEqual(rx.json<{ event: string; alert: { id: string } }>().map((d) => [d.alert.id, d.event]), [[stays!.id, 'new']]);
    const collapsed = h.store.outbox.log().filter((r) => r.state === 'dropped');
    assert.deepEqual(collapsed.map((r) => [r.alert_id, r.event]).sort(), [[gone!.id, 'new'], [gone!.id, 'resolved']]);
    assert.match(collapsed[0]!.detail!, /^collapsed after an outage/);
  } finally {
    await h.close();
    await rx.down();
  }
});

test('rate limit per channel: the rest wait for the window, none is lost; `for` drops a flap', async () => {
  const rx = await Receiver.start();
  const h = new Harness({
    channels: [
      { name: 'slow', type: 'webhook', url: rx.url, rate_limit_per_minute: 2 },
      { name: 'damped', type: 'webhook', url: `${rx.url}/d`, for: '2m' },
    ],
  });
  try {
    const alerts = h.cycle({ raise: ['h1', 'h2', 'h3', 'h4', 'h5'].map((n) => condition('high_cpu', n)) });
    await h.run(1000);
    assert.equal(rx.requests.filter((r) => r.url === '/').length, 2);
    await h.run(3 * 60_000, 5000);
    const slow = rx.requests.filter((r) => r.url === '/');
    assert.equal(slow.length, 5);
    // Damped: the first four resolve after one minute (a flap), the fifth holds past two minutes.
    assert.equal(rx.requests.filter((r) => r.url === '/d').length, alerts.length);
    const h2 = new Harness({ channels: [{ name: 'damped', type: 'webhook', url: `${rx.url}/flap`, for: '2m' }] });
    try {
      const [flap, steady] = h2.cycle({ raise: [condition('high_cpu', 'f1'), condition('high_cpu', 'f2')] });
      await h2.run(60_000, 5000);
      h2.cycle({ resolve: [flap!.id] });
      await h2.run(2 * 60_000, 5000);
      const got = rx.json<{ event: string; alert: { id: string } }>().filter((_d, i) => rx.requests[i]!.url === '/flap');
      assert.deepEqual(got.map((d) => [d.alert.id, d.event]), [[steady!.id, 'new']]);
      const dropped = h2.store.outbox.log().filter((r) => r.state === 'dropped').map((r) => [r.event, r.detail]);
      assert.deepEqual(dropped.sort(), [
        ['new', 'resolved before it had held for 120 s'],
        ['resolved', 'the alert was never notified on this channel'],
      ]);
    } finally {
      await h2.close();
    }
  } finally {
    await h.close();
    await rx.down();
  }
});

test('a refusing receiver (HTTP 404) fails the row at once with the reason; secrets in the URL never reach the error or the log', async () => {
  const rx = await Receiver.start();
  rx.respond = (r, res) => {
    res.statusCode = r.url.startsWith('/gone') ? 404 : 500;
    res.end(`no such hook ${r.url}`);
  };
  const h = new Harness({
    retry_initial_seconds: 5,
    channels: [
      { name: 'gone', type: 'slack', url_env: 'HOOK_URL' },
      { name: 'flaky', type: 'slack', url: `${rx.url}/busy/xoxb-9876543210` },
    ],
  }, { HOOK_URL: `${rx.url}/gone/T0/B0/topSecretPath` });
  try {
    h.cycle({ raise: [condition('host_offline', 'gpu1')] });
    await h.run(1000);
    const rows = h.store.outbox.log();
    const gone = rows.find((r) => r.channel === 'gone')!;
    assert.equal(gone.state, 'failed');
    assert.equal(gone.last_error, `HTTP 404 from ${rx.url}: no such hook [secret]`);
    assert.match(gone.detail ?? '', /the peer refused it: fix the channel and use `fleetmon notify test`/);
    const flaky = rows.find((r) => r.channel === 'flaky')!;
    assert.equal(flaky.state, 'pending', 'a 500 is retried');
    const everything = JSON.stringify(rows) + h.logs.join('');
    assert.ok(!everything.includes('topSecretPath') && !everything.includes('xoxb-9876543210'), everything);
  } finally {
    await h.close();
    await rx.down();
  }
});

test('a missing secret file or variable stops the start, naming where and never what', () => {
  const missing = join(secrets.path, 'nope');
  assert.throws(
    () => new Harness({ channels: [{ name: 'hook', type: 'webhook', url: 'http://127.0.0.1:9/', secret_file: missing }] }),
    (e: unknown) => e instanceof FleetmonError && e.code === 'CONFIG_SECRET' && e.message === `notifications channel 'hook': cannot read its signing secret file ${missing} (ENOENT)`,
  );
  assert.throws(
    () => new Harness({ channels: [{ name: 'p', type: 'ntfy', url: 'http://127.0.0.1:9/t', token_env: 'FLEETMON_TEST_UNSET_TOKEN' }] }),
    /the environment variable FLEETMON_TEST_UNSET_TOKEN \(its access token\) is not set/,
  );
});
