/**
 * The deployment plan, pure: fleet.yml + the facts read from Proxmox, the container and every host → stage by stage
 * what would change. Nothing is stored between runs: the facts are the state (what fleetmon made carries its tag,
 * the hosts it manages are the `gate: true` entries of the monitor's hosts.yml). Tested as data
 * (test/deploy/deploy-plan.test.ts).
 */
import { parseConfigText } from '../core/config.js';
import type { AllUsersState } from '../keys/all-users.js';
import type { LxcFacts } from '../lxc/facts.js';
import { diffConfig, planLxc, type ConfigDifference, type LxcPlan, type PlanBlocker } from '../lxc/plan.js';
import type { LxcSpec } from '../lxc/spec.js';
import type { StepResult } from '../steps/steps.js';
import { targetOf, type FleetFile } from './fleet-file.js';
import { desiredMonitorConfig, diffMonitorConfig, managedHosts, type ConfigChange, type ManagedHost } from './monitor-config.js';

/** What one fleet host looks like from the admin login, with the monitor's key (keys deploy's dry run). */
export interface HostFacts {
  name: string;
  address: string;
  port: number;
  hostKey?: string;
  /** keys deploy's checked steps: `planned` where it would change something. */
  steps: StepResult[];
  /** The all-users helper and sudoers rule as found (absent when the host could not be read). */
  allUsers?: AllUsersState;
  error?: { code: string; message: string };
}

export interface DeployFacts {
  /** What Proxmox says (undefined when it could not be asked: the error says why). */
  lxc?: LxcFacts;
  lxcError?: { code: string; message: string };
  /** The container's address, when it runs and has one. */
  address?: string;
  /** provision's dry run on the container. */
  provision?: { items: { id: string; title: string; change: boolean; detail: string }[] };
  /** The monitor's hosts.yml and fleet public key, read over SSH. */
  monitor?: { configText: string; publicKey: string | null };
  monitorError?: { code: string; message: string };
  /** One per fleet.yml host, when the monitor's key is known. */
  hosts?: HostFacts[];
}

export type HostAction = 'deploy' | 'ok' | 'revoke';

export interface HostPlan {
  name: string;
  address: string;
  port: number;
  target: string;
  action: HostAction;
  /** Per item (account, ssh-dir, lib-dir, gate, probe, authorized-key, all-users, pin): what would change and why. */
  changes: { id: string; detail: string }[];
  /** fleet.yml's all_users: apply installs the helper and sudoers rule (true) or removes them (false). */
  allUsers: boolean;
  hostKey?: string;
}

export interface DeployPlan {
  container: {
    action: 'create' | 'update' | 'ok' | 'unknown';
    vmid?: number;
    node?: string;
    hostname: string;
    /** Changed in place through the API. */
    changes: ConfigDifference[];
    /** What Proxmox cannot change live: said, not forced (destroy and apply again to get it). */
    notChanged: ConfigDifference[];
    blockers: PlanBlocker[];
    address?: string;
  };
  provision: { action: 'install' | 'update' | 'ok' | 'unknown'; items: { id: string; detail: string }[]; detail?: string };
  hosts: HostPlan[];
  monitorConfig: { changes: ConfigChange[]; restart: boolean; detail?: string };
  /** Something would change: `plan` exits 2. */
  changed: boolean;
  warnings: string[];
}

/**
 * The spec apply converges to: fleet.yml's, except where Proxmox cannot change an existing container in place (its
 * storage, privileged or not, a disk that would shrink): there the container keeps what it has, and the plan says so.
 */
export function reachableSpec(spec: LxcSpec, facts: LxcFacts | undefined): { spec: LxcSpec; notChanged: ConfigDifference[] } {
  if (!facts?.existing) return { spec, notChanged: [] };
  const notChanged = diffConfig(spec, facts.existing.config).filter((d) => d.fix === 'impossible');
  let s = { ...spec };
  for (const d of notChanged) {
    if (d.key === 'rootfs.storage') s = { ...s, storage: d.current };
    if (d.key === 'unprivileged') s = { ...s, unprivileged: d.current === '1' };
    if (d.key === 'rootfs.size') s = { ...s, diskGiB: Number(d.current.replace(/G$/, '')) };
  }
  return { spec: s, notChanged };
}

