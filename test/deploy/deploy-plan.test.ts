/** fleet.yml's checks and the pure deployment plan, as data: no network, no Proxmox, no hosts. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FleetmonError } from '../../src/core/errors.js';
import { parseConfigText } from '../../src/core/config.js';
import { parseFleetText, lxcSpecOf, type FleetFile } from '../../src/deploy/fleet-file.js';
import { desiredMonitorConfig, diffMonitorConfig } from '../../src/deploy/monitor-config.js';
import { allUsersChange, describeDeployPlan, planDeploy, type DeployFacts, type HostFacts } from '../../src/deploy/plan.js';
import type { AllUsersState } from '../../src/keys/all-users.js';
import { fleetFileText } from '../../src/deploy/discover.js';
import type { LxcFacts } from '../../src/lxc/facts.js';
import { TEST_KEY } from '../pve/helpers.js';

const FLEET = `proxmox: {url: https://pve1:8006, node: pve}
container: {hostname: fleetmon, memory: 1024}
monitor:
  port: 8080
  alerts: {gpu_temp_warning: 85}
hosts:
  - {name: gpu1, address: 10.0.0.1, gpu: true}
  - {name: gpu2, address: 10.0.0.2, all_users: true}
`;
const fleet = () => parseFleetText(FLEET, 'fleet.yml');
const spec = (f: FleetFile) => lxcSpecOf(f, { readFile: () => `${TEST_KEY}\n` });

function fleetError(text: string): FleetmonError {
  try {
    parseFleetText(text, 'fleet.yml');
  } catch (err) {
    assert.ok(err instanceof FleetmonError);
    return err;
  }
  assert.fail('expected fleet.yml to be refused');
}

const MONITOR_YML = `# written by provision
polling_interval_seconds: 30
ssh:
  user: "fleetmon"
server:
  host: "0.0.0.0"
  port: 8080
hosts:
  # This container itself
  - {name: "fleetmon", address: localhost, transport: local}
`;

/** What Proxmox says about a cluster with one node and (optionally) the monitor's container. */
function lxcFacts(existing?: { memory: number; storage?: string }): LxcFacts {
  const all = ['VM.Allocate', 'VM.Audit', 'VM.Config.CPU', 'VM.Config.Disk', 'VM.Config.Memory', 'VM.Config.Network', 'VM.Config.Options', 'VM.PowerMgmt', 'Datastore.AllocateSpace', 'Datastore.Audit', 'Datastore.AllocateTemplate', 'SDN.Use', 'Sys.Audit', 'Pool.Audit'];
  const permissions = new Proxy({}, { get: () => all, has: () => true }) as LxcFacts['permissions'];
  const base = { version: { version: '9.1.2', release: '9.1' }, nodes: [{ node: 'pve', status: 'online' }], node: 'pve', vmid: 200, conflicts: [], permissions, unreadable: [] };
  if (!existing) {
    return {
      ...base,
      storages: [{ storage: 'local-lvm', type: 'lvmthin', content: 'rootdir,images', active: 1 }, { storage: 'local', type: 'dir', content: 'vztmpl,iso', active: 1 }],
      templateVolumes: ['local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst'],
      aplinfo: [],
      bridges: ['vmbr0'],
    };
  }
  return {
    ...base,
    existing: {
      vmid: 200, node: 'pve', status: 'running',
      config: {
        hostname: 'fleetmon', cores: 1, memory: existing.memory, swap: 512, onboot: 1, unprivileged: 1, features: 'nesting=1', tags: 'fleetmon',
        rootfs: `${existing.storage ?? 'local-lvm'}:vm-200-disk-0,size=8G`, net0: 'name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:00:C8,ip=dhcp,type=veth',
      },
    },
  };
}

const PIN1 = 'SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
const PIN2 = 'SHA256:BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB';
const unchanged = (ids: string[]) => ids.map((id) => ({ id, title: id, status: 'unchanged' as const }));
const KEY_STEPS = ['account', 'ssh-dir', 'lib-dir', 'gate', 'probe', 'authorized-key'];
/** The all-users helper and sudoers rule as readAllUsersState reports them. */
const ALL_USERS_ON: AllUsersState = { helper: 'current', sudoers: 'current', sudo: true };
const ALL_USERS_OFF: AllUsersState = { helper: 'missing', sudoers: 'missing', sudo: true, detail: 'helper: missing; sudoers rule: missing' };

