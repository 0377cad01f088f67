/**
 * Pure parsers for the probe's output. Each takes text and returns data; none throws on odd input (truncated
 * output, CRLF, hostile names): what cannot be read is skipped or reported as null, so one bad line never costs
 * a whole poll.
 */
import type { SessionsScope } from '../../core/model.js';

export interface ProbeResponse {
  version: string;
  pageSize: number;
  clockTicks: number;
  sections: Map<string, string>;
  exitCodes: Map<string, number>;
  complete: boolean;
}

/** Splits one probe answer into its sections. Lines are matched against the per-poll nonce marker only. */
export function splitProbeResponse(text: string, nonce: string): ProbeResponse {
  const marker = `@@fm-${nonce} `;
  const sections = new Map<string, string>();
  const exitCodes = new Map<string, number>();
  let version = '';
  let pageSize = 4096;
  let clockTicks = 100;
  let complete = false;
  let current: string | null = null;
  let buf: string[] = [];
  const flush = () => {
    if (current !== null) sections.set(current, buf.join('\n'));
    current = null;
    buf = [];
  };
  for (const raw of text.split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (!line.startsWith(marker)) {
      if (current !== null) buf.push(line);
      continue;
    }
    const [kind, ...args] = line.slice(marker.length).split(' ');
    if (kind === 'begin') {
      version = args[0] ?? '';
      pageSize = positiveInt(args[1]) ?? 4096;
      clockTicks = positiveInt(args[2]) ?? 100;
    } else if (kind === 'rc') {
      flush();
      const code = Number(args[1]);
      if (args[0]) exitCodes.set(args[0], Number.isInteger(code) ? code : -1);
    } else if (kind === 'end') {
      flush();
      complete = true;
    } else if (kind) {
      flush();
      current = kind;
    }
  }
  flush();
  return { version, pageSize, clockTicks, sections, exitCodes, complete };
}

function positiveInt(s: string | undefined): number | undefined {
  if (s === undefined || !/^\d+$/.test(s)) return undefined;
  const n = Number(s);
  return n > 0 ? n : undefined;
}

/** `grep -H '' files…` output, grouped by file path. */
export function groupGrepByFile(text: string): Map<string, string[]> {
  const files = new Map<string, string[]>();
  for (const raw of text.split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    const colon = line.indexOf(':');
    if (colon <= 0 || !line.startsWith('/proc/')) continue;
    const path = line.slice(0, colon);
    let lines = files.get(path);
    if (!lines) files.set(path, (lines = []));
    lines.push(line.slice(colon + 1));
  }
  return files;
}

export interface CpuTimes {
  busy: number;
  total: number;
}
/** One online CPU's counters; id is N of its `cpuN` line. */
export interface CoreTimes extends CpuTimes {
  id: number;
}
export interface ProcStat {
  total: CpuTimes | null;
  /** Online CPUs only, in CPU-number order. Numbers may have gaps: the kernel omits offline CPUs. */
  cores: CoreTimes[];
  bootTime: number | null;
}

/** /proc/stat: aggregate and per-core counters (busy = all but idle and iowait). */
export function parseProcStat(lines: string[]): ProcStat {
  let total: CpuTimes | null = null;
  // Keyed by CPU number, so a gap (cpu2 offline, or every odd CPU with SMT off) stays a gap instead of becoming a
  // zero-filled core that would be counted and compared with the wrong CPU on the next poll.
  const cores = new Map<number, CoreTimes>();
  let bootTime: number | null = null;
  for (const line of lines) {
    const parts = line.trim().split(/\s+/);
    const head = parts[0] ?? '';
    if (head === 'btime') {
      const v = Number(parts[1]);
      if (Number.isFinite(v)) bootTime = v;
      continue;
    }
    if (!/^cpu\d*$/.test(head)) continue;
    // user nice system idle iowait irq softirq steal (guest time is already counted in user)
    const nums = parts.slice(1, 9).map(Number);
    if (nums.length < 4 || nums.some((n) => !Number.isFinite(n))) continue;
    const all = nums.reduce((a, b) => a + b, 0);
    const idle = (nums[3] ?? 0) + (nums[4] ?? 0);
    const t = { busy: all - idle, total: all };
    if (head === 'cpu') total = t;
    else {
      const id = Number(head.slice(3));
      cores.set(id, { id, ...t });
    }
  }
  return { total, cores: [...cores.values()].sort((a, b) => a.id - b.id), bootTime };
}

