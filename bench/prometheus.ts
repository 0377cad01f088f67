/**
 * Past one collector: a real Prometheus (Debian's /usr/bin/prometheus, its own temporary storage, a loopback port)
 * scrapes the running server's /metrics with the API token, and the bench reads back from Prometheus' own API how
 * long each scrape took and how many series it holds.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { Report } from './lib/report.js';
import { freePort, type BenchServer } from './lib/server.js';
import { round, summarize } from './lib/stats.js';

const SECTION = '5. Prometheus';
const PROMETHEUS = '/usr/bin/prometheus';

async function query(base: string, q: string): Promise<number[]> {
  const res = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(q)}`);
  const body = (await res.json()) as { data?: { result?: Array<{ value: [number, string] }> } };
  return (body.data?.result ?? []).map((r) => Number(r.value[1]));
}

export async function benchPrometheus(report: Report, server: BenchServer, hosts: number, scrapes: number): Promise<void> {
  if (!existsSync(PROMETHEUS)) {
    report.skip(SECTION, 'Prometheus scrape', `${PROMETHEUS} is missing: apt-get install prometheus`);
    return;
  }
  console.log(`\n${SECTION} — a real Prometheus scraping the ${hosts}-host server's /metrics every 2 s, ${scrapes} scrapes`);
  const dir = mkdtempSync(join(tmpdir(), 'fleetmon-bench-prom-'));
  const port = await freePort();
  const url = new URL(server.url);
  writeFileSync(
    join(dir, 'prometheus.yml'),
    stringify({
      global: { scrape_interval: '2s', scrape_timeout: '2s' },
      scrape_configs: [{ job_name: 'fleetmon', scheme: url.protocol.replace(':', ''), authorization: { credentials: server.token }, static_configs: [{ targets: [url.host] }] }],
    }),
  );
  const child = spawn(PROMETHEUS, [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
  const base = `http://127.0.0.1:${port}`;
  try {
    const durations: number[] = [];
    let series = Number.NaN;
    let up = Number.NaN;
    const deadline = Date.now() + 30_000 + scrapes * 4000;
    let lastTs = '';
    while (durations.length < scrapes && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 1000));
      if (child.exitCode !== null) throw new Error(`prometheus exited: ${stderr}`);
      const res = await fetch(`${base}/api/v1/query?query=${encodeURIComponent('scrape_duration_seconds{job="fleetmon"}')}`).catch(() => null);
      if (!res?.ok) continue;
      const body = (await res.json()) as { data?: { result?: Array<{ value: [number, string] }> } };
      const v = body.data?.result?.[0]?.value;
      if (!v) continue;
      // Instant queries return the latest sample: a new one appears per scrape (the query's own time differs).
      const ts = (await query(base, 'timestamp(scrape_duration_seconds{job="fleetmon"})'))[0];
      if (ts === undefined || String(ts) === lastTs) continue;
      lastTs = String(ts);
      durations.push(Number(v[1]) * 1000);
      series = (await query(base, 'scrape_samples_scraped{job="fleetmon"}'))[0] ?? Number.NaN;
      up = (await query(base, 'up{job="fleetmon"}'))[0] ?? Number.NaN;
    }
    if (durations.length === 0) {
      report.skip(SECTION, 'Prometheus scrape', `no scrape recorded within the time: ${stderr.slice(-300)}`);
      return;
    }
    const s = summarize(durations);
    report.add({
      section: SECTION,
      name: `Prometheus scrape of /metrics, ${hosts} hosts, median`,
      value: round(s.median, 0),
      unit: 'ms',
      comparison: `max ${round(s.max, 0)} ms over ${s.n} scrapes; ${series} series per scrape; up=${up}`,
      target: 'up, scrape < 2 s timeout',
      holds: up === 1 && s.max < 2000,
    });
    report.note(`Prometheus ${PROMETHEUS} scraped the ${hosts}-host server with the API token every 2 s; scrape duration and series count (scrape_samples_scraped) read back from its query API`);
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 500));
    if (child.exitCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}
