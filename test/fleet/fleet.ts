/**
 * Test fleet: N fake hosts, each a real OpenSSH sshd on its own loopback address 127.0.1.K port 22, sharing one
 * service account but each with its own tmux server (sshd's `SetEnv TMUX_TMPDIR=…`) and its own PATH (`SetEnv
 * PATH=<host dir>/bin:…`), where a fake nvidia-smi replaying a real H100 capture and a tmux wrapper live.
 *
 * Needs root (sshd binds port 22 and switches users), /usr/sbin/sshd and tmux. Linux routes all of
 * 127.0.0.0/8 to the loopback interface, so no address has to be added.
 *
 * Cleanup is layered because a crashed test must not leave sshd bound: fleet.stop() kills sshd trees, tmux servers
 * and what ran in them; a process 'exit' hook and SIGINT/SIGTERM/SIGHUP hooks do the same synchronously; sshd is
 * started under `setpriv --pdeathsig KILL`, so even SIGKILL of the test process frees the addresses; and the next
 * startFleet() removes directories of fleets whose owner process is gone. Processes of a fleet are found by what
 * ties them to its directory (sshd's command line, TMUX_TMPDIR in the environment, see proc.ts pidsMatching) and by
 * descent, never by name.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { constants as osConstants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { HostConfig, SshConfigSchema } from '../../src/core/config.js';
import type { Static } from '@sinclair/typebox';
import { generateEd25519 } from './openssh-key.js';

type SshConfig = Static<typeof SshConfigSchema>;
import { descendants, holdsSocket, isAlive, listeningTcp4, listeningTcp4Cached, pidsMatching, processState, processTable, signal } from './proc.js';

export type GpuMode = 'replay' | 'missing' | 'fail' | 'hang' | 'na';

export interface FakeHostSpec {
  name: string;
  /** Has a GPU: gets the fake nvidia-smi (mode 'replay' unless nvidiaSmi says otherwise). */
  gpu?: boolean;
  /** Initial fake nvidia-smi mode; default 'replay' on GPU hosts, 'missing' elsewhere. Changeable: setGpuMode(). */
  nvidiaSmi?: GpuMode;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  /** Exit status; 128 + signal number when killed by a signal. */
  code: number;
}

export interface GpuAppRow {
  pid: number;
  processName: string;
  usedMemoryMiB: number;
  /** Defaults to the captured H100's uuid (FAKE_GPU_UUID). */
  gpuUuid?: string;
}

export interface FakeHost {
  name: string;
  /** 127.0.1.K (K > 254 continues in 127.0.2.x, see indexToAddress). */
  address: string;
  port: number;
  /** K. */
  index: number;
  /** The service account used to log in. */
  user: string;
  uid: number;
  /** This host's TMUX_TMPDIR (so its own tmux server). */
  tmuxTmpdir: string;
  /** 'SHA256:…' of its ed25519 host key, as `ssh-keygen -lf` prints it. */
  hostKeyFingerprint: string;
  /** "ssh-ed25519 AAAA…" (no comment), as a known_hosts line wants it after the address. */
  hostPublicKey: string;
  hostKeyPath: string;
  /** This host's directory. */
  root: string;
  /** <root>/bin, first on the PATH sessions get: tmux wrapper, fake nvidia-smi. */
  binDir: string;
  /** sshd's -E log (LogLevel ERROR). */
  logPath: string;
  gpu: boolean;
  /** The environment sshd gives this host's sessions (what tmux() and runAsUser() use too). */
  env: Readonly<Record<string, string>>;
  /** The listening sshd's pid, undefined while stopped. */
  readonly sshdPid: number | undefined;
  readonly running: boolean;
  /** Run the real tmux AS the service user with this host's TMUX_TMPDIR (argv, no shell; bypasses setProbeHang). */
  tmux(args: string[]): Promise<RunResult>;
  /** `tmux new-session -d -s NAME [cmd…]` as the user. One-element command runs through sh -c, more are exec'd. */
  newSession(name: string, command?: string[] | undefined, opts?: { attached?: false }): Promise<void>;
  /** Run any argv as the service user with this host's environment (no shell), e.g. to start a process "there". */
  runAsUser(argv: string[], opts?: { timeoutMs?: number; input?: string }): Promise<RunResult>;
  /** Stop this host's sshd and drop its open connections (tmux sessions survive, as on a host that went offline). */
  stop(): Promise<void>;
  /** Restart sshd on the same address with the same host key. No-op while running. */
  start(): Promise<void>;
  /** While on, `tmux` on this host's PATH blocks (sshd still accepts connections), so the probe's poll hangs. */
  setProbeHang(on: boolean): void;
  /** Switch the fake nvidia-smi: 'missing' removes it from PATH, the others (re)install it. */
  setGpuMode(mode: GpuMode): void;
  readonly gpuMode: GpuMode;
  /** Replace the captured compute apps (pids that do not exist here) with these rows; null restores the capture. */
  setGpuApps(rows: GpuAppRow[] | null): void;
  /** The fake nvidia-smi's invocations so far, one argument string each (it appends to <host dir>/nvidia-smi.calls). */
  gpuCalls(): string[];
  /**
   * privateTmp fleets only: run argv as `user` inside this host's PID and mount namespaces (nsenter), with the
   * host's PATH and no TMUX_TMPDIR unless `env` sets one, as if the user had logged in there. Pids it prints are
   * the host's own (what the probe and the fake nvidia-smi see).
   */
  runAs(user: FleetUser, argv: string[], opts?: { timeoutMs?: number; env?: Record<string, string> }): Promise<RunResult>;
  /** privateTmp fleets only: run argv as root inside this host's namespaces (a root helper, `kill` of a host pid). */
  runAsRoot(argv: string[], opts?: { timeoutMs?: number; input?: string }): Promise<RunResult>;
  /** privateTmp fleets only: the real tmux as `user` on this host (default socket /tmp/tmux-UID/default there). */
  tmuxAs(user: FleetUser, args: string[], opts?: TmuxSocketOptions): Promise<RunResult>;
  /** privateTmp fleets only: `tmux [-L|-S] new-session -d -s NAME [cmd…]` as `user` on this host. */
  newSessionAs(user: FleetUser, name: string, command?: string[], opts?: TmuxSocketOptions): Promise<void>;
  /** privateTmp fleets only: the outside pid of this host's namespace init (what nsenter --target takes). */
  readonly nsPid: number | undefined;
}

