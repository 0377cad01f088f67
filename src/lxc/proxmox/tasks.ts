/**
 * Proxmox tasks (UPIDs). Long work — downloads, creates, starts — runs as a task on the node named in the UPID; we
 * poll that node's task status until `stopped`. `OK` is success; `WARNINGS: N` is success with warnings (PVE 9 ends
 * some container tasks that way); anything else is the error text, reported with the tail of the task log.
 */
import { FleetmonError } from '../../core/errors.js';
import { ProxmoxApiError, ProxmoxConnectionError } from './errors.js';
import { formatDuration, poll, type Clock } from './wait.js';

export interface Upid {
  upid: string;
  node: string;
  pid: number;
  pstart: number;
  starttime: number;
  type: string;
  id: string;
  user: string;
}

/** PVE::Tools::upid_decode */
const UPID_RE = /^UPID:([a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?):([0-9A-Fa-f]{8}):([0-9A-Fa-f]{8,9}):([0-9A-Fa-f]{8}):([^:\s]+):([^:\s]*):([^:\s]+):$/;

export function parseUpid(upid: unknown): Upid {
  const m = typeof upid === 'string' ? UPID_RE.exec(upid) : null;
  if (!m?.[1] || !m[3] || !m[4] || !m[5] || !m[6] || m[7] === undefined || !m[8]) {
    throw new FleetmonError('PVE_BAD_UPID', `Proxmox returned ${JSON.stringify(upid)} where a task id (UPID) was expected`, { kind: 'proxmox' });
  }
  return {
    upid: m[0],
    node: m[1],
    pid: parseInt(m[3], 16),
    pstart: parseInt(m[4], 16),
    starttime: parseInt(m[5], 16),
    type: m[6],
    id: m[7],
    user: m[8],
  };
}

export interface TaskStatus {
  status: 'running' | 'stopped' | string;
  exitstatus?: string;
}

export interface TaskApi {
  taskStatus(node: string, upid: string): Promise<TaskStatus>;
  taskLog(node: string, upid: string, start: number, limit: number): Promise<{ lines: string[]; total: number }>;
}

export interface TaskResult {
  upid: string;
  node: string;
  exitstatus: string;
  /** Warning lines from the log when the task ended with `WARNINGS: N`. */
  warnings: string[];
  durationMs: number;
}

export interface WaitTaskOptions {
  clock: Clock;
  deadlineMs: number;
  /** What the task does, for messages: "download of debian-12-standard…". */
  what: string;
  onWait?: (elapsedMs: number) => void;
  logTailLines?: number;
}

/** GETs are safe to repeat: a connection blip or a proxy error while polling does not fail the task. */
export function isTransientReadError(err: unknown): boolean {
  if (err instanceof ProxmoxConnectionError) return true;
  return err instanceof ProxmoxApiError && [502, 503, 504, 595, 596].includes(err.status);
}

export async function waitForTask(api: TaskApi, upid: string, opts: WaitTaskOptions): Promise<TaskResult> {
  const { node } = parseUpid(upid);
  const started = opts.clock.now();
  const status = await poll<TaskStatus>({
    clock: opts.clock,
    deadlineMs: opts.deadlineMs,
    initialDelayMs: 500,
    maxDelayMs: 5_000,
    check: async () => {
      const s = await api.taskStatus(node, upid);
      return s.status === 'stopped' ? s : undefined;
    },
    isTransient: isTransientReadError,
    onWait: (elapsed) => opts.onWait?.(elapsed),
    onTimeout: (elapsed) =>
      new FleetmonError('PVE_TASK_TIMEOUT', `${opts.what} did not finish within ${formatDuration(elapsed)} (task ${upid})`, {
        kind: 'timeout',
        suggestions: [
          `the task keeps running on node ${node}: watch it in the web UI under ${node} → Task History`,
          'when it has finished, run the same fleetmon command again: it picks up what is already done',
          'allow more time with --task-timeout (downloads and creates on slow storage take minutes)',
        ],
      }),
  });
  const exitstatus = status.exitstatus ?? '';
  const durationMs = opts.clock.now() - started;
  if (exitstatus === 'OK') return { upid, node, exitstatus, warnings: [], durationMs };
  const tail = await logTail(api, node, upid, opts.logTailLines ?? 20);
  if (/^WARNINGS: \d+$/.test(exitstatus)) {
    const warnings = tail.filter((l) => /warn/i.test(l) && !/^TASK WARNINGS/.test(l));
    return { upid, node, exitstatus, warnings: warnings.length ? warnings : [exitstatus], durationMs };
  }
  const logText = tail.length ? `\n  task log (last ${tail.length} lines):\n${tail.map((l) => `    ${l}`).join('\n')}` : '';
  throw new FleetmonError('PVE_TASK_FAILED', `${opts.what} failed: ${exitstatus || 'unknown error'}${logText}`, {
    kind: 'proxmox',
    suggestions: [`full log: on node ${node} run  pvenode task log '${upid}'`],
  });
}

async function logTail(api: TaskApi, node: string, upid: string, lines: number): Promise<string[]> {
  try {
    const first = await api.taskLog(node, upid, 0, lines);
    if (first.total <= lines) return first.lines;
    const rest = await api.taskLog(node, upid, first.total - lines, lines);
    return rest.lines;
  } catch {
    return []; // the log is a courtesy; the exit status already says what went wrong
  }
}
