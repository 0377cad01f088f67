/**
 * Section 4: the API and live updates with a loaded fleet (100 hosts × 10 sessions, polled for real): GET
 * /api/hosts and /api/sessions latency under autocannon at a fixed request rate, and the time from the end of a
 * poll cycle until every one of 100 WebSocket clients has the update.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { gunzipSync } from 'node:zlib';
import WebSocket from 'ws';
import type { Report } from './lib/report.js';
import type { BenchServer } from './lib/server.js';
import { round, summarize } from './lib/stats.js';

export interface ApiOptions {
  rate: number;
  durationSeconds: number;
  wsClients: number;
  wsCycles: number;
}

const SECTION = '4. API and live updates';

/** The part of autocannon's JSON result the benchmark reads. */
interface LoadResult {
  latency: { p50: number; p99: number };
  requests: { average: number };
  throughput: { average: number };
  non2xx: number;
  errors: number;
  timeouts: number;
}

/** autocannon in its own process, so the load generator does not share an event loop with the bench. */
function load(server: BenchServer, path: string, opts: ApiOptions, gzip = false): Promise<LoadResult> {
  const cli = createRequire(import.meta.url).resolve('autocannon/autocannon.js');
  const headers = ['-H', `authorization=Bearer ${server.token}`, ...(gzip ? ['-H', 'accept-encoding=gzip'] : [])];
  const args = [cli, '--json', '-c', '10', '-d', String(opts.durationSeconds), '-R', String(opts.rate), ...headers, `${server.url}${path}`];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      try {
        resolve(JSON.parse(out) as LoadResult);
      } catch {
        reject(new Error(`autocannon exited ${code}: ${err.slice(-500)}`));
      }
    });
  });
}

/** last_cycle_at of a hosts_update frame, read from its tail (the summary comes last) without parsing it all. */
function cycleOf(frame: Buffer): string | undefined {
  const tail = frame.subarray(Math.max(0, frame.length - 2000)).toString('utf8');
  return /"last_cycle_at":"([^"]+)"/.exec(tail)?.[1];
}

async function fanOut(server: BenchServer, opts: ApiOptions, gzip: boolean): Promise<{ latencies: number[]; bytes: number; missed: number }> {
  const wsUrl = `${server.url.replace(/^http/, 'ws')}/ws${gzip ? '?compress=gzip' : ''}`;
  const receipts = new Map<string, number[]>();
  let bytes = 0;
  const clients = await Promise.all(
    Array.from(
      { length: opts.wsClients },
      () =>
        new Promise<WebSocket>((resolve, reject) => {
          const ws = new WebSocket(wsUrl, { headers: { authorization: `Bearer ${server.token}` }, perMessageDeflate: false });
          ws.on('message', (raw: Buffer, isBinary: boolean) => {
            const at = Date.now();
            // A gzip'd frame is unpacked as the dashboard does: the time to get at the JSON counts.
            const data = isBinary ? gunzipSync(raw) : raw;
            if (data.subarray(0, 40).toString().includes('"hosts_update"')) {
              const cycle = cycleOf(data);
              if (cycle === undefined) return;
              bytes = raw.length;
              const list = receipts.get(cycle) ?? [];
              list.push(at);
              receipts.set(cycle, list);
            }
          });
          ws.once('open', () => resolve(ws));
          ws.once('error', reject);
        }),
    ),
  );
  try {
    const connectedAt = Date.now();
    const cycles = await server.cycles(opts.wsCycles + 1);
    await new Promise((r) => setTimeout(r, 1000)); // let the last frames arrive
    const latencies: number[] = [];
    let missed = 0;
    for (const [cycle, list] of receipts) {
      const end = Date.parse(cycle);
      if (end < connectedAt) continue; // the snapshot sent on connect
      if (list.length < opts.wsClients) missed += opts.wsClients - list.length;
      latencies.push(Math.max(...list) - end);
    }
    if (latencies.length === 0) throw new Error(`no hosts_update reached the clients over ${cycles.length} cycles`);
    return { latencies, bytes, missed };
  } finally {
    for (const ws of clients) ws.terminate();
  }
}

export async function benchApi(report: Report, server: BenchServer, hosts: number, opts: ApiOptions): Promise<void> {
  console.log(`\n${SECTION} — ${hosts} hosts polled live; autocannon at ${opts.rate} req/s for ${opts.durationSeconds} s; ${opts.wsClients} WebSocket clients`);
  for (const [path, gzip] of [['/api/hosts', false], ['/api/sessions', false], ['/api/hosts', true]] as const) {
    const r = await load(server, path, opts, gzip);
    const bad = r.non2xx + r.errors + r.timeouts;
    report.add({
      section: SECTION,
      name: `GET ${path}${gzip ? ' (gzip, as browsers ask)' : ''} p99 at ${opts.rate} req/s`,
      value: r.latency.p99,
      unit: 'ms',
      comparison: `p50 ${r.latency.p50} ms, ${round(r.requests.average, 0)} req/s served, ${round(r.throughput.average / 1e6, 1)} MB/s${bad ? `, ${bad} failed` : ''}`,
      target: '< 10 ms',
      holds: r.latency.p99 < 10 && bad === 0,
    });
  }
  for (const gzip of [false, true]) {
    const ws = await fanOut(server, opts, gzip);
    const s = summarize(ws.latencies);
    report.add({
      section: SECTION,
      name: `cycle end → all ${opts.wsClients} WebSocket clients updated${gzip ? ' (gzip, as the dashboard asks)' : ''}, median`,
      value: round(s.median, 0),
      unit: 'ms',
      comparison: `max ${round(s.max, 0)} ms over ${s.n} cycles; ${round(ws.bytes / 1024, 0)} KiB per update${ws.missed ? `; ${ws.missed} deliveries missed` : ''}`,
      target: '< 50 ms',
      holds: s.median < 50 && ws.missed === 0,
    });
  }
  report.note('the time includes storing the cycle in SQLite (the update is sent once it is stored); the clients run in the bench process, on the same cores as the server');
}
