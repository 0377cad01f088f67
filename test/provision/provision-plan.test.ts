/**
 * provision's plan as data: facts in, items out. A fresh container needs everything; a provisioned one needs
 * nothing; an upgrade needs the app and one restart; the user's edits to hosts.yml are kept; the wrong OS is a
 * clear refusal. Also the facts script, run for real on this machine, and the runtime choice.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FACTS_SCRIPT, parseFacts, type ProvisionFacts } from '../../src/provision/facts.js';
import { planProvision, type ProvisionPlan } from '../../src/provision/plan.js';
import { parseConfigText } from '../../src/core/config.js';
import { DEFAULT_SPEC, layout, type ProvisionSpec } from '../../src/provision/spec.js';
import { chooseRuntime, type ControllerRuntime } from '../../src/provision/runtime.js';
import { SERVE_NODE_FLAGS } from '../../src/paths.js';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

const portableController: ControllerRuntime = {
  version: 'v20.20.2',
  platform: 'linux',
  arch: 'x64',
  execPath: '/usr/bin/node',
  sharedLibraries: [],
  glibcCompiled: '2.28',
};

const spec: ProvisionSpec = {
  ...DEFAULT_SPEC,
  address: '10.0.0.5',
  bundle: { id: '0123456789abcdef', version: '0.1.0' },
  controller: portableController,
};

const freshFacts: ProvisionFacts = {
  os: { id: 'debian', version: '12', pretty: 'Debian GNU/Linux 12 (bookworm)' },
  machine: 'x86_64',
  glibc: '2.36',
  systemd: true,
  hostname: 'fleetmon-ct',
  packages: { 'ca-certificates': true, 'openssh-client': false },
  nodeRuntime: null,
  nodeSystem: null,
  nodesourceRepo: false,
  userExists: false,
  dirs: { opt: 'missing', etc: 'missing', data: 'missing' },
  release: null,
  config: { sha: null, stamp: null, stat: 'missing' },
  key: { stat: 'missing', pub: null },
  unitSha: null,
  cliSha: null,
  service: { needReload: false, enabled: 'not-found', active: 'inactive' },
  applied: null,
};

/** The facts of a container on which `plan` has been fully applied. */
function applied(plan: ProvisionPlan, s: ProvisionSpec = spec): ProvisionFacts {
  return {
    ...freshFacts,
    packages: Object.fromEntries(s.packages.map((p) => [p, true])),
    nodeRuntime: plan.runtime.method === 'upload' ? plan.runtime.version : null,
    nodeSystem: plan.runtime.method === 'nodesource' ? `v${plan.runtime.major}.11.0` : null,
    nodesourceRepo: plan.runtime.method === 'nodesource',
    userExists: true,
    dirs: { opt: 'root:root:755', etc: 'root:fleetmon:750', data: 'fleetmon:fleetmon:750' },
    release: s.bundle.id,
    config: { sha: sha(plan.files.hostsYml), stamp: sha(plan.files.hostsYml), stat: 'root:fleetmon:640' },
    key: { stat: 'fleetmon:fleetmon:600', pub: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA fleetmon@fleetmon-ct' },
    unitSha: sha(plan.files.unit),
    cliSha: sha(plan.files.cli),
    service: { needReload: false, enabled: 'enabled', active: 'active' },
    applied: plan.stamp,
  };
}

const changes = (p: ProvisionPlan) => p.items.filter((i) => i.change).map((i) => i.id);

test('a fresh Debian 12 container needs every item, in dependency order', () => {
  const plan = planProvision(spec, freshFacts);
  assert.deepEqual(plan.blockers, []);
  assert.deepEqual(plan.items.map((i) => i.id), [
    'packages', 'user', 'dirs', 'node', 'app', 'cli', 'config', 'ssh-key', 'unit', 'daemon-reload', 'enable', 'restart',
  ]);
  assert.deepEqual(changes(plan), plan.items.map((i) => i.id));
  assert.equal(plan.items.find((i) => i.id === 'packages')?.detail, 'install openssh-client');
  assert.equal(plan.runtime.method, 'upload');
  assert.equal(plan.nodePath, '/opt/fleetmon/runtime/bin/node');
  assert.ok(plan.files.unit.includes(`\nExecStart=/opt/fleetmon/runtime/bin/node ${SERVE_NODE_FLAGS.join(' ')} /opt/fleetmon/current/bin/run.js serve --config /etc/fleetmon/hosts.yml\n`), plan.files.unit);
  assert.match(plan.files.hostsYml, /name: "fleetmon-ct"/);
  assert.equal(plan.rebuildNative, false);
  assert.equal(plan.files.nodesourceScript, null);
});

test('a provisioned container needs nothing', () => {
  const plan = planProvision(spec, freshFacts);
  const again = planProvision(spec, applied(plan));
  assert.deepEqual(changes(again), []);
  assert.equal(again.stamp, plan.stamp);
});

test('after a fleetmon upgrade: the new release and one restart, nothing else', () => {
  const before = applied(planProvision(spec, freshFacts));
  const upgraded = { ...spec, bundle: { id: 'fedcba9876543210', version: '0.2.0' } };
  const plan = planProvision(upgraded, before);
  assert.deepEqual(changes(plan), ['app', 'restart']);
  assert.equal(plan.items.find((i) => i.id === 'restart')?.detail, 'running an older app, unit, runtime or config');
  // Once applied (release installed, restarted with the new stamp): nothing.
  assert.deepEqual(changes(planProvision(upgraded, { ...before, release: 'fedcba9876543210', applied: plan.stamp })), []);
});

test('a stopped service is started; a changed unit is written, reloaded, and restarts the service', () => {
  const plan = planProvision(spec, freshFacts);
  const facts = applied(plan);
  assert.deepEqual(changes(planProvision(spec, { ...facts, service: { ...facts.service!, active: 'failed' } })), ['restart']);
  const edited = planProvision(spec, { ...facts, unitSha: sha('someone edited the unit') });
  assert.deepEqual(changes(edited), ['unit', 'daemon-reload', 'restart']);
  assert.deepEqual(changes(planProvision(spec, { ...facts, service: { ...facts.service!, needReload: true } })), ['daemon-reload']);
  assert.deepEqual(changes(planProvision(spec, { ...facts, service: { ...facts.service!, enabled: 'disabled' } })), ['enable']);
});

test('hosts.yml: written once; an edited file is kept (and its content drives the restart), an unedited one follows the template', () => {
  const plan = planProvision(spec, freshFacts);
  const facts = applied(plan);
  const editedSha = sha('polling_interval_seconds: 5\n');
  const edited = planProvision(spec, { ...facts, config: { ...facts.config, sha: editedSha } });
  const item = edited.items.find((i) => i.id === 'config')!;
  assert.equal(item.change, false);
  assert.equal(item.detail, 'edited by you: kept as it is');
  assert.deepEqual(changes(edited), ['restart'], 'the edit is applied by one restart');
  const afterRestart = planProvision(spec, { ...facts, config: { ...facts.config, sha: editedSha }, applied: edited.stamp });
  assert.deepEqual(changes(afterRestart), []);
  // Edited and with the wrong mode: the mode is fixed, the content is not touched.
  const loose = planProvision(spec, { ...facts, config: { ...facts.config, sha: editedSha, stat: 'root:root:644' } });
  assert.match(loose.items.find((i) => i.id === 'config')!.detail, /^edited by you: content kept; fix root:root:644/);
  // Not edited, but the template changed with an upgrade (the recorded stamp still matches the file): update.
  const old = sha('old rendering');
  const follow = planProvision(spec, { ...facts, config: { sha: old, stamp: old, stat: 'root:fleetmon:640' } });
  assert.equal(follow.items.find((i) => i.id === 'config')?.detail, 'update (not edited since fleetmon wrote it)');
  assert.equal(follow.stamp, plan.stamp);
});

test('the fleet key is created once and never replaced; wrong ownership is fixed', () => {
  const facts = applied(planProvision(spec, freshFacts));
  const loose = planProvision(spec, { ...facts, key: { ...facts.key, stat: 'root:root:644' } });
  assert.deepEqual(changes(loose), ['ssh-key']);
  assert.equal(loose.items.find((i) => i.id === 'ssh-key')?.detail, 'fix root:root:644');
  assert.equal(planProvision(spec, freshFacts).items.find((i) => i.id === 'ssh-key')?.detail, 'create (ed25519)');
});

test('not Debian 12, or no systemd: a clear refusal', () => {
  const ubuntu = planProvision(spec, { ...freshFacts, os: { id: 'ubuntu', version: '22.04', pretty: 'Ubuntu 22.04.4 LTS' } });
  assert.deepEqual(ubuntu.blockers, ['the target runs Ubuntu 22.04.4 LTS; fleetmon provision supports Debian 12 (bookworm) only']);
  const bullseye = planProvision(spec, { ...freshFacts, os: { id: 'debian', version: '11', pretty: 'Debian GNU/Linux 11 (bullseye)' } });
  assert.match(bullseye.blockers[0]!, /Debian GNU\/Linux 11 \(bullseye\); fleetmon provision supports Debian 12/);
  const noSystemd = planProvision(spec, { ...freshFacts, systemd: false });
  assert.match(noSystemd.blockers[0]!, /systemd is not running/);
});

test('NodeSource path: chosen for another architecture, same major, script rendered, native modules rebuilt', () => {
  const arm: ControllerRuntime = { ...portableController, arch: 'arm64', platform: 'darwin', glibcCompiled: null };
  const s = { ...spec, controller: arm };
  const plan = planProvision(s, freshFacts);
  assert.equal(plan.runtime.method, 'nodesource');
  assert.equal(plan.nodePath, '/usr/bin/node');
  assert.equal(plan.rebuildNative, true);
  assert.match(plan.files.unit, /^ExecStart=\/usr\/bin\/node /m);
  assert.match(plan.files.nodesourceScript!, /^URIs: https:\/\/deb\.nodesource\.com\/node_20\.x$/m);
  const node = plan.items.find((i) => i.id === 'node')!;
  assert.equal(node.title, 'Node.js 20.x (NodeSource)');
  assert.match(node.detail, /the controller runs on darwin/);
  // Debian's own 18 does not count; NodeSource's 20 does.
  assert.equal(planProvision(s, { ...freshFacts, nodeSystem: 'v18.19.0', nodesourceRepo: false }).items.find((i) => i.id === 'node')?.change, true);
  const done = applied(plan, s);
  assert.deepEqual(changes(planProvision(s, done)), []);
});

test('runtime choice: copy when it can run there, NodeSource otherwise, with the reason', () => {
  const target = { machine: 'x86_64', glibc: '2.36' };
  assert.equal(chooseRuntime(portableController, target).method, 'upload');
  const debianNode = { ...portableController, sharedLibraries: ['node_shared_libuv', 'node_shared_openssl'] };
  const r1 = chooseRuntime(debianNode, target);
  assert.equal(r1.method, 'nodesource');
  assert.match(r1.reason, /linked against system libraries \(node_shared_libuv, node_shared_openssl\)/);
  const r2 = chooseRuntime({ ...portableController, glibcCompiled: '2.38' }, target);
  assert.match(r2.reason, /glibc 2\.36 is older than the 2\.38/);
  assert.equal(chooseRuntime(portableController, { machine: 'aarch64', glibc: '2.36' }).method, 'nodesource');
  assert.equal(chooseRuntime(portableController, target, 'nodesource').method, 'nodesource');
  const old = chooseRuntime({ ...portableController, version: 'v18.19.0' }, target);
  assert.equal(old.method, 'nodesource');
  assert.equal(old.method === 'nodesource' && old.major, 20);
  const v22 = chooseRuntime({ ...portableController, version: 'v22.3.0', arch: 'arm64' }, target);
  assert.equal(v22.method === 'nodesource' && v22.major, 22, 'the same major keeps the native-module ABI');
});

test('port below 1024: the unit keeps only CAP_NET_BIND_SERVICE', () => {
  const plan = planProvision({ ...spec, listenPort: 80 }, freshFacts);
  assert.match(plan.files.unit, /^CapabilityBoundingSet=CAP_NET_BIND_SERVICE$/m);
  assert.match(plan.files.hostsYml, /^ {2}port: 80$/m);
});

test('the facts script runs on this machine and its output parses', () => {
  const root = mkdtempSync(join(tmpdir(), 'fleetmon-facts-'));
  try {
    const s: ProvisionSpec = { ...spec, optDir: join(root, 'opt'), configDir: join(root, 'etc'), dataDir: join(root, 'data'), cliPath: join(root, 'fleetmon') };
    const l = layout(s);
    // A half-provisioned layout: a release, a config and its stamp, a key; no runtime, no CLI.
    mkdirSync(join(l.releases, 'abc'), { recursive: true });
    writeFileSync(join(l.releases, 'abc', '.bundle-id'), 'abc\n');
    symlinkSync('releases/abc', l.appDir);
    mkdirSync(s.configDir);
    writeFileSync(l.configPath, 'hosts: []\n');
    writeFileSync(l.configStamp, `${sha('hosts: []\n')}\n`);
    mkdirSync(join(s.dataDir, 'ssh'), { recursive: true });
    writeFileSync(l.keyPath, 'private');
    chmodSync(l.keyPath, 0o600);
    writeFileSync(`${l.keyPath}.pub`, 'ssh-ed25519 AAAA test@x\n');
    const r = spawnSync('sh', ['-c', FACTS_SCRIPT, 'facts', s.unitName, s.optDir, s.configDir, s.dataDir, 'nobody', s.cliPath, l.runtimeNode, 'coreutils', 'no-such-package-here'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const facts = parseFacts(r.stdout, ['coreutils', 'no-such-package-here']);
    const osRelease = spawnSync('sh', ['-c', '. /etc/os-release; echo "$ID $VERSION_ID"'], { encoding: 'utf8' }).stdout.trim().split(' ');
    assert.deepEqual([facts.os.id, facts.os.version], osRelease);
    assert.equal(facts.machine, spawnSync('uname', ['-m'], { encoding: 'utf8' }).stdout.trim());
    assert.match(facts.glibc ?? '', /^\d+\.\d+$/);
    assert.deepEqual(facts.packages, { coreutils: true, 'no-such-package-here': false });
    assert.equal(facts.userExists, true);
    assert.equal(facts.release, 'abc');
    assert.equal(facts.config.sha, sha('hosts: []\n'));
    assert.equal(facts.config.stamp, sha('hosts: []\n'));
    assert.match(facts.key.stat, /^root:root:600$/);
    assert.equal(facts.key.pub, 'ssh-ed25519 AAAA test@x');
    assert.equal(facts.nodeRuntime, null);
    assert.equal(facts.cliSha, null);
    assert.equal(facts.dirs.opt.endsWith(':755') || facts.dirs.opt.endsWith(':700'), true);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('--tls self-signed flows from the spec into the new hosts.yml (server.tls), and only there', () => {
  const plain = planProvision(spec, freshFacts);
  const tls = planProvision({ ...spec, tls: 'self-signed' }, freshFacts);
  assert.equal(parseConfigText(tls.files.hostsYml, 'hosts.yml').server.tls, 'self-signed');
  assert.equal(parseConfigText(plain.files.hostsYml, 'hosts.yml').server.tls, null);
  assert.equal(tls.files.unit, plain.files.unit, 'the unit does not change: the service reads TLS from its config');
});
