/**
 * /proc readers for the test fleet. They replace `ss`, `ps` and `pgrep` so that waiting for 200 sshd's to listen,
 * or finding every process a fleet left behind, costs file reads instead of a fork per question. All synchronous:
 * the exit hook that cleans up after a crashed test run may only do synchronous work.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** "a.b.c.d:port" → socket inode of every IPv4 TCP socket in LISTEN state, from /proc/net/tcp. */
export function listeningTcp4(): Map<string, string> {
  const out = new Map<string, string>();
  const lines = readFileSync('/proc/net/tcp', 'utf8').split('\n');
  for (const line of lines.slice(1)) {
    const f = line.trim().split(/\s+/);
    const local = f[1];
    if (f[3] !== '0A' || local === undefined) continue; // 0A = TCP_LISTEN
    const [hex, portHex] = local.split(':');
    if (hex === undefined || portHex === undefined || hex.length !== 8) continue;
    // The address is the kernel's __be32 printed as a host-order integer: on little-endian hosts the bytes are
    // reversed. Every machine this runs on (x86_64, arm64) is little-endian.
    const bytes = [6, 4, 2, 0].map((i) => parseInt(hex.slice(i, i + 2), 16));
    out.set(`${bytes.join('.')}:${parseInt(portHex, 16)}`, f[9] ?? '');
  }
  return out;
}

let cached: { at: number; map: Map<string, string> } | undefined;
/** listeningTcp4(), re-read at most every `maxAgeMs`: many waiters polling together share one read. */
export function listeningTcp4Cached(maxAgeMs = 15): Map<string, string> {
  const now = Date.now();
  if (cached === undefined || now - cached.at > maxAgeMs) cached = { at: now, map: listeningTcp4() };
  return cached.map;
}

/** Whether process `pid` holds the socket with this inode (so a listener on an address is that process's). */
export function holdsSocket(pid: number, inode: string): boolean {
  const want = `socket:[${inode}]`;
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return false;
  }
  return fds.some((fd) => {
    try {
      return readlinkSync(`/proc/${pid}/fd/${fd}`) === want;
    } catch {
      return false;
    }
  });
}

/** pid → ppid of every process now. Processes that vanish while being read are skipped. */
export function processTable(): Map<number, number> {
  const table = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue;
    }
    // "pid (comm) state ppid …": comm may hold spaces and parentheses, so split after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ppid = Number(rest[1]);
    if (Number.isInteger(ppid)) table.set(Number(name), ppid);
  }
  return table;
}

/** Every descendant of the given pids (not the pids themselves), from one process table. */
export function descendants(roots: readonly number[], table: Map<number, number> = processTable()): number[] {
  const children = new Map<number, number[]>();
  for (const [pid, ppid] of table) {
    const list = children.get(ppid);
    if (list) list.push(pid);
    else children.set(ppid, [pid]);
  }
  const out: number[] = [];
  const queue = [...roots];
  const seen = new Set<number>(roots);
  while (queue.length > 0) {
    const pid = queue.shift() as number;
    for (const child of children.get(pid) ?? []) {
      if (seen.has(child)) continue;
      seen.add(child);
      out.push(child);
      queue.push(child);
    }
  }
  return out;
}

/**
 * Pids whose initial environment has an entry starting with one of `env` (e.g. "TMUX_TMPDIR=/tmp/fleet-x/"), or
 * whose command line contains one of `cmdline`. Every process started on a fake host (over ssh or by the helper,
 * tmux servers and what runs in their panes) inherits the host's TMUX_TMPDIR, so this finds what a fleet left
 * behind even after it double-forked away from sshd. sshd itself overwrites its environ with its process title,
 * but a listener's title keeps its `-f <host dir>/sshd_config`.
 */
export function pidsMatching(match: { env?: readonly string[]; cmdline?: readonly string[] }): number[] {
  const envNeedles = (match.env ?? []).map((p) => Buffer.from(p));
  const cmdNeedles = (match.cmdline ?? []).map((p) => Buffer.from(p));
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    if (envNeedles.length > 0 && envNeedles.some((needle) => hasEntry(readOr(`/proc/${name}/environ`), needle))) {
      out.push(Number(name));
      continue;
    }
    if (cmdNeedles.length > 0) {
      const cmd = readOr(`/proc/${name}/cmdline`);
      if (cmdNeedles.some((needle) => cmd.includes(needle))) out.push(Number(name));
    }
  }
  return out;
}

/** pidsMatching({ env: prefixes }). */
export function pidsWithEnv(prefixes: readonly string[]): number[] {
  return prefixes.length === 0 ? [] : pidsMatching({ env: prefixes });
}

function readOr(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch {
    return Buffer.alloc(0); // the process exited meanwhile
  }
}

/** The one-letter state of a process (R, S, T, Z…), undefined once it is gone. */
export function processState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return undefined;
  }
}

/** Whether a NUL-separated environ block has an entry starting with `needle`. */
function hasEntry(env: Buffer, needle: Buffer): boolean {
  for (let i = env.indexOf(needle); i !== -1; i = env.indexOf(needle, i + 1)) {
    if (i === 0 || env[i - 1] === 0) return true;
  }
  return false;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** kill(2) that ignores processes already gone. */
export function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already exited
  }
}
