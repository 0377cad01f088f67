/**
 * `keys deploy --all-users` on a fake host with its own /tmp and pids (test fleet, privateTmp), where real users
 * alice and bob run tmux: the helper and the sudoers rule are installed (visudo-checked), the deployed key's probe
 * stream carries everyone's sessions, kill-user kills exactly one of them, and the rule grants nothing else. A real
 * server's API and the CLI then show the sessions with owners, the host's all-users scope, alice's GPU job with her
 * name, command line and session, and carol's job outside tmux (session_id null, counted outside sessions).
 * Root logs in to the fake host with an admin key (a Match block in its sshd_config). Needs root, sshd, sudo.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { keysDeploy, sudoersRule, type KeysDeployOptions } from '../../src/keys/deploy.js';
import { keysRevoke } from '../../src/keys/revoke.js';
import { parsePublicKey } from '../../src/keys/authorized-keys.js';
import { base64url, gateKillUserCommand, gateProbeCommand, GATE_EXIT } from '../../src/protocol/gate-protocol.js';
import { helperScriptPath } from '../../src/paths.js';
import { startFleet, type FakeHost, type Fleet, type FleetUser } from '../fleet/fleet.js';
import { sshExec } from '../fleet/ssh-exec.js';
import { generateKey, makeTestDir, removeDir } from '../helpers/sshd.js';
import { removeServiceAccount, sh } from '../helpers/accounts.js';
import { pino } from 'pino';
import { parseConfigObject } from '../../src/core/config.js';
import type { Host, Session } from '../../src/core/model.js';
import { startServer } from '../../src/server/start.js';
import { testDir as testRoot } from '../helpers/common.js';
import { killOnHost } from '../../src/server/kill.js';
import { Monitor } from '../../src/server/monitor.js';
import { closeDatabase, openDatabase } from '../../src/server/store/db.js';

const ACCOUNT = 'fmtusers';
const LIB_DIR = '/usr/local/lib/fleetmon-test-users';
const SUDOERS = '/etc/sudoers.d/fleetmon-test-users';
const HELPER = `${LIB_DIR}/tmux-all-users`;

const skip = existsSync('/usr/bin/sudo') && existsSync('/usr/sbin/visudo') ? false : 'sudo and visudo are needed (apt-get install sudo)';

const bin = join(testRoot, '..', 'bin', 'run.js');

/**
 * The CLI as a user runs it; the token comes from the data dir's token file, as for a local server. Not spawnSync:
 * the server it asks runs in this process.
 */
