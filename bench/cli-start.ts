/**
 * Section 6: CLI start-up, as a user's shell sees it: a new `node bin/run.js` process per run (compiled, as
 * installed), `--version` and `status --json` against a running server.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { Report } from './lib/report.js';
import { repoRoot, startBenchServer } from './lib/server.js';
import { round, summarize } from './lib/stats.js';

const SECTION = '6. CLI start-up';

function timeRuns(args: string[], runs: number, env: NodeJS.ProcessEnv): { ms: number[]; failed: string | null } {
  const ms: number[] = [];
  for (let i = 0; i < runs + 1; i++) {
    const t0 = performance.now();
    const r = spawnSync(process.execPath, [join(repoRoot, 'bin', 'run.js'), ...args], { env: { ...process.env, ...env }, encoding: 'utf8' });
    const elapsed = performance.now() - t0;
    if (r.status !== 0) return { ms, failed: `exit ${r.status}: ${r.stderr.slice(-300)}` };
    if (i > 0) ms.push(elapsed); // the first run warms the page cache
  }
  return { ms, failed: null };
}

export async function benchCliStart(report: Report, runs: number): Promise<void> {
  console.log(`\n${SECTION} — ${runs} runs each, a new process per run`);
  const server = await startBenchServer({ polling_interval_seconds: 30, hosts: [{ name: 'local', address: 'localhost', transport: 'local' }] });
  try {
    const env = { FLEETMON_SERVER: server.url, FLEETMON_TOKEN: server.token };
    for (const args of [['--version'], ['status', '--json']]) {
      const { ms, failed } = timeRuns(args, runs, env);
      if (failed) {
        report.skip(SECTION, `fleetmon ${args.join(' ')}`, failed);
        continue;
      }
      const s = summarize(ms);
      report.add({ section: SECTION, name: `fleetmon ${args.join(' ')}, median`, value: round(s.median, 0), unit: 'ms', comparison: `p95 ${round(s.p95, 0)} ms`, target: '< 400 ms', holds: s.median < 400 });
    }
  } finally {
    await server.stop();
  }
}
