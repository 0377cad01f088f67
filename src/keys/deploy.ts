/**
 * `fleetmon keys deploy`: set up fleet hosts so the monitor's key can do exactly three things
 * there (run the probe, kill one tmux session by exact name, ping) and nothing else.
 *
 * Per host, over SSH as an admin (root, or a sudo user), each as a checked step:
 *  1. the service account exists, with password field `*` (no password, not locked: sshd without PAM refuses
 *     key logins to accounts whose field starts with `!`) and a working shell (sshd runs forced commands with it);
 *  2. its ~/.ssh is root-owned 0755 (and a home we create is root-owned too), so the account cannot loosen its
 *     own authorized_keys;
 *  3. <libDir> (root-owned) holds the gate and the probe;
 *  4. authorized_keys (root-owned 0644) holds one marked block with the key as
 *     `restrict,command="<libDir>/gate" TYPE DATA COMMENT`; other copies of the same key are removed;
 *  5. per host (all-users.ts): with --all-users the root helper and the sudoers drop-in; `'remove'` takes them off.
 * Then it verifies by logging in as the account with the key (when the private key is at hand) and running the
 * gate's ping, and checks that anything else is refused. The host key seen is printed and, with --config,
 * recorded as the host's `host_key` pin (an existing pin is enforced: a host presenting another key is refused).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ListrTask } from 'listr2';
import { FleetmonError } from '../core/errors.js';
import { writeFileAtomic } from '../core/files.js';
import { gateScriptPath, helperScriptPath, probeScriptPath } from '../paths.js';
import { applyManagedBlock, managedKeyLine, restrictedKeyLine, type PublicKey } from './authorized-keys.js';
import { findPin, recordPins, type PinChange } from './config-pins.js';
import { DEFAULT_SUDOERS_FILE, allUsersOffStep, helperPath, allUsersSteps, readAllUsersState, type AllUsersFiles, type AllUsersState } from './all-users.js';
import { UNUSABLE_SHELLS, accountProblems, checkRootFile, readAccount, remoteStat, remoteStats, remoteTextFile, type RemoteStat } from './host-state.js';
import { DEFAULT_ACCOUNT, DEFAULT_LIB_DIR, adminConnectOptions, errorInfo, parseTarget, readConfig, type Target } from './target.js';
import { verifyLocally, verifyWithKey, type VerifyResult } from './verify.js';
import type { AdminAuth } from '../ssh/login.js';
import { RemoteShell, shScript, type HostKeyInfo, type RemoteShellOptions } from '../ssh/remote-shell.js';
import { runTasks, type Renderer } from '../steps/progress.js';
import { stepTasks, type Step, type StepResult } from '../steps/steps.js';

export interface HostSetup {
  account: string;
  libDir: string;
  gateScript: string;
  probeScript: string;
  keyLine: string;
  key: PublicKey;
  /** The root helper and the sudoers drop-in of --all-users (read only where a host needs them). */
  allUsers?: AllUsersFiles;
  sudoersFile: string;
}

// The --all-users pieces live in all-users.ts (revoke and deploy's facts use them too); these names stay importable here.
export { DEFAULT_SUDOERS_FILE, HELPER_NAME, sudoersRule } from './all-users.js';

/**
 * What a deploy does about the --all-users helper and sudoers rule on a host: `true` installs them, `false` leaves
 * whatever is there (`keys deploy` without the flag), `'remove'` takes them off and keeps the key (fleet.yml's
 * `all_users: false`: `fleetmon apply` converges to the file).
 */
export type AllUsersMode = boolean | 'remove';

/** The checked steps that set up one host. `warnings` collects things worth saying that are not failures. */
export function deploySteps(shell: RemoteShell, setup: HostSetup, warnings: string[], allUsers: AllUsersMode): Step[] {
  const { account, libDir } = setup;
  const home = accountHome(shell, account);
  if (allUsers === true && !setup.allUsers) throw new Error('deploySteps: allUsers without the helper script');
  return [
    accountStep(shell, account, warnings),
    sshDirStep(shell, account, home, warnings),
    libDirStep(shell, libDir),
    fileStep(shell, 'gate', `gate ${libDir}/gate`, `${libDir}/gate`, setup.gateScript, '755'),
    fileStep(shell, 'probe', `probe ${libDir}/probe.sh`, `${libDir}/probe.sh`, setup.probeScript, '755'),
    authorizedKeyStep(shell, setup, async () => join(await home(), '.ssh', 'authorized_keys'), warnings),
    ...(allUsers === true && setup.allUsers ? allUsersSteps(shell, setup.allUsers, warnings) : []),
    ...(allUsers === 'remove' ? [allUsersOffStep(shell, setup.sudoersFile, libDir)] : []),
  ];
}

