/**
 * The API end to end against this machine through the local transport: real probe, real tmux (on a private
 * socket directory), real SQLite. Covers auth, the two-step kill with hostile names, acks across a restart,
 * history and the WebSocket.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { pino } from 'pino';
import type { FastifyInstance } from 'fastify';
import { parseConfigObject, type FleetConfig } from '../../../src/core/config.js';
import type { Alert, Host, Session } from '../../../src/core/model.js';
import { buildApp } from '../../../src/server/app.js';
import { Monitor } from '../../../src/server/monitor.js';
import { closeDatabase, openDatabase, type Db } from '../../../src/server/store/db.js';
import { tempDir } from '../../helpers/common.js';

const TOKEN = 'test-token-0123456789abcdef';
const HOSTILE = ['work', 'work2', 'eval run #2', `a'b"c`, '$(touch /tmp/fleetmon-pwned)', ';reboot'];
const tmp = tempDir();
const tmuxDir = tempDir('fleetmon-tmux-');
const clock = { offset: 0 };
const now = () => Date.now() + clock.offset;
let db: Db;
let monitor: Monitor;
let app: FastifyInstance;
let config: FleetConfig;

function tmux(args: string[]) {
  return spawnSync('tmux', args, { env: { ...process.env, TMUX_TMPDIR: tmuxDir.path }, encoding: 'utf8' });
}

async function boot(): Promise<void> {
  db = openDatabase(tmp.path).db;
  monitor = new Monitor({ config, db, log: pino({ level: 'silent' }), now });
  app = await buildApp({ config, monitor, db, token: TOKEN, now });
}

async function shutdown(): Promise<void> {
  await app.close();
  await monitor.stop();
  closeDatabase(db);
}

const auth = { authorization: `Bearer ${TOKEN}` };

before(async () => {
  // The probe inherits this process's environment: its tmux talks to the private server only.
  process.env.TMUX_TMPDIR = tmuxDir.path;
  for (const name of HOSTILE) assert.equal(tmux(['new-session', '-d', '-s', name, 'sleep 600']).status, 0, `create ${name}`);
  config = parseConfigObject(
    {
      polling_interval_seconds: 1,
      legacy_threshold_hours: 0, // every detached session is legacy at once
      hosts: [{ name: 'local', address: 'localhost', transport: 'local' }],
      server: { public_read: false },
    },
    'test',
  );
  await boot();
  // As in the legacy-alert test below: the host's clock (btime + uptime) can lag the wall clock by up to a second
  // and tmux times are whole seconds, so sessions made this second may not yet be "detached for 0 h" to it.
  await new Promise((r) => setTimeout(r, 2500));
  await monitor.poller.runCycle();
});

after(async () => {
  await shutdown();
  tmux(['kill-server']);
  tmp.remove();
  tmuxDir.remove();
});

test('reads need the token when public_read is off', async () => {
  assert.equal((await app.inject({ url: '/api/hosts' })).statusCode, 401);
  assert.equal((await app.inject({ url: '/api/hosts', headers: { authorization: 'Bearer wrong' } })).statusCode, 401);
  assert.equal((await app.inject({ url: '/health' })).statusCode, 200);
});

test('hosts and sessions show the real tmux sessions with exact names', async () => {
  const hosts = (await app.inject({ url: '/api/hosts', headers: auth })).json<Host[]>();
  assert.equal(hosts[0]?.status, 'online');
  const names = hosts[0]!.sessions.map((s) => s.name).sort();
  assert.deepEqual(names, [...HOSTILE].sort());
  const legacy = (await app.inject({ url: '/api/sessions?status=legacy', headers: auth })).json<Session[]>();
  assert.equal(legacy.length, HOSTILE.length);
  const one = await app.inject({ url: `/api/sessions/${encodeURIComponent('local:eval run #2')}`, headers: auth });
  assert.equal(one.statusCode, 200);
  assert.equal(one.json<Session>().window_count, 1);
  assert.ok(one.json<Session>().process_count >= 1, 'the sleep under the pane is attributed');
  assert.equal((await app.inject({ url: '/api/sessions/local:nope', headers: auth })).statusCode, 404);
  assert.equal((await app.inject({ url: '/api/sessions?status=bogus', headers: auth })).statusCode, 400);
});

test("a session answers to the specification's id (host:session_name) and to fleetmon's (host:user:name), saying which", async () => {
  const listed = (await app.inject({ url: '/api/sessions', headers: auth })).json<Session[]>().find((s) => s.name === `a'b"c`)!;
  assert.equal(listed.id, `local:a'b"c`);
  assert.equal(listed.fleetmon_id, `local:${listed.user}:a'b"c`);
  const bySpec = await app.inject({ url: `/api/sessions/${encodeURIComponent(listed.id)}`, headers: auth });
  const byFleetmon = await app.inject({ url: `/api/sessions/${encodeURIComponent(listed.fleetmon_id)}`, headers: auth });
  assert.equal(bySpec.statusCode, 200);
  assert.equal(byFleetmon.statusCode, 200);
  assert.equal(bySpec.headers['fleetmon-matched-id'], 'id');
  assert.equal(byFleetmon.headers['fleetmon-matched-id'], 'fleetmon_id');
  assert.deepEqual(bySpec.json(), byFleetmon.json());
  assert.equal((await app.inject({ url: `/api/sessions/${encodeURIComponent(`local:nobody:a'b"c`)}`, headers: auth })).statusCode, 404, 'another account is not this one');
});

test('config has no secrets', async () => {
  const body = (await app.inject({ url: '/api/config', headers: auth })).body;
  assert.ok(!body.includes(TOKEN));
  assert.ok(!body.includes('key_path'));
});

test('killing needs the token, then a confirmation bound to that session', async () => {
  const id = encodeURIComponent('local:work');
  assert.equal((await app.inject({ method: 'POST', url: `/api/sessions/${id}/kill`, payload: {} })).statusCode, 401);
  const first = await app.inject({ method: 'POST', url: `/api/sessions/${id}/kill`, headers: auth, payload: {} });
  assert.equal(first.statusCode, 428);
  const token = first.json<{ confirm_token: string }>().confirm_token;
  // Someone else's token for another session is refused and kills nothing.
  const other = await app.inject({ method: 'POST', url: `/api/sessions/${encodeURIComponent('local:work2')}/kill`, headers: auth, payload: { confirm_token: token } });
  assert.equal(other.statusCode, 403);
  const bogus = await app.inject({ method: 'POST', url: `/api/sessions/${id}/kill`, headers: auth, payload: { confirm_token: 'nope' } });
  assert.equal(bogus.statusCode, 403);
  const done = await app.inject({ method: 'POST', url: `/api/sessions/${id}/kill`, headers: auth, payload: { confirm_token: token } });
  assert.equal(done.statusCode, 200, done.body);
  const alive = tmux(['list-sessions', '-F', '#{session_name}']).stdout.split('\n').filter(Boolean).sort();
  assert.deepEqual(alive, HOSTILE.filter((n) => n !== 'work').sort(), 'only "work" died, not the prefix-sharing "work2"');
});

test('an expired confirmation is refused', async () => {
  const id = encodeURIComponent('local:work2');
  const first = await app.inject({ method: 'POST', url: `/api/sessions/${id}/kill`, headers: auth, payload: {} });
  const token = first.json<{ confirm_token: string }>().confirm_token;
  clock.offset += 61_000;
  try {
    const late = await app.inject({ method: 'POST', url: `/api/sessions/${id}/kill`, headers: auth, payload: { confirm_token: token } });
    assert.equal(late.statusCode, 409);
    assert.match(late.json<{ error: string }>().error, /expired/);
  } finally {
    clock.offset -= 61_000;
  }
  assert.ok(tmux(['has-session', '-t', '=work2']).status === 0, 'still there');
});

test('each hostile name is killed alone and nothing it contains is executed', async () => {
  await monitor.poller.runCycle();
  for (const name of ['eval run #2', `a'b"c`, '$(touch /tmp/fleetmon-pwned)', ';reboot']) {
    const id = encodeURIComponent(`local:${name}`);
    const first = await app.inject({ method: 'POST', url: `/api/sessions/${id}/kill`, headers: auth, payload: {} });
    assert.equal(first.statusCode, 428, `${name}: ${first.body}`);
    const done = await app.inject({
      method: 'POST',
      url: `/api/sessions/${id}/kill`,
      headers: auth,
      payload: { confirm_token: first.json<{ confirm_token: string }>().confirm_token },
    });
    assert.equal(done.statusCode, 200, `${name}: ${done.body}`);
    assert.notEqual(tmux(['has-session', '-t', `=${name}`]).status, 0, `${name} is gone`);
  }
  assert.equal(existsSync('/tmp/fleetmon-pwned'), false);
  assert.deepEqual(tmux(['list-sessions', '-F', '#{session_name}']).stdout.trim(), 'work2');
  const audit = (await app.inject({ url: '/api/audit', headers: auth })).json<Array<{ action: string; result: string; target: string }>>();
  assert.ok(audit.filter((a) => a.action === 'kill' && a.result === 'killed').length >= 5);
  assert.ok(audit.some((a) => a.result === 'refused'));
});

test('a session replaced under the same name is not killed', async () => {
  await monitor.poller.runCycle();
  const id = encodeURIComponent('local:work2');
  const first = await app.inject({ method: 'POST', url: `/api/sessions/${id}/kill`, headers: auth, payload: {} });
  assert.equal(first.statusCode, 428);
  // Replace it: same name, later creation time (tmux times are whole seconds).
  tmux(['kill-session', '-t', '=work2']);
  await new Promise((r) => setTimeout(r, 1100));
  tmux(['new-session', '-d', '-s', 'work2', 'sleep 600']);
  const done = await app.inject({
    method: 'POST',
    url: `/api/sessions/${id}/kill`,
    headers: auth,
    payload: { confirm_token: first.json<{ confirm_token: string }>().confirm_token },
  });
  assert.equal(done.statusCode, 409, done.body);
  assert.equal(tmux(['has-session', '-t', '=work2']).status, 0, 'the new work2 survives');
});

test('legacy alerts are raised, acknowledged (twice is fine), unknown ids are 404, and acks survive a restart', async () => {
  // work2 was re-created a second ago. The snapshot reads the host's time as btime + uptime, which can lag the
  // wall clock by a second or so on a long-running VM (seen: 0.8 s), and tmux times are whole seconds: wait until
  // the session is old enough to be legacy (threshold 0) by the host's own clock.
  await new Promise((r) => setTimeout(r, 2500));
  await monitor.poller.runCycle();
  const open = (await app.inject({ url: '/api/alerts?acknowledged=false', headers: auth })).json<Alert[]>();
  const legacy = open.find((a) => a.type === 'legacy_session');
  assert.ok(legacy, JSON.stringify(open));
  assert.equal((await app.inject({ method: 'POST', url: `/api/alerts/${legacy.id}/ack`, payload: {} })).statusCode, 401);
  const acked = await app.inject({ method: 'POST', url: `/api/alerts/${legacy.id}/ack`, headers: auth, payload: { note: 'mine' } });
  assert.equal(acked.statusCode, 200);
  assert.equal(acked.json<Alert>().acknowledged, true);
  assert.equal((await app.inject({ method: 'POST', url: `/api/alerts/${legacy.id}/ack`, headers: auth, payload: {} })).statusCode, 200);
  assert.equal((await app.inject({ method: 'POST', url: '/api/alerts/nope/ack', headers: auth, payload: {} })).statusCode, 404);

  await shutdown();
  await boot();
  const after = (await app.inject({ url: '/api/alerts?state=all', headers: auth })).json<Alert[]>();
  const same = after.find((a) => a.id === legacy.id)!;
  assert.equal(same.acknowledged, true);
  assert.equal(same.ack_note, 'mine');
  // Killing the session clears its alert into history.
  await monitor.poller.runCycle();
  tmux(['kill-session', '-t', '=work2']);
  await monitor.poller.runCycle();
  const resolved = (await app.inject({ url: '/api/alerts?state=resolved', headers: auth })).json<Alert[]>();
  assert.ok(resolved.some((a) => a.id === legacy.id && a.resolved_at !== null));
});

test('history returns stored samples', async () => {
  await monitor.poller.runCycle();
  const res = await app.inject({ url: '/api/hosts/local/history?metric=memory_percent&since=1h', headers: auth });
  assert.equal(res.statusCode, 200);
  const points = res.json<{ points: Array<{ v: number | null }> }>().points;
  assert.ok(points.length >= 1 && points.some((p) => typeof p.v === 'number' && p.v > 0));
  assert.equal((await app.inject({ url: '/api/hosts/local/history?metric=bogus', headers: auth })).statusCode, 400);
  assert.equal((await app.inject({ url: '/api/hosts/nope/history', headers: auth })).statusCode, 404);
});

test('browser sign-in: cookie session, exact Origin for changes, per-address lockout', async () => {
  const ok = await app.inject({ method: 'POST', url: '/api/login', payload: { token: TOKEN }, remoteAddress: '10.1.1.1' });
  assert.equal(ok.statusCode, 200);
  const cookie = String(ok.headers['set-cookie']);
  assert.match(cookie, /HttpOnly/);
  assert.match(cookie, /SameSite=Strict/);
  const sid = cookie.split(';')[0]!;
  assert.equal((await app.inject({ url: '/api/hosts', headers: { cookie: sid } })).statusCode, 200);
  const noOrigin = await app.inject({ method: 'POST', url: '/api/alerts/x/ack', headers: { cookie: sid }, payload: {} });
  assert.equal(noOrigin.statusCode, 403);
  const foreign = await app.inject({ method: 'POST', url: '/api/alerts/x/ack', headers: { cookie: sid, origin: 'http://evil.example', host: 'localhost:80' }, payload: {} });
  assert.equal(foreign.statusCode, 403);
  const same = await app.inject({ method: 'POST', url: '/api/alerts/x/ack', headers: { cookie: sid, origin: 'http://localhost:80', host: 'localhost:80' }, payload: {} });
  assert.equal(same.statusCode, 404, 'passes auth, then the alert is unknown');

  for (let i = 0; i < 5; i++) {
    const r = await app.inject({ method: 'POST', url: '/api/login', payload: { token: `wrong-${i}` }, remoteAddress: '10.9.9.9' });
    assert.equal(r.statusCode, 401);
  }
  const locked = await app.inject({ method: 'POST', url: '/api/login', payload: { token: TOKEN }, remoteAddress: '10.9.9.9' });
  assert.equal(locked.statusCode, 429);
  const elsewhere = await app.inject({ method: 'POST', url: '/api/login', payload: { token: TOKEN }, remoteAddress: '10.2.2.2' });
  assert.equal(elsewhere.statusCode, 200, 'the lockout does not lock out other addresses');
  const ws = await app.injectWS('/ws', { headers: { cookie: sid } });
  const closed = new Promise<number>((resolve) => ws.on('close', (code: number) => resolve(code)));
  const out = await app.inject({ method: 'POST', url: '/api/logout', headers: { cookie: sid } });
  assert.equal(out.statusCode, 200);
  assert.equal(await closed, 4001, 'signing out closes that session\'s WebSocket');
  assert.equal((await app.inject({ url: '/api/hosts', headers: { cookie: sid } })).statusCode, 401);
});

test('WebSocket: refuses anonymous clients, sends hosts_update after each cycle', async () => {
  await assert.rejects(app.injectWS('/ws'));
  const ws = await app.injectWS('/ws', { headers: auth });
  const events: Array<{ event: string; data: Host[] }> = [];
  ws.on('message', (d: Buffer) => events.push(JSON.parse(d.toString()) as { event: string; data: Host[] }));
  await new Promise((r) => setTimeout(r, 50));
  const before = events.length;
  await monitor.poller.runCycle();
  await new Promise((r) => setTimeout(r, 200));
  ws.terminate();
  const update = events.slice(before).find((e) => e.event === 'hosts_update');
  assert.ok(update, JSON.stringify(events.map((e) => e.event)));
  assert.equal(update.data[0]?.hostname, 'local');
});

test('WebSocket: the alert events a cycle raised reach clients after that cycle\'s (deferred) update', async () => {
  const ws = await app.injectWS('/ws', { headers: auth });
  const events: string[] = [];
  ws.on('message', (d: Buffer) => events.push((JSON.parse(d.toString()) as { event: string }).event));
  await new Promise((r) => setTimeout(r, 50));
  events.length = 0;
  // What onCycle does, without a poll's timing: the cycle, then the alerts it raised, in the same turn.
  monitor.emit('cycle', monitor.poller.lastCycle);
  monitor.emit('alert', { event: 'alert_new', data: { id: 'ordering-test' } });
  await new Promise((r) => setTimeout(r, 200));
  ws.terminate();
  assert.deepEqual(events, ['hosts_update', 'alert_new']);
});

test('WebSocket with compress=gzip: hosts_update as one gzip binary frame, the same JSON as text clients get', async () => {
  const plain = await app.injectWS('/ws', { headers: auth });
  const packed = await app.injectWS('/ws?compress=gzip', { headers: auth });
  const texts: string[] = [];
  const frames: Array<{ binary: boolean; json: string }> = [];
  plain.on('message', (d: Buffer) => texts.push(d.toString()));
  packed.on('message', (d: Buffer, isBinary: boolean) => frames.push({ binary: isBinary, json: isBinary ? gunzipSync(d).toString() : d.toString() }));
  await new Promise((r) => setTimeout(r, 50));
  const [t0, f0] = [texts.length, frames.length];
  await monitor.poller.runCycle();
  await new Promise((r) => setTimeout(r, 200));
  plain.terminate();
  packed.terminate();
  const text = texts.slice(t0).find((t) => t.startsWith('{"event":"hosts_update"'));
  const frame = frames.slice(f0).find((f) => f.json.startsWith('{"event":"hosts_update"'));
  assert.ok(text && frame, `text ${texts.length}, frames ${frames.length}`);
  assert.equal(frame.binary, true);
  assert.equal(frame.json, text, 'one cycle, one payload, whatever the encoding');
});

test('/api/hosts and /api/sessions: gzip when asked, the same JSON either way', async () => {
  await monitor.poller.runCycle();
  for (const url of ['/api/hosts', '/api/sessions', '/api/sessions?status=active']) {
    const plain = await app.inject({ url, headers: auth });
    const packed = await app.inject({ url, headers: { ...auth, 'accept-encoding': 'br, gzip;q=0.8' } });
    assert.equal(packed.headers['content-encoding'], 'gzip', url);
    assert.equal(plain.headers['content-encoding'], undefined, url);
    assert.equal(gunzipSync(packed.rawPayload).toString(), plain.body, url);
    assert.ok(Array.isArray(plain.json()), url);
  }
  const refused = await app.inject({ url: '/api/hosts', headers: { ...auth, 'accept-encoding': 'gzip;q=0' } });
  assert.equal(refused.headers['content-encoding'], undefined);
});

test('Prometheus exposition of the fleet, with label values escaped', async () => {
  assert.equal((await app.inject({ url: '/metrics' })).statusCode, 401);
  const res = await app.inject({ url: '/metrics', headers: auth });
  assert.equal(res.statusCode, 200);
  assert.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/);
  assert.match(res.body, /^fleetmon_host_up\{host="local"\} 1$/m);
  assert.match(res.body, /^# TYPE fleetmon_session_rss_bytes gauge$/m);
  assert.match(res.body, /^fleetmon_alerts_open \d+$/m);
});

test('the public key endpoint answers 404 with a hint when no key is configured', async () => {
  const res = await app.inject({ url: '/api/public-key', headers: auth });
  assert.equal(res.statusCode, 404);
  assert.match(res.json<{ error: string }>().error, /ssh\.key_path/);
});
