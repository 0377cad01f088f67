/**
 * CPU affinity for the API section. On a real deployment the hosts and the clients are other machines; here a
 * hundred fake hosts' probes run on the same cores as the server, and the scheduler lets them keep the server
 * waiting on its run queue for most of a cycle even at idle priority (seen in /proc/PID/schedstat: ~590 ms of
 * run-queue wait in a 575 ms cycle). So while the API is measured the fake fleet gets the last core and the
 * server, the load generator and the WebSocket clients the others; afterwards all get all cores back.
 */
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import type { Fleet } from '../../test/fleet/fleet.js';
import { descendants, pidsWithEnv, processTable } from '../../test/fleet/proc.js';

export interface CpuSplit {
  /** Cores for the server and the load (taskset list, e.g. "0"). */
  server: string;
  /** The core for the fake fleet. */
  fleet: string;
  all: string;
}

/** Null on a single core: there is nothing to split. */
export function cpuSplit(): CpuSplit | null {
  const n = availableParallelism();
  if (n < 2) return null;
  return { server: n === 2 ? '0' : `0-${n - 2}`, fleet: String(n - 1), all: `0-${n - 1}` };
}

/** Every process of the fake fleet: the sshd listeners with all they started, and the tmux servers with theirs. */
export function fleetPids(fleet: Fleet): number[] {
  const table = processTable();
  const listeners = fleet.hosts.map((h) => h.sshdPid).filter((p): p is number => p !== undefined);
  const tmuxServers = pidsWithEnv(fleet.hosts.map((h) => `TMUX_TMPDIR=${h.tmuxTmpdir}`));
  const roots = [...listeners, ...tmuxServers];
  return [...new Set([...roots, ...descendants(roots, table)])];
}

/** Sets the affinity of every thread of each pid (a pid that has exited meanwhile is skipped). */
export function pin(pids: readonly number[], cpus: string): void {
  if (pids.length === 0) return;
  const r = spawnSync('sh', ['-c', 'cpus=$1; shift; for p; do taskset -a -p -c "$cpus" "$p" >/dev/null 2>&1; done', 'pin', cpus, ...pids.map(String)], { stdio: 'ignore' });
  if (r.error) throw new Error(`taskset: ${r.error.message}`);
}
