/**
 * Turns one parsed probe answer into the host's metrics, sessions and GPUs. Pure: the previous poll's counters
 * come in and the new ones go out, so CPU figures are deltas of /proc counters and the first poll reports null.
 */
import type { Gpu, HostMetrics, ProcessInfo, Session, SessionsScope } from '../../core/model.js';
import { iso } from '../../core/model.js';
import { shJoin, shQuote } from '../../core/shell-quote.js';
import {
  cpuPercent,
  groupGrepByFile,
  parseDf,
  parseGpuApps,
  parseGpuProcs,
  parseGpuResident,
  parseGpuUsers,
  parseGpus,
  parseLoadavg,
  parseMeminfo,
  parseNetDev,
  parsePidStats,
  parseProcStat,
  parseTmux,
  parseTmuxUsers,
  tmuxSocketArgs,
  type TmuxPane,
  type TmuxSession,
  parseUptime,
  round1,
  type NetCounters,
  type PidStat,
  type ProbeResponse,
  type ResidentReader,
  type ProcStat,
} from './parse.js';

export interface Counters {
  uptime: number;
  cpu: ProcStat;
  /** Process CPU ticks keyed by "pid:starttime", so a reused pid never yields a bogus delta. */
  procTicks: Map<string, number>;
  net: Map<string, NetCounters>;
}

export interface SnapshotInput {
  hostName: string;
  address: string;
  sshUser: string;
  sshPort: number;
  hasGpu: boolean | null;
  legacyThresholdHours: number;
  response: ProbeResponse;
  previous: Counters | null;
  /** Fallback clock (epoch ms) when the host's own time cannot be read. */
  nowMs: number;
  /** Disk usage from an earlier poll, kept when this answer has none (the collector asks for df only now and then). */
  previousDisks?: HostMetrics['disks'];
}

/** Whether nvidia-smi answered with GPUs, why not, and the GPUs. */
export interface GpuState {
  available: boolean;
  reason: string | null;
  gpus: Gpu[];
}

export interface HostSnapshot {
  metrics: HostMetrics | null;
  sessions: Session[];
  /** Whose sessions `sessions` holds: every user's, or the service account's own and why. */
  sessionsScope: SessionsScope;
  gpu: GpuState;
  hasGpu: boolean;
  problems: string[];
  counters: Counters | null;
  /** The host's own clock at the poll (epoch seconds). */
  hostNow: number;
}

/**
 * The tmux target that means exactly this session. `=NAME` is an exact name match, but tmux reads any target
 * starting with `$` as a session id even behind `=` (`=$1` is session $1, whatever its name), so such a name is
 * targeted by its id; ids are not reused while the tmux server lives, so a stale one fails instead of hitting
 * another session of the same server.
 */
export function tmuxTarget(name: string, tmuxId: string): string {
  return name.startsWith('$') ? tmuxId : `=${name}`;
}

/**
 * `ssh USER@HOST -t 'tmux attach -t =NAME'`; for another user's server USER is its owner and `socketArgs`
 * (tmuxSocketArgs: -L NAME or -S PATH) come before the command when the socket is not the default one.
 */
export function attachCommand(user: string, address: string, port: number, session: string, tmuxId: string, socketArgs: readonly string[] = []): string {
  const remote = shJoin(['tmux', ...socketArgs, 'attach', '-t', tmuxTarget(session, tmuxId)]);
  const portArgs = port === 22 ? [] : ['-p', String(port)];
  return ['ssh', ...portArgs.map(shQuote), shQuote(`${user}@${address}`), '-t', shQuote(remote)].join(' ');
}

