/**
 * `fleetmon keys deploy` / `keys revoke`: set up fleet hosts so the monitor's key can do exactly three things
 * there (run the probe, kill one tmux session by exact name, ping) and nothing else.
 *
 * Per host, over SSH as an admin (root, or a sudo user), each as a checked step:
 *  1. the service account exists, with password field `*` (no password, not locked: sshd without PAM refuses
 *     key logins to accounts whose field starts with `!`) and a working shell (sshd runs forced commands with it);
 *  2. its ~/.ssh is root-owned 0755 (and a home we create is root-owned too), so the account cannot loosen its
 *     own authorized_keys;
 *  3. <libDir> (root-owned) holds the gate and the probe;
 *  4. authorized_keys (root-owned 0644) holds one marked block with the key as
 *     `restrict,command="<libDir>/gate" TYPE DATA COMMENT`; other copies of the same key are removed.
 * Then it verifies by logging in as the account with the key (when the private key is at hand) and running the
 * gate's ping, and checks that anything else is refused. The host key seen is printed and, with --config,
 * recorded as the host's `host_key` pin (an existing pin is enforced: a host presenting another key is refused).
 */
import { chownSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import type { ListrTask } from 'listr2';
import { FleetmonError, errorMessage } from '../core/errors.js';
import { gateScriptPath, probeScriptPath } from '../paths.js';
import { GATE_EXIT, GATE_PING_REPLY, gatePingCommand } from '../protocol/gate-protocol.js';
import {
  applyManagedBlock,
  managedKeyLine,
  removeManagedBlock,
  restrictedKeyLine,
  type PublicKey,
} from './authorized-keys.js';
import { findPin, recordPins, type PinChange } from './config-pins.js';
import { RemoteShell, shScript, type HostKeyInfo, type RemoteShellOptions } from '../ssh/remote-shell.js';
import { runTasks, type Renderer } from '../steps/progress.js';
import { mapLimit, stepTasks, type Step, type StepResult } from '../steps/steps.js';

export const DEFAULT_ACCOUNT = 'fleetmon';
export const DEFAULT_LIB_DIR = '/usr/local/lib/fleetmon';

export interface AdminAuth {
  username: string;
  privateKey?: string | Buffer;
  passphrase?: string;
  agent?: string;
  password?: string;
  sudoPassword?: string | (() => Promise<string>);
}

export interface Target {
  address: string;
  port: number;
}

/** `host`, `host:port`, `[v6addr]` or `[v6addr]:port`. */
export function parseTarget(spec: string, defaultPort: number): Target {
  const bad = () => new FleetmonError('BAD_HOST', `cannot read host ${JSON.stringify(spec)}: expected HOST, HOST:PORT or [IPv6]:PORT`);
  let address = spec;
  let port = defaultPort;
  const v6 = /^\[([0-9A-Fa-f:.]+)\](?::(\d+))?$/.exec(spec);
  if (v6) {
    address = v6[1]!;
    if (v6[2]) port = Number(v6[2]);
  } else if (/^[^:]+:\d+$/.test(spec)) {
    const i = spec.lastIndexOf(':');
    address = spec.slice(0, i);
    port = Number(spec.slice(i + 1));
  } else if (spec.includes(':') && !/^[0-9A-Fa-f:]+$/.test(spec)) {
    throw bad();
  }
  if (!/^[A-Za-z0-9._:-]+$/.test(address) || address.startsWith('-')) throw bad();
  if (!(port >= 1 && port <= 65535)) throw bad();
  return { address, port };
}

export interface HostSetup {
  account: string;
  libDir: string;
  gateScript: string;
  probeScript: string;
  keyLine: string;
  key: PublicKey;
}

interface RemoteStat {
  exists: boolean;
  owner?: string;
  group?: string;
  mode?: string;
  sha256?: string;
}

/** stat (and sha256 of regular files) for several paths in one round trip. */
async function remoteStats(shell: RemoteShell, paths: string[], hash: boolean): Promise<RemoteStat[]> {
  const out = await shell.check(
    shScript(
      'h=$1; shift; for p do if [ -e "$p" ]; then s=$(stat --printf "%U\\t%G\\t%a" -- "$p") || exit 1; ' +
        'if [ "$h" = hash ] && [ -f "$p" ]; then x=$(sha256sum -- "$p" | cut -d" " -f1); else x=-; fi; ' +
        'printf "%s\\t%s\\n" "$s" "$x"; else echo missing; fi; done',
      hash ? 'hash' : 'nohash',
      ...paths,
    ),
    { what: `stat ${paths.join(' ')}` },
  );
  const lines = out.split('\n');
  return paths.map((_, i) => {
    const line = lines[i] ?? 'missing';
    if (line === 'missing') return { exists: false };
    const [owner, group, mode, digest] = line.split('\t');
    return { exists: true, owner, group, mode, ...(digest && digest !== '-' ? { sha256: digest } : {}) };
  });
}

async function remoteStat(shell: RemoteShell, path: string, hash: boolean): Promise<RemoteStat> {
  return (await remoteStats(shell, [path], hash))[0]!;
}

/** stat and content of a small text file in one round trip; null when missing. */
async function remoteTextFile(shell: RemoteShell, path: string): Promise<{ stat: RemoteStat; text: string } | null> {
  const r = await shell.exec(shScript('[ -e "$1" ] || exit 3; stat --printf "%U\\t%G\\t%a\\n" -- "$1" && exec cat -- "$1"', path));
  if (r.code === 3) return null;
  if (r.code !== 0) throw new FleetmonError('REMOTE_READ_FAILED', `${shell.host}: cannot read ${path}: ${r.stderr.trim()}`, { kind: 'ssh' });
  const nl = r.stdout.indexOf('\n');
  const [owner, group, mode] = r.stdout.slice(0, nl).split('\t');
  return { stat: { exists: true, owner, group, mode }, text: r.stdout.slice(nl + 1) };
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

interface PasswdEntry {
  name: string;
  uid: number;
  home: string;
  shell: string;
  passwordField: string;
}

async function readAccount(shell: RemoteShell, account: string): Promise<PasswdEntry | null> {
  const out = await shell.check(
    shScript('p=$(getent passwd "$1") || { echo missing; exit 0; }; printf "%s\\n" "$p"; getent shadow "$1" | cut -d: -f2', account),
    { what: `look up ${account}` },
  );
  const [passwd, shadow] = out.split('\n');
  if (passwd === 'missing' || !passwd) return null;
  const f = passwd.split(':');
  return { name: f[0]!, uid: Number(f[2]), home: f[5] ?? '', shell: f[6] ?? '', passwordField: shadow ?? '' };
}

const UNUSABLE_SHELLS = /(^$|\/nologin$|\/false$)/;

function accountProblems(a: PasswdEntry): string[] {
  const problems: string[] = [];
  if (a.passwordField === '' ) problems.push('empty password field (anyone could su in)');
  else if (a.passwordField.startsWith('!')) problems.push(`password field "${a.passwordField.slice(0, 2)}…" (locked: sshd without PAM refuses key logins)`);
  if (UNUSABLE_SHELLS.test(a.shell)) problems.push(`shell ${a.shell || '(none)'} cannot run the forced command`);
  if (!a.home.startsWith('/')) problems.push('no home directory');
  return problems;
}

/** The checked steps that set up one host. `warnings` collects things worth saying that are not failures. */
export function deploySteps(shell: RemoteShell, setup: HostSetup, warnings: string[]): Step[] {
  const { account, libDir } = setup;
  let knownHome: string | undefined;
  const home = async () => {
    if (knownHome) return knownHome;
    const a = await readAccount(shell, account);
    if (!a) throw new FleetmonError('ACCOUNT_MISSING', `${shell.host}: account ${account} is missing`, { kind: 'ssh' });
    knownHome = a.home;
    return a.home;
  };
  const fileStep = (id: string, title: string, path: () => Promise<string>, content: string, mode: string): Step => ({
    id,
    title,
    check: async () => {
      const st = await remoteStat(shell, await path(), true);
      if (!st.exists) return { ok: false, detail: 'missing' };
      const problems = [];
      if (st.sha256 !== sha256(content)) problems.push('content differs');
      if (st.owner !== 'root' || st.group !== 'root') problems.push(`owned by ${st.owner}:${st.group}`);
      if (st.mode !== mode) problems.push(`mode ${st.mode}`);
      return problems.length ? { ok: false, detail: problems.join(', ') } : { ok: true };
    },
    apply: async () => {
      await shell.upload(await path(), content, { mode: parseInt(mode, 8), owner: 'root', group: 'root' });
    },
  });
  const keysPath = async () => join(await home(), '.ssh', 'authorized_keys');

  return [
    {
      id: 'account',
      title: `account ${account}`,
      check: async () => {
        const a = await readAccount(shell, account);
        if (!a) return { ok: false, detail: 'missing' };
        const problems = accountProblems(a);
        return problems.length ? { ok: false, detail: problems.join('; ') } : { ok: true };
      },
      apply: async () => {
        const a = await readAccount(shell, account);
        if (!a) {
          const r = await shell.exec([
            'useradd', '--system', '--user-group', '--shell', '/bin/sh', '--home-dir', `/home/${account}`, '--no-create-home',
            '--comment', 'fleetmon monitoring (fleetmon keys deploy)', '--password', '*', account,
          ]);
          // 9: it appeared meanwhile (another deploy to the same machine); the re-check decides.
          if (r.code !== 0 && r.code !== 9) {
            throw new FleetmonError('USERADD_FAILED', `${shell.host}: useradd ${account} failed: ${r.stderr.trim()}`, { kind: 'ssh' });
          }
          return;
        }
        if (a.passwordField === '' || a.passwordField.startsWith('!')) {
          await shell.check(['usermod', '--password', '*', account], { what: `usermod ${account}` });
          warnings.push(`replaced ${account}'s password field with "*" (no password login; key logins allowed)`);
        }
        if (UNUSABLE_SHELLS.test(a.shell)) {
          await shell.check(['usermod', '--shell', '/bin/sh', account], { what: `usermod ${account}` });
          warnings.push(`set ${account}'s shell to /bin/sh (was ${a.shell || 'none'})`);
        }
      },
    },
    {
      id: 'ssh-dir',
      title: `root-owned ~${account}/.ssh`,
      check: async () => {
        const h = await home();
        const [homeStat, st] = (await remoteStats(shell, [h, join(h, '.ssh')], false)) as [RemoteStat, RemoteStat];
        if (!homeStat.exists) return { ok: false, detail: `${h} missing` };
        if (!st.exists) return { ok: false, detail: 'missing' };
        if (st.owner !== 'root' || st.group !== 'root' || st.mode !== '755') {
          return { ok: false, detail: `${st.owner}:${st.group} ${st.mode}` };
        }
        if (homeStat.owner === account && !warnings.some((w) => w.startsWith('home'))) {
          warnings.push(`home ${h} belongs to ${account}, who could replace .ssh there; a root-owned home is safer`);
        }
        return { ok: true };
      },
      apply: async () => {
        const h = await home();
        // A home we create is root's: the account needs no writable home (tmux uses /tmp).
        await shell.check(
          shScript('[ -e "$1" ] || install -d -o root -g root -m 0755 -- "$1"; install -d -o root -g root -m 0755 -- "$1/.ssh" && chown root:root -- "$1/.ssh" && chmod 0755 -- "$1/.ssh"', h),
          { what: 'create .ssh' },
        );
      },
    },
    {
      id: 'lib-dir',
      title: `root-owned ${libDir}`,
      check: async () => {
        const st = await remoteStat(shell, libDir, false);
        if (!st.exists) return { ok: false, detail: 'missing' };
        return st.owner === 'root' && st.group === 'root' && st.mode === '755' ? { ok: true } : { ok: false, detail: `${st.owner}:${st.group} ${st.mode}` };
      },
      apply: async () => {
        await shell.check(shScript('install -d -o root -g root -m 0755 -- "$1" && chown root:root -- "$1" && chmod 0755 -- "$1"', libDir), {
          what: `create ${libDir}`,
        });
      },
    },
    fileStep('gate', `gate ${libDir}/gate`, async () => `${libDir}/gate`, setup.gateScript, '755'),
    fileStep('probe', `probe ${libDir}/probe.sh`, async () => `${libDir}/probe.sh`, setup.probeScript, '755'),
    {
      id: 'authorized-key',
      title: 'restricted key in authorized_keys',
      check: async () => {
        const file = await remoteTextFile(shell, await keysPath());
        if (!file) return { ok: false, detail: 'missing' };
        const { stat: st, text } = file;
        const edit = applyManagedBlock(text, setup.keyLine, setup.key);
        const problems = [];
        if (edit.changed) problems.push(managedKeyLine(text) === null ? 'no fleetmon block' : 'block differs');
        if (edit.removedDuplicates) problems.push(`${edit.removedDuplicates} other line(s) with the same key`);
        if (st.owner !== 'root' || st.group !== 'root') problems.push(`owned by ${st.owner}:${st.group}`);
        if (st.mode !== '644') problems.push(`mode ${st.mode}`);
        if (edit.otherKeys > 0 && !warnings.some((w) => w.includes('other key'))) {
          warnings.push(`authorized_keys of ${account} also holds ${edit.otherKeys} other key(s), left as they were`);
        }
        return problems.length ? { ok: false, detail: problems.join(', ') } : { ok: true };
      },
      apply: async () => {
        const path = await keysPath();
        const text = (await shell.readFile(path))?.toString('utf8') ?? '';
        const edit = applyManagedBlock(text, setup.keyLine, setup.key);
        if (edit.removedDuplicates) warnings.push(`removed ${edit.removedDuplicates} other line(s) carrying the same key (unrestricted copies)`);
        await shell.upload(path, edit.text, { mode: 0o644, owner: 'root', group: 'root' });
      },
    },
  ];
}

export interface VerifyResult {
  ok: boolean;
  method: 'ssh' | 'local' | 'skipped';
  detail: string;
}

/** Logs in as the account with the fleet key, pings through the gate, and checks that other commands are refused. */
export async function verifyWithKey(
  target: Target,
  account: string,
  privateKey: string | Buffer,
  hostKey: HostKeyInfo,
  connect: (o: RemoteShellOptions) => Promise<RemoteShell> = RemoteShell.connect,
  timeoutMs = 10_000,
): Promise<VerifyResult> {
  let shell: RemoteShell | undefined;
  try {
    shell = await connect({
      host: target.address,
      port: target.port,
      username: account,
      privateKey,
      hostKeyPin: hostKey.fingerprint,
      hostKeyAlgorithms: [hostKey.type],
      readyTimeoutMs: timeoutMs,
      commandTimeoutMs: timeoutMs,
      skipPrivilegeDetection: true,
    });
    const ping = await shell.execLine(gatePingCommand());
    if (ping.code !== 0 || ping.stdout.trim() !== GATE_PING_REPLY) {
      return { ok: false, method: 'ssh', detail: `ping through the gate answered ${JSON.stringify(ping.stdout.trim())} (exit ${ping.code}): ${ping.stderr.trim()}` };
    }
    const marker = `fleetmon-unrestricted-${randomBytes(4).toString('hex')}`;
    const other = await shell.execLine(`echo ${marker}`);
    if (other.stdout.includes(marker) || other.code !== GATE_EXIT.badRequest) {
      return { ok: false, method: 'ssh', detail: 'the key can run other commands: the gate is not in force' };
    }
    return { ok: true, method: 'ssh', detail: `logged in as ${account} with the key: ping answered, other commands refused` };
  } catch (err) {
    return { ok: false, method: 'ssh', detail: errorMessage(err) };
  } finally {
    shell?.close();
  }
}

/** Without the private key: runs the gate's ping as the account on the host itself. */
export async function verifyLocally(shell: RemoteShell, account: string, libDir: string): Promise<VerifyResult> {
  const r = await shell.exec(['runuser', '-u', account, '--', 'env', '-i', `SSH_ORIGINAL_COMMAND=${gatePingCommand()}`, `${libDir}/gate`]);
  if (r.code === 0 && r.stdout.trim() === GATE_PING_REPLY) {
    return { ok: true, method: 'local', detail: `the gate answers as ${account} (key login not tried: no private key here)` };
  }
  return { ok: false, method: 'local', detail: `the gate did not answer as ${account}: exit ${r.code}: ${r.stderr.trim()}` };
}

export interface KeysDeployOptions {
  targets: string[];
  publicKey: PublicKey;
  /** The private half of publicKey, to verify the login for real. */
  verifyKey?: string | Buffer;
  auth: AdminAuth;
  port?: number;
  account?: string;
  libDir?: string;
  gateScript?: string;
  probeScript?: string;
  from?: string;
  /** hosts.yml to read pins from and record them in. */
  configFile?: string;
  concurrency?: number;
  dryRun?: boolean;
  renderer?: Renderer;
  connectTimeoutMs?: number;
  commandTimeoutMs?: number;
  connect?: (o: RemoteShellOptions) => Promise<RemoteShell>;
}

export interface HostDeployResult {
  host: string;
  port: number;
  ok: boolean;
  hostKey?: HostKeyInfo;
  steps: StepResult[];
  verify?: VerifyResult;
  warnings: string[];
  error?: { code: string; message: string };
}

export interface KeysDeployResult {
  ok: boolean;
  dryRun: boolean;
  account: string;
  key: { type: string; fingerprint: string; comment: string };
  keyLine: string;
  hosts: HostDeployResult[];
  config?: { file: string; written: boolean; changes: PinChange[] };
}

function readScript(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    throw new FleetmonError('ASSET_MISSING', `fleetmon is installed incompletely: the ${what} ${path} is missing`, { kind: 'usage' });
  }
}

function errorInfo(err: unknown): { code: string; message: string } {
  return err instanceof FleetmonError ? { code: err.code, message: err.message } : { code: 'ERROR', message: errorMessage(err) };
}

function adminConnectOptions(target: Target, o: KeysDeployOptions | KeysRevokeOptions, pin?: string): RemoteShellOptions {
  return {
    host: target.address,
    port: target.port,
    username: o.auth.username,
    ...(o.auth.privateKey !== undefined ? { privateKey: o.auth.privateKey } : {}),
    ...(o.auth.passphrase !== undefined ? { passphrase: o.auth.passphrase } : {}),
    ...(o.auth.agent ? { agent: o.auth.agent } : {}),
    ...(o.auth.password !== undefined ? { password: o.auth.password } : {}),
    ...(o.auth.sudoPassword !== undefined ? { sudoPassword: o.auth.sudoPassword } : {}),
    ...(pin ? { hostKeyPin: pin } : {}),
    readyTimeoutMs: o.connectTimeoutMs ?? 15_000,
    commandTimeoutMs: o.commandTimeoutMs ?? 60_000,
  };
}

export async function keysDeploy(o: KeysDeployOptions): Promise<KeysDeployResult> {
  const account = o.account ?? DEFAULT_ACCOUNT;
  const libDir = (o.libDir ?? DEFAULT_LIB_DIR).replace(/\/+$/, '');
  if (!/^[a-z_][a-z0-9_-]{0,31}$/.test(account)) throw new FleetmonError('BAD_ACCOUNT', `invalid account name ${JSON.stringify(account)}`);
  const targets = o.targets.map((t) => parseTarget(t, o.port ?? 22));
  if (targets.length === 0) throw new FleetmonError('NO_HOSTS', 'no hosts given', { suggestions: ['fleetmon keys deploy --key KEY.pub HOST…'] });
  const setup: HostSetup = {
    account,
    libDir,
    gateScript: o.gateScript ?? readScript(gateScriptPath, 'gate script'),
    probeScript: o.probeScript ?? readScript(probeScriptPath, 'probe script'),
    keyLine: restrictedKeyLine(o.publicKey, { libDir, defaultComment: 'fleetmon@server', ...(o.from !== undefined ? { from: o.from } : {}) }),
    key: o.publicKey,
  };
  const configText = o.configFile ? readConfig(o.configFile) : undefined;
  const connect = o.connect ?? RemoteShell.connect;
  const dryRun = o.dryRun ?? false;

  const results: HostDeployResult[] = targets.map((t) => ({ host: t.address, port: t.port, ok: false, steps: [], warnings: [] }));
  const hostTask = (target: Target, result: HostDeployResult): ListrTask => ({
    title: `${target.address}:${target.port}`,
    task: async (_ctx, task) => {
      const pin = configText !== undefined ? findPin(configText, target.address, target.port) : undefined;
      let shell: RemoteShell | undefined;
      try {
        shell = await connect(adminConnectOptions(target, o, pin));
        result.hostKey = shell.hostKey;
        task.title = `${target.address}:${target.port} (${shell.hostKey.type} ${shell.hostKey.fingerprint})`;
        await task.newListr(stepTasks(deploySteps(shell, setup, result.warnings), result.steps, dryRun), { exitOnError: true, concurrent: false }).run();
        if (dryRun) {
          result.verify = { ok: true, method: 'skipped', detail: 'dry run' };
        } else if (o.verifyKey !== undefined) {
          result.verify = await verifyWithKey(target, account, o.verifyKey, shell.hostKey, connect, o.connectTimeoutMs ?? 10_000);
        } else {
          result.verify = await verifyLocally(shell, account, libDir);
        }
        result.ok = result.verify.ok;
        if (!result.verify.ok) throw new FleetmonError('VERIFY_FAILED', `${target.address}: ${result.verify.detail}`, { kind: 'ssh' });
        task.title = `${target.address}:${target.port}: ${dryRun ? 'checked' : 'ok'} (${result.verify.detail})`;
      } catch (err) {
        result.ok = false;
        result.error ??= errorInfo(err);
        throw err;
      } finally {
        shell?.close();
      }
    },
  });

  // listr2 runs the hosts, at most `concurrency` at a time; per-host failures are in the results.
  await runTasks(targets.map((t, i) => hostTask(t, results[i]!)), o.renderer ?? 'silent', undefined, {
    concurrent: Math.max(1, o.concurrency ?? 4),
    exitOnError: false,
  }).catch(() => undefined);

  let config: KeysDeployResult['config'];
  if (o.configFile && configText !== undefined) {
    const pins = results
      .filter((r) => r.ok && r.hostKey)
      .map((r) => ({ address: r.host, port: r.port, fingerprint: r.hostKey!.fingerprint }));
    const { text, changes } = recordPins(configText, pins, o.configFile);
    const written = !dryRun && text !== configText;
    if (written) writeFileAtomic(o.configFile, text);
    config = { file: o.configFile, written, changes };
  }
  return {
    ok: results.every((r) => r.ok),
    dryRun,
    account,
    key: { type: o.publicKey.type, fingerprint: o.publicKey.fingerprint, comment: o.publicKey.comment },
    keyLine: setup.keyLine,
    hosts: results,
    ...(config ? { config } : {}),
  };
}

function readConfig(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new FleetmonError('CONFIG_UNREADABLE', `cannot read ${file}: ${errorMessage(err)}`, { kind: 'config' });
  }
}

