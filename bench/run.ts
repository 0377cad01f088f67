/**
 * `npm run bench`: fleetmon's speed and weight, each figure side by side with what it is compared with, on a fake
 * fleet this run creates on loopback and removes again. Prints a table and writes JSON (and a Markdown table for
 * the README) to bench/results/. Figures it could not measure are listed with the reason.
 *
 *   npm run bench                       everything (about 6 minutes on 2 cores; needs root for the fake fleet)
 *   npm run bench -- --only poll,storage
 *   npm run bench -- --quick            small sizes, a smoke run
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { benchApi } from './api.js';
import { benchCliStart } from './cli-start.js';
import { benchFleetScale } from './fleet-scale.js';
import { benchPollCost } from './poll-cost.js';
import { benchPrometheus } from './prometheus.js';
import { Report } from './lib/report.js';
import { ensureBuilt, repoRoot } from './lib/server.js';
import { benchStorage } from './storage.js';

const SECTIONS = ['poll', 'scale', 'api', 'prometheus', 'storage', 'cli'] as const;
type Section = (typeof SECTIONS)[number];

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    sizes: { type: 'string' },
    'hosts-per-sshd': { type: 'string' },
    out: { type: 'string', default: join(repoRoot, 'bench', 'results') },
    'node-arg': { type: 'string', multiple: true },
  },
});
const quick = values.quick === true;
const only = new Set((values.only?.split(',') ?? SECTIONS).map((s) => s.trim()) as Section[]);
for (const s of only) if (!SECTIONS.includes(s)) throw new Error(`unknown section ${s}; choose from ${SECTIONS.join(', ')}`);
const sizes = values.sizes?.split(',').map(Number) ?? (quick ? [4, 8, 12] : [10, 50, 100, 200]);
// The never-stall goal is stated for a 200-host cycle.
const apiSize = sizes.includes(200) ? 200 : sizes.includes(100) ? 100 : Math.max(...sizes);

function machine(): Record<string, string | number> {
  const kernel = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  let os = '';
  try {
    os = /^PRETTY_NAME="?([^"\n]*)/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? '';
  } catch {
    /* not Linux-standard */
  }
  return { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, memory_gib: Math.round(totalmem() / 2 ** 30), os, kernel, node: process.version };
}

const report = new Report();
const started = Date.now();
const host = machine();
console.log(`fleetmon bench — ${new Date(started).toISOString()}`);
console.log(`machine: ${host.cpu}, ${host.cores} cores, ${host.memory_gib} GiB, ${host.os}, Linux ${host.kernel}, Node ${host.node}${quick ? ' — QUICK RUN (small sizes)' : ''}`);

const isRoot = process.getuid?.() === 0;
const needsFleet = (section: string, what: string) => {
  if (isRoot) return true;
  report.skip(section, what, 'the fake fleet needs root (sshd on 127.0.1.K:22, a test service account)');
  return false;
};
if (only.has('scale') || only.has('api') || only.has('prometheus') || only.has('cli')) ensureBuilt();

if (only.has('poll') && needsFleet('1/2. poll cost', 'poll cost and node_exporter comparison')) {
  await benchPollCost(report, quick ? { probeBatch: 10, probeBatches: 3, seedBatch: 1, seedBatches: 2 } : { probeBatch: 20, probeBatches: 10, seedBatch: 2, seedBatches: 5 });
}
if ((only.has('scale') || only.has('api') || only.has('prometheus')) && needsFleet('3/4. fleet size, API', 'fleet-size and API figures')) {
  const apiOpts = quick ? { rate: 100, durationSeconds: 3, wsClients: 10, wsCycles: 2 } : { rate: 500, durationSeconds: 10, wsClients: 100, wsCycles: 5 };
  await benchFleetScale(report, {
    sizes: only.has('scale') || only.has('prometheus') ? sizes : [apiSize],
    sessionsPerHost: quick ? 3 : 10,
    steadyCycles: quick ? 2 : 8,
    intervalSeconds: quick ? 2 : 5,
    apiSize,
    hostsPerSshd: Number(values['hosts-per-sshd'] ?? 1),
    nodeArgs: values['node-arg'],
    ...(only.has('prometheus') ? { atLargest: (server, n) => benchPrometheus(report, server, n, quick ? 2 : 5) } : {}),
    ...(only.has('api') ? { during: (server, fleet) => benchApi(report, server, apiSize, apiOpts, fleet) } : {}),
  });
}
if (only.has('storage')) benchStorage(report, quick ? { hosts: 2, sessionsPerHost: 3, days: 3 } : { hosts: 10, sessionsPerHost: 10, days: 10 });
if (only.has('cli')) await benchCliStart(report, quick ? 3 : 10);

const seconds = Math.round((Date.now() - started) / 1000);
const held = report.figures.filter((f) => f.holds === true).length;
const missed = report.figures.filter((f) => f.holds === false);
console.log(`\n${held} of ${held + missed.length} targets hold${missed.length ? `; missed: ${missed.map((f) => f.name).join('; ')}` : ''}. ${seconds} s.`);
mkdirSync(values.out!, { recursive: true });
const name = quick ? 'quick' : 'latest';
writeFileSync(join(values.out!, `${name}.json`), `${JSON.stringify({ at: new Date(started).toISOString(), seconds, quick, machine: host, figures: report.figures, skipped: report.skipped, notes: report.notes }, null, 2)}\n`);
writeFileSync(join(values.out!, `${name}.md`), `Measured ${new Date(started).toISOString().slice(0, 10)} on ${host.cpu}, ${host.cores} cores, ${host.memory_gib} GiB, ${host.os}, Node ${host.node} (${seconds} s).\n\n${report.markdown()}\n\n${report.notes.map((n) => `- ${n}`).join('\n')}\n`);
console.log(`results: ${join(values.out!, `${name}.json`)} and .md`);
