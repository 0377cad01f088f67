/**
 * `fleetmon serve` as a process (bin/run.js, real sockets, real signals): a client that sent half a request must
 * not hold up shutdown, and a start prints no Node or Fastify warning.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { tempDir, testDir, waitFor } from '../helpers/common.js';

const bin = join(testDir, '..', 'bin', 'run.js');

interface Served {
  child: ChildProcess;
  url: string;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

async function serve(dataDir: string, extra: string[] = []): Promise<Served> {
  const child = spawn(process.execPath, [bin, 'serve', '--port', '0', '--data-dir', dataDir, ...extra], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, FLEETMON_CONFIG: '' },
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const url = await waitFor(() => /dashboard and API on (http:\/\/\S+) /.exec(stripVTControlCharacters(out))?.[1], 30_000, `serve to start; output:\n${out}`);
  return { child, url, output: () => stripVTControlCharacters(out), exited };
}

function rawSocket(url: string, text: string): Promise<Socket> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const s = connect(Number(port), hostname, () => s.write(text, () => resolve(s)));
    s.on('error', reject);
  });
}

test('SIGTERM with a half-sent request and an unfinished body exits 0 promptly', async (t) => {
  const data = tempDir();
  t.after(data.remove);
  const s = await serve(data.path);
  t.after(() => s.child.kill('SIGKILL'));
  const host = new URL(s.url).host;
  const sockets = [
    // Only part of the headers.
    await rawSocket(s.url, `GET /health HTTP/1.1\r\nHost: ${host}\r\nX-Half: `),
    // Complete headers, a body that never finishes.
    await rawSocket(s.url, `POST /api/login HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"password":`),
    // A kept-alive idle connection after a full request.
    await rawSocket(s.url, `GET /health HTTP/1.1\r\nHost: ${host}\r\n\r\n`),
  ];
  t.after(() => sockets.forEach((x) => x.destroy()));
  await new Promise((r) => setTimeout(r, 300));
  const started = Date.now();
  s.child.kill('SIGTERM');
  const { code, signal } = await s.exited;
  const took = Date.now() - started;
  assert.equal(signal, null, s.output());
  assert.equal(code, 0, s.output());
  assert.ok(took < 2000, `shutdown took ${took} ms:\n${s.output()}`);
  assert.doesNotMatch(s.output(), /killed by timeout/);
});

test('SIGINT with a half-sent request exits 0 promptly too', async (t) => {
  const data = tempDir();
  t.after(data.remove);
  const s = await serve(data.path);
  t.after(() => s.child.kill('SIGKILL'));
  const sock = await rawSocket(s.url, 'GET /api/hosts HTTP/1.1\r\n');
  t.after(() => sock.destroy());
  const started = Date.now();
  s.child.kill('SIGINT');
  const { code } = await s.exited;
  assert.equal(code, 0, s.output());
  assert.ok(Date.now() - started < 2000, s.output());
});

test('a start prints no warning (deprecations, experimental features) and no stack', async (t) => {
  const data = tempDir();
  t.after(data.remove);
  const s = await serve(data.path);
  t.after(() => s.child.kill('SIGKILL'));
  // The first poll and the first request happen after the banner: wait for them to have had their say too.
  const res = await fetch(`${s.url}/health`);
  assert.equal(res.status, 200);
  await new Promise((r) => setTimeout(r, 1500));
  s.child.kill('SIGTERM');
  await s.exited;
  const out = s.output();
  assert.doesNotMatch(out, /Warning|DEP\d+|FSTDEP|deprecated/i, out);
  assert.doesNotMatch(out, /\n\s+at .+:\d+:\d+/, out);
});