/** Which tmux server of a user: the default socket, `-L NAME`, `-S PATH`, or the default under TMUX_TMPDIR. */
export interface TmuxSocketOptions {
  socketName?: string;
  socketPath?: string;
  tmuxTmpdir?: string;
}

/** A real Unix account the fleet created for a test (removed with the fleet), e.g. "alice" as fm1a2b3c-alice. */
export interface FleetUser {
  /** What the test asked for ("alice"). */
  base: string;
  /** The real, unique account name. */
  name: string;
  uid: number;
  gid: number;
  home: string;
}

export interface Fleet {
  hosts: FakeHost[];
  user: string;
  uid: number;
  /** Private key (OpenSSH format, no passphrase) that logs in as `user` on every host. */
  keyPath: string;
  /** Its public key line, as installed in ~user/.ssh/authorized_keys. */
  publicKey: string;
  /** known_hosts with one "ADDRESS ssh-ed25519 …" line per host. */
  knownHostsPath: string;
  /** ~user/.ssh/authorized_keys, shared by all fleets of this user (each adds and removes its own line). */
  authorizedKeysPath: string;
  /** The fleet's temp directory. */
  root: string;
  host(name: string): FakeHost;
  /**
   * Create a real Unix account for this fleet (useradd -m, shell /bin/sh, password field "*"), named uniquely per
   * run from `base` so parallel runs do not clash; removed (userdel -r) when the fleet stops, or by the sweep of a
   * later fleet if this process dies first. Its tmux servers run on hosts through FakeHost.newSessionAs().
   */
  addUser(base: string): Promise<FleetUser>;
  readonly users: readonly FleetUser[];
  /** Stop every sshd and tmux server of the fleet and remove its files. Idempotent. */
  stop(): Promise<void>;
}

export interface StartFleetOptions {
  /** Specs, or a count: hosts named host0, host1, … */
  hosts: FakeHostSpec[] | number;
  /** Service account; created if missing. Default 'fmtest'. */
  user?: string;
  /** First K (127.0.1.K); the hosts take K, K+1, … and fail if one is busy. Default: env FLEETMON_FLEET_BASE, else
   * the first free addresses from 127.0.1.10 on (not necessarily contiguous). */
  baseIndex?: number;
  /** With a count: every n-th host (0, n, 2n, …) has a GPU. Default: none. */
  gpuEvery?: number;
  /** Extra sshd_config lines for every host (e.g. 'PermitUserEnvironment yes'). */
  sshdConfig?: string[];
  /**
   * Run each host's sshd (and so everything started over SSH, tmux servers included) in its own PID namespace
   * with its own /proc, so a host sees only its own processes, as a real machine does. Without it every fake host
   * reads the whole machine's /proc, and a 200-host fleet makes each host look 200 times as busy. Off by default:
   * pids that tests pass between the host and this process (pane pids, GPU app rows) would not match. While a
   * host is stopped its tmux sessions are gone too (the namespace ends with its sshd).
   */
  pidNamespace?: boolean;
  /**
   * Also give each host its own mount namespace with a private tmpfs on /tmp (the fleet's own directory bound back
   * at its path), so the users of FleetUser accounts get their own /tmp/tmux-UID per host, exactly as on separate
   * machines. Implies pidNamespace. Needs unshare/nsenter (util-linux) and the fleet's directory under /tmp or
   * outside it (TMPDIR), never /tmp itself.
   */
  privateTmp?: boolean;
  /**
   * Run each host's sshd and tmux server (and so every probe and command run over SSH) at idle CPU priority
   * (SCHED_IDLE): they get only the CPU nothing else wants. The benchmark sets it: on a real fleet the hosts are
   * other machines, and here a hundred of them would otherwise take the measured server's share of the same
   * cores (nice 19 is not enough: its small weight is per process). Default: off.
   */
  idlePriority?: boolean;
  /** Hosts set up at once. Default 32. */
  concurrency?: number;
  /** Per-host limit for sshd to listen. Default 15 s. */
  startTimeoutMs?: number;
}

/** The captured H100's uuid (nvidia-smi-q-busy.xml); the fake nvidia-smi's gpu_uuid column. */
export const FAKE_GPU_UUID = 'GPU-562781d5-2471-9cfe-d7bb-3775efa63be6';
export const DEFAULT_FLEET_USER = 'fmtest';
/** Where automatic address picking starts: 127.0.1.1 is Debian's own hostname address, low ones are left to ad-hoc use. */
export const AUTO_BASE_INDEX = 10;

const SSHD = '/usr/sbin/sshd';
const SETPRIV = '/usr/bin/setpriv';
const UNSHARE = '/usr/bin/unshare';
const NSENTER = '/usr/bin/nsenter';
/** Files in a fleet's directory naming the accounts it created, one per line, for the sweep of dead fleets. */
const USERS_FILE = 'users';
/**
 * Inside a privateTmp host's new namespaces, before sshd: a tmpfs mounted at a staging point, the fleet's directory
 * bound into it at its own path, then the tmpfs moved onto /tmp (binding after mounting on /tmp would not work:
 * the old /tmp is hidden by then). Mounts are private (unshare --mount), so nothing is seen outside.
 */
const PRIVATE_TMP_SCRIPT = [
  'set -e',
  'staging=$1 root=$2 inner=$3',
  'shift 3',
  'mount -t tmpfs -o mode=1777,size=256m fleetmon-host-tmp "$staging"',
  'if [ -n "$inner" ]; then mkdir -p "$staging/$inner"; mount --bind "$root" "$staging/$inner"; fi',
  'mount --move "$staging" /tmp',
  'exec "$@"',
].join('\n');
const CHRT = '/usr/bin/chrt';
const LOCK_DIR = '/tmp/fleetmon-fleet-locks';
const ROOT_PREFIX = 'fleetmon-fleet-';
const MAX_INDEX = 254 * 254;
const HERE = fileURLToPath(new URL('.', import.meta.url));
const FIXTURES = fileURLToPath(new URL('../fixtures/gpu-host-h100/', import.meta.url));
/** Fixture files the fake nvidia-smi replays verbatim. */
const GPU_FILES = ['nvidia-smi.txt', 'nvidia-smi-q-busy.xml', 'query-gpu.csv', 'query-gpu-fleetmon.csv', 'query-apps-fleetmon.csv'];