/** Percent busy between two samples of the same counter; null when there is no usable previous sample. */
export function cpuPercent(prev: CpuTimes | null | undefined, cur: CpuTimes | null | undefined): number | null {
  if (!prev || !cur) return null;
  const dt = cur.total - prev.total;
  const db = cur.busy - prev.busy;
  if (dt <= 0 || db < 0) return null;
  return round1(Math.min(100, (db / dt) * 100));
}

export interface MemInfo {
  totalMb: number;
  availableMb: number;
  usedMb: number;
  percent: number;
  swapTotalMb: number;
  swapUsedMb: number;
}

export function parseMeminfo(lines: string[]): MemInfo | null {
  const kb = new Map<string, number>();
  for (const line of lines) {
    const m = /^([A-Za-z_()0-9]+):\s+(\d+)/.exec(line);
    if (m) kb.set(m[1]!, Number(m[2]));
  }
  const total = kb.get('MemTotal');
  if (!total) return null;
  // MemAvailable exists since Linux 3.14; the fallback is the classic free + buffers + cache estimate.
  const available =
    kb.get('MemAvailable') ?? (kb.get('MemFree') ?? 0) + (kb.get('Buffers') ?? 0) + (kb.get('Cached') ?? 0);
  const swapTotal = kb.get('SwapTotal') ?? 0;
  const swapFree = kb.get('SwapFree') ?? 0;
  return {
    totalMb: round1(total / 1024),
    availableMb: round1(available / 1024),
    usedMb: round1((total - available) / 1024),
    percent: round1(((total - available) / total) * 100),
    swapTotalMb: round1(swapTotal / 1024),
    swapUsedMb: round1((swapTotal - swapFree) / 1024),
  };
}

export function parseLoadavg(lines: string[]): [number, number, number] | null {
  const parts = (lines[0] ?? '').trim().split(/\s+/).slice(0, 3).map(Number);
  if (parts.length !== 3 || parts.some((n) => !Number.isFinite(n))) return null;
  return parts as [number, number, number];
}

export function parseUptime(lines: string[]): number | null {
  const v = Number((lines[0] ?? '').trim().split(/\s+/)[0]);
  return Number.isFinite(v) && (lines[0] ?? '').trim() !== '' ? v : null;
}

export interface NetCounters {
  iface: string;
  rxBytes: number;
  txBytes: number;
}

/**
 * /proc/net/dev without the loopback interface. The name ends at the colon that is followed by the counters, not at
 * the first colon: an alias (`eth0:1`, from kernels that had alias devices) has a colon of its own, and kernels up
 * to 2.4 printed `%6s:%8lu`, so a large counter touches the colon (`eth0:1234567890`, `eth0:1:123456789`).
 */
export function parseNetDev(lines: string[]): NetCounters[] {
  const out: NetCounters[] = [];
  for (const line of lines) {
    const m = /^\s*([^\s:][^\s]*?):\s*(\d+(?:\s+\d+){8,})\s*$/.exec(line.replace(/\r$/, ''));
    if (!m) continue;
    const iface = m[1]!;
    const f = m[2]!.split(/\s+/).map(Number);
    if (iface === 'lo') continue;
    out.push({ iface, rxBytes: f[0]!, txBytes: f[8]! });
  }
  return out;
}

export interface DiskUsage {
  filesystem: string;
  mount: string;
  totalBytes: number;
  usedBytes: number;
  availableBytes: number;
  percent: number | null;
}

/**
 * `df -P -B1`: both the filesystem name (a CIFS share `//server/my share`, a ZFS dataset) and the mount point may
 * contain spaces, and df prints them unquoted. The row is anchored on the four numeric columns, the capacity (which
 * always ends in `%`, or is `-`) and a mount point starting with `/`; the name takes as little as it can, so a name
 * that ends in a number (`tank/my data 2024`) still leaves exactly four numbers and a percentage after it.
 */
export function parseDf(text: string): DiskUsage[] {
  const out: DiskUsage[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    const m = /^(\S.*?)\s+(\d+)\s+(\d+)\s+(\d+)\s+(?:(\d+)%|(-))\s+(\/.*)$/.exec(line);
    if (!m) continue;
    const total = Number(m[2]);
    if (total === 0) continue;
    out.push({
      filesystem: m[1]!,
      totalBytes: total,
      usedBytes: Number(m[3]),
      availableBytes: Number(m[4]),
      percent: m[5] === undefined ? null : Number(m[5]),
      mount: m[7]!,
    });
  }
  return out;
}