test('fleet.yml: every problem at once, each with file:line:col and the fix', () => {
  const err = fleetError(`proxmox: {url: http://pve1:8006, tokn: x}
container: {memory: 8, ipv4: 10.0.0.5/24}
hosts:
  - {name: gpu1, address: 10.0.0.1}
  - {name: gpu1, address: 10.0.0.1, all_users: yes}
`);
  assert.equal(err.code, 'CONFIG_INVALID');
  const lines = err.message.split('\n');
  assert.match(lines[0]!, /^fleet\.yml: \d+ problems:$/);
  assert.ok(lines.some((l) => /fleet\.yml:1:16: proxmox\.url must be the https:\/\/ address of a Proxmox VE node .*fix: write e\.g\. `url: https:\/\/pve1:8006`/.test(l)), err.message);
  assert.ok(lines.some((l) => /fleet\.yml:1:34: unknown key 'proxmox\.tokn'; expected one of: url, node, ca_file, fingerprint, token_env; fix: remove it/.test(l)), err.message);
  assert.ok(lines.some((l) => /fleet\.yml:2:21: container\.memory must be a whole number from 16 to 4194304/.test(l)), err.message);
  assert.ok(lines.some((l) => /container\.gateway is required with a static ipv4: add `gateway: 192\.168\.1\.1`/.test(l)), err.message);
  assert.ok(lines.some((l) => /fleet\.yml:5:12: hosts\[1\] \(gpu1\)\.name: duplicate host name 'gpu1'/.test(l)), err.message);
  assert.ok(lines.some((l) => /hosts\[1\] \(gpu1\)\.address: 10\.0\.0\.1:22 is listed twice/.test(l)), err.message);
  assert.ok(lines.some((l) => /fleet\.yml:5:\d+: hosts\[1\] \(gpu1\)\.all_users must be true or false \(got "yes"\)/.test(l)), err.message);
});

test("fleet.yml: a sudoers_file sudo would skip (a '.' in its name) or outside /etc/sudoers.d is refused with the fix", () => {
  for (const path of ['/etc/sudoers.d/fleetmon.conf', '/etc/fleetmon-sudoers', '/etc/sudoers.d/fleetmon~']) {
    const err = fleetError(`proxmox: {url: https://pve1:8006}\nkeys: {sudoers_file: "${path}"}\n`);
    assert.match(err.message, /fleet\.yml:2:\d+: keys\.sudoers_file must be a file in \/etc\/sudoers\.d whose name has no '\.' or '~' \(sudo skips those\)/, path);
  }
  assert.equal(parseFleetText('proxmox: {url: https://pve1:8006}\nkeys: {sudoers_file: /etc/sudoers.d/fleetmon-lab}\n', 'fleet.yml').keys.sudoers_file, '/etc/sudoers.d/fleetmon-lab');
});

test('fleet.yml: notification channels get hosts.yml\'s own checks, placed under monitor.notifications', () => {
  const err = fleetError(`proxmox: {url: https://pve1:8006}
monitor:
  notifications:
    channels:
      - {name: ops, type: webhook}
`);
  assert.match(err.message, /^fleet\.yml:5:9: monitor\.notifications\.channels\[0\] \(ops\)\.url: a webhook channel needs exactly one of url, url_file or url_env/);
});

test('fleet.yml: defaults, and the container spec lxc create gets (force: apply changes in place)', () => {
  const f = fleet();
  assert.equal(f.proxmox.token_env, 'FLEETMON_PVE_TOKEN');
  assert.equal(f.keys.account, 'fleetmon');
  assert.equal(f.keys.sudoers_file, '/etc/sudoers.d/fleetmon');
  assert.equal(f.hosts[0]!.admin, 'root');
  assert.equal(f.hosts[1]!.all_users, true);
  assert.equal(f.monitor.alerts.gpu_temp_warning, 85);
  assert.equal(f.monitor.alerts.gpu_temp_critical, 90);
  const s = spec(f);
  assert.equal(s.memory, 1024);
  assert.equal(s.node, 'pve');
  assert.equal(s.force, true);
  assert.deepEqual(s.ipv4, { mode: 'dhcp' });
});

