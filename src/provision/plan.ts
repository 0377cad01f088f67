/**
 * The plan, pure: spec + facts → one item per thing that must hold (packages, user, dirs, runtime, app, CLI
 * wrapper, config, fleet key, unit, reload, enable, restart), each saying whether it changes and why, with the
 * rendered files and the stamp the service runs with afterwards. Tested as data (test/provision/provision-plan.test.ts).
 */
import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import { cleanHostName } from '../core/names.js';
import { CLI_NODE_FLAGS, SERVE_NODE_FLAGS } from '../paths.js';
import type { ProvisionFacts } from './facts.js';
import { readTemplateAsset, renderTemplate } from './render.js';
import { chooseRuntime, nodeMajor, NODESOURCE_KEY_FINGERPRINT, type RuntimeChoice } from './runtime.js';
import { layout, type ProvisionSpec } from './spec.js';

export type PlanItemId =
  | 'packages'
  | 'user'
  | 'dirs'
  | 'node'
  | 'app'
  | 'cli'
  | 'config'
  | 'ssh-key'
  | 'unit'
  | 'daemon-reload'
  | 'enable'
  | 'restart';

export interface PlanItem {
  id: PlanItemId;
  title: string;
  change: boolean;
  /** What was found / what would be done. */
  detail: string;
}

export interface ProvisionPlan {
  /** Reasons provisioning cannot go on (wrong OS, no systemd…); empty when it can. */
  blockers: string[];
  runtime: RuntimeChoice;
  nodePath: string;
  /** The controller and container differ in platform: native modules must be rebuilt there (needs network). */
  rebuildNative: boolean;
  items: PlanItem[];
  files: { unit: string; hostsYml: string; cli: string; nodesourceScript: string | null };
  /** What the service runs with once every item is applied (written to .applied after a restart). */
  stamp: string;
}

export const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/** Pure: what must change on the container for it to match the spec. `render` is injectable for tests. */
export function planProvision(spec: ProvisionSpec, facts: ProvisionFacts, render = renderTemplate): ProvisionPlan {
  const l = layout(spec);
  const blockers: string[] = [];
  if (facts.os.id !== 'debian' || facts.os.version !== '12') {
    blockers.push(`the target runs ${facts.os.pretty || `${facts.os.id || 'an unknown OS'} ${facts.os.version}`.trim()}; fleetmon provision supports Debian 12 (bookworm) only`);
  }
  if (!facts.systemd) blockers.push('systemd is not running on the target (PID 1 is not systemd), so there is no service to install');

  const runtime = chooseRuntime(spec.controller, { machine: facts.machine, glibc: facts.glibc }, spec.nodePreference);
  const nodePath = runtime.method === 'upload' ? l.runtimeNode : '/usr/bin/node';
  const rebuildNative = !(spec.controller.platform === 'linux' && machineMatches(spec.controller.arch, facts.machine));
  const user = spec.serviceUser;
  const files = renderFiles(spec, facts, runtime, nodePath, render);
  const { unit, hostsYml, cli } = files;

  const items: PlanItem[] = [];
  const add = (id: PlanItemId, title: string, change: boolean, detail: string) => items.push({ id, title, change, detail });

  const missing = spec.packages.filter((p) => !facts.packages[p]);
  add('packages', 'apt packages', missing.length > 0, missing.length ? `install ${missing.join(', ')}` : `${spec.packages.join(', ')} present`);
  add('user', `system user ${user}`, !facts.userExists, facts.userExists ? 'exists' : 'create');
  const wantDirs = { opt: 'root:root:755', etc: `root:${user}:750`, data: `${user}:${user}:750` };
  const wrongDirs = (Object.keys(wantDirs) as Array<keyof typeof wantDirs>).filter((k) => facts.dirs[k] !== wantDirs[k]);
  add(
    'dirs',
    `${spec.optDir}, ${spec.configDir}, ${spec.dataDir}`,
    wrongDirs.length > 0,
    wrongDirs.length ? wrongDirs.map((k) => `${k}: ${facts.dirs[k]} → ${wantDirs[k]}`).join('; ') : 'present',
  );
  if (runtime.method === 'upload') {
    const ok = facts.nodeRuntime === runtime.version;
    add('node', `Node.js ${runtime.version} (copied from this machine)`, !ok, ok ? `${l.runtimeNode} is ${runtime.version}` : `${facts.nodeRuntime ?? 'none'} → ${runtime.version}: ${runtime.reason}`);
  } else {
    const ok = facts.nodesourceRepo && nodeMajor(facts.nodeSystem ?? '') === runtime.major;
    add('node', `Node.js ${runtime.major}.x (NodeSource)`, !ok, ok ? `/usr/bin/node is ${facts.nodeSystem}` : `${facts.nodeSystem ?? 'none'} → ${runtime.major}.x: ${runtime.reason}`);
  }
  add('app', `fleetmon ${spec.bundle.version} (${spec.bundle.id})`, facts.release !== spec.bundle.id, facts.release === spec.bundle.id ? 'installed' : `${facts.release ?? 'none'} → ${spec.bundle.id}`);
  add('cli', `${spec.cliPath}`, facts.cliSha !== sha256(cli), facts.cliSha === null ? 'create' : facts.cliSha === sha256(cli) ? 'up to date' : 'update');

  const { change: configChange, detail: configDetail, shaAfter: configShaAfter } = configItem(facts, hostsYml, user);
  add('config', l.configPath, configChange, configDetail);

  const wantKey = `${user}:${user}:600`;
  const keyOk = facts.key.stat === wantKey && facts.key.pub !== null;
  add('ssh-key', `fleet SSH key ${l.keyPath}`, !keyOk, keyOk ? 'present (kept)' : facts.key.stat === 'missing' ? 'create (ed25519)' : `fix ${facts.key.stat}${facts.key.pub ? '' : ', public half missing'}`);

  const unitChange = facts.unitSha !== sha256(unit);
  add('unit', l.unitPath, unitChange, facts.unitSha === null ? 'create' : unitChange ? 'update' : 'up to date');
  const svc = facts.service;
  const reload = unitChange || (svc?.needReload ?? false);
  add('daemon-reload', 'systemctl daemon-reload', reload, reload ? 'unit file changed' : 'not needed');
  const enabled = svc?.enabled === 'enabled';
  add('enable', `enable ${spec.unitName}`, !enabled, enabled ? 'enabled' : `${svc?.enabled || 'not enabled'} → enabled`);

  const stamp = sha256([sha256(unit), spec.bundle.id, runtime.method === 'upload' ? runtime.version : `nodesource-${runtime.major}`, configShaAfter ?? ''].join('\n'));
  const active = svc?.active === 'active';
  // Anything the service reads being rewritten now means a restart, even if the result equals what it was last
  // started with (someone edited the unit and restarted it by hand). Applying such an item also deletes the
  // .applied stamp, so the restart still happens when this run fails before reaching it.
  const rewrites = items.some((i) => i.change && ['node', 'app', 'unit'].includes(i.id)) || (configChange && configShaAfter !== facts.config.sha);
  const restart = !active || facts.applied !== stamp || rewrites;
  add('restart', `${active ? 'restart' : 'start'} ${spec.unitName}`, restart, !active ? `${svc?.active || 'not running'} → start` : restart ? 'running an older app, unit, runtime or config' : 'running the current release');

  return { blockers, runtime, nodePath, rebuildNative, items, files, stamp };
}