/**
 * Replaces a local file through a temporary file in the same directory, keeping its mode and (when we may) its
 * owner and group: /etc/fleetmon/hosts.yml is root:fleetmon 0640 and must stay readable by the service.
 */
export function writeFileAtomic(file: string, text: string): void {
  const tmp = join(dirname(file), `.${basename(file)}.${randomBytes(4).toString('hex')}.tmp`);
  let st: { mode: number; uid: number; gid: number } | undefined;
  try {
    st = statSync(file);
  } catch {
    // a new file
  }
  writeFileSync(tmp, text, { mode: st ? st.mode & 0o777 : 0o644 });
  try {
    if (st && process.getuid?.() === 0) chownSync(tmp, st.uid, st.gid);
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

export interface KeysRevokeOptions {
  targets: string[];
  auth: AdminAuth;
  port?: number;
  account?: string;
  configFile?: string;
  concurrency?: number;
  connectTimeoutMs?: number;
  commandTimeoutMs?: number;
  connect?: (o: RemoteShellOptions) => Promise<RemoteShell>;
}

export interface HostRevokeResult {
  host: string;
  port: number;
  ok: boolean;
  /** True when a fleetmon block was there and is now gone; false when there was none. */
  removed: boolean;
  error?: { code: string; message: string };
}

/** Removes the managed block from the account's authorized_keys on each host; "already gone" is success. */
export async function keysRevoke(o: KeysRevokeOptions): Promise<{ ok: boolean; account: string; hosts: HostRevokeResult[] }> {
  const account = o.account ?? DEFAULT_ACCOUNT;
  const targets = o.targets.map((t) => parseTarget(t, o.port ?? 22));
  const configText = o.configFile ? readConfig(o.configFile) : undefined;
  const connect = o.connect ?? RemoteShell.connect;
  const hosts = await mapLimit(targets, o.concurrency ?? 4, async (target): Promise<HostRevokeResult> => {
    const pin = configText !== undefined ? findPin(configText, target.address, target.port) : undefined;
    let shell: RemoteShell | undefined;
    try {
      shell = await connect(adminConnectOptions(target, o, pin));
      const a = await readAccount(shell, account);
      if (!a) return { host: target.address, port: target.port, ok: true, removed: false };
      const path = join(a.home, '.ssh', 'authorized_keys');
      const text = (await shell.readFile(path))?.toString('utf8');
      if (text === undefined) return { host: target.address, port: target.port, ok: true, removed: false };
      const edit = removeManagedBlock(text);
      if (edit.removed) await shell.upload(path, edit.text, { mode: 0o644, owner: 'root', group: 'root' });
      return { host: target.address, port: target.port, ok: true, removed: edit.removed };
    } catch (err) {
      return { host: target.address, port: target.port, ok: false, removed: false, error: errorInfo(err) };
    } finally {
      shell?.close();
    }
  });
  return { ok: hosts.every((h) => h.ok), account, hosts };
}