export function buildSnapshot(input: SnapshotInput): HostSnapshot {
  const { response, previous } = input;
  const problems: string[] = [];
  if (!response.complete) problems.push('probe answer was incomplete');
  const proc = readProc(input);
  if (!proc.stat.total || !proc.mem) problems.push('could not read /proc/stat or /proc/meminfo');
  const { procTicks, procCpu } = processCpu(proc.procs, previous, proc.usableElapsed, response.clockTicks);
  const disks = readDisks(response, problems);
  const metrics = hostMetrics(proc, previous, disks, input.previousDisks);
  const { gpu, gpuApps } = gpuState(response, input.hasGpu, problems);
  const { sessions, sessionOfPid, scope, userOfUid } = tmuxSessions(input, proc, procCpu, gpuApps, problems);
  if (gpu.available) attributeGpuProcesses(gpu, gpuApps, sessionOfPid, response, userOfUid);

  const { stat, uptime, net } = proc;
  const counters: Counters | null =
    stat.total && uptime !== null
      ? { uptime, cpu: stat, procTicks, net: new Map(net.map((n) => [n.iface, n])) }
      : previous;
  return {
    metrics,
    sessions,
    sessionsScope: scope,
    gpu,
    hasGpu: input.hasGpu === true || gpu.gpus.length > 0,
    problems,
    counters,
    hostNow: proc.hostNow,
  };
}

/** What the probe's /proc section says, and the seconds since the previous poll's (null when unusable). */
interface ProcReadings {
  stat: ProcStat;
  mem: ReturnType<typeof parseMeminfo>;
  load: ReturnType<typeof parseLoadavg>;
  uptime: number | null;
  net: NetCounters[];
  procs: PidStat[];
  /** The host's own clock at the poll (epoch seconds). */
  hostNow: number;
  usableElapsed: number | null;
}

function readProc(input: SnapshotInput): ProcReadings {
  const files = groupGrepByFile(input.response.sections.get('proc') ?? '');
  const stat = parseProcStat(files.get('/proc/stat') ?? []);
  const mem = parseMeminfo(files.get('/proc/meminfo') ?? []);
  const load = parseLoadavg(files.get('/proc/loadavg') ?? []);
  const uptime = parseUptime(files.get('/proc/uptime') ?? []);
  const net = parseNetDev(files.get('/proc/net/dev') ?? []);
  const procs = parsePidStats(files);
  const hostNow = stat.bootTime !== null && uptime !== null ? Math.round(stat.bootTime + uptime) : Math.round(input.nowMs / 1000);
  const elapsed = input.previous && uptime !== null ? uptime - input.previous.uptime : null;
  const usableElapsed = elapsed !== null && elapsed > 0 ? elapsed : null;
  return { stat, mem, load, uptime, net, procs, hostNow, usableElapsed };
}

/** Per-process CPU from tick deltas, keyed by pid; the ticks go out as the next poll's counters. */
function processCpu(procs: PidStat[], previous: Counters | null, usableElapsed: number | null, clk: number) {
  const procTicks = new Map<string, number>();
  const procCpu = new Map<number, number | null>();
  for (const p of procs) {
    const key = `${p.pid}:${p.startTime}`;
    procTicks.set(key, p.ticks);
    const before = previous?.procTicks.get(key);
    procCpu.set(
      p.pid,
      before === undefined || usableElapsed === null ? null : round1(((p.ticks - before) / clk / usableElapsed) * 100),
    );
  }
  return { procTicks, procCpu };
}

/** Disk usage when df ran this poll (null when it was not asked for). */
function readDisks(response: ProbeResponse, problems: string[]) {
  const dfRan = response.sections.has('df') || response.exitCodes.has('df');
  const disks = dfRan ? parseDf(response.sections.get('df') ?? '') : null;
  if ((response.exitCodes.get('df') ?? 0) !== 0 && !disks?.length) problems.push('df failed');
  return disks;
}