export interface PidStat {
  pid: number;
  ppid: number;
  comm: string;
  state: string;
  ticks: number;
  startTime: number;
  rssPages: number;
}

/**
 * One /proc/PID/stat line. The command name sits in parentheses and may itself contain spaces and parentheses,
 * so the fields are read after the LAST ')'.
 */
export function parsePidStat(line: string): PidStat | null {
  const open = line.indexOf(' (');
  const close = line.lastIndexOf(')');
  if (open <= 0 || close < open) return null;
  const pid = Number(line.slice(0, open));
  const rest = line.slice(close + 2).split(' ');
  // rest[0] is field 3 (state); field N is rest[N - 3].
  if (!Number.isInteger(pid) || rest.length < 22) return null;
  const ppid = Number(rest[1]);
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  const startTime = Number(rest[19]);
  const rss = Number(rest[21]);
  if (![ppid, utime, stime, startTime, rss].every(Number.isFinite)) return null;
  return { pid, ppid, comm: line.slice(open + 2, close), state: rest[0] ?? '?', ticks: utime + stime, startTime, rssPages: Math.max(0, rss) };
}

export function parsePidStats(files: Map<string, string[]>): PidStat[] {
  const out: PidStat[] = [];
  for (const [path, lines] of files) {
    if (!/^\/proc\/\d+\/stat$/.test(path)) continue;
    const p = parsePidStat(lines.join('\n'));
    if (p) out.push(p);
  }
  return out;
}

export interface TmuxSession {
  sessionId: string;
  /**
   * Exactly as tmux holds it, not decoded: tmux stores names with backslashes, control characters and invalid
   * UTF-8 already escaped (`a\\b`, `nl\nx`, `bad\377x`), and that stored form is what `tmux ls` shows and what
   * `-t =NAME` and the kill script match. Decoding it would give bytes no tmux command accepts (and `\377` is no
   * UTF-8 at all), so the name would no longer round-trip.
   */
  name: string;
  created: number;
  attachedClients: number;
  windows: number;
  activity: number | null;
  lastAttached: number | null;
}
export interface TmuxPane {
  sessionId: string;
  windowIndex: number;
  paneIndex: number;
  pid: number;
  command: string;
}

/**
 * The probe's tmux lines. Fixed numeric fields come first and the free text (session name, pane command) last,
 * so a name containing '|' (or anything else tmux allows) is read whole.
 */
export function parseTmux(text: string): { sessions: TmuxSession[]; panes: TmuxPane[] } {
  const sessions: TmuxSession[] = [];
  const panes: TmuxPane[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.startsWith('S|')) {
      const f = splitN(line.slice(2), '|', 7);
      if (f.length !== 7) continue;
      const [id, created, attached, windows, activity, lastAttached, name] = f as [string, string, string, string, string, string, string];
      if (!/^\$\d+$/.test(id) || !/^\d+$/.test(created) || name === '') continue;
      sessions.push({
        sessionId: id,
        name,
        created: Number(created),
        attachedClients: Number(attached) || 0,
        windows: Number(windows) || 0,
        activity: /^\d+$/.test(activity) ? Number(activity) : null,
        lastAttached: /^\d+$/.test(lastAttached) && lastAttached !== '0' ? Number(lastAttached) : null,
      });
    } else if (line.startsWith('P|')) {
      const f = splitN(line.slice(2), '|', 5);
      if (f.length !== 5 || !/^\d+$/.test(f[3]!)) continue;
      panes.push({ sessionId: f[0]!, windowIndex: Number(f[1]), paneIndex: Number(f[2]), pid: Number(f[3]), command: f[4]! });
    }
  }
  return { sessions, panes };
}

/** Splits into at most n parts; the last part keeps any further separators. */
export function splitN(s: string, sep: string, n: number): string[] {
  const out: string[] = [];
  let from = 0;
  while (out.length < n - 1) {
    const i = s.indexOf(sep, from);
    if (i < 0) break;
    out.push(s.slice(from, i));
    from = i + sep.length;
  }
  out.push(s.slice(from));
  return out;
}

