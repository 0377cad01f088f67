/**
 * What an attack run on loopback found (issue 13), each against the real app through inject(): DNS rebinding
 * names, wrong bearer tokens on reads, security headers, a cross-origin sign-out. No host is polled: the monitor
 * is built but never started.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { FastifyInstance } from 'fastify';
import { isLoopback, parseConfigObject } from '../../../src/core/config.js';
import { buildApp } from '../../../src/server/app.js';
import { loopbackHostAllowed } from '../../../src/server/http/origin.js';
import { Monitor } from '../../../src/server/monitor.js';
import { closeDatabase, openDatabase, type Db } from '../../../src/server/store/db.js';
import { tempDir } from '../../helpers/common.js';

const TOKEN = 'hardening-token-4f9c2a7e81b3d5066c1e9f02';
const tmp = tempDir();
const logLines: Record<string, unknown>[] = [];
const logStream = new Writable({
  write(chunk: Buffer, _enc, done) {
    for (const line of chunk.toString().split('\n').filter(Boolean)) logLines.push(JSON.parse(line) as Record<string, unknown>);
    done();
  },
});
let db: Db;
let monitor: Monitor;
let app: FastifyInstance;
const processWarnings: string[] = [];
process.on('warning', (w) => processWarnings.push(`${(w as { code?: string }).code ?? w.name}: ${w.message}`));

before(async () => {
  // Public reads (as on loopback by default), so a wrong token is the only thing that can make a read fail.
  const config = parseConfigObject({ hosts: [{ name: 'local', address: 'localhost', transport: 'local' }], server: { public_read: true } }, 'test');
  db = openDatabase(tmp.path).db;
  const log = pino({ level: 'info' }, logStream);
  monitor = new Monitor({ config, db, log });
  app = await buildApp({ config, monitor, db, token: TOKEN, logger: log });
});

after(async () => {
  await app.close();
  await monitor.stop();
  closeDatabase(db);
  tmp.remove();
});

test('only real loopback names and addresses count as loopback (DNS rebinding)', () => {
  for (const name of ['localhost', 'LOCALHOST', 'localhost.', '127.0.0.1', '127.1.2.3', '::1']) assert.ok(isLoopback(name), name);
  for (const name of ['127.0.0.1.attacker.example', '127.attacker.example', '127.0.0.256', '127.0.0', 'localhost.attacker.example', '0127.0.0.1']) {
    assert.equal(isLoopback(name), false, name);
  }
  assert.ok(loopbackHostAllowed('127.0.0.1:8080'));
  assert.ok(loopbackHostAllowed('[::1]:8080'));
  assert.ok(loopbackHostAllowed('localhost'));
  assert.equal(loopbackHostAllowed('127.0.0.1.attacker.example:8080'), false);
  assert.equal(loopbackHostAllowed('[::2]:8080'), false);
});

test('a rebinding Host is refused before any read or the WebSocket', async () => {
  for (const url of ['/api/hosts', '/ws', '/']) {
    const res = await app.inject({ url, headers: { host: '127.0.0.1.attacker.example:8080' } });
    assert.equal(res.statusCode, 421, url);
  }
  assert.equal((await app.inject({ url: '/api/hosts', headers: { host: '127.0.0.1:8080' } })).statusCode, 200);
});

test('API and dashboard answers carry a CSP that forbids framing, nosniff, and no-store on the API', async () => {
  const api = await app.inject({ url: '/api/summary', headers: { host: '127.0.0.1:8080' } });
  assert.equal(api.statusCode, 200);
  assert.match(String(api.headers['content-security-policy']), /frame-ancestors 'none'/);
  assert.equal(api.headers['x-content-type-options'], 'nosniff');
  assert.equal(api.headers['cache-control'], 'no-store');
  const page = await app.inject({ url: '/', headers: { host: '127.0.0.1:8080' } });
  assert.equal(page.statusCode, 200);
  assert.match(String(page.headers['content-security-policy']), /default-src 'self'/);
  assert.notEqual(page.headers['cache-control'], 'no-store', 'static files may be cached');
});

test('a cross-origin sign-out is refused like every other cookie-authenticated change', async () => {
  const res = await app.inject({ method: 'POST', url: '/api/logout', headers: { host: '127.0.0.1:8080', origin: 'https://evil.example' } });
  assert.equal(res.statusCode, 403);
  const same = await app.inject({ method: 'POST', url: '/api/logout', headers: { host: '127.0.0.1:8080', origin: 'http://127.0.0.1:8080' } });
  assert.equal(same.statusCode, 200);
});

test('a wrong bearer token is refused even on public reads, logged, and counted per address until it locks out', async () => {
  const wrong = { host: '127.0.0.1:8080', authorization: 'Bearer not-the-token' };
  const first = await app.inject({ url: '/api/hosts', headers: wrong, remoteAddress: '127.0.0.9' });
  assert.equal(first.statusCode, 401);
  assert.match(first.json<{ error: string }>().error, /wrong API token/);
  assert.ok(logLines.some((l) => l.msg === 'wrong API token' && l.ip === '127.0.0.9'), 'the failure is logged with the address');
  for (let i = 0; i < 4; i++) await app.inject({ url: '/api/hosts', headers: wrong, remoteAddress: '127.0.0.9' });
  const locked = await app.inject({ url: '/api/hosts', headers: { ...wrong, authorization: `Bearer ${TOKEN}x` }, remoteAddress: '127.0.0.9' });
  assert.equal(locked.statusCode, 429);
  assert.ok(Number(locked.headers['retry-after']) > 0);
  // Another address is not punished for it, and the right token still works from there.
  assert.equal((await app.inject({ url: '/api/hosts', headers: { host: '127.0.0.1:8080', authorization: `Bearer ${TOKEN}` }, remoteAddress: '127.0.0.10' })).statusCode, 200);
  assert.ok(!logLines.some((l) => JSON.stringify(l).includes('not-the-token')), 'the token is never logged');
});

test('building the app prints no deprecation warning (it did at every start)', () => {
  assert.deepEqual(processWarnings.filter((w) => w.startsWith('FSTDEP')), []);
});

test('history since/until: ISO times and bounded durations only, never a 500 or a misread year', async () => {
  const q = (query: string) => app.inject({ url: `/api/hosts/local/history?metric=cpu_percent&${query}`, headers: { host: '127.0.0.1:8080' } });
  assert.equal((await q('since=1h')).statusCode, 200);
  assert.equal((await q(`since=${encodeURIComponent(new Date(Date.now() - 600_000).toISOString())}`)).statusCode, 200);
  for (const bad of ['since=999999999w', 'since=12', 'since=2026', 'until=12', 'since=yesterday', 'since=1e9h']) {
    const res = await q(bad);
    assert.equal(res.statusCode, 400, `${bad}: ${res.body}`);
    assert.match(res.json<{ error: string }>().error, /ISO 8601/);
  }
});

test('a 300-character session id is looked up (404 here), not refused as too long (414)', async () => {
  const id = `local:${'x'.repeat(300)}`;
  const res = await app.inject({ url: `/api/sessions/${encodeURIComponent(id)}`, headers: { host: '127.0.0.1:8080' } });
  assert.equal(res.statusCode, 404);
});