/** K → loopback address: 1..254 → 127.0.1.K, then 127.0.2.1 … (a 200-host fleet beside other fleets may spill over). */
export function indexToAddress(k: number): string {
  if (!Number.isInteger(k) || k < 1 || k > MAX_INDEX) throw new RangeError(`fleet address index ${k} out of 1..${MAX_INDEX}`);
  return `127.0.${1 + Math.floor((k - 1) / 254)}.${((k - 1) % 254) + 1}`;
}

/** POSIX sh single-quoting (dash has no $'…', which zx's quote() emits). */
export function shQuote(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** 'SHA256:…' of an OpenSSH public key line, computed like `ssh-keygen -lf`. */
export function fingerprintOf(publicKeyLine: string): string {
  const blob = publicKeyLine.trim().split(/\s+/)[1];
  if (blob === undefined) throw new Error(`not an OpenSSH public key: ${publicKeyLine}`);
  return `SHA256:${createHash('sha256').update(Buffer.from(blob, 'base64')).digest('base64').replace(/=+$/, '')}`;
}

// ---------------------------------------------------------------------------------------------------------------
// Small process helpers

interface RunOptions {
  uid?: number;
  gid?: number;
  env?: Record<string, string>;
  cwd?: string;
  timeoutMs?: number;
  input?: string;
}

function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      uid: opts.uid,
      gid: opts.gid,
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${cmd} ${args.join(' ')}: no exit after ${opts.timeoutMs} ms`));
    }, opts.timeoutMs ?? 20_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, sig) => {
      clearTimeout(timer);
      resolve({ stdout, stderr, code: code ?? 128 + (sig ? osConstants.signals[sig] : 0) });
    });
  });
}

async function mustRun(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
  return r;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

async function waitFor(cond: () => boolean, timeoutMs: number, what: string, fail?: () => string | undefined): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let pause = 5; ; pause = Math.min(pause * 2, 50)) {
    if (cond()) return;
    const failure = fail?.();
    if (failure !== undefined) throw new Error(failure);
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(pause);
  }
}

/** Like Promise.all over a pool, but waits for every started task before rejecting, so nothing runs on unseen. */
async function mapLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { err: unknown } | undefined;
  const worker = async () => {
    while (failure === undefined && next < items.length) {
      const item = items[next++] as T;
      try {
        await fn(item);
      } catch (err) {
        failure ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failure) throw failure.err;
}

function findTmux(): string {
  for (const dir of ['/usr/bin', '/usr/local/bin', '/bin']) if (existsSync(join(dir, 'tmux'))) return join(dir, 'tmux');
  throw new Error('tmux not found (apt-get install tmux)');
}

// ---------------------------------------------------------------------------------------------------------------
// Locks: a file created with O_EXCL holding "PID [ROOT]"; stale once that process is gone (or its fleet dir).

function lockPath(name: string): string {
  mkdirSync(LOCK_DIR, { recursive: true, mode: 0o755 });
  return join(LOCK_DIR, name);
}

function lockIsStale(path: string): boolean {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return false; // vanished: retry will tell
  }
  const [pidText, root] = text.trim().split(' ');
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 0) {
    // Created but not yet written by its owner: stale only if it stays empty.
    try {
      return Date.now() - statSync(path).mtimeMs > 5_000;
    } catch {
      return false;
    }
  }
  return !isAlive(pid) || (root !== undefined && !existsSync(root));
}

function tryLock(name: string, content: string): boolean {
  const path = lockPath(name);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o644);
      writeSync(fd, content);
      closeSync(fd);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      if (!lockIsStale(path)) return false;
      rmSync(path, { force: true });
    }
  }
  return false;
}

function withLock<T>(name: string, fn: () => T): T {
  const deadline = Date.now() + 10_000;
  while (!tryLock(name, String(process.pid))) {
    if (Date.now() > deadline) throw new Error(`lock ${join(LOCK_DIR, name)} held for over 10 s`);
    sleepSync(10);
  }
  try {
    return fn();
  } finally {
    rmSync(lockPath(name), { force: true });
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The service account

interface Account {
  user: string;
  uid: number;
  gid: number;
  home: string;
}

function getent(db: string, key: string): string | undefined {
  const r = spawnSync('getent', [db, key], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

async function ensureAccount(user: string): Promise<Account> {
  if (!/^[a-z_][a-z0-9_-]{0,31}$/.test(user) || user === 'root') throw new Error(`unsuitable fleet user name: ${user}`);
  let pw = getent('passwd', user);
  if (pw === undefined) {
    const r = await run('useradd', ['-m', '-s', '/bin/sh', user]);
    pw = getent('passwd', user); // another fleet may have created it meanwhile: that is fine too
    if (pw === undefined) throw new Error(`useradd ${user} failed: ${r.stderr.trim()}`);
  }
  const f = pw.split(':');
  const account = { user, uid: Number(f[2]), gid: Number(f[3]), home: f[5] ?? `/home/${user}` };
  if (f[6] !== '/bin/sh') await mustRun('usermod', ['-s', '/bin/sh', user]);
  // sshd without PAM refuses an account whose password field is "!" (locked); "*" means no password but unlocked.
  if (getent('shadow', user)?.split(':')[1] !== '*') await mustRun('usermod', ['-p', '*', user]);
  // StrictModes: home and ~/.ssh must not be writable by others, ~/.ssh and the keys file owned by the user.
  mkdirSync(account.home, { recursive: true, mode: 0o755 });
  const home = statSync(account.home);
  if (home.uid !== account.uid) chownSync(account.home, account.uid, account.gid);
  if (home.mode & 0o022) chmodSync(account.home, home.mode & 0o755);
  const sshDir = join(account.home, '.ssh');
  mkdirSync(sshDir, { recursive: true, mode: 0o700 });
  chownSync(sshDir, account.uid, account.gid);
  chmodSync(sshDir, 0o700);
  return account;
}

const KEY_TAG = /\sfleetmon-fleet pid=(\d+) root=(\S+)$/;

/** Rewrite ~/.ssh/authorized_keys under a lock: drop lines of fleets that are gone, then apply `edit`. */
function editAuthorizedKeys(account: Account, edit: (lines: string[]) => string[]): void {
  const path = join(account.home, '.ssh', 'authorized_keys');
  withLock(`authorized_keys-${account.user}`, () => {
    let lines: string[] = [];
    try {
      lines = readFileSync(path, 'utf8').split('\n').filter((l) => l.trim() !== '');
    } catch {
      // none yet
    }
    lines = lines.filter((l) => {
      const m = KEY_TAG.exec(l);
      return m === null || (isAlive(Number(m[1])) && existsSync(m[2] as string));
    });
    const tmp = `${path}.fleet-${process.pid}`;
    writeFileSync(tmp, edit(lines).map((l) => `${l}\n`).join(''), { mode: 0o600 });
    chownSync(tmp, account.uid, account.gid);
    chmodSync(tmp, 0o600);
    renameSync(tmp, path);
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Addresses

function allocateIndices(count: number, root: string, forcedBase: number | undefined): number[] {
  const listening = listeningTcp4();
  if (listening.has('0.0.0.0:22')) throw new Error('something listens on 0.0.0.0:22 (a system sshd?): no fake host can bind port 22');
  const owner = `${process.pid} ${root}`;
  const taken: number[] = [];
  const take = (k: number): boolean => {
    if (listening.has(`${indexToAddress(k)}:22`) || !tryLock(`addr-${indexToAddress(k)}`, owner)) return false;
    taken.push(k);
    return true;
  };
  if (forcedBase !== undefined) {
    for (let k = forcedBase; k < forcedBase + count; k++) {
      if (!take(k)) {
        releaseIndices(taken);
        throw new Error(`fleet address ${indexToAddress(k)}:22 is in use (forced base ${forcedBase})`);
      }
    }
    return taken;
  }
  for (let k = AUTO_BASE_INDEX; taken.length < count && k <= MAX_INDEX; k++) take(k);
  if (taken.length < count) {
    releaseIndices(taken);
    throw new Error(`only ${taken.length} free fleet addresses for ${count} hosts`);
  }
  return taken;
}

function releaseIndices(indices: readonly number[]): void {
  for (const k of indices) rmSync(lockPath(`addr-${indexToAddress(k)}`), { force: true });
}

// ---------------------------------------------------------------------------------------------------------------
// Cleanup of fleets whose process died, and the hooks that make that rare

const live = new Set<FleetImpl>();
const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

function cleanupAllSync(): void {
  for (const fleet of live) fleet.destroySync();
}

function onSignal(sig: NodeJS.Signals): void {
  cleanupAllSync();
  removeHooks();
  // Only re-raise when nobody else handles it, so a test runner's own handler keeps the last word.
  if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
}

function installHooks(): void {
  if (process.listeners('exit').includes(cleanupAllSync)) return;
  process.on('exit', cleanupAllSync);
  for (const sig of SIGNALS) process.on(sig, onSignal);
}

function removeHooks(): void {
  process.off('exit', cleanupAllSync);
  for (const sig of SIGNALS) process.off(sig, onSignal);
}

/** Every live process of the fleet under `root`: sshd listeners (their title names the config), whatever runs with
 * one of its TMUX_TMPDIRs (tmux servers, panes, ssh sessions), and everything descending from those. */
export function fleetPids(root: string): number[] {
  const roots = pidsMatching({ env: [`TMUX_TMPDIR=${root}/`], cmdline: [`${root}/`] });
  return [...roots, ...descendants(roots)];
}

/** SIGKILL every process of the fleet under `root` and remove its directory. */
function killAndRemoveSync(root: string, listeners: readonly number[] = []): void {
  for (const pid of listeners) signal(pid, 'SIGSTOP'); // no forking while the tree is read
  for (let round = 0; round < 3; round++) {
    const pids = [...new Set([...listeners, ...descendants(listeners), ...fleetPids(root)])].filter(isAlive);
    if (pids.length === 0) break;
    for (const pid of pids) signal(pid, 'SIGKILL');
    sleepSync(20);
  }
  removeFleetUsersSync(root);
  rmSync(root, { recursive: true, force: true });
}

/** userdel -r the accounts the fleet under `root` created (addUser), once their processes are gone. */
function removeFleetUsersSync(root: string): void {
  let names: string[];
  try {
    names = readFileSync(join(root, USERS_FILE), 'utf8').split('\n');
  } catch {
    return;
  }
  for (const name of names) {
    if (!/^fm[0-9a-z]{6}-[a-z][a-z0-9]{0,15}$/.test(name) || getent('passwd', name) === undefined) continue;
    // Their processes ran inside the hosts' PID namespaces, which died with the sshd's; -f in case one lingers.
    const uid = getent('passwd', name)?.split(':')[2];
    spawnSync('userdel', ['-f', '-r', name], { stdio: 'ignore' });
    // A host without its own /tmp left the user's tmux directory in the machine's; the uid is reused by the next
    // account, whose tests must not find it there.
    if (uid && /^\d+$/.test(uid)) rmSync(`/tmp/tmux-${uid}`, { recursive: true, force: true });
  }
}

/** Remove the leftovers of fleets whose owner process is gone (a test run killed with SIGKILL). */
function sweepDeadFleets(base: string): void {
  let names: string[];
  try {
    names = readdirSync(base).filter((n) => n.startsWith(ROOT_PREFIX));
  } catch {
    return;
  }
  for (const name of names) {
    const dir = join(base, name);
    let owner: number;
    try {
      owner = Number(readFileSync(join(dir, 'owner.pid'), 'utf8'));
    } catch {
      // No owner file: either being created right now or not ours. Leave young ones alone.
      try {
        if (Date.now() - statSync(dir).mtimeMs < 60_000) continue;
      } catch {
        continue;
      }
      owner = 0;
    }
    if (owner > 0 && isAlive(owner)) continue;
    killAndRemoveSync(dir);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Hosts

interface Shared {
  account: Account;
  tmuxBin: string;
  gpuDataDir: string;
  nvidiaSmiTemplate: string;
  tmuxWrapperTemplate: string;
  sshdConfig: string[];
  startTimeoutMs: number;
  pidNamespace: boolean;
  privateTmp: boolean;
  fleetRoot: string;
  idlePriority: boolean;
}

class HostImpl implements FakeHost {
  readonly port = 22;
  readonly user: string;
  readonly uid: number;
  readonly tmuxTmpdir: string;
  readonly hostKeyPath: string;
  readonly binDir: string;
  readonly logPath: string;
  readonly env: Readonly<Record<string, string>>;
  readonly gpu: boolean;
  hostKeyFingerprint = '';
  hostPublicKey = '';
  /** Set once the fleet is torn down: the host's files are gone, so it cannot start again. */
  closed = false;
  private child: ChildProcess | undefined;
  private mode: GpuMode;

  constructor(
    readonly name: string,
    public index: number,
    public address: string,
    readonly root: string,
    spec: FakeHostSpec,
    private readonly shared: Shared,
  ) {
    this.user = shared.account.user;
    this.uid = shared.account.uid;
    this.tmuxTmpdir = join(root, 'tmux');
    this.hostKeyPath = join(root, 'ssh_host_ed25519_key');
    this.binDir = join(root, 'bin');
    this.logPath = join(root, 'sshd.log');
    this.gpu = spec.gpu === true;
    this.mode = spec.nvidiaSmi ?? (this.gpu ? 'replay' : 'missing');
    this.env = {
      HOME: shared.account.home,
      USER: this.user,
      LOGNAME: this.user,
      SHELL: '/bin/sh',
      PATH: `${this.binDir}:/usr/local/bin:/usr/bin:/bin`,
      TMUX_TMPDIR: this.tmuxTmpdir,
    };
  }

  get sshdPid(): number | undefined {
    return this.running ? this.child?.pid : undefined;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  get gpuMode(): GpuMode {
    return this.mode;
  }

  /** Files, keys and config; no process yet. */
  async prepare(): Promise<void> {
    const { account } = this.shared;
    mkdirSync(this.binDir, { recursive: true, mode: 0o755 });
    chmodSync(this.root, 0o755);
    mkdirSync(this.tmuxTmpdir, { mode: 0o700 });
    chownSync(this.tmuxTmpdir, account.uid, account.gid);
    const pub = writeKeyPair(this.hostKeyPath, `fleetmon-fake-host-${this.name.replace(/[^\w.-]/g, '_')}`).split(' ');
    this.hostPublicKey = `${pub[0]} ${pub[1]}`;
    this.hostKeyFingerprint = fingerprintOf(this.hostPublicKey);
    const tmuxWrapper = this.shared.tmuxWrapperTemplate
      .replace('@HANG_MARKER@', shQuote(join(this.root, 'fleetmon-hang')))
      .replace('@TMUX@', shQuote(this.shared.tmuxBin));
    writeFileSync(join(this.binDir, 'tmux'), tmuxWrapper, { mode: 0o755 });
    // World-writable: the fake runs as the fleet's account (or a test user) and appends one line per invocation.
    const calls = join(this.root, 'nvidia-smi.calls');
    writeFileSync(calls, '', { mode: 0o666 });
    chmodSync(calls, 0o666);
    this.setGpuMode(this.mode);
    this.writeConfig();
  }

  /** sshd_config for the current address (rewritten when startFleet moves a host off a stolen address). */
  writeConfig(): void {
    const config = [
      `# fake host ${JSON.stringify(this.name)} of a fleetmon test fleet`,
      `ListenAddress ${this.address}:22`,
      `HostKey ${this.hostKeyPath}`,
      `PidFile ${join(this.root, 'sshd.pid')}`,
      'UsePAM no',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PubkeyAuthentication yes',
      'AuthenticationMethods publickey',
      'PermitRootLogin no',
      'StrictModes yes',
      // A poller keeps one connection per host; tests and benchmarks open a few more at once.
      'MaxSessions 64',
      'MaxStartups 64:30:256',
      'LoginGraceTime 20',
      'PrintMotd no',
      'PrintLastLog no',
      'X11Forwarding no',
      'AllowAgentForwarding no',
      'AllowTcpForwarding no',
      'Subsystem sftp internal-sftp',
      'LogLevel ERROR',
      // sshd applies SetEnv after its own defaults, so this PATH (not sshd's) reaches exec channels.
      `SetEnv TMUX_TMPDIR=${this.tmuxTmpdir} PATH=${this.env.PATH}`,
      ...this.shared.sshdConfig,
      '',
    ].join('\n');
    writeFileSync(join(this.root, 'sshd_config'), config, { mode: 0o644 });
  }

  async start(): Promise<void> {
    if (this.closed) throw new Error(`fake host ${this.name}: its fleet was stopped`);
    if (this.running) return;
    const sshd = [SSHD, '-D', '-f', join(this.root, 'sshd_config'), '-E', this.logPath];
    const sshdArgs = [
      ...(this.shared.idlePriority ? [CHRT, '--idle', '0'] : []),
      ...(this.shared.privateTmp
        ? [UNSHARE, '--pid', '--fork', '--mount', '--mount-proc', '--kill-child', '--', '/bin/sh', '-c', PRIVATE_TMP_SCRIPT, 'fleetmon-host', ...this.privateTmpArgs()]
        : this.shared.pidNamespace
          ? [UNSHARE, '--pid', '--fork', '--mount-proc', '--kill-child', '--']
          : []),
      ...sshd,
    ];
    // pdeathsig: if the test process dies without running any hook, the kernel kills the listener and the address
    // is free again.
    const [cmd, args] = existsSync(SETPRIV) ? [SETPRIV, ['--pdeathsig', 'KILL', '--', ...sshdArgs]] : [sshdArgs[0], sshdArgs.slice(1)];
    const child = spawn(cmd as string, args as string[], {
      stdio: 'ignore',
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
    });
    this.child = child;
    let spawnError: Error | undefined;
    child.on('error', (err) => (spawnError = err));
    const key = `${this.address}:22`;
    // Listening is not enough: someone else's sshd may hold the address (it was free when allocated). Ready means
    // the socket on it is our child's.
    const ours = () => {
      const inode = listeningTcp4Cached().get(key);
      if (inode === undefined || child.pid === undefined) return false;
      // In a PID namespace the listener is unshare's child.
      const candidates = this.shared.pidNamespace ? [child.pid, ...descendants([child.pid])] : [child.pid];
      return candidates.some((pid) => holdsSocket(pid, inode));
    };
    await waitFor(
      ours,
      this.shared.startTimeoutMs,
      `sshd of ${this.name} to listen on ${key}`,
      () => {
        if (spawnError) return `sshd of ${this.name}: ${spawnError.message}`;
        if (child.exitCode === null && child.signalCode === null) return undefined;
        let log = '';
        try {
          log = readFileSync(this.logPath, 'utf8').trim().split('\n').slice(-5).join(' | ');
        } catch {
          // no log
        }
        return `sshd of ${this.name} (${key}) exited ${child.exitCode ?? child.signalCode}: ${log || '(no log)'}`;
      },
    );
  }

  /** Staging mount point, the fleet directory, and its path below /tmp (empty when it is not under /tmp). */
  private privateTmpArgs(): string[] {
    const staging = join(this.root, 'private-tmp');
    mkdirSync(staging, { recursive: true, mode: 0o755 });
    const root = this.shared.fleetRoot;
    const inner = root.startsWith('/tmp/') ? root.slice('/tmp/'.length) : '';
    return [staging, root, inner];
  }

  async stop(): Promise<void> {
    await stopSshds([this]);
  }

  get nsPid(): number | undefined {
    const pid = this.child?.pid;
    if (!this.shared.privateTmp || !this.running || pid === undefined) return undefined;
    // The listener's child is the namespace's init (the shell that exec'd sshd). Under chrt/setpriv the pid is
    // the same process (they exec), so unshare is `pid` itself.
    for (const [p, ppid] of processTable()) if (ppid === pid) return p;
    return undefined;
  }

  runAs(user: FleetUser, argv: string[], opts: { timeoutMs?: number; env?: Record<string, string> } = {}): Promise<RunResult> {
    if (!this.shared.privateTmp) throw new Error('runAs needs a fleet started with privateTmp: true');
    const ns = this.nsPid;
    if (ns === undefined) throw new Error(`fake host ${this.name} is not running`);
    if (argv.length === 0) throw new Error('runAs: empty argv');
    const env = { HOME: user.home, USER: user.name, LOGNAME: user.name, SHELL: '/bin/sh', PATH: this.env.PATH as string, ...opts.env };
    const args = ['--target', String(ns), '--pid', '--mount', '--', SETPRIV, '--reuid', String(user.uid), '--regid', String(user.gid), '--init-groups', '--', ...argv];
    return run(NSENTER, args, { env, cwd: '/', timeoutMs: opts.timeoutMs ?? 10_000 });
  }

  runAsRoot(argv: string[], opts: { timeoutMs?: number; input?: string } = {}): Promise<RunResult> {
    if (!this.shared.privateTmp) throw new Error('runAsRoot needs a fleet started with privateTmp: true');
    const ns = this.nsPid;
    if (ns === undefined) throw new Error(`fake host ${this.name} is not running`);
    if (argv.length === 0) throw new Error('runAsRoot: empty argv');
    const env = { HOME: '/root', USER: 'root', LOGNAME: 'root', PATH: '/usr/sbin:/usr/bin:/sbin:/bin' };
    return run(NSENTER, ['--target', String(ns), '--pid', '--mount', '--', ...argv], { env, cwd: '/', timeoutMs: opts.timeoutMs ?? 10_000, input: opts.input });
  }

  tmuxAs(user: FleetUser, args: string[], opts: TmuxSocketOptions = {}): Promise<RunResult> {
    const socket = opts.socketPath !== undefined ? ['-S', opts.socketPath] : opts.socketName !== undefined ? ['-L', opts.socketName] : [];
    const env: Record<string, string> = opts.tmuxTmpdir !== undefined ? { TMUX_TMPDIR: opts.tmuxTmpdir } : {};
    return this.runAs(user, [this.shared.tmuxBin, ...socket, ...args], { env });
  }

  async newSessionAs(user: FleetUser, name: string, command?: string[], opts: TmuxSocketOptions = {}): Promise<void> {
    const r = await this.tmuxAs(user, ['new-session', '-d', '-s', name, ...(command ?? [])], opts);
    if (r.code !== 0) throw new Error(`tmux new-session -s ${JSON.stringify(name)} as ${user.name} on ${this.name} exited ${r.code}: ${r.stderr.trim()}`);
  }

  /** For stopSshds: hand over the child and forget it. */
  takeChild(): ChildProcess | undefined {
    const child = this.child;
    this.child = undefined;
    return child;
  }

  tmux(args: string[]): Promise<RunResult> {
    // The tmux server forks from the first client, so it inherits the client's scheduling policy.
    const idle = this.shared.idlePriority ? [CHRT, '--idle', '0'] : [];
    return this.runAsUser([...idle, this.shared.tmuxBin, ...args]);
  }

  async newSession(name: string, command?: string[] | undefined, opts?: { attached?: false }): Promise<void> {
    if (opts?.attached !== undefined && opts.attached !== false) throw new Error('newSession: only detached sessions');
    const r = await this.tmux(['new-session', '-d', '-s', name, ...(command ?? [])]);
    if (r.code !== 0) throw new Error(`tmux new-session -s ${JSON.stringify(name)} on ${this.name} exited ${r.code}: ${r.stderr.trim()}`);
  }

  runAsUser(argv: string[], opts: { timeoutMs?: number; input?: string } = {}): Promise<RunResult> {
    const [cmd, ...args] = argv;
    if (cmd === undefined) throw new Error('runAsUser: empty argv');
    const { account } = this.shared;
    return run(cmd, args, { uid: account.uid, gid: account.gid, env: { ...this.env }, cwd: account.home, timeoutMs: opts.timeoutMs ?? 10_000, input: opts.input });
  }

  setProbeHang(on: boolean): void {
    const marker = join(this.root, 'fleetmon-hang');
    if (on) writeFileSync(marker, '');
    else rmSync(marker, { force: true });
  }

  setGpuMode(mode: GpuMode): void {
    const script = join(this.binDir, 'nvidia-smi');
    writeAtomic(join(this.root, 'gpu-mode'), `${mode}\n`, 0o644);
    if (mode === 'missing') rmSync(script, { force: true });
    else if (!existsSync(script)) writeAtomic(script, this.shared.nvidiaSmiTemplate.replace('@HOST_DIR@', shQuote(this.root)), 0o755);
    this.mode = mode;
  }

  gpuCalls(): string[] {
    const path = join(this.root, 'nvidia-smi.calls');
    return existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter((l) => l !== '') : [];
  }

  setGpuApps(rows: GpuAppRow[] | null): void {
    const path = join(this.root, 'gpu-apps.csv');
    if (rows === null) {
      rmSync(path, { force: true });
      return;
    }
    const text = rows.map((r) => `${r.gpuUuid ?? FAKE_GPU_UUID}, ${r.pid}, ${r.processName}, ${r.usedMemoryMiB}\n`).join('');
    writeAtomic(path, text, 0o644);
  }
}