function containerStage(spec: LxcSpec, facts: DeployFacts): { stage: DeployPlan['container']; lxcPlan?: LxcPlan } {
  if (!facts.lxc) {
    return {
      stage: {
        action: 'unknown', hostname: spec.hostname, changes: [], notChanged: [],
        blockers: facts.lxcError ? [{ code: facts.lxcError.code, kind: 'proxmox', message: facts.lxcError.message, suggestions: [] }] : [],
      },
    };
  }
  const { spec: reachable, notChanged } = reachableSpec(spec, facts.lxc);
  const p = planLxc(reachable, facts.lxc);
  const changes = p.differences.filter((d) => d.fix !== 'impossible');
  const action = p.action === 'create' ? 'create' : changes.length || p.steps.includes('start') ? 'update' : 'ok';
  return {
    lxcPlan: p,
    stage: {
      action, vmid: p.vmid, node: p.node, hostname: p.hostname, changes, notChanged, blockers: p.blockers,
      ...(facts.address ? { address: facts.address } : {}),
    },
  };
}

function provisionStage(facts: DeployFacts, ct: DeployPlan['container']): DeployPlan['provision'] {
  if (facts.provision) {
    const items = facts.provision.items.filter((i) => i.change).map((i) => ({ id: i.id, detail: i.detail }));
    return { action: items.length ? 'update' : 'ok', items };
  }
  if (ct.action === 'create') return { action: 'install', items: [], detail: 'the container is new: everything is installed' };
  return { action: 'unknown', items: [], detail: facts.monitorError?.message ?? 'the container has no address yet' };
}

export const INSTALL_ALL_USERS = 'install the all-users helper and sudoers rule';
export const REMOVE_ALL_USERS = 'remove the all-users helper and sudoers rule (all_users is off; the key stays)';

/**
 * fleet.yml's all_users against what the host has: the change to make, if any. On, the helper must be current and
 * so must the rule where sudo is there (without sudo keys deploy installs no rule, and the plan warns instead); off,
 * neither may be there. Unread facts (the host did not answer) mean installing for `true` and nothing to say for
 * `false`: that host is deployed anyway, and the deploy removes what it finds.
 */
export function allUsersChange(wanted: boolean, facts: AllUsersState | undefined): { id: string; detail: string } | undefined {
  if (!facts) return wanted ? { id: 'all-users', detail: `${INSTALL_ALL_USERS} (not checked)` } : undefined;
  if (wanted) {
    const ok = facts.helper === 'current' && (!facts.sudo || facts.sudoers === 'current');
    return ok ? undefined : { id: 'all-users', detail: `${INSTALL_ALL_USERS} (${facts.detail ?? 'not current'})` };
  }
  const there = [...(facts.helper !== 'missing' ? ['helper'] : []), ...(facts.sudoers !== 'missing' ? ['sudoers rule'] : [])];
  return there.length ? { id: 'all-users', detail: `${REMOVE_ALL_USERS}: ${there.join(' and ')} present` } : undefined;
}

