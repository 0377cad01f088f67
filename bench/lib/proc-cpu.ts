/**
 * CPU time of process trees from /proc: what the benchmark charges to a monitored host. A process's own time is
 * utime+stime; the time of children it already reaped is cutime+cstime. So the CPU a poll cost a host is the
 * change, over the poll, of (own + reaped children) summed over the host's long-lived processes (its sshd listener
 * and every live descendant, its tmux server): a short-lived process (grep, tmux client, a whole SSH connection)
 * is counted once its parent reaps it. The kernel reports these in clock ticks (10 ms at CLK_TCK=100), so callers
 * measure batches of polls and divide.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { descendants, processTable } from '../../test/fleet/proc.js';

let clockTicks: number | undefined;
export function clkTck(): number {
  clockTicks ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  return clockTicks;
}

export interface ProcTimes {
  /** utime + stime, ms. */
  self: number;
  /** cutime + cstime (children already reaped), ms. */
  children: number;
}

export function procTimes(pid: number): ProcTimes | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // Fields after "(comm) ": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ms = 1000 / clkTck();
  return { self: (Number(f[11]) + Number(f[12])) * ms, children: (Number(f[13]) + Number(f[14])) * ms };
}

/** pid → own + reaped-children CPU ms, for the given roots, all their descendants and the extra pids. */
export function treeCpu(roots: readonly number[], extra: readonly number[] = []): Map<number, number> {
  const table = processTable();
  const out = new Map<number, number>();
  for (const pid of new Set([...roots, ...descendants(roots, table), ...extra])) {
    const t = procTimes(pid);
    if (t) out.set(pid, t.self + t.children);
  }
  return out;
}

/**
 * CPU ms spent between two treeCpu() readings. A process present in both contributes its growth; one born in
 * between contributes all of it; one that died in between shows up in its parent's reaped-children time, and its
 * earlier reading is subtracted so it is not counted twice.
 */
export function cpuBetween(before: Map<number, number>, after: Map<number, number>): number {
  let total = 0;
  for (const [pid, v] of after) total += v - (before.get(pid) ?? 0);
  for (const [pid, v] of before) if (!after.has(pid)) total -= v;
  return total;
}

/** Resident set and its peak, in MiB, from /proc/PID/status. */
export function memoryOf(pid: number): { rssMiB: number; peakMiB: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
    return { rssMiB: kb('VmRSS') / 1024, peakMiB: kb('VmHWM') / 1024 };
  } catch {
    return undefined;
  }
}