test('plan on nothing: every stage changes', () => {
  const f = fleet();
  const p = planDeploy(f, spec(f), { lxc: lxcFacts() });
  assert.equal(p.changed, true);
  assert.equal(p.container.action, 'create');
  assert.equal(p.container.vmid, 200);
  assert.equal(p.provision.action, 'install');
  assert.deepEqual(p.hosts.map((h) => [h.name, h.action]), [['gpu1', 'deploy'], ['gpu2', 'deploy']]);
  assert.equal(p.monitorConfig.restart, true);
  // all_users is carried per host; apply installs it (no warning that it would not).
  assert.deepEqual(p.hosts.map((h) => h.allUsers), [false, true]);
  assert.deepEqual(p.warnings, []);
  assert.deepEqual(p.hosts.map((h) => h.changes.map((c) => c.id)), [['key'], ['key', 'all-users']]);
});

test('plan when everything holds: nothing changes', () => {
  const f = fleet();
  const pins = new Map([['10.0.0.1:22', PIN1], ['10.0.0.2:22', PIN2]]);
  const configText = desiredMonitorConfig(MONITOR_YML, f, pins);
  const facts: DeployFacts = {
    lxc: lxcFacts({ memory: 1024 }),
    address: '10.0.0.50',
    provision: { items: [{ id: 'app', title: 'app', change: false, detail: 'current' }] },
    monitor: { configText, publicKey: TEST_KEY },
    hosts: [
      { name: 'gpu1', address: '10.0.0.1', port: 22, hostKey: PIN1, steps: unchanged(KEY_STEPS), allUsers: ALL_USERS_OFF },
      { name: 'gpu2', address: '10.0.0.2', port: 22, hostKey: PIN2, steps: unchanged(KEY_STEPS), allUsers: ALL_USERS_ON },
    ],
  };
  const p = planDeploy(f, spec(f), facts);
  assert.deepEqual(p.monitorConfig.changes, []);
  assert.equal(p.container.action, 'ok');
  assert.equal(p.changed, false, JSON.stringify(p, null, 1));
  // The written file keeps the comments and the local entry, and pins each host.
  assert.match(configText, /# This container itself/);
  const parsed = parseConfigText(configText, 'hosts.yml');
  assert.deepEqual(parsed.hosts.map((h) => [h.name, h.gate ?? false, h.host_key ?? null, h.has_gpu]), [['fleetmon', false, null, null], ['gpu1', true, PIN1, true], ['gpu2', true, PIN2, null]]);
  assert.equal(parsed.alerts.gpu_temp_warning, 85);
});

test('drift: memory changed in the web UI, a key removed, the configuration edited by hand — each is shown', () => {
  const f = fleet();
  const pins = new Map([['10.0.0.1:22', PIN1], ['10.0.0.2:22', PIN2]]);
  const edited = desiredMonitorConfig(MONITOR_YML, f, pins).replace('gpu_temp_warning: 85', 'gpu_temp_warning: 70');
  const p = planDeploy(f, spec(f), {
    lxc: lxcFacts({ memory: 2048 }),
    address: '10.0.0.50',
    provision: { items: [] },
    monitor: { configText: edited, publicKey: TEST_KEY },
    hosts: [
      { name: 'gpu1', address: '10.0.0.1', port: 22, hostKey: PIN1, steps: [...unchanged(KEY_STEPS.slice(0, 5)), { id: 'authorized-key', title: 'k', status: 'planned', detail: 'no fleetmon block' }] },
      { name: 'gpu2', address: '10.0.0.2', port: 22, hostKey: PIN2, steps: unchanged(KEY_STEPS), allUsers: ALL_USERS_ON },
    ],
  });
  assert.equal(p.changed, true);
  assert.deepEqual(p.container.changes.map((d) => [d.key, d.current, d.wanted]), [['memory', '2048', '1024']]);
  assert.deepEqual(p.hosts.map((h) => [h.name, h.action, h.changes.map((c) => c.id)]), [['gpu1', 'deploy', ['authorized-key']], ['gpu2', 'ok', []]]);
  assert.deepEqual(p.monitorConfig.changes, [{ key: 'alerts.gpu_temp_warning', current: '70', wanted: '85' }]);
  assert.equal(p.monitorConfig.restart, true);
});

test('a host removed from fleet.yml is revoked and dropped from the monitor; a host added is the only one deployed', () => {
  const before = fleet();
  const configText = desiredMonitorConfig(MONITOR_YML, before, new Map([['10.0.0.1:22', PIN1], ['10.0.0.2:22', PIN2]]));
  const after = parseFleetText(FLEET.replace('  - {name: gpu2, address: 10.0.0.2, all_users: true}\n', '  - {name: gpu3, address: 10.0.0.3}\n'), 'fleet.yml');
  const p = planDeploy(after, spec(after), {
    lxc: lxcFacts({ memory: 1024 }),
    address: '10.0.0.50',
    provision: { items: [] },
    monitor: { configText, publicKey: TEST_KEY },
    hosts: [
      { name: 'gpu1', address: '10.0.0.1', port: 22, hostKey: PIN1, steps: unchanged(KEY_STEPS) },
      { name: 'gpu3', address: '10.0.0.3', port: 22, hostKey: PIN2, steps: KEY_STEPS.map((id) => ({ id, title: id, status: 'planned' as const, detail: 'missing' })) },
    ],
  });
  assert.deepEqual(p.hosts.map((h) => [h.name, h.action]), [['gpu1', 'ok'], ['gpu3', 'deploy'], ['gpu2', 'revoke']]);
  assert.deepEqual(p.monitorConfig.changes.map((c) => c.key).sort(), ['hosts: + gpu3', 'hosts: - gpu2']);
  assert.equal(JSON.stringify(p).includes('# written by provision'), false, 'the plan carries changes, not the file (it may hold the API token)');
  const wanted = parseConfigText(desiredMonitorConfig(configText, after, new Map([['10.0.0.1:22', PIN1], ['10.0.0.3:22', PIN2]])), 'hosts.yml');
  assert.deepEqual(wanted.hosts.map((h) => h.name), ['fleetmon', 'gpu1', 'gpu3']);
  // A host whose deploy failed keeps its entry as it was: neither added nor removed.
  const kept = parseConfigText(desiredMonitorConfig(configText, before, new Map(), { leaveAlone: new Set(['10.0.0.2:22']) }), 'hosts.yml');
  assert.equal(kept.hosts.find((h) => h.name === 'gpu2')?.host_key, PIN2);
});

/** The fleet of FLEET with everything else in place: container, monitor configuration, keys, pins. */
function settled(hostFacts: (h: { name: string; address: string }) => Partial<HostFacts>): DeployFacts {
  const f = fleet();
  const configText = desiredMonitorConfig(MONITOR_YML, f, new Map([['10.0.0.1:22', PIN1], ['10.0.0.2:22', PIN2]]));
  return {
    lxc: lxcFacts({ memory: 1024 }), address: '10.0.0.50', provision: { items: [] },
    monitor: { configText, publicKey: TEST_KEY },
    hosts: f.hosts.map((h, i) => ({ name: h.name, address: h.address, port: 22, hostKey: i ? PIN2 : PIN1, steps: unchanged(KEY_STEPS), ...hostFacts(h) })),
  };
}

test('all_users on where the helper or the rule is missing or stale: one step installs them; current: no step', () => {
  const f = fleet();
  const p = planDeploy(f, spec(f), settled((h) => ({ allUsers: h.name === 'gpu2' ? { helper: 'differs', sudoers: 'missing', sudo: true, detail: 'helper: content differs; sudoers rule: missing' } : ALL_USERS_OFF })));
  assert.equal(p.changed, true);
  assert.deepEqual(p.hosts.map((h) => [h.name, h.action, h.changes]), [
    ['gpu1', 'ok', []],
    ['gpu2', 'deploy', [{ id: 'all-users', detail: 'install the all-users helper and sudoers rule (helper: content differs; sudoers rule: missing)' }]],
  ]);
  assert.ok(describeDeployPlan(p).includes('      all-users: install the all-users helper and sudoers rule (helper: content differs; sudoers rule: missing)'));
  // Once both are current (what the second apply finds), the plan is empty.
  const again = planDeploy(f, spec(f), settled((h) => ({ allUsers: h.name === 'gpu2' ? ALL_USERS_ON : ALL_USERS_OFF })));
  assert.equal(again.changed, false, JSON.stringify(again.hosts));
  assert.match(describeDeployPlan(again).join('\n'), /gpu2 \(10\.0\.0\.2:22\): key, gate, all-users helper and pin in place \[all_users\]/);
});

test('all_users off where the helper or the rule is there: one step removes them, the key stays', () => {
  const f = parseFleetText(FLEET.replace(', all_users: true', ''), 'fleet.yml');
  const p = planDeploy(f, spec(f), settled((h) => ({ allUsers: h.name === 'gpu2' ? { helper: 'current', sudoers: 'differs', sudo: true, detail: 'sudoers rule: mode 644' } : ALL_USERS_OFF })));
  assert.deepEqual(p.hosts.map((h) => [h.name, h.action, h.changes]), [
    ['gpu1', 'ok', []],
    ['gpu2', 'deploy', [{ id: 'all-users', detail: 'remove the all-users helper and sudoers rule (all_users is off; the key stays): helper and sudoers rule present' }]],
  ]);
  assert.deepEqual(p.hosts.map((h) => h.allUsers), [false, false]);
  // Only the rule left over (a helper removed by hand): still removed.
  assert.deepEqual(allUsersChange(false, { helper: 'missing', sudoers: 'current', sudo: true }), { id: 'all-users', detail: 'remove the all-users helper and sudoers rule (all_users is off; the key stays): sudoers rule present' });
  assert.equal(planDeploy(f, spec(f), settled(() => ({ allUsers: ALL_USERS_OFF }))).changed, false);
});

test('all_users on a host without sudo: the helper is installed, no rule is asked for, and the plan says why it cannot take effect', () => {
  const f = fleet();
  const noSudo = (helper: AllUsersState['helper']): AllUsersState => ({ helper, sudoers: 'missing', sudo: false, ...(helper === 'current' ? { detail: 'sudoers rule: missing' } : { detail: 'helper: missing; sudoers rule: missing' }) });
  const p = planDeploy(f, spec(f), settled((h) => ({ allUsers: h.name === 'gpu2' ? noSudo('missing') : ALL_USERS_OFF })));
  assert.deepEqual(p.hosts[1]!.changes.map((c) => c.id), ['all-users']);
  assert.match(p.warnings.join('\n'), /^gpu2: sudo or visudo is not installed there, so all_users cannot take effect: .* \(install sudo on 10\.0\.0\.2, then run fleetmon apply\)$/);
  // With the helper in place keys deploy would change nothing more, so neither does the plan (a second apply is a no-op).
  const done = planDeploy(f, spec(f), settled((h) => ({ allUsers: h.name === 'gpu2' ? noSudo('current') : ALL_USERS_OFF })));
  assert.equal(done.changed, false);
  assert.equal(done.warnings.length, 1);
});

test('all_users where the host could not be read: on is an install to make, off says nothing (the deploy removes what it finds)', () => {
  assert.deepEqual(allUsersChange(true, undefined), { id: 'all-users', detail: 'install the all-users helper and sudoers rule (not checked)' });
  assert.equal(allUsersChange(false, undefined), undefined);
  // A new host: its account is missing too; the all-users step is listed with the others.
  const f = fleet();
  const p = planDeploy(f, spec(f), {
    lxc: lxcFacts({ memory: 1024 }), address: '10.0.0.50', provision: { items: [] },
    monitor: { configText: MONITOR_YML, publicKey: TEST_KEY },
    hosts: f.hosts.map((h) => ({
      name: h.name, address: h.address, port: h.port, allUsers: ALL_USERS_OFF,
      steps: [{ id: 'account', title: 'a', status: 'planned' as const, detail: 'missing' }, { id: 'ssh-dir', title: 's', status: 'failed' as const, error: 'missing' }],
      error: { code: 'ACCOUNT_MISSING', message: 'account fleetmon is missing' },
    })),
  });
  assert.deepEqual(p.hosts.map((h) => h.changes.map((c) => c.id)), [['account', 'rest'], ['account', 'all-users', 'rest']]);
});

test('what Proxmox cannot change in place is said, not forced: the plan keeps it and changes the rest', () => {
  const f = fleet();
  const p = planDeploy(f, spec(f), { lxc: lxcFacts({ memory: 2048, storage: 'ceph' }) });
  assert.deepEqual(p.container.notChanged.map((d) => [d.key, d.current, d.wanted]), [['rootfs.storage', 'ceph', 'local-lvm']]);
  assert.deepEqual(p.container.changes.map((d) => d.key), ['memory']);
  assert.deepEqual(p.container.blockers, []);
});

test('a new host: the dry run stops after the missing account, which is a change to make, not an error', () => {
  const f = fleet();
  const p = planDeploy(f, spec(f), {
    lxc: lxcFacts({ memory: 1024 }), address: '10.0.0.50', provision: { items: [] },
    monitor: { configText: MONITOR_YML, publicKey: TEST_KEY },
    hosts: f.hosts.map((h) => ({
      name: h.name, address: h.address, port: h.port, hostKey: PIN1,
      steps: [{ id: 'account', title: 'a', status: 'planned' as const, detail: 'missing' }, { id: 'ssh-dir', title: 's', status: 'failed' as const, error: 'missing' }, { id: 'lib-dir', title: 'l', status: 'not-run' as const }],
      error: { code: 'ACCOUNT_MISSING', message: 'account fleetmon is missing' },
    })),
  });
  assert.deepEqual(p.hosts[0]!.changes, [{ id: 'account', detail: 'missing' }, { id: 'rest', detail: 'checked once the steps above are done' }]);
});

test('notification channels that differ are named, never shown (their URLs may hold keys)', () => {
  const a = 'notifications: {channels: [{name: ops, type: webhook, url: "https://hooks.example.org/SECRET1"}]}\nhosts: []\n';
  const b = 'notifications: {channels: [{name: ops, type: webhook, url: "https://hooks.example.org/SECRET2"}]}\nhosts: []\n';
  const changes = diffMonitorConfig(a, b);
  assert.deepEqual(changes, [{ key: 'notifications.channels', current: 'ops', wanted: 'ops (settings differ)' }]);
  assert.ok(!JSON.stringify(changes).includes('SECRET'));
});

test('diffMonitorConfig: the same meaning spelled another way is no change', () => {
  const a = 'alerts: {gpu_temp_warning: 85}\nhosts: []\n';
  assert.deepEqual(diffMonitorConfig(a, "alerts:\n  gpu_temp_warning: 85 # hot\nhosts: []\n"), []);
  assert.deepEqual(diffMonitorConfig(a, 'alerts: {gpu_temp_warning: 86}\nhosts: []\n'), [{ key: 'alerts.gpu_temp_warning', current: '85', wanted: '86' }]);
});

test("discover's file is a valid fleet.yml listing the guests with an address (not the monitor itself)", () => {
  const text = fleetFileText('https://pve1:8006', {
    nodes: [{ node: 'pve', status: 'online' }],
    guests: [],
    hosts: [{ name: 'gpu-vm', address: '10.0.0.9' }],
  }, { fingerprint: 'sha256//abcdefgh' });
  const f = parseFleetText(text, 'fleet.yml');
  assert.equal(f.proxmox.node, 'pve');
  assert.deepEqual(f.hosts.map((h) => [h.name, h.address, h.admin]), [['gpu-vm', '10.0.0.9', 'root']]);
});

test("the README's fleet.yml example is a valid fleet.yml", async () => {
  const { readFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const readme = readFileSync(join(import.meta.dirname, '..', '..', 'README.md'), 'utf8');
  const block = /```yaml\n# fleet\.yml\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(block, 'README has a fleet.yml example');
  const f = parseFleetText(block, 'README fleet.yml');
  assert.deepEqual(f.hosts.map((h) => [h.name, h.admin, h.port, h.all_users]), [['gpu1', 'root', 22, false], ['gpu2', 'alice', 22, true], ['build', 'root', 2222, false]]);
  assert.equal(f.monitor.notifications.channels[0]?.type, 'ntfy');
});