/** The files provision writes, rendered from the templates for this container. */
function renderFiles(spec: ProvisionSpec, facts: ProvisionFacts, runtime: RuntimeChoice, nodePath: string, render: typeof renderTemplate): ProvisionPlan['files'] {
  const l = layout(spec);
  const user = spec.serviceUser;
  const unit = render('fleetmon.service', {
    unitName: spec.unitName,
    user,
    group: user,
    nodePath,
    nodeFlags: SERVE_NODE_FLAGS,
    appDir: l.appDir,
    configPath: l.configPath,
    stateDirectory: posix.basename(spec.dataDir),
    bindsPrivilegedPort: spec.listenPort > 0 && spec.listenPort < 1024,
  });
  const hostsYml = render('hosts.yml', {
    unitName: spec.unitName,
    sshUser: 'fleetmon',
    keyPath: l.keyPath,
    listenHost: spec.listenHost,
    listenPort: spec.listenPort,
    selfSignedTls: spec.tls === 'self-signed',
    dataDir: spec.dataDir,
    localName: cleanHostName(facts.hostname, 'fleetmon'),
  });
  const cli = render('fleetmon-cli.sh', { nodePath, nodeFlags: CLI_NODE_FLAGS, appDir: l.appDir });
  const nodesourceScript =
    runtime.method === 'nodesource'
      ? render('nodesource-install.sh', { nodeMajor: runtime.major, keyArmored: readTemplateAsset('nodesource-repo.asc'), keyFingerprint: NODESOURCE_KEY_FINGERPRINT })
      : null;
  return { unit, hostsYml, cli, nodesourceScript };
}

/** hosts.yml is written once and then belongs to the user: rewritten only while nobody has edited it since. */
function configItem(facts: ProvisionFacts, hostsYml: string, user: string): { change: boolean; detail: string; shaAfter: string | null } {
  const wantConfigStat = `root:${user}:640`;
  let configChange = false;
  let configDetail: string;
  let configShaAfter = facts.config.sha;
  if (facts.config.sha === null) {
    configChange = true;
    configDetail = 'create';
    configShaAfter = sha256(hostsYml);
  } else if (facts.config.sha === sha256(hostsYml)) {
    configChange = facts.config.stat !== wantConfigStat || facts.config.stamp !== facts.config.sha;
    configDetail = configChange ? `fix ${facts.config.stat} → ${wantConfigStat}` : 'up to date';
  } else if (facts.config.stamp === facts.config.sha) {
    configChange = true;
    configDetail = 'update (not edited since fleetmon wrote it)';
    configShaAfter = sha256(hostsYml);
  } else {
    configChange = facts.config.stat !== wantConfigStat;
    configDetail = configChange ? `edited by you: content kept; fix ${facts.config.stat} → ${wantConfigStat}` : 'edited by you: kept as it is';
  }
  return { change: configChange, detail: configDetail, shaAfter: configShaAfter };
}

function machineMatches(arch: string, machine: string): boolean {
  return (arch === 'x64' && machine === 'x86_64') || (arch === 'arm64' && (machine === 'aarch64' || machine === 'arm64'));
}