/** The account's home, looked up once (by the first step that needs it, after the account step made it exist). */
function accountHome(shell: RemoteShell, account: string): () => Promise<string> {
  let known: string | undefined;
  return async () => {
    if (known) return known;
    const a = await readAccount(shell, account);
    if (!a) throw new FleetmonError('ACCOUNT_MISSING', `${shell.host}: account ${account} is missing`, { kind: 'ssh' });
    known = a.home;
    return a.home;
  };
}

/** The service account: password field `*` (no password, not locked) and a shell that can run the forced command. */
function accountStep(shell: RemoteShell, account: string, warnings: string[]): Step {
  return {
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
  };
}

/** ~account/.ssh root-owned 0755, so the account cannot loosen its own authorized_keys. */
function sshDirStep(shell: RemoteShell, account: string, home: () => Promise<string>, warnings: string[]): Step {
  return {
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
  };
}

/** The root-owned directory that holds the gate and the probe. */
function libDirStep(shell: RemoteShell, libDir: string): Step {
  return {
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
  };
}

/** A root-owned file with exactly this content and mode. */
function fileStep(shell: RemoteShell, id: string, title: string, path: string, content: string, mode: string): Step {
  return {
    id,
    title,
    check: () => checkRootFile(shell, path, content, mode),
    apply: async () => {
      await shell.upload(path, content, { mode: parseInt(mode, 8), owner: 'root', group: 'root' });
    },
  };
}