function hostMetrics(
  proc: ProcReadings,
  previous: Counters | null,
  disks: ReturnType<typeof parseDf> | null,
  previousDisks: HostMetrics['disks'] | undefined,
): HostMetrics | null {
  const { stat, mem, load, uptime, net, usableElapsed } = proc;
  if (!stat.total || !mem) return null;
  const previousCores = new Map((previous?.cpu.cores ?? []).map((c) => [c.id, c]));
  return {
    cpu_percent: cpuPercent(previous?.cpu.total, stat.total),
    // Matched by CPU number, not position: a CPU going offline between polls shifts the positions of those after it.
    cpu_per_core: stat.cores.map((c) => cpuPercent(previousCores.get(c.id), c)),
    cpu_count: stat.cores.length,
    memory_total_mb: mem.totalMb,
    memory_used_mb: mem.usedMb,
    memory_available_mb: mem.availableMb,
    memory_percent: mem.percent,
    swap_total_mb: mem.swapTotalMb,
    swap_used_mb: mem.swapUsedMb,
    load_avg: load,
    uptime_seconds: uptime,
    disks:
      disks?.map((d) => ({
        filesystem: d.filesystem,
        mount: d.mount,
        total_bytes: d.totalBytes,
        used_bytes: d.usedBytes,
        available_bytes: d.availableBytes,
        percent: d.percent,
      })) ??
      previousDisks ??
      [],
    network: net.map((n) => {
      const before = previous?.net.get(n.iface);
      const rate = (cur: number, old: number | undefined) =>
        old === undefined || usableElapsed === null || cur < old ? null : round1((cur - old) / usableElapsed);
      return {
        iface: n.iface,
        rx_bytes: n.rxBytes,
        tx_bytes: n.txBytes,
        rx_bytes_per_s: rate(n.rxBytes, before?.rxBytes),
        tx_bytes_per_s: rate(n.txBytes, before?.txBytes),
      };
    }),
  };
}

type GpuApp = ReturnType<typeof parseGpuApps>[number];

/** The GPUs from nvidia-smi (their processes are attributed later), or why there are none. */
function gpuState(response: ProbeResponse, hasGpu: boolean | null, problems: string[]): { gpu: GpuState; gpuApps: GpuApp[] } {
  const gpuRc = response.exitCodes.get('gpu');
  const gpuRan = response.sections.has('gpu') || gpuRc !== undefined;
  let gpu: GpuState = { available: false, reason: hasGpu ? 'nvidia-smi was not run' : null, gpus: [] };
  const resident = parseGpuResident(response.sections.get('gpuresident') ?? '');
  const gpuApps = parseGpuApps(response.sections.get('gpuapps') ?? '');
  if (gpuRan) {
    const text = response.sections.get('gpu') ?? '';
    const readings = gpuRc === 0 ? parseGpus(text) : [];
    if (gpuRc === 0 && readings.length > 0) gpu = { available: true, reason: null, gpus: [] };
    else {
      const reason =
        resident.gpu?.state === 'stale'
          ? staleReason('reader', resident.gpu, 'no GPU reading')
          : gpuRc === 127
          ? 'nvidia-smi not found'
          : gpuRc === 124 || gpuRc === 137
            ? 'nvidia-smi timed out'
            : gpuRc === 0
              ? 'nvidia-smi reported no GPUs'
              : `nvidia-smi failed (exit ${gpuRc ?? '?'}): ${firstLine(text)}`;
      gpu = { available: false, reason, gpus: [] };
    }
    if (gpu.available) {
      gpu.gpus = readings.map((g) => ({
        index: g.index,
        uuid: g.uuid,
        name: g.name,
        power_draw_watts: g.powerDrawW,
        power_limit_watts: g.powerLimitW,
        memory_used_mb: g.memoryUsedMb,
        memory_total_mb: g.memoryTotalMb,
        memory_percent:
          g.memoryUsedMb !== null && g.memoryTotalMb ? round1((g.memoryUsedMb / g.memoryTotalMb) * 100) : null,
        utilization_percent: g.utilizationPercent,
        temperature_c: g.temperatureC,
        processes: [],
        memory_outside_sessions_mb: 0,
      }));
    }
    if (!gpu.available && hasGpu !== false) problems.push(`GPU: ${gpu.reason}`);
    // The GPU reading is fine but the process list is not: say so rather than show GPUs without their jobs.
    if (gpu.available && resident.gpuapps?.state === 'stale') {
      problems.push(`GPU processes: ${staleReason('compute-apps reader', resident.gpuapps, 'no GPU process list')}`);
    }
  } else if (hasGpu) {
    gpu = { available: false, reason: 'nvidia-smi not found', gpus: [] };
    problems.push('GPU: nvidia-smi not found');
  }
  return { gpu, gpuApps };
}