/** PATH (0600) and PATH.pub (0644), like `ssh-keygen -t ed25519 -N '' -C COMMENT -f PATH`; returns the .pub line. */
function writeKeyPair(path: string, comment: string): string {
  const pair = generateEd25519(comment);
  writeFileSync(path, pair.privateKey, { mode: 0o600 });
  writeFileSync(`${path}.pub`, `${pair.publicKey}\n`, { mode: 0o644 });
  return pair.publicKey;
}

/**
 * The `ssh:` and `hosts:` parts of a fleetmon config for this fleet (keys pinned through its known_hosts and per
 * host), to merge into what a test passes to the config loader or writes as YAML.
 */
export function fleetConfigSection(fleet: Fleet): { ssh: Partial<SshConfig>; hosts: HostConfig[] } {
  return {
    ssh: { user: fleet.user, key_path: fleet.keyPath, known_hosts: fleet.knownHostsPath, accept_unknown_host_keys: false },
    hosts: fleet.hosts.map((h) => ({ name: h.name, address: h.address, port: h.port, has_gpu: h.gpu, host_key: h.hostKeyFingerprint })),
  };
}

/** Write via rename, so a fake nvidia-smi running at that moment reads the old or the new file, never half. */
function writeAtomic(path: string, text: string, mode: number): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, text, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, path);
}

