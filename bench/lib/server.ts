/**
 * A real `fleetmon serve` in its own process, as users run it (bin/run.js, compiled, with the V8 flags of its
 * shebang and the systemd unit), so its RSS and CPU are the server's alone. Its pino JSON log is read line by line: with FLEETMON_LOG_LEVEL=debug the monitor logs every
 * poll cycle (`poll cycle`: ms polling, writeMs storing).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { SERVE_NODE_FLAGS } from '../../src/paths.js';
import { procTimes } from './proc-cpu.js';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

function newestTs(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestTs(p));
    else if (e.name.endsWith('.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

/** Builds dist/ when it is missing or older than src/, so the server and the CLI run compiled, as installed. */
export function ensureBuilt(): void {
  const stamp = join(repoRoot, 'dist', '.built');
  if (existsSync(stamp) && statSync(stamp).mtimeMs >= newestTs(join(repoRoot, 'src'))) return;
  console.log('building dist/ (npm run build) so the server and the CLI run compiled, as installed…');
  const r = spawnSync('npm', ['run', '--silent', 'build'], { cwd: repoRoot, stdio: 'inherit' });
  if (r.status !== 0) throw new Error('npm run build failed');
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

export interface CycleLine {
  /** When the server logged it (after the cycle was stored), epoch ms. */
  time: number;
  /** Cycle start to every host answered. */
  ms: number;
  /** Storing the cycle (one SQLite transaction, alerts included). */
  writeMs: number;
  polled: number;
  /** Server CPU (user+system) since the previous cycle line, ms. */
  cpuMs: number;
  /** The most the server's event loop was late since the previous cycle line, ms (its own measurement). */
  loopDelayMaxMs: number;
  /** V8 heap in use at the cycle, MiB (process.memoryUsage). */
  heapUsedMiB: number;
  /** The server's main thread since the previous cycle line (/proc/PID/task/PID/schedstat): ms on a CPU, ms runnable but waiting for one. */
  mainRunMs: number;
  mainWaitMs: number;
}

/** The main thread's cumulative time on a CPU and waiting on the run queue, ns. */
function mainThreadSched(pid: number): { run: number; wait: number } | null {
  try {
    const [run, wait] = readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').trim().split(/\s+/).map(Number);
    return { run: run ?? 0, wait: wait ?? 0 };
  } catch {
    return null;
  }
}

export interface BenchServer {
  url: string;
  token: string;
  pid: number;
  dataDir: string;
  /** Every cycle line so far, oldest first. */
  history: CycleLine[];
  /** Resolves with the next `count` cycles. */
  cycles(count: number, timeoutMs?: number): Promise<CycleLine[]>;
  stop(): Promise<void>;
}

export async function startBenchServer(config: Record<string, unknown>, opts: { nodeArgs?: string[]; env?: Record<string, string> } = {}): Promise<BenchServer> {
  const dir = mkdtempSync(join(tmpdir(), 'fleetmon-bench-'));
  const port = await freePort();
  const token = randomBytes(24).toString('hex');
  const full = { ...config, server: { host: '127.0.0.1', port, data_dir: join(dir, 'data'), token, ...(config.server as object | undefined) } };
  const configPath = join(dir, 'hosts.yml');
  writeFileSync(configPath, stringify(full));
  const child: ChildProcess = spawn(process.execPath, [...SERVE_NODE_FLAGS, ...(opts.nodeArgs ?? []), join(repoRoot, 'bin', 'run.js'), 'serve', '--config', configPath], {
    cwd: repoRoot,
    env: { ...process.env, FLEETMON_LOG_LEVEL: 'debug', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pid = child.pid as number;
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const waiters: Array<(c: CycleLine) => void> = [];
  const history: CycleLine[] = [];
  let lastCpu = procTimes(pid)?.self ?? 0;
  let lastSched = mainThreadSched(pid);
  let ready: (url: string) => void;
  const listening = new Promise<string>((r) => (ready = r));
  createInterface({ input: child.stdout! }).on('line', (line) => {
    let rec: { msg?: string; time?: number; ms?: number; writeMs?: number; polled?: number; url?: string; loopDelayMaxMs?: number; heapUsedMiB?: number };
    try {
      rec = JSON.parse(line) as typeof rec;
    } catch {
      return;
    }
    if (rec.msg === 'fleetmon serving' && rec.url) ready(rec.url);
    if (rec.msg === 'poll cycle') {
      const cpu = procTimes(pid)?.self ?? lastCpu;
      const sched = mainThreadSched(pid);
      const c: CycleLine = {
        time: rec.time ?? Date.now(),
        ms: rec.ms ?? Number.NaN,
        writeMs: rec.writeMs ?? Number.NaN,
        polled: rec.polled ?? 0,
        cpuMs: cpu - lastCpu,
        loopDelayMaxMs: rec.loopDelayMaxMs ?? Number.NaN,
        heapUsedMiB: rec.heapUsedMiB ?? Number.NaN,
        mainRunMs: sched && lastSched ? (sched.run - lastSched.run) / 1e6 : Number.NaN,
        mainWaitMs: sched && lastSched ? (sched.wait - lastSched.wait) / 1e6 : Number.NaN,
      };
      lastCpu = cpu;
      lastSched = sched;
      history.push(c);
      for (const w of waiters.splice(0)) w(c);
    }
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const url = await Promise.race([
    listening,
    exited.then(() => Promise.reject(new Error(`fleetmon serve exited: ${stderr}`))),
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`fleetmon serve did not listen within 60 s: ${stderr}`)), 60_000)),
  ]);
  return {
    url,
    token,
    pid,
    dataDir: join(dir, 'data'),
    history,
    async cycles(count, timeoutMs = 120_000) {
      const out: CycleLine[] = [];
      const deadline = Date.now() + timeoutMs;
      while (out.length < count) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`only ${out.length} of ${count} poll cycles within ${timeoutMs} ms`);
        out.push(
          await new Promise<CycleLine>((resolve, reject) => {
            const t = setTimeout(() => reject(new Error(`no poll cycle within ${timeoutMs} ms: ${stderr}`)), left);
            waiters.push((c) => {
              clearTimeout(t);
              resolve(c);
            });
          }),
        );
      }
      return out;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** GET with the bench token; throws on a non-2xx answer. */
export async function apiGet<T>(server: BenchServer, path: string): Promise<T> {
  const res = await fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${server.token}` } });
  if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}
