/**
 * `server.trusted_proxies` over real HTTP on loopback: 127.0.0.2 plays the reverse proxy (listed), 127.0.0.3 a
 * client that forges X-Forwarded-For (not listed). The per-address limiter of wrong tokens and sign-ins keys on the
 * real client only when the peer is a trusted proxy.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { pino } from 'pino';
import { parseConfigObject, type FleetConfig } from '../../../src/core/config.js';
import { trustedPeerMatcher } from '../../../src/server/http/proxies.js';
import { startServer, type RunningServer } from '../../../src/server/start.js';
import { tempDir } from '../../helpers/common.js';

const PROXY = '127.0.0.2';
const STRANGER = '127.0.0.3';
const data = tempDir();
let server: RunningServer;
let port: number;

function config(): FleetConfig {
  return parseConfigObject(
    {
      polling_interval_seconds: 60,
      hosts: [{ name: 'here', address: 'localhost', transport: 'local' }],
      server: { host: '127.0.0.1', port: 0, data_dir: data.path, public_read: false, trusted_proxies: [PROXY, '10.9.0.0/16'] },
    },
    'test',
  );
}

/** One real request from `from`, with the given extra headers. */
function send(from: string, path: string, headers: Record<string, string>, body?: string): Promise<{ status: number; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, localAddress: from, path, method: body === undefined ? 'GET' : 'POST', headers: { ...headers, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) } },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const wrongToken = (from: string, forwardedFor?: string) =>
  send(from, '/api/hosts', { authorization: 'Bearer wrong-token-wrong-token-wrong-token', ...(forwardedFor ? { 'x-forwarded-for': forwardedFor } : {}) });

before(async () => {
  server = await startServer(config(), { log: pino({ level: 'silent' }) });
  port = Number(new URL(server.url).port);
});

after(async () => {
  await server.close();
  data.remove();
});

test('behind a trusted proxy, one client locked out does not lock out another', async () => {
  for (let i = 0; i < 5; i++) assert.equal((await wrongToken(PROXY, '198.51.100.7')).status, 401);
  assert.equal((await wrongToken(PROXY, '198.51.100.7')).status, 429, 'the first client is locked out');
  assert.equal((await wrongToken(PROXY, '198.51.100.8')).status, 401, 'the second client, through the same proxy, is not');
  // A chain: the proxy appends the address it saw; the client's own claim further left is not believed.
  assert.equal((await wrongToken(PROXY, '198.51.100.7, 198.51.100.9')).status, 401, 'keyed on the address the proxy saw, 198.51.100.9');
});

test('from an untrusted peer, a forged X-Forwarded-For changes nothing', async () => {
  for (let i = 0; i < 5; i++) assert.equal((await wrongToken(STRANGER, `203.0.113.${i}`)).status, 401);
  assert.equal((await wrongToken(STRANGER, '203.0.113.200')).status, 429, 'locked out as itself, whatever it claims');
  assert.equal((await wrongToken(STRANGER)).status, 429);
});

test('X-Forwarded-Proto https from the trusted proxy makes the cookie Secure; from anyone else it is ignored', async () => {
  const body = JSON.stringify({ token: server.token.token });
  const viaProxy = await send(PROXY, '/api/login', { 'x-forwarded-proto': 'https', 'x-forwarded-for': '198.51.100.20' }, body);
  assert.equal(viaProxy.status, 200);
  assert.match(String(viaProxy.headers['set-cookie']), /; Secure/);
  const forged = await send('127.0.0.4', '/api/login', { 'x-forwarded-proto': 'https' }, body);
  assert.equal(forged.status, 200);
  assert.doesNotMatch(String(forged.headers['set-cookie']), /Secure/);
});

test('through the trusted proxy the public name and origin are accepted; from anyone else the loopback Host and Origin checks hold', async () => {
  const body = JSON.stringify({ token: server.token.token });
  const publicName = { host: 'fleet.example.com', origin: 'https://fleet.example.com', 'x-forwarded-proto': 'https', 'x-forwarded-for': '198.51.100.30' };
  const viaProxy = await send(PROXY, '/api/login', publicName, body);
  assert.equal(viaProxy.status, 200, 'the proxy forwards the name the browser used');
  // A proxy that rewrites Host to the upstream says the public name in X-Forwarded-Host.
  const rewritten = await send(PROXY, '/api/login', { ...publicName, host: `127.0.0.1:${port}`, 'x-forwarded-host': 'fleet.example.com' }, body);
  assert.equal(rewritten.status, 200);
  assert.equal((await send('127.0.0.5', '/api/login', publicName, body)).status, 421, 'DNS rebinding is still refused for direct peers');
  const forgedHost = await send('127.0.0.5', '/api/login', { ...publicName, host: `127.0.0.1:${port}`, 'x-forwarded-host': 'fleet.example.com' }, body);
  assert.equal(forgedHost.status, 403, "a direct peer's X-Forwarded-Host does not make a foreign origin ours");
});

test('the trusted-peer matcher: addresses, IPv4 and IPv6 CIDRs, IPv4-mapped peers; none listed trusts nobody', () => {
  const trusted = trustedPeerMatcher(['127.0.0.2', '10.9.0.0/16', 'fd00::/8']);
  assert.equal(trusted('127.0.0.2'), true);
  assert.equal(trusted('::ffff:127.0.0.2'), true);
  assert.equal(trusted('10.9.200.1'), true);
  assert.equal(trusted('10.10.0.1'), false);
  assert.equal(trusted('fd12::1'), true);
  assert.equal(trusted('fe80::1'), false);
  assert.equal(trusted(undefined), false);
  assert.equal(trustedPeerMatcher([])('127.0.0.1'), false);
});