/**
 * Stop the listeners of these hosts and every sshd process they forked (connection handlers, sessions), so open
 * connections drop as when a host goes offline. The listeners are frozen first so none forks while the tree is read.
 */
async function stopSshds(hosts: readonly HostImpl[]): Promise<void> {
  const children = hosts.map((h) => h.takeChild()).filter((c): c is ChildProcess => c !== undefined);
  const exits = children.map((c) =>
    c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : new Promise<void>((r) => c.once('exit', () => r())),
  );
  // Our children, plus any listener of these hosts we lost track of (its title names the host's config).
  const listeners = [
    ...new Set([...children.map((c) => c.pid as number), ...pidsMatching({ cmdline: hosts.map((h) => `${h.root}/sshd_config`) })]),
  ];
  for (const pid of listeners) signal(pid, 'SIGSTOP');
  // kill() only queues the signal: wait until each listener is really stopped (T), or gone, before reading the tree.
  const frozen = () => listeners.every((pid) => ['T', 't', 'Z', undefined].includes(processState(pid)));
  await waitFor(frozen, 1_000, 'sshd listeners to stop').catch(() => undefined);
  for (const pid of [...listeners, ...descendants(listeners)]) signal(pid, 'SIGKILL');
  await Promise.all(exits);
  const listening = () => {
    const now = listeningTcp4();
    return hosts.some((h) => now.has(`${h.address}:22`));
  };
  await waitFor(() => !listening(), 5_000, 'stopped sshd to release its address');
}

