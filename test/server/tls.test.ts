/**
 * `server.tls` end to end: a real HTTPS listener on loopback (a random port), the self-signed certificate made once
 * and reused, the query CLI against it with --fingerprint (right and wrong) and --ca-file, the Secure cookie, and
 * the WebSocket over wss.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { pino } from 'pino';
import { Agent, fetch } from 'undici';
import { WebSocket } from 'ws';
import { parseConfigObject, type FleetConfig } from '../../src/core/config.js';
import type { FleetSummary } from '../../src/core/model.js';
import { FleetmonError } from '../../src/core/errors.js';
import { startServer, type RunningServer } from '../../src/server/start.js';
import { resolveServerTls, SELF_SIGNED_CERT_FILE, SELF_SIGNED_KEY_FILE } from '../../src/server/tls.js';
import { tempDir, testDir, waitFor } from '../helpers/common.js';
import { ApiClient } from '../../src/client/api-client.js';
import { startFeed, type FeedPatch } from '../../src/top/feed.js';
import { runCommand } from '../helpers/run-command.js';

const data = tempDir();
const silent = pino({ level: 'silent' });
let server: RunningServer;

function config(tls: unknown, dataDir = data.path): FleetConfig {
  return parseConfigObject(
    {
      polling_interval_seconds: 1,
      hosts: [{ name: 'here', address: 'localhost', transport: 'local' }],
      server: { host: '127.0.0.1', port: 0, data_dir: dataDir, public_read: false, tls },
    },
    'test',
  );
}

/** `fleetmon status` against the server; without --json, so that a refusal reads as the user sees it. */
const status = (args: string[], json = true) =>
  runCommand('src/commands/status.ts', [...(json ? ['--json'] : []), '--server', server.url, ...args], { env: { FLEETMON_DATA_DIR: data.path } });

before(async () => {
  server = await startServer(config('self-signed'), { log: silent });
});

after(async () => {
  await server.close();
  data.remove();
});

test('self-signed: made once into the data dir (key 0600, SANs for localhost and the listen address), reused with the same fingerprint after a restart', async () => {
  assert.ok(server.url.startsWith('https://127.0.0.1:'), server.url);
  const tls = server.tls;
  assert.ok(tls);
  assert.equal(tls.source, 'created');
  assert.equal(tls.certFile, join(data.path, SELF_SIGNED_CERT_FILE));
  assert.equal(statSync(join(data.path, SELF_SIGNED_KEY_FILE)).mode & 0o777, 0o600);
  assert.match(tls.fingerprints.cert, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/, 'the AA:BB:… form --fingerprint takes');
  const san = new X509Certificate(tls.cert).subjectAltName ?? '';
  for (const name of ['DNS:localhost', 'IP Address:127.0.0.1']) assert.ok(san.includes(name), san);

  const before = tls.fingerprints.cert;
  await server.close();
  server = await startServer(config('self-signed'), { log: silent });
  assert.equal(server.tls?.source, 'reused');
  assert.equal(server.tls?.fingerprints.cert, before, 'a restart keeps the certificate a client pinned');
});

test('CLI: --fingerprint right is served, wrong is refused in one line naming both, none is refused with a hint; --ca-file is trusted', async () => {
  const fp = server.tls!.fingerprints;
  const right = await status(['--fingerprint', fp.cert]);
  assert.equal(right.code, 0, right.stderr);
  assert.equal((JSON.parse(right.stdout) as FleetSummary).hosts_total, 1);
  const bySpki = await status(['--fingerprint', `sha256//${fp.spki}`]);
  assert.equal(bySpki.code, 0, bySpki.stderr);

  const wrongPin = Array.from({ length: 32 }, () => 'AB').join(':');
  const wrong = await status(['--fingerprint', wrongPin], false);
  assert.notEqual(wrong.code, 0);
  const line = wrong.stderr.split('\n').find((l) => l.includes(wrongPin)) ?? '';
  assert.ok(line.includes(fp.cert), `one line names the pinned and the presented fingerprint:\n${wrong.stderr}`);
  assert.match(line, /refusing to send the API token/);

  const unpinned = await status([], false);
  assert.notEqual(unpinned.code, 0);
  assert.match(unpinned.stderr, /not trusted \(DEPTH_ZERO_SELF_SIGNED_CERT\)/);
  assert.match(unpinned.stderr, /--fingerprint/);
  assert.match(unpinned.stderr, /--ca-file/);

  const byCa = await status(['--ca-file', server.tls!.certFile]);
  assert.equal(byCa.code, 0, byCa.stderr);
  const sessions = await runCommand('src/commands/sessions/index.ts', ['--json', '--server', server.url, '--fingerprint', fp.cert], {
    env: { FLEETMON_DATA_DIR: data.path },
  });
  assert.equal(sessions.code, 0, sessions.stderr);
});