/** tmux sessions and the processes under their panes; which session each process belongs to. */
function tmuxSessions(
  input: SnapshotInput,
  proc: ProcReadings,
  procCpu: Map<number, number | null>,
  gpuApps: GpuApp[],
  problems: string[],
): { sessions: Session[]; sessionOfPid: Map<number, string>; scope: SessionsScope; userOfUid: Map<number, string> } {
  const { response } = input;
  const { procs, hostNow } = proc;
  const gpuMemByPid = new Map<number, number>();
  for (const a of gpuApps) gpuMemByPid.set(a.pid, (gpuMemByPid.get(a.pid) ?? 0) + (a.usedMemoryMb ?? 0));
  const { servers, scope } = tmuxServers(input, problems);
  // The helper names each server's owner: a GPU process of that uid is that user's even outside tmux.
  const userOfUid = new Map(servers.flatMap((s) => (s.uid === undefined ? [] : [[s.uid, s.user] as const])));
  const children = new Map<number, PidStat[]>();
  const byPid = new Map<number, PidStat>();
  for (const p of procs) {
    byPid.set(p.pid, p);
    let list = children.get(p.ppid);
    if (!list) children.set(p.ppid, (list = []));
    list.push(p);
  }
  const pageMb = response.pageSize / (1024 * 1024);
  const sessionOfPid = new Map<number, string>();
  const sessions: Session[] = servers.flatMap((server) => server.sessions.map((s) => {
    const { panes, user } = server;
    const id = `${input.hostName}:${s.name}`;
    const panePids = panes.filter((p) => p.sessionId === s.sessionId).map((p) => p.pid);
    const tree = descendants(panePids, byPid, children);
    const processes: ProcessInfo[] = tree.map((p) => ({
      pid: p.pid,
      ppid: p.ppid,
      command: p.comm,
      cpu_percent: procCpu.get(p.pid) ?? null,
      rss_mb: round1(p.rssPages * pageMb),
      gpu_memory_mb: gpuMemByPid.get(p.pid) ?? 0,
    }));
    const fleetmonId = `${input.hostName}:${user}:${s.name}`;
    // By the unique fleetmon_id: two users may hold sessions of one name on a host.
    for (const p of processes) sessionOfPid.set(p.pid, fleetmonId);
    const cpuKnown = processes.map((p) => p.cpu_percent).filter((c): c is number => c !== null);
    const attached = s.attachedClients > 0;
    const detachedSince = Math.max(s.created, s.lastAttached ?? 0);
    // To a few seconds (not a tenth of an hour), so that a detached time can be said in minutes.
    const detachedHours = attached ? null : Math.round((Math.max(0, hostNow - detachedSince) / 3600) * 1000) / 1000;
    const legacy = !attached && hostNow - detachedSince >= input.legacyThresholdHours * 3600;
    return {
      id,
      host: input.hostName,
      user,
      name: s.name,
      created: iso(s.created * 1000)!,
      last_activity: iso(s.activity === null ? null : s.activity * 1000),
      attached,
      window_count: s.windows,
      status: legacy ? 'legacy' : 'active',
      pids: processes.map((p) => p.pid),
      cpu_percent: processes.length === 0 || cpuKnown.length === 0 ? null : round1(cpuKnown.reduce((a, b) => a + b, 0)),
      memory_mb: round1(tree.reduce((a, p) => a + p.rssPages * pageMb, 0)),
      gpu_memory_mb: processes.reduce((a, p) => a + p.gpu_memory_mb, 0),
      fleetmon_id: fleetmonId,
      created_epoch: s.created,
      last_attached_at: iso(s.lastAttached === null ? null : s.lastAttached * 1000),
      attached_clients: s.attachedClients,
      detached_hours: detachedHours,
      pane_pids: panePids,
      process_count: processes.length,
      attach_command: attachCommand(user, input.address, input.sshPort, s.name, s.sessionId, server.uid === undefined ? [] : tmuxSocketArgs(server.uid, server.socket)),
      processes,
      ...(server.uid !== undefined ? { owner_uid: server.uid, socket: server.socket } : {}),
    } satisfies Session;
  }));
  return { sessions, sessionOfPid, scope, userOfUid };
}

/**
 * The tmux servers of this poll: every user's, when the host's all-users helper answered (the "tmuxusers"
 * section, scope all-users), else the service account's own ("tmux" section) under the login user's name.
 */