/** nvidia-smi's way of saying a value is missing. */
export function gpuNumber(s: string | undefined): number | null {
  if (s === undefined) return null;
  const v = s.trim().replace(/\s*(MiB|W|%|C)$/i, '');
  if (v === '' || v.startsWith('[') || /^n\/?a$/i.test(v)) return null;
  const n = Number(v);
  return Number.isFinite(n) ? n : null;
}

/** `--format=csv,noheader,nounits` rows as records keyed by the queried field names. */
export function parseNvidiaCsv(text: string, fields: readonly string[]): Array<Record<string, string>> {
  const rows: Array<Record<string, string>> = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '') continue;
    // nvidia-smi separates with ", " and does not quote; a process name may contain ", ", so extra parts are
    // joined back into the one free-text field when the field list has one.
    let parts = line.split(', ');
    if (parts.length < fields.length) continue;
    if (parts.length > fields.length) {
      const free = fields.findIndex((f) => f === 'name' || f === 'process_name');
      if (free < 0) continue;
      const extra = parts.length - fields.length;
      parts = [...parts.slice(0, free), parts.slice(free, free + extra + 1).join(', '), ...parts.slice(free + extra + 1)];
    }
    const rec: Record<string, string> = {};
    fields.forEach((f, i) => (rec[f] = parts[i]!.trim()));
    rows.push(rec);
  }
  return rows;
}

export const GPU_FIELDS = [
  'index',
  'uuid',
  'name',
  'power.draw',
  'power.limit',
  'memory.used',
  'memory.total',
  'utilization.gpu',
  'temperature.gpu',
] as const;
export const GPU_APP_FIELDS = ['gpu_uuid', 'pid', 'process_name', 'used_memory'] as const;

export interface GpuReading {
  index: number;
  uuid: string | null;
  name: string;
  powerDrawW: number | null;
  powerLimitW: number | null;
  memoryUsedMb: number | null;
  memoryTotalMb: number | null;
  utilizationPercent: number | null;
  temperatureC: number | null;
}
export interface GpuAppReading {
  gpuUuid: string | null;
  pid: number;
  processName: string;
  usedMemoryMb: number | null;
}

export function parseGpus(text: string, fields: readonly string[] = GPU_FIELDS): GpuReading[] {
  return parseNvidiaCsv(text, fields).flatMap((r) => {
    const index = Number(r.index);
    if (!Number.isInteger(index)) return [];
    return [
      {
        index,
        uuid: r.uuid && r.uuid.startsWith('GPU-') ? r.uuid : null,
        name: r.name ?? 'GPU',
        powerDrawW: gpuNumber(r['power.draw']),
        powerLimitW: gpuNumber(r['power.limit']),
        memoryUsedMb: gpuNumber(r['memory.used']),
        memoryTotalMb: gpuNumber(r['memory.total']),
        utilizationPercent: gpuNumber(r['utilization.gpu']),
        temperatureC: gpuNumber(r['temperature.gpu']),
      },
    ];
  });
}

export function parseGpuApps(text: string, fields: readonly string[] = GPU_APP_FIELDS): GpuAppReading[] {
  return parseNvidiaCsv(text, fields).flatMap((r) => {
    const pid = Number(r.pid);
    if (!Number.isInteger(pid) || pid <= 0) return [];
    return [{ gpuUuid: r.gpu_uuid ?? null, pid, processName: r.process_name ?? '', usedMemoryMb: gpuNumber(r.used_memory) }];
  });
}

export function round1(n: number): number {
  return Math.round(n * 10) / 10;
}

/** One tmux server the root helper found (tmux-all-users list): its owner, socket, tmux's exit status, its lines. */
export interface TmuxServer {
  uid: number;
  user: string;
  /** tmux's exit status for this server; 124 when it did not answer within the helper's deadline. */
  rc: number;
  socket: string;
  sessions: TmuxSession[];
  panes: TmuxPane[];
}

/** What a host can see: every user's tmux servers (the helper answered), or only the service account's, and why. */
export type { SessionsScope };

/**
 * The probe's "tmuxusers" section (sent only when the collector asks with USERS = users): "scope all-users" then
 * "T|UID|USER|RC|SOCKET" per server followed by that server's S| and P| lines, or "scope own-account REASON".
 * An answer without the section (an older probe) is the own-account scope, saying so.
 */
