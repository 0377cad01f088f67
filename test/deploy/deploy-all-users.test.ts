/**
 * fleet.yml's `all_users` through plan and apply, against the Proxmox simulator and a fake fleet host with its own
 * /tmp and pids (test fleet, privateTmp) where a real user, alice, runs tmux. On: apply installs the helper and the
 * visudo-checked sudoers drop-in, the monitor started from the hosts.yml apply wrote serves alice's session over
 * HTTP, `sudo -l` grants the account the helper only, and a second apply finds nothing to do. Off: apply removes both,
 * keeps the key, and the served sessions are the account's own again. The fake host shares this machine's /etc and
 * /usr/local, so fleet.yml names a test sudoers file and lib_dir (sudoers_file, lib_dir) instead of the defaults.
 * Needs root, sshd, sudo, tmux.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { parseConfigText } from '../../src/core/config.js';
import type { Session } from '../../src/core/model.js';
import type { ApplyPorts } from '../../src/deploy/apply.js';
import type { MonitorPort } from '../../src/deploy/facts.js';
import { parseFleetText, type FleetFile } from '../../src/deploy/fleet-file.js';
import { deployRunner } from '../helpers/deploy-runner.js';
import { sudoersRule } from '../../src/keys/all-users.js';
import { BLOCK_BEGIN } from '../../src/keys/authorized-keys.js';
import { helperScriptPath } from '../../src/paths.js';
import { startServer } from '../../src/server/start.js';
import { probeSshBanner } from '../../src/ssh/banner.js';
import { startFleet, type FakeHost, type Fleet, type FleetUser } from '../fleet/fleet.js';
import { freePort, waitFor } from '../helpers/common.js';
import { generateKey, makeTestDir, removeDir } from '../helpers/sshd.js';
import { removeServiceAccount, sh } from '../helpers/accounts.js';
import { clientFor, fakeClock, TEST_KEY } from '../pve/helpers.js';
import { LXC_PRIVILEGES, startPveSimulator, type PveSimulator, type SimToken } from '../pve/simulator.js';

const ACCOUNT = 'fmtdeployau';
const LIB_DIR = '/usr/local/lib/fleetmon-test-deploy-au';
const SUDOERS = '/etc/sudoers.d/fleetmon-test-deploy-au';
const HELPER = `${LIB_DIR}/tmux-all-users`;
const TOKEN = 'deploy-all-users-test-token-0123456789abcdef';

const skip = existsSync('/usr/bin/sudo') && existsSync('/usr/sbin/visudo') ? false : 'sudo and visudo are needed (apt-get install sudo)';

const cleanUp = () => removeServiceAccount(ACCOUNT, LIB_DIR, [SUDOERS]);

describe('fleet.yml all_users: apply installs and removes the all-users helper', { skip, timeout: 240_000 }, () => {
  let dir: string;
  let sim: PveSimulator;
  let token: SimToken;
  let fleet: Fleet;
  let host: FakeHost;
  let alice: FleetUser;
  let admin: { privateKey: string; publicKey: string };
  let fleetKey: { privateKey: string; publicKey: string };
  let monitorFile: string;
  let port: number;

  /** fleet.yml with the host (all_users as given), or with no hosts at all (null). */
  const load = (allUsers: boolean | null): FleetFile =>
    parseFleetText(
      `proxmox: {url: ${sim.url}}
container: {hostname: fleetmon, ssh_port: ${sim.sshPort}, ssh_public_key: ${join(dir, 'root.pub')}}
monitor: {port: ${port}, polling_interval_seconds: 1}
keys: {account: ${ACCOUNT}, lib_dir: ${LIB_DIR}, sudoers_file: ${SUDOERS}}
hosts:${allUsers === null ? ' []' : `
  - {name: shared, address: ${host.address}, port: ${host.port}, gpu: false, all_users: ${allUsers}}`}
`,
      'fleet.yml',
    );

  const monitorPort = async (): Promise<MonitorPort> => ({
    provision: async () => ({ items: [{ id: 'app', title: 'app', change: false, detail: 'current' }], publicKey: fleetKey.publicKey }),
    readConfig: async () => (existsSync(monitorFile) ? readFileSync(monitorFile, 'utf8') : undefined),
    writeConfig: async (text) => writeFileSync(monitorFile, text),
    close: () => undefined,
  });
  const ports = (): ApplyPorts => ({
    pve: clientFor(sim, { token }),
    monitor: monitorPort,
    auth: { username: 'root', privateKey: admin.privateKey },
    keys: { connectTimeoutMs: 5000, commandTimeoutMs: 15000 },
    lxc: { clock: fakeClock(), probeSsh: probeSshBanner, renderer: 'silent', timeouts: { taskMs: 60_000, addressMs: 60_000, sshMs: 60_000 } },
  });
  const { plan, apply } = deployRunner(ports);

  /** The monitor as apply configured it: the real server from the hosts.yml apply wrote, asked over HTTP after its first poll. */
  const servedSessions = async (): Promise<Session[]> => {
    const server = await startServer(parseConfigText(readFileSync(monitorFile, 'utf8'), monitorFile), { log: pino({ level: 'silent' }) });
    try {
      const get = async <T>(path: string): Promise<T> => {
        const res = await fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });
        assert.equal(res.status, 200, path);
        return (await res.json()) as T;
      };
      // Polled: online, or degraded where the service account's own tmux cannot run (the fake host's TMUX_TMPDIR
      // belongs to the fleet's user) — the sessions listed are then what the helper, or nothing, gave.
      await waitFor(async () => {
        const h = await get<{ status: string; last_poll_at: string | null }>('/api/hosts/shared');
        return (h.last_poll_at !== null && (h.status === 'online' || h.status === 'degraded')) || undefined;
      }, 30_000, 'the monitor to poll the host');
      return await get<Session[]>('/api/sessions?host=shared');
    } finally {
      await server.close();
    }
  };

  before(async () => {
    cleanUp();
    dir = makeTestDir('fleetmon-test-deploy-au');
    writeFileSync(join(dir, 'root.pub'), `${TEST_KEY}\n`);
    admin = generateKey(join(dir, 'admin_key'), 'admin@test');
    fleetKey = generateKey(join(dir, 'fleet_key'), 'fleetmon@test-deploy-au');
    writeFileSync(join(dir, 'admin_keys'), admin.publicKey, { mode: 0o644 });
    port = await freePort();
    monitorFile = join(dir, 'hosts.yml');
    // What provision writes, with the fleet key and a data dir of this test; apply adds the host and its pin.
    writeFileSync(monitorFile, `ssh:\n  user: "${ACCOUNT}"\n  key_path: "${join(dir, 'fleet_key')}"\n  timeout: 5\nserver:\n  host: "127.0.0.1"\n  port: ${port}\n  data_dir: "${join(dir, 'data')}"\n  token: "${TOKEN}"\nhosts: []\n`);
    token = { id: 'fleetmon@pve!fleetmon', secret: '0b8a4c1e-3f1d-4d6b-9a55-cafe00000002', acl: [{ path: '/', privs: [...LXC_PRIVILEGES], propagate: true }] };
    sim = await startPveSimulator({ authFailDelayMs: 20, taskDurationMs: 10, addressDelayMs: 20, tokens: [token] });
    fleet = await startFleet({
      hosts: [{ name: 'shared' }],
      privateTmp: true,
      sshdConfig: ['Match User root', '  PermitRootLogin prohibit-password', `  AuthorizedKeysFile ${dir}/admin_keys`, '  SetEnv PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
    });
    host = fleet.hosts[0]!;
    alice = await fleet.addUser('alice');
    await host.newSessionAs(alice, 'work', ['sleep', '600']);
  });

  after(async () => {
    await fleet?.stop();
    await sim?.close();
    cleanUp();
    removeDir(dir);
  });

  test("all_users: true — apply installs the helper and the rule, and the monitor serves alice's session", async () => {
    const p = await plan(load(true));
    const planned = p.hosts.find((h) => h.name === 'shared')!;
    assert.equal(planned.allUsers, true);
    assert.ok(planned.changes.some((c) => c.id === 'all-users' && c.detail.startsWith('install the all-users helper and sudoers rule')), JSON.stringify(planned.changes));
    assert.deepEqual(p.warnings, []);

    const r = await apply(load(true));
    assert.deepEqual(r.deployed.map((d) => [d.host, d.ok, d.sessions]), [[`${host.address}:${host.port}`, true, 'all-users']]);
    // On the host: the helper as shipped, the drop-in as keys deploy writes it, both root's, the rule valid.
    assert.equal(readFileSync(HELPER, 'utf8'), readFileSync(helperScriptPath, 'utf8'));
    assert.equal(statSync(HELPER).uid, 0);
    assert.equal(readFileSync(SUDOERS, 'utf8'), sudoersRule(ACCOUNT, LIB_DIR));
    const st = statSync(SUDOERS);
    assert.equal(st.uid, 0);
    assert.equal(st.mode & 0o777, 0o440);
    assert.equal(sh('visudo', ['-cf', SUDOERS]).code, 0);

    const sessions = await servedSessions();
    const work = sessions.find((s) => s.fleetmon_id === `shared:${alice.name}:work`);
    assert.ok(work, `alice's work is served: ${JSON.stringify(sessions.map((s) => s.fleetmon_id))}`);
    assert.equal(work.owner_uid, alice.uid);
    assert.equal(work.user, alice.name);
  });

  test('the rule grants the service account the helper and nothing else', () => {
    const list = sh('sudo', ['-l', '-U', ACCOUNT]);
    assert.equal(list.code, 0, list.stderr);
    const commands = list.stdout.split('\n').filter((l) => /^\s+\(/.test(l)).map((l) => l.trim());
    assert.deepEqual(commands, [`(root) NOPASSWD: ${HELPER}`]);
    assert.notEqual(sh('runuser', ['-u', ACCOUNT, '--', 'sudo', '-n', '/bin/sh', '-c', 'id']).code, 0);
  });

  test('apply again: the plan is empty and nothing changes', async () => {
    const p = await plan(load(true));
    assert.equal(p.changed, false, JSON.stringify(p.hosts));
    const before = statSync(SUDOERS).mtimeMs;
    const r = await apply(load(true));
    assert.equal(r.plan.changed, false);
    assert.deepEqual(r.deployed, []);
    assert.equal(statSync(SUDOERS).mtimeMs, before);
  });

  test('all_users: false — apply removes the helper and the rule, keeps the key; the served sessions are the account\'s own', async () => {
    const p = await plan(load(false));
    const planned = p.hosts.find((h) => h.name === 'shared')!;
    assert.deepEqual(planned.changes, [{ id: 'all-users', detail: 'remove the all-users helper and sudoers rule (all_users is off; the key stays): helper and sudoers rule present' }]);

    const r = await apply(load(false));
    assert.deepEqual(r.deployed.map((d) => [d.host, d.ok, d.sessions]), [[`${host.address}:${host.port}`, true, 'own-account']]);
    assert.equal(existsSync(SUDOERS), false);
    assert.equal(existsSync(HELPER), false);
    assert.ok(readFileSync(`/home/${ACCOUNT}/.ssh/authorized_keys`, 'utf8').includes(BLOCK_BEGIN), 'the key stays');
    assert.equal(sh('sudo', ['-l', '-U', ACCOUNT]).stdout.includes(HELPER), false);

    const sessions = await servedSessions();
    assert.equal(sessions.some((s) => s.user === alice.name), false, JSON.stringify(sessions.map((s) => s.fleetmon_id)));
    assert.equal((await plan(load(false))).changed, false);
  });

  test("a host dropped from fleet.yml: revoke takes the helper and the rule from fleet.yml's lib_dir with the key", async () => {
    await apply(load(true));
    assert.ok(existsSync(HELPER) && existsSync(SUDOERS));
    const r = await apply(load(null));
    assert.deepEqual(r.revoked.map((x) => [x.host, x.ok, x.removed]), [[`${host.address}:${host.port}`, true, true]]);
    assert.equal(existsSync(SUDOERS), false);
    assert.equal(existsSync(HELPER), false, `the helper in ${LIB_DIR} goes too`);
    assert.equal(readFileSync(`/home/${ACCOUNT}/.ssh/authorized_keys`, 'utf8').includes(BLOCK_BEGIN), false);
  });
});