test('CLI: --fingerprint with an http:// server is refused before any request', async () => {
  const r = await runCommand('src/commands/status.ts', ['--server', 'http://127.0.0.1:9', '--fingerprint', server.tls!.fingerprints.cert]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /--fingerprint needs an https:\/\/ --server/);
});

test('the sign-in cookie is Secure over HTTPS, and the WebSocket works over wss', async () => {
  const dispatcher = new Agent({ connect: { ca: server.tls!.cert } });
  try {
    const origin = server.url;
    const res = await fetch(`${server.url}/api/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin },
      body: JSON.stringify({ token: server.token.token }),
      dispatcher,
    });
    assert.equal(res.status, 200, await res.text());
    const cookie = res.headers.get('set-cookie') ?? '';
    assert.match(cookie, /; Secure/);
    const sid = cookie.split(';')[0]!;

    const ws = new WebSocket(`${server.url.replace(/^https/, 'wss')}/ws`, { ca: server.tls!.cert, headers: { cookie: sid, origin } });
    const first = await new Promise<{ event: string }>((resolve, reject) => {
      ws.once('message', (m: Buffer) => resolve(JSON.parse(m.toString()) as { event: string }));
      // Each cycle (one a second here) sends hosts_update to every open socket.
      ws.once('error', reject);
    });
    ws.close();
    assert.equal(first.event, 'hosts_update');
  } finally {
    await dispatcher.close();
  }
});

test('server.tls files: a missing file and a key of another certificate are refused naming the file and the fix', async () => {
  const other = tempDir();
  try {
    const missing = join(other.path, 'nope.pem');
    await assert.rejects(
      startServer(config({ cert_file: missing, key_file: server.tls!.keyFile }, other.path), { log: silent }),
      (e: unknown) => e instanceof FleetmonError && e.message.includes(missing) && e.message.includes('ENOENT') && /cert_file/.test(e.suggestions.join(' ')),
    );
    // A second self-signed pair, made in another data dir: its key does not belong to our certificate.
    const second = await startServer(config('self-signed', other.path), { log: silent });
    await second.close();
    const wrongKey = join(other.path, SELF_SIGNED_KEY_FILE);
    await assert.rejects(
      startServer(config({ cert_file: server.tls!.certFile, key_file: wrongKey }, other.path), { log: silent }),
      (e: unknown) => e instanceof FleetmonError && e.message.includes(`key_file ${wrongKey} is not the key of cert_file`),
    );
    const garbage = join(other.path, 'garbage.pem');
    writeFileSync(garbage, 'not a certificate\n');
    await assert.rejects(
      startServer(config({ cert_file: garbage, key_file: wrongKey }, other.path), { log: silent }),
      (e: unknown) => e instanceof FleetmonError && e.message.includes(`cert_file ${garbage} holds no PEM certificate`),
    );
    // The user's own files serve as they are.
    const own = await startServer(config({ cert_file: server.tls!.certFile, key_file: server.tls!.keyFile }, other.path), { log: silent });
    assert.equal(own.tls?.source, 'files');
    assert.equal(own.tls?.fingerprints.cert, server.tls!.fingerprints.cert);
    await own.close();
  } finally {
    other.remove();
  }
});

/** Runs `fleetmon serve --config FILE` until it has printed its TLS lines, then stops it; returns its stderr. */
function serveUntilFingerprint(configFile: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(testDir, '..', 'bin', 'run.js'), 'serve', '--config', configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (/--fingerprint \S+\n/.test(stderr)) child.kill('SIGTERM');
    });
    child.on('error', reject);
    child.on('close', () => {
      clearTimeout(timer);
      resolve(stderr);
    });
  });
}

test('fleetmon serve prints the SHA-256 to pin at start, the same one after a restart', async () => {
  const dir = tempDir();
  try {
    const file = join(dir.path, 'hosts.yml');
    writeFileSync(file, `server: {host: 127.0.0.1, port: 0, data_dir: ${JSON.stringify(dir.path)}, tls: self-signed}\nhosts: []\n`);
    const first = await serveUntilFingerprint(file);
    const pin = /clients pin it with --fingerprint ((?:[0-9A-F]{2}:){31}[0-9A-F]{2})\n/.exec(first)?.[1];
    assert.ok(pin, first);
    assert.match(first, /dashboard and API on https:\/\/127\.0\.0\.1:\d+/);
    assert.match(first, /self-signed, made now\), SHA-256 /);
    const fromFile = new X509Certificate(readFileSync(join(dir.path, SELF_SIGNED_CERT_FILE))).fingerprint256;
    assert.equal(pin, fromFile, 'the printed fingerprint is the certificate\'s');
    const second = await serveUntilFingerprint(file);
    assert.match(second, /made at an earlier start/);
    assert.ok(second.includes(`--fingerprint ${pin}\n`), second);
  } finally {
    dir.remove();
  }
});

test('fleetmon top\'s feed over wss: pinned with --fingerprint it goes live and takes hosts_update frames; a wrong pin never goes live', async () => {
  const watch = (fingerprint: string) => {
    const patches: FeedPatch[] = [];
    const client = new ApiClient(server.url, server.token.token, 5000, { fingerprint });
    // Long poll and retry intervals: whatever arrives after the socket opened came over it.
    const feed = startFeed(client, (p) => patches.push(p), { pollMs: 60_000, retryMs: 60_000, live: true });
    return { patches, feed };
  };
  const right = watch(server.tls!.fingerprints.cert);
  try {
    // A hosts_update patch carries hosts and summary but no alerts (a REST round carries all three).
    await waitFor(() => {
      const opened = right.patches.findIndex((p) => p.connection === 'live');
      return opened >= 0 && right.patches.slice(opened + 1).some((p) => p.hosts !== undefined && !('alerts' in p)) ? true : null;
    }, 15_000, 'live over wss, then a hosts_update');
    const update = right.patches.filter((p) => p.hosts !== undefined && !('alerts' in p)).at(-1)!;
    assert.deepEqual(update.hosts!.map((h) => h.hostname), ['here']);
  } finally {
    right.feed.stop();
  }
  const wrong = watch(Array.from({ length: 32 }, () => 'AB').join(':'));
  try {
    const lost = await waitFor(() => wrong.patches.find((p) => p.connection === 'lost') ?? null, 15_000, 'a wrong pin is lost');
    assert.match(lost.connectionDetail ?? '', /AB:AB/, 'top shows why: the pin that did not match');
    await new Promise((r) => setTimeout(r, 1500)); // a cycle or more: the socket would have opened by now
    assert.ok(!wrong.patches.some((p) => p.connection === 'live' || p.hosts !== undefined), JSON.stringify(wrong.patches));
  } finally {
    wrong.feed.stop();
  }
});

test('self-signed without openssl on the PATH is refused with what to install', async () => {
  const dir = tempDir();
  const path = process.env.PATH;
  process.env.PATH = dir.path; // an empty directory: no openssl there
  try {
    await assert.rejects(
      resolveServerTls(config('self-signed', dir.path).server, dir.path),
      (e: unknown) => e instanceof FleetmonError && e.code === 'OPENSSL_MISSING' && /apt-get install openssl/.test(e.suggestions.join(' ')),
    );
  } finally {
    process.env.PATH = path;
    dir.remove();
  }
});