// ---------------------------------------------------------------------------------------------------------------
// The fleet

class FleetImpl implements Fleet {
  hosts: HostImpl[] = [];
  keyPath: string;
  knownHostsPath: string;
  publicKey = '';
  indices: number[] = [];
  private stopping: Promise<void> | undefined;
  private destroyed = false;

  constructor(
    readonly root: string,
    readonly account: Account,
  ) {
    this.keyPath = join(root, 'client_ed25519');
    this.knownHostsPath = join(root, 'known_hosts');
  }

  get user(): string {
    return this.account.user;
  }

  get uid(): number {
    return this.account.uid;
  }

  get authorizedKeysPath(): string {
    return join(this.account.home, '.ssh', 'authorized_keys');
  }

  users: FleetUser[] = [];

  async addUser(base: string): Promise<FleetUser> {
    if (this.destroyed) throw new Error('addUser: the fleet was stopped');
    if (!/^[a-z][a-z0-9]{0,15}$/.test(base)) throw new Error(`addUser: base name must be [a-z][a-z0-9]{0,15}, not ${JSON.stringify(base)}`);
    // fm + 6 random base-36 characters: unique per run, and recognisably a fleet's (the sweep removes only these).
    const name = `fm${randomBytes(4).readUInt32BE(0).toString(36).padStart(6, '0').slice(-6)}-${base}`;
    // Recorded before it exists, so a crash between useradd and the push still leaves a trace for the sweep.
    writeFileSync(join(this.root, USERS_FILE), `${name}\n`, { flag: 'a', mode: 0o644 });
    await mustRun('useradd', ['-m', '-s', '/bin/sh', '-p', '*', '-c', `fleetmon test fleet ${this.root}`, name]);
    const f = (getent('passwd', name) ?? '').split(':');
    const user = { base, name, uid: Number(f[2]), gid: Number(f[3]), home: f[5] ?? `/home/${name}` };
    this.users.push(user);
    return user;
  }