function cli(args: string[], dataDir: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], { env: { ...process.env, FLEETMON_DATA_DIR: dataDir } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const cleanUp = () => removeServiceAccount(ACCOUNT, LIB_DIR, [SUDOERS]);

/** Sessions of one poll's "tmuxusers" section: "UID SOCKET NAME", sorted. */
function sessionsInStream(stream: string): { scope: string; sessions: string[] } {
  const lines = stream.split('\n');
  let scope = '';
  const sessions: string[] = [];
  let server: { uid: string; socket: string } | undefined;
  let inSection = false;
  for (const line of lines) {
    if (line.startsWith('@@fm-')) {
      inSection = / tmuxusers$/.test(line);
      continue;
    }
    if (!inSection) continue;
    if (line.startsWith('scope ')) scope = line.slice(6);
    const f = line.split('|');
    if (f[0] === 'T') server = { uid: f[1]!, socket: f.slice(4).join('|') };
    if (f[0] === 'S' && server) sessions.push(`${server.uid} ${server.socket} ${f.slice(7).join('|')}`);
  }
  return { scope, sessions: sessions.sort() };
}

/** The host once the monitor has polled it twice (the first poll of a new server may still be on its way). */
async function waitForHost(read: () => Promise<Host>): Promise<Host> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const h = await read();
    if ((!h.pending && h.gpus.length > 0 && h.sessions.length > 0) || Date.now() > deadline) return h;
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('keys deploy --all-users on a host with real users', { skip, timeout: 120_000 }, () => {
  let dir: string;
  let fleet: Fleet;
  let host: FakeHost;
  let alice: FleetUser;
  let bob: FleetUser;
  let fleetKey: { privateKey: string; publicKey: string };
  let options: KeysDeployOptions;
  const asMonitor = (command: string, stdin?: string) =>
    sshExec(host, { user: ACCOUNT, keyPath: join(dir, 'fleet_key') }, command, { timeoutMs: 20_000, ...(stdin !== undefined ? { stdin } : {}) });
  const poll = async () => (await asMonitor(gateProbeCommand(), 'poll n1 off nodf users\n')).stdout;
  const created = async (u: FleetUser, name: string) => {
    // From tmux's own list: display-message -t on a pane target can answer empty for a session name.
    const r = await host.tmuxAs(u, ['list-sessions', '-F', '#{session_created} #{session_name}']);
    const line = r.stdout.split('\n').find((l) => l.slice(l.indexOf(' ') + 1) === name);
    assert.ok(line, `${u.name} has no session ${name}: ${r.stdout}${r.stderr}`);
    return Number(line.slice(0, line.indexOf(' ')));
  };

  before(async () => {
    cleanUp();
    dir = makeTestDir('fleetmon-test-users');
    const admin = generateKey(join(dir, 'admin_key'), 'admin@test');
    fleetKey = generateKey(join(dir, 'fleet_key'), 'fleetmon@test-users');
    writeFileSync(join(dir, 'admin_keys'), admin.publicKey, { mode: 0o644 });
    fleet = await startFleet({
      hosts: [{ name: 'shared', gpu: true }],
      privateTmp: true,
      // Root's PATH as on a real host (the fleet's sessions get the host's bin/ and no sbin).
      sshdConfig: ['Match User root', '  PermitRootLogin prohibit-password', `  AuthorizedKeysFile ${dir}/admin_keys`, '  SetEnv PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
    });
    host = fleet.hosts[0]!;
    [alice, bob] = [await fleet.addUser('alice'), await fleet.addUser('bob')];
    await host.newSessionAs(alice, 'work', ['sleep', '600']);
    await host.newSessionAs(alice, 'work2', ['sleep', '600']);
    await host.newSessionAs(bob, 'work', ['sleep', '600']);
    await host.newSessionAs(bob, `it's "$(id)"`, ['sleep', '600'], { socketName: 'lab' });
    options = {
      targets: [`${host.address}:${host.port}`],
      publicKey: parsePublicKey(fleetKey.publicKey),
      verifyKey: fleetKey.privateKey,
      auth: { username: 'root', privateKey: admin.privateKey },
      account: ACCOUNT,
      libDir: LIB_DIR,
      sudoersFile: SUDOERS,
      allUsers: true,
      connectTimeoutMs: 5000,
      commandTimeoutMs: 15000,
    };
  });

  after(async () => {
    await fleet?.stop();
    cleanUp();
    removeDir(dir);
  });

  test('without --all-users: own account only, and the result says so', async () => {
    const { allUsers: _all, ...plain } = options;
    const result = await keysDeploy(plain);
    assert.equal(result.ok, true, JSON.stringify(result.hosts.map((h) => h.error ?? h.verify)));
    assert.equal(result.hosts[0]!.sessionsScope?.scope, 'own-account');
    assert.match(result.hosts[0]!.warnings.join('\n'), /without --all-users/);
    assert.equal(existsSync(SUDOERS), false);
    assert.match(sessionsInStream(await poll()).scope, /^own-account no all-users helper/);
  });

  test('installs the helper and a visudo-checked rule; the poll then carries everyone\'s sessions', async () => {
    const result = await keysDeploy(options);
    assert.equal(result.ok, true, JSON.stringify(result.hosts.map((h) => h.error ?? h.verify)));
    assert.deepEqual(result.hosts[0]!.sessionsScope, { scope: 'all-users' });
    assert.deepEqual(result.hosts[0]!.steps.filter((s) => s.id === 'helper' || s.id === 'sudoers').map((s) => s.status), ['changed', 'changed']);
    const st = statSync(SUDOERS);
    assert.equal(st.uid, 0);
    assert.equal(st.mode & 0o777, 0o440);
    assert.equal(readFileSync(SUDOERS, 'utf8'), sudoersRule(ACCOUNT, LIB_DIR));
    assert.equal(sh('visudo', ['-cf', SUDOERS]).code, 0);
    assert.equal(readFileSync(HELPER, 'utf8'), readFileSync(helperScriptPath, 'utf8'));
    assert.equal(statSync(HELPER).uid, 0);
    const { scope, sessions } = sessionsInStream(await poll());
    assert.equal(scope, 'all-users');
    assert.deepEqual(sessions, [
      `${alice.uid} /tmp/tmux-${alice.uid}/default work`,
      `${alice.uid} /tmp/tmux-${alice.uid}/default work2`,
      `${bob.uid} /tmp/tmux-${bob.uid}/default work`,
      `${bob.uid} /tmp/tmux-${bob.uid}/lab it's "$(id)"`,
    ].sort());
    // A re-run changes nothing.
    const again = await keysDeploy(options);
    assert.deepEqual([...new Set(again.hosts[0]!.steps.map((s) => s.status))], ['unchanged']);
  });

  test("kill-user through the gate kills alice's work only", async () => {
    const r = await asMonitor(gateKillUserCommand(alice.uid, 'work', await created(alice, 'work')));
    assert.equal(r.code, GATE_EXIT.ok, r.stderr);
    const { sessions } = sessionsInStream(await poll());
    assert.equal(sessions.includes(`${alice.uid} /tmp/tmux-${alice.uid}/default work`), false);
    assert.ok(sessions.includes(`${alice.uid} /tmp/tmux-${alice.uid}/default work2`));
    assert.ok(sessions.includes(`${bob.uid} /tmp/tmux-${bob.uid}/default work`));
    // Wrong creation time or owner: not found, nothing killed.
    const bobWork = await created(bob, 'work');
    assert.equal((await asMonitor(gateKillUserCommand(alice.uid, 'work', bobWork))).code, GATE_EXIT.notFound);
    assert.equal((await asMonitor(gateKillUserCommand(bob.uid, 'work', bobWork + 1))).code, GATE_EXIT.notFound);
    assert.equal((await asMonitor(`fleetmon-kill-user v1 ${bob.uid} ${base64url('work')}`)).code, GATE_EXIT.badRequest);
    assert.equal((await asMonitor(`fleetmon-kill-user v1 x${bob.uid} ${base64url('work')} ${bobWork}`)).code, GATE_EXIT.badRequest);
    assert.ok(sessionsInStream(await poll()).sessions.includes(`${bob.uid} /tmp/tmux-${bob.uid}/default work`));
  });

  test('the rule grants exactly the helper: sudo -l lists only it, anything else is refused', () => {
    const list = sh('sudo', ['-l', '-U', ACCOUNT]);
    assert.equal(list.code, 0, list.stderr);
    const commands = list.stdout.split('\n').filter((l) => /^\s+\(/.test(l)).map((l) => l.trim());
    assert.deepEqual(commands, [`(root) NOPASSWD: ${HELPER}`]);
    const as = (...argv: string[]) => sh('runuser', ['-u', ACCOUNT, '--', 'sudo', '-n', ...argv]);
    assert.notEqual(as('/bin/sh', '-c', 'id').code, 0);
    assert.notEqual(as('-u', alice.name, HELPER, 'list').code, 0);
    assert.notEqual(as('/usr/bin/tmux', 'list-sessions').code, 0);
    for (const args of [['sh'], ['list', '--', 'x'], ['kill', '1', 'a b', '1'], ['ping', 'now']]) {
      const r = as(HELPER, ...args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    }
    assert.equal(as(HELPER, 'ping').stdout, 'tmux-all-users v1\n');
  });

  test("API and CLI: everyone's sessions with owners, the host's all-users scope, GPU jobs with user, command line and session or none", async () => {
    // alice's GPU job runs in her session work2; carol (no tmux at all) runs one outside tmux.
    const carol = await fleet.addUser('carol');
    const panes = await host.tmuxAs(alice, ['list-panes', '-t', '=work2', '-F', '#{pane_pid}']);
    const alicePid = Number(panes.stdout.trim());
    assert.ok(alicePid > 0, panes.stderr);
    const started = await host.runAs(carol, ['sh', '-c', 'sleep 601 </dev/null >/dev/null 2>&1 & echo $!']);
    const carolPid = Number(started.stdout.trim());
    assert.ok(carolPid > 0, started.stderr);
    // The gate runs the probe with a fixed PATH (/usr/sbin:/usr/bin:/sbin:/bin), where the host's fake nvidia-smi
    // is not: inside this host's own mount namespace only, /usr/bin gets it through a read-only overlay.
    const gateBin = join(host.root, 'gate-bin');
    mkdirSync(gateBin, { recursive: true });
    if (!existsSync(join(gateBin, 'nvidia-smi'))) symlinkSync(join(host.binDir, 'nvidia-smi'), join(gateBin, 'nvidia-smi'));
    const overlay = await host.runAsRoot(['mount', '-t', 'overlay', 'overlay', '-o', `lowerdir=${gateBin}:/usr/bin`, '/usr/bin']);
    assert.equal(overlay.code, 0, overlay.stderr);
    host.setGpuApps([
      { pid: alicePid, processName: 'python3', usedMemoryMiB: 20000 },
      { pid: carolPid, processName: 'python3', usedMemoryMiB: 3000 },
    ]);
    const data = join(dir, 'api-data');
    const config = parseConfigObject(
      {
        polling_interval_seconds: 1,
        ssh: { user: ACCOUNT, key_path: join(dir, 'fleet_key'), timeout: 5 },
        hosts: [
          { name: 'shared', address: host.address, gate: true, host_key: host.hostKeyFingerprint, has_gpu: true },
          // A host without the helper: this machine, configured (so not the root-without-configuration case).
          { name: 'plain', address: 'localhost', transport: 'local' },
        ],
        server: { port: 0, data_dir: data, public_read: false },
      },
      'all-users-api-test',
    );
    const server = await startServer(config, { log: pino({ level: 'silent' }) });
    try {
      const token = server.token.token;
      const api = async <T>(path: string) => (await (await fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${token}` } })).json()) as T;
      const shared = await waitForHost(() => api<Host>('/api/hosts/shared'));
      assert.equal(shared.status, 'online', `${shared.last_error} ${shared.problems.join('; ')}`);
      assert.deepEqual(shared.sessions_scope, { scope: 'all-users', reason: null });
      const owners = shared.sessions.map((x) => [x.fleetmon_id, x.user, x.owner_uid]).sort();
      assert.deepEqual(owners, [
        [`shared:${alice.name}:work2`, alice.name, alice.uid],
        [`shared:${bob.name}:it's "$(id)"`, bob.name, bob.uid],
        [`shared:${bob.name}:work`, bob.name, bob.uid],
      ].sort());
      const gpu = shared.gpus[0]!;
      const byPid = new Map(gpu.processes.map((p) => [p.pid, p]));
      assert.deepEqual(byPid.get(alicePid), {
        pid: alicePid, name: 'python3', memory_mb: 20000, session_id: `shared:${alice.name}:work2`, uid: alice.uid, user: alice.name, cmdline: 'sleep 600',
      });
      // carol has no tmux server: her name comes from the host's getent (the probe's gpuusers section).
      assert.deepEqual(byPid.get(carolPid), { pid: carolPid, name: 'python3', memory_mb: 3000, session_id: null, uid: carol.uid, user: carol.name, cmdline: 'sleep 601' });
      assert.equal(gpu.memory_outside_sessions_mb, 3000);
      assert.equal(shared.sessions.find((x) => x.user === alice.name)!.gpu_memory_mb, 20000);
      const plain = await api<Host>('/api/hosts/plain');
      assert.equal(plain.sessions_scope.scope, 'own-account');
      assert.match(plain.sessions_scope.reason ?? '', /no all-users helper installed/);
      // The session list names the owners too.
      const sessions = await api<Session[]>('/api/sessions');
      assert.ok(sessions.some((x) => x.fleetmon_id === `shared:${bob.name}:work` && x.user === bob.name));

      const json = await cli(['hosts', '--json', '--server', server.url], data);
      assert.equal(json.code, 0, json.stderr + json.stdout);
      const viaCli = JSON.parse(json.stdout) as Host[];
      assert.deepEqual(viaCli.map((h) => [h.hostname, h.sessions_scope.scope]), [['shared', 'all-users'], ['plain', 'own-account']]);
      assert.equal(viaCli[0]!.gpus[0]!.processes.find((p) => p.pid === alicePid)?.user, alice.name);
      const table = await cli(['sessions', '--server', server.url], data);
      assert.equal(table.code, 0, table.stderr);
      assert.match(table.stdout, new RegExp(`^shared:work2\\s+${alice.name}\\s+active`, 'm'));
      assert.match(table.stdout, new RegExp(`^shared:work\\s+${bob.name}\\s+active`, 'm'));
      assert.match(table.stdout, /^plain: only the service account's sessions are shown \(no all-users helper installed/m);
      assert.doesNotMatch(table.stdout, /^shared: only/m);
    } finally {
      await server.close();
      host.setGpuApps(null);
      await host.runAsRoot(['kill', String(carolPid)]);
      await host.runAsRoot(['umount', '-l', '/usr/bin']);
    }
  });

  test("the monitor shows everyone's sessions with owners and attach commands, and kills one owner's session", async () => {
    const config = parseConfigObject(
      {
        polling_interval_seconds: 1,
        ssh: { user: ACCOUNT, key_path: join(dir, 'fleet_key'), timeout: 5 },
        hosts: [{ name: 'shared', address: host.address, gate: true, host_key: host.hostKeyFingerprint }],
        server: { data_dir: join(dir, 'data') },
      },
      'all-users-test',
    );
    const { db } = openDatabase(join(dir, 'data'));
    const monitor = new Monitor({ config, db, log: pino({ level: 'silent' }) });
    try {
      await monitor.poller.runCycle();
      const h = monitor.host('shared')!;
      assert.equal(h.status, 'online', `${h.last_error} ${h.problems.join('; ')}`);
      const byId = new Map(h.sessions.map((s) => [s.fleetmon_id, s]));
      const work2 = byId.get(`shared:${alice.name}:work2`);
      const bobWork = byId.get(`shared:${bob.name}:work`);
      const lab = byId.get(`shared:${bob.name}:it's "$(id)"`);
      assert.ok(work2 && bobWork && lab, JSON.stringify([...byId.keys()]));
      assert.equal(work2.owner_uid, alice.uid);
      assert.equal(work2.attach_command, `ssh ${alice.name}@${host.address} -t 'tmux attach -t =work2'`);
      assert.equal(lab.socket, `/tmp/tmux-${bob.uid}/lab`);
      assert.match(lab.attach_command, new RegExp(`^ssh ${bob.name}@${host.address.replace(/\./g, '\\.')} -t 'tmux -L lab attach -t `));
      const runtime = monitor.poller.runtime('shared')!;
      const outcome = await killOnHost(runtime.transport, work2, true, 10_000);
      assert.equal(outcome.result, 'killed', outcome.detail);
      const left = sessionsInStream(await poll()).sessions;
      assert.equal(left.some((x) => x.endsWith(' work2')), false);
      assert.ok(left.includes(`${bob.uid} /tmp/tmux-${bob.uid}/default work`));
      assert.equal((await killOnHost(runtime.transport, work2, true, 10_000)).result, 'gone');
    } finally {
      await monitor.stop();
      closeDatabase(db);
    }
  });

  test('revoke removes the key, the rule and the helper', async () => {
    const { allUsers: _a, verifyKey: _v, publicKey: _p, ...rest } = options;
    const result = await keysRevoke({ ...rest, targets: options.targets });
    assert.equal(result.ok, true, JSON.stringify(result.hosts));
    assert.equal(result.hosts[0]!.removed, true);
    assert.equal(result.hosts[0]!.removedAllUsers, true);
    assert.equal(existsSync(SUDOERS), false);
    assert.equal(existsSync(HELPER), false);
    assert.notEqual(sh('runuser', ['-u', ACCOUNT, '--', 'sudo', '-n', HELPER, 'ping']).code, 0);
  });
});