/** authorized_keys (root-owned 0644) holds the marked block with the restricted key, and no other copy of the key. */
function authorizedKeyStep(shell: RemoteShell, setup: HostSetup, keysPath: () => Promise<string>, warnings: string[]): Step {
  return {
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
        warnings.push(`authorized_keys of ${setup.account} also holds ${edit.otherKeys} other key(s), left as they were`);
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
  };
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
  /**
   * Also install the root helper and the sudoers rule, so every user's tmux sessions are seen (`true`); or, per
   * host in the order of `targets`, what to do about them (see AllUsersMode).
   */
  allUsers?: AllUsersMode | readonly AllUsersMode[];
  /** Read where the helper and the sudoers rule stand on each host (`HostDeployResult.allUsers`), whatever allUsers says. */
  inspectAllUsers?: boolean;
  helperScript?: string;
  /** Default /etc/sudoers.d/fleetmon. */
  sudoersFile?: string;
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
  /** What the monitor will see on this host: every user's sessions, or only its own account's and why. */
  sessionsScope?: { scope: 'all-users' | 'own-account'; reason?: string };
  /** With inspectAllUsers: the helper and the sudoers rule as found, before any step ran. */
  allUsers?: AllUsersState;
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

export async function keysDeploy(o: KeysDeployOptions): Promise<KeysDeployResult> {
  const account = o.account ?? DEFAULT_ACCOUNT;
  const libDir = (o.libDir ?? DEFAULT_LIB_DIR).replace(/\/+$/, '');
  if (!/^[a-z_][a-z0-9_-]{0,31}$/.test(account)) throw new FleetmonError('BAD_ACCOUNT', `invalid account name ${JSON.stringify(account)}`);
  const targets = o.targets.map((t) => parseTarget(t, o.port ?? 22));
  if (targets.length === 0) throw new FleetmonError('NO_HOSTS', 'no hosts given', { suggestions: ['fleetmon keys deploy --key KEY.pub HOST…'] });
  const modes: AllUsersMode[] = Array.isArray(o.allUsers) ? [...(o.allUsers as readonly AllUsersMode[])] : targets.map(() => (o.allUsers as AllUsersMode | undefined) ?? false);
  if (modes.length !== targets.length) throw new FleetmonError('BAD_ALL_USERS', `allUsers names ${modes.length} host(s) for ${targets.length} target(s)`, {
      kind: 'usage',
      suggestions: ['give one allUsers value per target, in the order of targets (or one boolean for all of them)'],
    });
  const sudoersFile = o.sudoersFile ?? DEFAULT_SUDOERS_FILE;
  const setup: HostSetup = {
    account,
    libDir,
    gateScript: o.gateScript ?? readScript(gateScriptPath, 'gate script'),
    probeScript: o.probeScript ?? readScript(probeScriptPath, 'probe script'),
    keyLine: restrictedKeyLine(o.publicKey, { libDir, defaultComment: 'fleetmon@server', ...(o.from !== undefined ? { from: o.from } : {}) }),
    key: o.publicKey,
    sudoersFile,
    // The helper's text is needed to install it or to tell whether the installed one is current.
    ...(modes.includes(true) || o.inspectAllUsers
      ? { allUsers: { account, libDir, sudoersFile, helperScript: o.helperScript ?? readScript(helperScriptPath, 'tmux helper') } }
      : {}),
  };
  const configText = o.configFile ? readConfig(o.configFile) : undefined;
  const connect = o.connect ?? RemoteShell.connect;
  const dryRun = o.dryRun ?? false;

  const results: HostDeployResult[] = targets.map((t) => ({ host: t.address, port: t.port, ok: false, steps: [], warnings: [] }));
  const hostTask = (target: Target, result: HostDeployResult, mode: AllUsersMode): ListrTask => ({
    title: `${target.address}:${target.port}`,
    task: async (_ctx, task) => {
      const pin = configText !== undefined ? findPin(configText, target.address, target.port) : undefined;
      let shell: RemoteShell | undefined;
      try {
        shell = await connect(adminConnectOptions(target, o, pin));
        result.hostKey = shell.hostKey;
        task.title = `${target.address}:${target.port} (${shell.hostKey.type} ${shell.hostKey.fingerprint})`;
        // Read before any step: a dry run stops at the first step that needs an earlier one done (the account).
        if (o.inspectAllUsers && setup.allUsers) result.allUsers = await readAllUsersState(shell, setup.allUsers);
        await task.newListr(stepTasks(deploySteps(shell, setup, result.warnings, mode), result.steps, dryRun), { exitOnError: true, concurrent: false }).run();
        result.verify = await verifyHost(o, target, shell, { account, libDir, dryRun, connect });
        result.ok = result.verify.ok;
        result.sessionsScope = await sessionsScope(shell, setup, mode, dryRun, result.warnings);
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
  await runTasks(targets.map((t, i) => hostTask(t, results[i]!, modes[i]!)), o.renderer ?? 'silent', undefined, {
    concurrent: Math.max(1, o.concurrency ?? 4),
    exitOnError: false,
  }).catch(() => undefined);

  const config = o.configFile && configText !== undefined ? recordHostKeys(o.configFile, configText, results, dryRun) : undefined;
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

/** Proves the key works only through the gate: a real login when the private key is at hand, else the gate run locally. */
async function verifyHost(
  o: KeysDeployOptions,
  target: Target,
  shell: RemoteShell,
  run: { account: string; libDir: string; dryRun: boolean; connect: (o: RemoteShellOptions) => Promise<RemoteShell> },
): Promise<VerifyResult> {
  if (run.dryRun) return { ok: true, method: 'skipped', detail: 'dry run' };
  if (o.verifyKey !== undefined) return verifyWithKey(target, run.account, o.verifyKey, shell.hostKey, run.connect, o.connectTimeoutMs ?? 10_000);
  return verifyLocally(shell, run.account, run.libDir);
}

/**
 * Without --all-users, only the account's own sessions (said in a note). With it, the account itself runs
 * `sudo -n helper ping` on the host: proof that the rule works, not only that the file is there.
 */
async function sessionsScope(shell: RemoteShell, setup: HostSetup, mode: AllUsersMode, dryRun: boolean, warnings: string[]): Promise<NonNullable<HostDeployResult['sessionsScope']>> {
  if (mode !== true) {
    const reason = mode === 'remove'
      ? 'all_users is off: no all-users helper or sudoers rule, the monitor sees only the tmux sessions of its own account'
      : 'deployed without --all-users: the monitor sees only the tmux sessions of its own account';
    warnings.push(reason);
    return { scope: 'own-account', reason };
  }
  if (dryRun) return { scope: 'all-users', reason: 'dry run: not checked' };
  const helper = helperPath(setup.libDir);
  const r = await shell.exec(['runuser', '-u', setup.account, '--', '/usr/bin/sudo', '-n', helper, 'ping']);
  if (r.code === 0 && r.stdout.trim() === 'tmux-all-users v1') return { scope: 'all-users' };
  const reason = `the account cannot run the helper through sudo (exit ${r.code}: ${r.stderr.trim() || r.stdout.trim()}): own sessions only`;
  if (!warnings.some((w) => w.startsWith('sudo or visudo'))) warnings.push(reason);
  return { scope: 'own-account', reason };
}

/** Pins the host keys of the hosts that succeeded in hosts.yml (comments kept); a dry run only says what would change. */
function recordHostKeys(file: string, configText: string, results: HostDeployResult[], dryRun: boolean): NonNullable<KeysDeployResult['config']> {
  const pins = results
    .filter((r) => r.ok && r.hostKey)
    .map((r) => ({ address: r.host, port: r.port, fingerprint: r.hostKey!.fingerprint }));
  const { text, changes } = recordPins(configText, pins, file);
  const written = !dryRun && text !== configText;
  if (written) writeFileAtomic(file, text);
  return { file, written, changes };
}