  host(name: string): FakeHost {
    const h = this.hosts.find((x) => x.name === name);
    if (!h) throw new Error(`no fake host named ${name}`);
    return h;
  }

  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    try {
      await stopSshds(this.hosts);
      // Polite first: kill-server HUPs the panes. Only hosts whose tmux server ever started have a socket.
      const withServer = this.hosts.filter((h) => existsSync(join(h.tmuxTmpdir, `tmux-${h.uid}`, 'default')));
      await mapLimit(withServer, 16, async (h) => {
        await h.tmux(['kill-server']).catch(() => undefined);
      });
    } finally {
      this.destroySync();
    }
  }

  /** Synchronous and idempotent: also the body of the exit/signal hooks. */
  destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const h of this.hosts) h.closed = true;
    const listeners = this.hosts.map((h) => h.takeChild()?.pid).filter((p): p is number => p !== undefined);
    killAndRemoveSync(this.root, listeners);
    releaseIndices(this.indices);
    try {
      editAuthorizedKeys(this.account, (lines) => lines.filter((l) => l.trim() !== this.publicKey));
    } catch {
      // The prune on the next start removes the line once this process is gone.
    }
    live.delete(this);
    if (live.size === 0) removeHooks();
  }
}

function hostSpecs(opts: StartFleetOptions): FakeHostSpec[] {
  if (typeof opts.hosts !== 'number') return opts.hosts;
  const every = opts.gpuEvery;
  return Array.from({ length: opts.hosts }, (_, i) => ({ name: `host${i}`, gpu: every !== undefined && every > 0 && i % every === 0 }));
}

