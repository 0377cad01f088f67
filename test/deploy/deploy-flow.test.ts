/**
 * plan / apply / destroy / discover against the Proxmox simulator and real OpenSSH servers on 127.0.3.210–212 (this
 * machine: the "hosts" share one account database, as in test/keys). The monitor is a hosts.yml in a temp dir with
 * the fleet key made here (provisioning a real container is test/deploy/apply-lxc.test.ts, which needs LXC): its
 * port counts provision runs, so "restarted once" is measured.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfigText } from '../../src/core/config.js';
import type { ApplyPorts } from '../../src/deploy/apply.js';
import { destroyDeploy } from '../../src/deploy/destroy.js';
import { discover } from '../../src/deploy/discover.js';
import type { MonitorPort } from '../../src/deploy/facts.js';
import { lxcSpecOf, parseFleetText, type FleetFile } from '../../src/deploy/fleet-file.js';
import { deployRunner } from '../helpers/deploy-runner.js';
import { BLOCK_BEGIN } from '../../src/keys/authorized-keys.js';
import { probeSshBanner } from '../../src/ssh/banner.js';
import { clientFor, fakeClock, TEST_KEY } from '../pve/helpers.js';
import { LXC_PRIVILEGES, startPveSimulator, type PveSimulator, type SimToken } from '../pve/simulator.js';
import { generateKey, makeTestDir, removeDir, sshdAvailable, startSshd, type TestSshd } from '../helpers/sshd.js';
import { removeServiceAccount } from '../helpers/accounts.js';


const ACCOUNT = 'fmtdeploy';
const LIB_DIR = '/usr/local/lib/fleetmon-test-deploy';
const ADDRESSES = ['127.0.3.210', '127.0.3.211', '127.0.3.212'];
const probeScript = readFileSync(join(import.meta.dirname, '..', 'keys', 'fixtures', 'probe.sh'), 'utf8');
const skip = sshdAvailable();

const MONITOR_YML = `# written by provision (comments survive)
ssh:
  user: "${ACCOUNT}"
server:
  host: "0.0.0.0"
  port: 8080
hosts:
  - {name: "fleetmon", address: localhost, transport: local}
`;

const removeAccount = () => removeServiceAccount(ACCOUNT, LIB_DIR);

describe('fleetmon plan/apply/destroy against the simulator and real sshd', { skip: skip ?? false }, () => {
  let dir: string;
  let sim: PveSimulator;
  const servers: TestSshd[] = [];
  let admin: { privateKey: string; publicKey: string };
  let fleetKey: { privateKey: string; publicKey: string };
  let monitorFile: string;
  const provisions: boolean[] = [];
  /** Also allowed to read the guest agent (VM.GuestAgent.Audit), which LXC_PRIVILEGES lacks. */
  let tokenForClients: SimToken;

  const fleetText = (hosts: number[], memory = 1024, storage = 'local-lvm') => `proxmox: {url: ${sim.url}}
container: {hostname: fleetmon, memory: ${memory}, storage: ${storage}, ssh_port: ${sim.sshPort}, ssh_public_key: ${join(dir, 'root.pub')}}
monitor: {port: 8080, alerts: {gpu_temp_warning: 85}}
keys: {account: ${ACCOUNT}, lib_dir: ${LIB_DIR}}
hosts:
${hosts.map((i) => `  - {name: h${i}, address: ${ADDRESSES[i]}, gpu: false}`).join('\n')}
`;
  const load = (hosts: number[], memory?: number, storage?: string): FleetFile => parseFleetText(fleetText(hosts, memory, storage), 'fleet.yml');

  const monitorPort = async (): Promise<MonitorPort> => ({
    provision: async (dryRun) => {
      if (!dryRun) provisions.push(true);
      return { items: [{ id: 'app', title: 'app', change: false, detail: 'current' }], publicKey: fleetKey.publicKey };
    },
    readConfig: async () => (existsSync(monitorFile) ? readFileSync(monitorFile, 'utf8') : undefined),
    writeConfig: async (text) => writeFileSync(monitorFile, text),
    close: () => undefined,
  });

  const ports = (): ApplyPorts => {
    const client = clientFor(sim, { token: tokenForClients });
    return {
      pve: client,
      monitor: monitorPort,
      auth: { username: 'root', privateKey: admin.privateKey },
      keys: { probeScript, connectTimeoutMs: 5000, commandTimeoutMs: 15000 },
      lxc: { clock: fakeClock(), probeSsh: probeSshBanner, renderer: 'silent', timeouts: { taskMs: 60_000, addressMs: 60_000, sshMs: 60_000 } },
    };
  };
  const { plan, apply } = deployRunner(ports);
  const authorizedKeys = () => readFileSync(`/home/${ACCOUNT}/.ssh/authorized_keys`, 'utf8');

  before(async () => {
    removeAccount();
    dir = makeTestDir('fleetmon-test-deploy');
    writeFileSync(join(dir, 'root.pub'), `${TEST_KEY}\n`);
    admin = generateKey(join(dir, 'admin_key'), 'admin@test');
    fleetKey = generateKey(join(dir, 'fleet_key'), 'fleetmon@test-monitor');
    monitorFile = join(dir, 'hosts.yml');
    writeFileSync(monitorFile, MONITOR_YML);
    for (const address of ADDRESSES) servers.push(await startSshd({ address, dir, rootAuthorizedKeys: admin.publicKey, allowUsers: ['root', ACCOUNT] }));
    const token: SimToken = { id: 'fleetmon@pve!fleetmon', secret: '0b8a4c1e-3f1d-4d6b-9a55-cafe00000001', acl: [{ path: '/', privs: [...LXC_PRIVILEGES, 'VM.GuestAgent.Audit'], propagate: true }] };
    sim = await startPveSimulator({
      authFailDelayMs: 20, taskDurationMs: 10, addressDelayMs: 20, tokens: [token],
      containers: [
        { vmid: 150, hostname: 'gpu-ct', status: 'running', config: { net0: 'name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:00:96,ip=10.0.0.15/24,type=veth' } },
        { vmid: 160, hostname: 'train-vm', type: 'qemu', status: 'running', config: { agent: 1 }, agentInterfaces: [
          { name: 'lo', 'hardware-address': '00:00:00:00:00:00', 'ip-addresses': [{ 'ip-address': '127.0.0.1', 'ip-address-type': 'ipv4', prefix: 8 }] },
          { name: 'ens18', 'hardware-address': 'BC:24:11:00:00:A0', 'ip-addresses': [{ 'ip-address': 'fe80::1', 'ip-address-type': 'ipv6', prefix: 64 }, { 'ip-address': '10.0.0.16', 'ip-address-type': 'ipv4', prefix: 24 }] },
        ] },
        { vmid: 170, hostname: 'no-agent-vm', type: 'qemu', status: 'running' },
      ],
    });
    tokenForClients = token;
  });

  after(async () => {
    for (const s of servers) await s.stop();
    await sim?.close();
    removeAccount();
    removeDir(dir);
  });

  test('plan on nothing: everything would change', async () => {
    const p = await plan(load([0, 1]));
    assert.equal(p.changed, true);
    assert.equal(p.container.action, 'create');
    assert.equal(p.provision.action, 'install');
    assert.deepEqual(p.hosts.map((h) => h.action), ['deploy', 'deploy']);
  });

  test('apply creates the container through the API, deploys both hosts, writes the configuration once; then plan is empty', async () => {
    const r = await apply(load([0, 1]));
    assert.equal(r.container?.action, 'created');
    assert.deepEqual(r.deployed.map((d) => [d.host, d.ok]), [[`${ADDRESSES[0]}:22`, true], [`${ADDRESSES[1]}:22`, true]]);
    assert.equal(r.restarted, true);
    assert.equal(provisions.length, 2, 'provision once to install, once to restart with the new hosts.yml');
    const cfg = parseConfigText(readFileSync(monitorFile, 'utf8'), 'hosts.yml');
    assert.deepEqual(cfg.hosts.map((h) => [h.name, h.host_key ?? null]), [['fleetmon', null], ['h0', servers[0]!.hostKeyFingerprint], ['h1', servers[1]!.hostKeyFingerprint]]);
    assert.equal(cfg.alerts.gpu_temp_warning, 85);
    assert.match(readFileSync(monitorFile, 'utf8'), /comments survive/);
    assert.equal(sim.invalidRequests().length, 0);
    const again = await plan(load([0, 1]));
    assert.equal(again.changed, false, JSON.stringify(again, null, 1));
    const second = await apply(load([0, 1]));
    assert.equal(second.plan.changed, false);
    assert.equal(provisions.length, 2, 'a second apply changes nothing');
  });

  test('memory changed through the API: plan shows it, apply changes it back through the API', async () => {
    const ct = [...sim.state.guests.values()].find((g) => g.config.hostname === 'fleetmon' && g.type === 'lxc')!;
    ct.config.memory = 4096; // what someone did in the web UI
    const p = await plan(load([0, 1]));
    assert.deepEqual(p.container.changes.map((d) => [d.key, d.current, d.wanted]), [['memory', '4096', '1024']]);
    assert.deepEqual(p.hosts.map((h) => h.action), ['ok', 'ok']);
    await apply(load([0, 1]));
    assert.equal(Number(ct.config.memory), 1024);
    assert.ok(sim.requests.some((q) => q.method === 'PUT' && q.path.endsWith(`/lxc/${ct.vmid}/config`) && Number(q.params.memory) === 1024));
    assert.equal((await plan(load([0, 1]))).changed, false);
  });

  test('what Proxmox cannot change in place (the root-disk storage) is said and kept, not forced', async () => {
    const p = await plan(load([0, 1], 1024, 'ceph-ssd'));
    assert.deepEqual(p.container.notChanged.map((d) => [d.key, d.current, d.wanted]), [['rootfs.storage', 'local-lvm', 'ceph-ssd']]);
    assert.deepEqual(p.container.changes, []);
    const changing = sim.requests.filter((q) => q.method !== 'GET').length;
    const r = await apply(load([0, 1], 1024, 'ceph-ssd'));
    assert.deepEqual(r.notChanged, ['rootfs.storage: local-lvm (fleet.yml: ceph-ssd)']);
    assert.equal(sim.requests.filter((q) => q.method !== 'GET').length, changing, 'nothing was sent to change it');
  });

  test("drift: the monitor's key removed from a host and its configuration edited by hand — plan shows both, apply puts them back", async () => {
    const keysFile = `/home/${ACCOUNT}/.ssh/authorized_keys`;
    writeFileSync(keysFile, authorizedKeys().replace(/# >>> fleetmon managed key[\s\S]*# <<< fleetmon managed key\n?/, ''));
    writeFileSync(monitorFile, readFileSync(monitorFile, 'utf8').replace('gpu_temp_warning: 85', 'gpu_temp_warning: 70'));
    const p = await plan(load([0, 1]));
    // One account database on this machine: both "hosts" lost the key.
    assert.deepEqual(p.hosts.map((h) => [h.name, h.action, h.changes.map((c) => c.id)]), [['h0', 'deploy', ['authorized-key']], ['h1', 'deploy', ['authorized-key']]]);
    assert.deepEqual(p.monitorConfig.changes, [{ key: 'alerts.gpu_temp_warning', current: '70', wanted: '85' }]);
    const before = provisions.length;
    const r = await apply(load([0, 1]));
    assert.ok(r.deployed.every((d) => d.ok));
    assert.ok(authorizedKeys().includes(BLOCK_BEGIN));
    assert.equal(parseConfigText(readFileSync(monitorFile, 'utf8'), 'hosts.yml').alerts.gpu_temp_warning, 85);
    assert.equal(provisions.length, before + 2, 'provision, then one restart for the rewritten configuration');
    assert.equal((await plan(load([0, 1]))).changed, false);
  });

  test('a host added: apply deploys only that host', async () => {
    const before = provisions.length;
    const r = await apply(load([0, 1, 2]));
    assert.deepEqual(r.deployed.map((d) => [d.host, d.ok]), [[`${ADDRESSES[2]}:22`, true]]);
    assert.deepEqual(r.configChanges.map((c) => c.key), ['hosts: + h2']);
    assert.equal(provisions.length, before + 2);
    assert.equal((await plan(load([0, 1, 2]))).changed, false);
  });

  test('a host removed: its key is revoked and the monitor no longer lists it', async () => {
    const p = await plan(load([0, 1]));
    assert.deepEqual(p.hosts.map((h) => [h.name, h.action]), [['h0', 'ok'], ['h1', 'ok'], ['h2', 'revoke']]);
    const r = await apply(load([0, 1]));
    assert.deepEqual(r.revoked.map((x) => [x.host, x.ok, x.removed]), [[`${ADDRESSES[2]}:22`, true, true]]);
    assert.ok(!authorizedKeys().includes(BLOCK_BEGIN));
    const cfg = parseConfigText(readFileSync(monitorFile, 'utf8'), 'hosts.yml');
    assert.deepEqual(cfg.hosts.map((h) => h.name), ['fleetmon', 'h0', 'h1']);
  });

  test('discover lists the nodes and guests with addresses from LXC interfaces and the QEMU guest agent', async () => {
    const client = clientFor(sim, { token: tokenForClients });
    try {
      const d = await discover(client);
      assert.deepEqual(d.nodes.map((n) => n.node), ['pve']);
      const by = new Map(d.guests.map((g) => [g.name, g] as const));
      assert.equal(by.get('gpu-ct')?.address, '10.0.0.15');
      assert.equal(by.get('gpu-ct')?.source, 'interfaces');
      assert.equal(by.get('train-vm')?.address, '10.0.0.16');
      assert.equal(by.get('train-vm')?.source, 'guest-agent');
      assert.equal(by.get('no-agent-vm')?.address, undefined);
      assert.match(by.get('no-agent-vm')?.detail ?? '', /No QEMU guest agent configured/);
      assert.equal(by.get('fleetmon')?.monitor, true);
      assert.deepEqual(d.hosts.map((h) => h.name).sort(), ['gpu-ct', 'train-vm']);
      assert.equal(sim.invalidRequests().length, 0);
    } finally {
      await client.close();
    }
  });

  test('destroy revokes the keys and removes the container', async () => {
    const f = load([0, 1]);
    const p = ports();
    try {
      const r = await destroyDeploy(f, lxcSpecOf(f), { pve: p.pve, monitor: p.monitor, auth: p.auth, ...(p.keys ? { keys: p.keys } : {}), lxc: { clock: fakeClock(), renderer: 'silent', taskTimeoutMs: 60_000 } });
      assert.ok(r.revoked.every((x) => x.ok));
      assert.equal(r.container?.destroyed, true);
    } finally {
      await p.pve.close();
    }
    assert.ok(![...sim.state.guests.values()].some((g) => g.config.hostname === 'fleetmon'));
    assert.ok(!authorizedKeys().includes(BLOCK_BEGIN));
  });
});
