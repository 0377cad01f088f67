/**
 * `fleetmon serve` as a process (bin/run.js, real sockets, real signals): a client that sent half a request must
 * not hold up shutdown, and a start prints no Node or Fastify warning.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import WebSocket from 'ws';
import { shQuote } from '../../src/core/shell-quote.js';
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

test('SIGTERM with a half-sent request, an unfinished body and an open WebSocket exits 0 promptly', async (t) => {
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
  // And a dashboard's open WebSocket.
  const ws = new WebSocket(`${s.url.replace(/^http/, 'ws')}/ws`, { headers: { origin: s.url } });
  t.after(() => ws.terminate());
  await new Promise<void>((resolve, reject) => (ws.once('open', () => resolve()), ws.once('error', reject)));
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

/** `fleetmon serve` under a real pseudo-terminal (util-linux script(1)); resolves with all it printed once it exits. */
async function serveOnTerminal(dataDir: string, extra: string[]): Promise<string> {
  const cmd = [process.execPath, bin, 'serve', '--port', '0', '--data-dir', dataDir, ...extra].map(shQuote).join(' ');
  const child = spawn('script', ['-qfec', cmd, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, FLEETMON_CONFIG: '' } });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise((resolve) => child.on('exit', resolve));
  try {
    await waitFor(() => out.includes('dashboard and API on'), 30_000, 'serve to start on a terminal');
    // Ctrl-C on the terminal: the line discipline sends SIGINT to the server.
    child.stdin.write('\x03');
    await Promise.race([exited, new Promise((_, reject) => setTimeout(() => reject(new Error(`no exit after Ctrl-C:\n${out}`)), 5000))]);
  } finally {
    child.kill('SIGKILL');
  }
  return stripVTControlCharacters(out).replace(/\r/g, '');
}

test('on a terminal the log is one readable line per event; --log-format json keeps JSON there', async (t) => {
  const data = tempDir();
  t.after(data.remove);
  const pretty = await serveOnTerminal(data.path, []);
  const lines = pretty.split('\n').filter((l) => l.trim() !== '');
  const serving = lines.find((l) => l.includes('fleetmon serving'));
  assert.match(serving ?? '', /^\[\d\d:\d\d:\d\d\] INFO: fleetmon serving \{"url":"http:\/\/127\.0\.0\.1:\d+"/, pretty);
  assert.ok(lines.some((l) => /\[\d\d:\d\d:\d\d\] INFO: shutting down \{"signal":"SIGINT"\}$/.test(l)), pretty);
  assert.ok(!lines.some((l) => l.startsWith('{')), `JSON on a terminal:\n${pretty}`);

  const json = await serveOnTerminal(data.path, ['--log-format', 'json']);
  const serve = json.split('\n').find((l) => l.includes('fleetmon serving'));
  assert.equal((JSON.parse(serve!) as { msg: string }).msg, 'fleetmon serving');
});

test('without a terminal the log is JSON lines; --log-format pretty makes it readable there too', async (t) => {
  const data = tempDir();
  t.after(data.remove);
  const plain = await serve(data.path);
  plain.child.kill('SIGTERM');
  await plain.exited;
  const serving = plain.output().split('\n').find((l) => l.includes('fleetmon serving'));
  assert.equal((JSON.parse(serving!) as { level: number; hosts: number }).level, 30);

  const forced = await serve(data.path, ['--log-format', 'pretty']);
  forced.child.kill('SIGTERM');
  await forced.exited;
  assert.match(forced.output(), /^\[\d\d:\d\d:\d\d\] INFO: fleetmon serving \{/m, forced.output());
});

test('serve with an empty hosts.yml (or only comments) warns in one line naming the file, and serves', async (t) => {
  const data = tempDir();
  t.after(data.remove);
  for (const [name, text] of [['empty.yml', ''], ['comments.yml', '# hosts come later\n']] as const) {
    const file = join(data.path, name);
    writeFileSync(file, text);
    const s = await serve(join(data.path, `data-${name}`), ['--config', file]);
    t.after(() => s.child.kill('SIGKILL'));
    assert.equal((await fetch(`${s.url}/health`)).status, 200);
    s.child.kill('SIGTERM');
    await s.exited;
    const warning = s.output().split('\n').filter((l) => l.includes('has no settings'));
    assert.equal(warning.length, 1, s.output());
    assert.equal(warning[0], `fleetmon: warning: ${file}: the file has no settings: running with every default and no hosts to monitor`);
  }
});