function forcedBase(opts: StartFleetOptions): number | undefined {
  if (opts.baseIndex !== undefined) return opts.baseIndex;
  const env = process.env.FLEETMON_FLEET_BASE;
  if (env === undefined || env === '') return undefined;
  const k = Number(env);
  if (!Number.isInteger(k) || k < 1) throw new Error(`FLEETMON_FLEET_BASE must be an index ≥ 1 (127.0.1.K), not ${env}`);
  return k;
}

/** Derive the '[N/A]' variants of a query-gpu row: power.draw, power.limit, temperature at these field positions. */
function naRows(text: string, draw: number, limit: number, temp: number): string {
  return text.replace(/[^\n]+/g, (line) => {
    const f = line.split(', ');
    f[draw] = '[N/A]';
    f[limit] = '[Not Supported]';
    f[temp] = '[N/A]';
    return f.join(', ');
  });
}

export async function startFleet(opts: StartFleetOptions): Promise<Fleet> {
  if (process.getuid?.() !== 0) throw new Error('the test fleet needs root (sshd on port 22, switching to the fleet user)');
  if (!existsSync(SSHD)) throw new Error(`${SSHD} not found (apt-get install openssh-server)`);
  const specs = hostSpecs(opts);
  if (specs.length === 0) throw new Error('startFleet: no hosts');
  const names = new Set(specs.map((s) => s.name));
  if (names.size !== specs.length) throw new Error('startFleet: host names must be unique');

  const base = tmpdir();
  sweepDeadFleets(base);
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 }); // sshd's privilege separation directory
  const account = await ensureAccount(opts.user ?? DEFAULT_FLEET_USER);
  const root = mkdtempSync(join(base, ROOT_PREFIX));
  writeFileSync(join(root, 'owner.pid'), String(process.pid));
  chmodSync(root, 0o755); // the fleet user must reach its hosts' bin/ and tmux/
  // Paths go unquoted into sshd_config and must fit a unix socket name (tmux) with room to spare.
  if (!/^[A-Za-z0-9/._-]+$/.test(root) || root.length > 60) throw new Error(`temp dir ${root} unsuitable (set TMPDIR=/tmp)`);

  const fleet = new FleetImpl(root, account);
  live.add(fleet);
  installHooks();
  try {
    const forced = forcedBase(opts);
    fleet.indices = allocateIndices(specs.length, root, forced);

    fleet.publicKey = writeKeyPair(fleet.keyPath, `fleetmon-fleet pid=${process.pid} root=${root}`);
    editAuthorizedKeys(account, (lines) => [...lines, fleet.publicKey]);

    const gpuDataDir = join(root, 'gpu-data');
    mkdirSync(gpuDataDir, { mode: 0o755 });
    for (const f of GPU_FILES) writeFileSync(join(gpuDataDir, f), readFileSync(join(FIXTURES, f)), { mode: 0o644 });
    const seedRow = readFileSync(join(FIXTURES, 'query-gpu.csv'), 'utf8');
    const fleetmonRow = readFileSync(join(FIXTURES, 'query-gpu-fleetmon.csv'), 'utf8');
    writeFileSync(join(gpuDataDir, 'query-gpu-na.csv'), naRows(seedRow, 2, 3, 7), { mode: 0o644 });
    writeFileSync(join(gpuDataDir, 'query-gpu-fleetmon-na.csv'), naRows(fleetmonRow, 3, 4, 8), { mode: 0o644 });

    const shared: Shared = {
      account,
      tmuxBin: findTmux(),
      gpuDataDir,
      nvidiaSmiTemplate: readFileSync(join(HERE, 'fake-nvidia-smi.sh'), 'utf8').replace('@DATA_DIR@', shQuote(gpuDataDir)),
      tmuxWrapperTemplate: readFileSync(join(HERE, 'tmux-wrapper.sh'), 'utf8'),
      sshdConfig: opts.sshdConfig ?? [],
      startTimeoutMs: opts.startTimeoutMs ?? 15_000,
      pidNamespace: opts.pidNamespace === true || opts.privateTmp === true,
      privateTmp: opts.privateTmp === true,
      fleetRoot: root,
      idlePriority: opts.idlePriority === true,
    };
    fleet.hosts = specs.map((spec, i) => {
      const k = fleet.indices[i] as number;
      return new HostImpl(spec.name, k, indexToAddress(k), join(root, `host${k}`), spec, shared);
    });
    const auto = forced === undefined;
    await mapLimit(fleet.hosts, opts.concurrency ?? 32, async (h) => {
      await h.prepare();
      for (let attempt = 1; ; attempt++) {
        try {
          await h.start();
          return;
        } catch (err) {
          // Another program took an automatically picked address after we checked it: move to a fresh one.
          if (!auto || attempt >= 3 || !/Address already in use|Cannot bind/.test(String(err))) throw err;
          const [k] = allocateIndices(1, root, undefined);
          fleet.indices.push(k as number);
          h.index = k as number;
          h.address = indexToAddress(k as number);
          h.writeConfig();
        }
      }
    });
    writeFileSync(fleet.knownHostsPath, fleet.hosts.map((h) => `${h.address} ${h.hostPublicKey}\n`).join(''), { mode: 0o644 });
    return fleet;
  } catch (err) {
    await fleet.stop().catch(() => undefined);
    throw err;
  }
}