/** Pure: what apply would do to get from the facts to fleet.yml. */
export function planDeploy(fleet: FleetFile, spec: LxcSpec, facts: DeployFacts): DeployPlan {
  const warnings: string[] = [];
  const { stage: container } = containerStage(spec, facts);
  const provision = provisionStage(facts, container);
  const currentText = facts.monitor?.configText;
  const current = currentText !== undefined ? parseConfigText(currentText, 'hosts.yml (on the monitor)') : undefined;
  const pinned = new Map((current ? managedHosts(current) : []).map((m) => [`${m.address}:${m.port}`, m] as const));

  const hosts: HostPlan[] = fleet.hosts.map((h) => {
    const f = facts.hosts?.find((x) => x.address === h.address && x.port === h.port);
    const base = { name: h.name, address: h.address, port: h.port, target: targetOf(h), allUsers: h.all_users };
    if (!f) {
      const key = { id: 'key', detail: facts.monitor?.publicKey ? 'not checked' : "the monitor's key is made by provision" };
      const allUsers = allUsersChange(h.all_users, undefined);
      return { ...base, action: 'deploy', changes: [key, ...(allUsers ? [allUsers] : [])] };
    }
    const changes = f.steps.filter((s) => s.status === 'planned').map((s) => ({ id: s.id, detail: s.detail ?? s.status }));
    const allUsers = allUsersChange(h.all_users, f.allUsers);
    if (allUsers) changes.push(allUsers);
    if (h.all_users && f.allUsers && !f.allUsers.sudo) {
      warnings.push(`${h.name}: sudo or visudo is not installed there, so all_users cannot take effect: the monitor sees only its own account's tmux sessions (install sudo on ${h.address}, then run fleetmon apply)`);
    }
    if (f.error) {
      // A dry run stops where a step needs what an earlier planned one makes (the account): that is a change, not an error.
      const afterPlanned = changes.length > 0 && f.steps.some((s) => s.status === 'failed');
      changes.push(afterPlanned ? { id: 'rest', detail: 'checked once the steps above are done' } : { id: 'check', detail: `${f.error.code}: ${f.error.message}` });
      return { ...base, action: 'deploy', changes, ...(f.hostKey ? { hostKey: f.hostKey } : {}) };
    }
    const pin = pinned.get(`${h.address}:${h.port}`)?.hostKey;
    if (f.hostKey && pin !== f.hostKey) changes.push({ id: 'pin', detail: pin ? `pinned ${pin}, host shows ${f.hostKey}` : `not pinned yet (${f.hostKey})` });
    return { ...base, action: changes.length ? 'deploy' : 'ok', changes, ...(f.hostKey ? { hostKey: f.hostKey } : {}) };
  });
  const removed: ManagedHost[] = current ? managedHosts(current).filter((m) => !fleet.hosts.some((h) => h.address === m.address && h.port === m.port)) : [];
  for (const m of removed) {
    hosts.push({ name: m.name, address: m.address, port: m.port, target: targetOf({ address: m.address, port: m.port }), action: 'revoke', changes: [{ id: 'authorized-key', detail: 'no longer in fleet.yml: remove the key (and the all-users helper and sudoers rule where they are)' }], allUsers: false });
  }

  let monitorConfig: DeployPlan['monitorConfig'];
  if (currentText !== undefined) {
    const pins = new Map(hosts.filter((h) => h.hostKey).map((h) => [`${h.address}:${h.port}`, h.hostKey!] as const));
    const text = desiredMonitorConfig(currentText, fleet, pins);
    const changes = diffMonitorConfig(currentText, text);
    // The file itself is not part of the plan: it may hold the API token (server.token) and channel secrets.
    monitorConfig = { changes, restart: changes.length > 0 };
  } else {
    monitorConfig = { changes: [], restart: container.action === 'create', detail: container.action === 'create' ? 'written by provision, then the fleet added' : 'not read (no monitor yet)' };
  }
  const changed =
    container.action !== 'ok' ||
    provision.action !== 'ok' ||
    hosts.some((h) => h.action !== 'ok') ||
    monitorConfig.changes.length > 0 ||
    container.blockers.length > 0;
  return { container, provision, hosts, monitorConfig, changed, warnings };
}

/** The plan as lines for a terminal, stage by stage. */
export function describeDeployPlan(p: DeployPlan): string[] {
  const out: string[] = [];
  const c = p.container;
  const where = c.vmid !== undefined ? `CT ${c.vmid} '${c.hostname}'${c.node ? ` on ${c.node}` : ''}` : `CT '${c.hostname}'`;
  out.push(`container: ${c.action === 'create' ? `+ create ${where}` : c.action === 'update' ? `~ change ${where}` : c.action === 'ok' ? `${where}: no change` : `${where}: unknown`}`);
  for (const d of c.changes) out.push(`    ~ ${d.key}: ${d.current} → ${d.wanted}`);
  for (const d of c.notChanged) out.push(`    ! ${d.key}: ${d.current} (fleet.yml: ${d.wanted}) cannot be changed in place; kept`);
  for (const b of c.blockers) out.push(`    ✖ ${b.message}`);
  out.push(`provision: ${p.provision.action === 'ok' ? 'no change' : p.provision.action}${p.provision.detail ? ` (${p.provision.detail})` : ''}`);
  for (const i of p.provision.items) out.push(`    ~ ${i.id}: ${i.detail}`);
  out.push(`hosts:`);
  for (const h of p.hosts) {
    const sign = h.action === 'ok' ? ' ' : h.action === 'revoke' ? '-' : '+';
    out.push(`  ${sign} ${h.name} (${h.address}:${h.port}): ${h.action === 'ok' ? `key, gate${h.allUsers ? ', all-users helper' : ''} and pin in place` : h.action}${h.allUsers ? ' [all_users]' : ''}`);
    if (h.action !== 'ok') for (const ch of h.changes) out.push(`      ${ch.id}: ${ch.detail}`);
  }
  out.push(`monitor configuration: ${p.monitorConfig.changes.length ? `${p.monitorConfig.changes.length} change(s), then one restart` : (p.monitorConfig.detail ?? 'no change')}`);
  for (const ch of p.monitorConfig.changes) out.push(`    ~ ${ch.key}: ${ch.current} → ${ch.wanted}`);
  for (const w of p.warnings) out.push(`warning: ${w}`);
  out.push(p.changed ? 'Plan: changes to apply.' : 'No changes: the deployment matches fleet.yml.');
  return out;
}