export function parseTmuxUsers(text: string | undefined): { scope: SessionsScope; servers: TmuxServer[] } {
  if (text === undefined) return { scope: { scope: 'own-account', reason: 'the probe on this host is older than the all-users protocol' }, servers: [] };
  const lines = text.split('\n');
  const first = lines[0] ?? '';
  if (first !== 'scope all-users') {
    const reason = first.startsWith('scope own-account') ? first.slice('scope own-account'.length).trim() : 'no scope line from the probe';
    return { scope: { scope: 'own-account', reason: reason || null }, servers: [] };
  }
  const servers: TmuxServer[] = [];
  let block: string[] = [];
  let head: Omit<TmuxServer, 'sessions' | 'panes'> | null = null;
  const flush = () => {
    if (head) servers.push({ ...head, ...parseTmux(block.join('\n')) });
    block = [];
  };
  for (const line of lines.slice(1)) {
    if (line.startsWith('T|')) {
      flush();
      const f = splitN(line.slice(2), '|', 4);
      const [uid, user, rc, socket] = f as [string, string, string, string];
      head = f.length === 4 && /^\d+$/.test(uid) && /^\d+$/.test(rc) && socket.startsWith('/') ? { uid: Number(uid), user, rc: Number(rc), socket } : null;
    } else if (head) {
      block.push(line);
    }
  }
  flush();
  return { scope: { scope: 'all-users', reason: null }, servers };
}

/** The probe's "gpuprocs" lines: "PID|UID|CMDLINE" (command line bounded by the probe, NULs as spaces). */
export interface GpuProcess {
  pid: number;
  uid: number | null;
  cmdline: string;
}

export function parseGpuProcs(text: string | undefined): GpuProcess[] {
  const out: GpuProcess[] = [];
  for (const line of (text ?? '').split('\n')) {
    const f = splitN(line, '|', 3);
    if (f.length !== 3 || !/^\d+$/.test(f[0]!)) continue;
    out.push({ pid: Number(f[0]), uid: /^\d+$/.test(f[1]!) ? Number(f[1]) : null, cmdline: f[2]!.trimEnd().slice(0, 512) });
  }
  return out;
}

/** The probe's "gpuusers" lines: "NAME:UID" (getent passwd, cut to the name and uid) → uid → name. */
export function parseGpuUsers(text: string | undefined): Map<number, string> {
  const out = new Map<number, string>();
  for (const line of (text ?? '').split('\n')) {
    const i = line.lastIndexOf(':');
    const uid = line.slice(i + 1).trim();
    if (i <= 0 || !/^\d+$/.test(uid)) continue;
    if (!out.has(Number(uid))) out.set(Number(uid), line.slice(0, i));
  }
  return out;
}

/**
 * The tmux socket options that reach this server from a login as its owner: none for the default socket
 * /tmp/tmux-UID/default, `-L NAME` for another name in that directory, else `-S PATH` (TMUX_TMPDIR or -S: the
 * owner's login need not have the same TMUX_TMPDIR, so the full path is the one that always works).
 */
export function tmuxSocketArgs(uid: number, socket: string): string[] {
  const dir = `/tmp/tmux-${uid}/`;
  if (socket === `${dir}default`) return [];
  if (socket.startsWith(dir) && !socket.slice(dir.length).includes('/')) return ['-L', socket.slice(dir.length)];
  return ['-S', socket];
}

export interface ResidentReader {
  state: 'fresh' | 'oneoff' | 'stale';
  ageMs: number;
  /** stale only: the reader `exited`, or `stalled` (no block for longer than one interval). */
  cause: string | null;
}

/**
 * The probe's "gpuresident" section: one line per nvidia-smi query, `gpu|gpuapps STATE AGE_MS [CAUSE]`, saying
 * whether this poll's rows came from the resident loop-mode reader (and how old its block is), from a one-off
 * call, or are missing because the reader went stale. Unknown states and malformed lines are skipped.
 */
export function parseGpuResident(text: string): { gpu: ResidentReader | null; gpuapps: ResidentReader | null } {
  const out: { gpu: ResidentReader | null; gpuapps: ResidentReader | null } = { gpu: null, gpuapps: null };
  for (const raw of text.split('\n')) {
    const [kind, state, age, cause] = raw.trim().split(' ');
    if ((kind !== 'gpu' && kind !== 'gpuapps') || (state !== 'fresh' && state !== 'oneoff' && state !== 'stale')) continue;
    if (age === undefined || !/^\d+$/.test(age)) continue;
    out[kind] = { state, ageMs: Number(age), cause: cause ?? null };
  }
  return out;
}