function tmuxServers(
  input: SnapshotInput,
  problems: string[],
): { scope: SessionsScope; servers: Array<{ user: string; uid?: number; socket: string; sessions: TmuxSession[]; panes: TmuxPane[] }> } {
  const { response } = input;
  // No section at all (an older probe) is the own-account scope with that reason.
  const users = parseTmuxUsers(response.sections.get('tmuxusers'));
  if (users.scope.scope === 'all-users') {
    for (const s of users.servers) {
      if (s.rc !== 0 && s.sessions.length === 0) problems.push(`tmux server ${s.socket} of ${s.user} did not answer (exit ${s.rc})`);
    }
    return { scope: users.scope, servers: users.servers.map((s) => ({ user: s.user, uid: s.uid, socket: s.socket, sessions: s.sessions, panes: s.panes })) };
  }
  const tmuxRc = response.exitCodes.get('tmux');
  const tmuxText = response.sections.get('tmux') ?? '';
  if (tmuxRc !== undefined && tmuxRc !== 0 && !isNoTmuxServer(tmuxText) && tmuxRc !== 127) {
    problems.push(`tmux failed (exit ${tmuxRc}): ${firstLine(tmuxText)}`);
  }
  return { scope: users.scope, servers: [{ user: input.sshUser, socket: '', ...parseTmux(tmuxText) }] };
}

/**
 * Each GPU's compute processes with their owner (uid and command line from "gpuprocs", the name from "gpuusers" or
 * the helper's server list) and the session each belongs to, or none; per GPU, the memory held outside sessions.
 */
function attributeGpuProcesses(gpu: GpuState, gpuApps: GpuApp[], sessionOfPid: Map<number, string>, response: ProbeResponse, userOfUid: Map<number, string>): void {
  const byUuid = new Map(gpu.gpus.map((g) => [g.uuid, g]));
  const procOf = new Map(parseGpuProcs(response.sections.get('gpuprocs')).map((p) => [p.pid, p]));
  const names = parseGpuUsers(response.sections.get('gpuusers'));
  for (const a of gpuApps) {
    const target = (a.gpuUuid && byUuid.get(a.gpuUuid)) || (gpu.gpus.length === 1 ? gpu.gpus[0] : undefined);
    if (!target) continue;
    const owner = procOf.get(a.pid);
    const uid = owner?.uid ?? null;
    const sessionId = sessionOfPid.get(a.pid) ?? null;
    target.processes.push({
      pid: a.pid,
      name: a.processName,
      memory_mb: a.usedMemoryMb,
      session_id: sessionId,
      uid,
      user: uid === null ? null : (names.get(uid) ?? userOfUid.get(uid) ?? null),
      cmdline: owner?.cmdline ?? null,
    });
    if (sessionId === null) target.memory_outside_sessions_mb += a.usedMemoryMb ?? 0;
  }
}

/** Every process under the given roots (the roots included), each once, walking /proc's ppid links. */
export function descendants(roots: number[], byPid: Map<number, PidStat>, children: Map<number, PidStat[]>): PidStat[] {
  const out: PidStat[] = [];
  const seen = new Set<number>();
  const stack = roots.filter((pid) => byPid.has(pid));
  while (stack.length > 0) {
    const pid = stack.pop()!;
    if (seen.has(pid)) continue;
    seen.add(pid);
    out.push(byPid.get(pid)!);
    for (const c of children.get(pid) ?? []) stack.push(c.pid);
  }
  return out.sort((a, b) => a.pid - b.pid);
}

function isNoTmuxServer(text: string): boolean {
  return /no server running|error connecting to|no sessions/i.test(text);
}

/** Why a resident nvidia-smi reader gave nothing this poll (the probe has already restarted it). */
function staleReason(what: string, r: ResidentReader, missing: string): string {
  const how = r.cause === 'exited' ? 'exited' : 'stalled';
  return `the resident nvidia-smi ${what} ${how}: its last reading is ${(r.ageMs / 1000).toFixed(1)} s old, more than one poll interval; the probe restarted it, so this poll has ${missing}`;
}

function firstLine(text: string): string {
  return (text.split('\n').find((l) => l.trim() !== '') ?? '').trim().slice(0, 200);
}
