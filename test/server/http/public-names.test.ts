/**
 * DNS rebinding beyond loopback, over real HTTP: a server listening on 0.0.0.0 answers only Hosts that name it
 * (loopback names, this machine's own addresses and name, `server.public_names`, any port) and refuses every
 * other Host, an attacker's name that resolves to it included, with 421 naming the key to set. With no names
 * configured, reaching it by address keeps working. A trusted proxy steps aside (it forwards the browser's name).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { connect } from 'node:net';
import { hostname, networkInterfaces } from 'node:os';
import { pino } from 'pino';
import { parseConfigObject } from '../../../src/core/config.js';
import { startServer, type RunningServer } from '../../../src/server/start.js';
import { tempDir } from '../../helpers/common.js';

const TOKEN = 'Public-Names-Test-Token-0123456789abcdef';
const PROXY = '127.0.0.2';

interface Answer {
  status: number;
  body: string;
  headers: Record<string, unknown>;
}

/** One real request to 127.0.0.1:port carrying the given Host (and other) headers. */
function send(port: number, path: string, headers: Record<string, string>, opts: { body?: string; from?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: opts.body === undefined ? 'GET' : 'POST',
        setHost: false,
        ...(opts.from ? { localAddress: opts.from } : {}),
        headers: { ...headers, ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}) },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** A WebSocket upgrade with the given Host over a raw socket: the status line of whatever answers it. */
function upgrade(port: number, host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(
        `GET /ws HTTP/1.1\r\nHost: ${host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`,
      );
    });
    let head = '';
    socket.setEncoding('utf8');
    socket.on('data', (c: string) => {
      head += c;
      if (head.includes('\r\n')) {
        resolve(head.slice(0, head.indexOf('\r\n')));
        socket.destroy();
      }
    });
    socket.on('error', reject);
    socket.setTimeout(5000, () => {
      socket.destroy();
      reject(new Error(`no answer to the upgrade with Host ${host}`));
    });
  });
}

/** A non-loopback IPv4 address of this machine, if it has one. */
function interfaceAddress(): string | undefined {
  return Object.values(networkInterfaces())
    .flat()
    .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
}

async function serve(server: Record<string, unknown>, data: string): Promise<{ running: RunningServer; port: number }> {
  const config = parseConfigObject(
    {
      polling_interval_seconds: 60,
      hosts: [{ name: 'here', address: 'localhost', transport: 'local' }],
      server: { host: '0.0.0.0', port: 0, data_dir: data, token: TOKEN, public_read: false, ...server },
    },
    'test',
  );
  const running = await startServer(config, { log: pino({ level: 'silent' }) });
  return { running, port: Number(new URL(running.url).port) };
}

const auth = { authorization: `Bearer ${TOKEN}` };
const named = tempDir();
const plain = tempDir();
let withNames: { running: RunningServer; port: number };
let withoutNames: { running: RunningServer; port: number };

before(async () => {
  withNames = await serve({ public_names: ['fleetmon.example.test', 'Monitor.LAN'], trusted_proxies: [PROXY] }, named.path);
  withoutNames = await serve({}, plain.path);
});

after(async () => {
  await withNames.running.close();
  await withoutNames.running.close();
  named.remove();
  plain.remove();
});

test('beyond loopback, a Host that is not a name of this server is refused with 421 naming server.public_names', async () => {
  const { port } = withNames;
  for (const host of ['attacker.example', `attacker.example:${port}`, '127.0.0.1.attacker.example', 'fleetmon.example.test.attacker.example', '[::2]:80', 'a:b:c']) {
    const res = await send(port, '/api/hosts', { ...auth, host });
    assert.equal(res.status, 421, host);
    assert.match(JSON.parse(res.body).error, /add it to server\.public_names in hosts\.yml/, host);
  }
  const res = await send(port, '/api/hosts', { ...auth, host: 'attacker.example' });
  assert.match(JSON.parse(res.body).error, /"attacker\.example" is not a name of this server/);
  // The WebSocket and the dashboard are held to the same names.
  assert.match(await upgrade(port, 'attacker.example'), /^HTTP\/1\.1 421 /);
  assert.equal((await send(port, '/', { host: 'attacker.example' })).status, 421);
});

test('beyond loopback, loopback names, the configured names (any case, any port) and this machine\'s own addresses are answered', async () => {
  const { port } = withNames;
  const hosts = ['127.0.0.1', `127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, 'fleetmon.example.test', 'fleetmon.example.test:8443', 'FLEETMON.example.test.', 'monitor.lan:80', hostname()];
  const own = interfaceAddress();
  if (own) hosts.push(own, `${own}:${port}`);
  for (const host of hosts) {
    const res = await send(port, '/api/hosts', { ...auth, host });
    assert.equal(res.status, 200, `${host}: ${res.body}`);
  }
});

test('with no names configured, reaching the server by address works and any other name is refused', async (t) => {
  const { port } = withoutNames;
  assert.equal((await send(port, '/api/hosts', { ...auth, host: `127.0.0.1:${port}` })).status, 200);
  const own = interfaceAddress();
  if (own) assert.equal((await send(port, '/api/hosts', { ...auth, host: `${own}:${port}` })).status, 200);
  else t.diagnostic('no non-loopback IPv4 interface here: the interface-address case was not checked');
  assert.equal((await send(port, '/api/hosts', { ...auth, host: `fleetmon.example.test:${port}` })).status, 421);
});

test('Origin checks accept the configured names: a sign-in from the configured name passes, another origin is refused', async () => {
  const { port } = withNames;
  const body = JSON.stringify({ token: TOKEN });
  const same = await send(port, '/api/login', { host: `fleetmon.example.test:${port}`, origin: `http://fleetmon.example.test:${port}` }, { body });
  assert.equal(same.status, 200, same.body);
  assert.match(String(same.headers['set-cookie']), /fleetmon_session=|HttpOnly/);
  const cross = await send(port, '/api/login', { host: `fleetmon.example.test:${port}`, origin: 'http://attacker.example' }, { body });
  assert.equal(cross.status, 403, cross.body);
  // A rebinding page sends its own name as both Host and Origin: the Host check refuses it first.
  const rebinding = await send(port, '/api/login', { host: 'attacker.example', origin: 'http://attacker.example' }, { body });
  assert.equal(rebinding.status, 421, rebinding.body);
});

test('a trusted proxy steps aside: the name it forwards is its to check', async () => {
  const { port } = withNames;
  const viaProxy = await send(port, '/api/hosts', { ...auth, host: 'proxy-only-name.example' }, { from: PROXY });
  assert.equal(viaProxy.status, 200, viaProxy.body);
  const direct = await send(port, '/api/hosts', { ...auth, host: 'proxy-only-name.example' }, { from: '127.0.0.3' });
  assert.equal(direct.status, 421);
});
