/**
 * `fleetmon apply`: converge to fleet.yml by running the existing stages — lxc create (changing in place what differs
 * and can be changed; what cannot is reported and kept), provision, keys deploy to the hosts whose key, gate, pin
 * or all-users helper is not as fleet.yml says (all_users per host: helper and sudoers rule installed, or removed
 * with the key kept), keys revoke on the managed hosts fleet.yml no longer lists — then the monitor's hosts.yml is
 * written once and the service restarted once (provision notices the changed file). A second run changes nothing.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FleetmonError } from '../core/errors.js';
import { parsePublicKey } from '../keys/authorized-keys.js';
import { keysDeploy } from '../keys/deploy.js';
import { keysRevoke } from '../keys/revoke.js';
import { createLxc, type LxcApplyDeps, type LxcCreateResult } from '../lxc/apply.js';
import type { LxcSpec } from '../lxc/spec.js';
import { gatherDeployFacts, type DeployPorts } from './facts.js';
import type { FleetFile } from './fleet-file.js';
import { desiredMonitorConfig, diffMonitorConfig, type ConfigChange } from './monitor-config.js';
import { planDeploy, reachableSpec, type DeployFacts, type DeployPlan } from './plan.js';

export interface ApplyPorts extends DeployPorts {
  /** How long to wait for the monitor to poll every host at the end (default 3 minutes). */
  pollTimeoutMs?: number;
  lxc: Omit<LxcApplyDeps, 'client' | 'dryRun'>;
  /** Asked with the plan, before anything changes; false stops with nothing done. */
  confirm?: (plan: DeployPlan) => Promise<boolean>;
}

export interface DeployApplyResult {
  plan: DeployPlan;
  declined?: boolean;
  container?: Pick<LxcCreateResult, 'vmid' | 'node' | 'hostname' | 'action' | 'address' | 'changes'>;
  provisioned: boolean;
  /** `sessions`: what the monitor will see there (every user's with all_users, else its own account's). */
  deployed: { host: string; ok: boolean; detail: string; sessions?: 'all-users' | 'own-account' }[];
  revoked: { host: string; ok: boolean; removed: boolean; detail?: string }[];
  configChanges: ConfigChange[];
  restarted: boolean;
  /** What the monitor reports once it has polled every host (when it could be asked). */
  polled?: { name: string; status: string; detail?: string }[];
  /** What Proxmox cannot change in place, left as it is. */
  notChanged: string[];
  ok: boolean;
}

export async function deployPlan(fleet: FleetFile, spec: LxcSpec, ports: DeployPorts): Promise<{ plan: DeployPlan; facts: DeployFacts }> {
  const facts = await gatherDeployFacts(fleet, spec, ports);
  return { plan: planDeploy(fleet, spec, facts), facts };
}

export async function applyDeploy(fleet: FleetFile, spec: LxcSpec, ports: ApplyPorts): Promise<DeployApplyResult> {
  const note = ports.note ?? (() => undefined);
  const { plan, facts } = await deployPlan(fleet, spec, ports);
  const result: DeployApplyResult = {
    plan, provisioned: false, deployed: [], revoked: [], configChanges: [], restarted: false,
    notChanged: plan.container.notChanged.map((d) => `${d.key}: ${d.current} (fleet.yml: ${d.wanted})`), ok: true,
  };
  if (plan.container.action === 'unknown' && facts.lxcError) throw new FleetmonError(facts.lxcError.code, facts.lxcError.message, { kind: 'proxmox' });
  if (!plan.changed) return result;
  if (ports.confirm && !(await ports.confirm(plan))) return { ...result, declined: true };

  // 1. The container: create, or change in place what can be (the spec keeps what cannot).
  note('container (lxc create)');
  const ct = await createLxc(reachableSpec(spec, facts.lxc).spec, { ...ports.lxc, client: ports.pve, dryRun: false });
  result.container = { vmid: ct.vmid, node: ct.node, hostname: ct.hostname, action: ct.action, changes: ct.changes, ...(ct.address ? { address: ct.address } : {}) };
  if (!ct.address) throw new FleetmonError('DEPLOY_NO_ADDRESS', `CT ${ct.vmid} has no address yet`, { kind: 'timeout', suggestions: ['run fleetmon apply again: it continues with the container'] });

  const monitor = await ports.monitor(ct.address);
  const work = mkdtempSync(join(tmpdir(), 'fleetmon-apply-'));
  try {
    // 2. The monitor.
    note(`provision ${ct.address}`);
    const prov = await monitor.provision(false);
    result.provisioned = prov.items.some((i) => i.change);
    if (!prov.publicKey) throw new FleetmonError('DEPLOY_NO_KEY', `provision of ${ct.address} reported no fleet public key`, { kind: 'ssh' });
    const original = await monitor.readConfig();
    if (original === undefined) throw new FleetmonError('DEPLOY_NO_CONFIG', `the monitor's hosts.yml is missing on ${ct.address}`, { kind: 'ssh', suggestions: ['run fleetmon apply again: provision writes it'] });

    // 3. Keys to the hosts whose key, gate, pin or all-users helper is not in place (all of them when the monitor is
    //    new). One keys deploy for all of them, all_users per host: one progress display, one concurrency limit and
    //    one pass over the pins file, where a call per all_users value would run and record each group apart.
    const pins = new Map<string, string>();
    for (const h of plan.hosts) if (h.action === 'ok' && h.hostKey) pins.set(`${h.address}:${h.port}`, h.hostKey);
    const todo = fleet.hosts.filter((h) => plan.hosts.find((p) => p.address === h.address && p.port === h.port)?.action !== 'ok');
    if (todo.length) {
      note(`keys deploy to ${todo.map((h) => h.name).join(', ')}`);
      const local = join(work, 'hosts.yml');
      writeFileSync(local, original, { mode: 0o600 }); // its pins are enforced; the file itself is written below
      const r = await keysDeploy({
        targets: todo.map((h) => `${h.admin}@${h.address.includes(':') ? `[${h.address}]` : h.address}:${h.port}`),
        publicKey: parsePublicKey(prov.publicKey),
        auth: ports.auth,
        account: fleet.keys.account,
        libDir: fleet.keys.lib_dir,
        sudoersFile: fleet.keys.sudoers_file,
        allUsers: todo.map((h) => (h.all_users ? true : 'remove')),
        configFile: local,
        renderer: ports.lxc.renderer,
        ...ports.keys,
      });
      for (const h of r.hosts) {
        if (h.ok && h.hostKey) pins.set(`${h.host}:${h.port}`, h.hostKey.fingerprint);
        result.deployed.push({
          host: `${h.host}:${h.port}`, ok: h.ok, detail: h.ok ? (h.verify?.detail ?? 'deployed') : (h.error?.message ?? h.verify?.detail ?? 'failed'),
          ...(h.sessionsScope ? { sessions: h.sessionsScope.scope } : {}),
        });
      }
    }

    // 4. Revoke on the managed hosts fleet.yml no longer lists.
    const gone = plan.hosts.filter((h) => h.action === 'revoke');
    if (gone.length) {
      note(`keys revoke on ${gone.map((h) => h.name).join(', ')}`);
      const local = join(work, 'hosts.yml');
      writeFileSync(local, original, { mode: 0o600 });
      const r = await keysRevoke({
        targets: gone.map((h) => h.target),
        auth: ports.auth,
        account: fleet.keys.account,
        libDir: fleet.keys.lib_dir,
        sudoersFile: fleet.keys.sudoers_file,
        configFile: local,
        ...(ports.keys?.connect ? { connect: ports.keys.connect } : {}),
      });
      result.revoked = r.hosts.map((h) => ({ host: `${h.host}:${h.port}`, ok: h.ok, removed: h.removed, ...(h.error ? { detail: h.error.message } : {}) }));
    }

    // 5. The monitor's configuration, written once, the service restarted once. A host whose deploy failed keeps
    //    its old entry (or gets none): the monitor is not told about a key that is not there.
    const failed = new Set(result.deployed.filter((d) => !d.ok).map((d) => d.host));
    const wanted = desiredMonitorConfig(original, fleet, pins, { leaveAlone: failed });
    result.configChanges = diffMonitorConfig(original, wanted);
    if (result.configChanges.length) {
      note('updating the monitor configuration and restarting it');
      await monitor.writeConfig(wanted);
      await monitor.provision(false); // sees the changed file: restarts the service once and waits for /health
      result.restarted = true;
    }
    if (monitor.waitPolled) {
      note('waiting until the monitor has polled every host');
      result.polled = await monitor.waitPolled(ports.pollTimeoutMs ?? 3 * 60_000);
    }
  } finally {
    monitor.close();
    rmSync(work, { recursive: true, force: true });
  }
  result.ok = result.deployed.every((d) => d.ok) && result.revoked.every((r) => r.ok);
  if (!result.ok) {
    const bad = [...result.deployed.filter((d) => !d.ok).map((d) => `${d.host} (${d.detail})`), ...result.revoked.filter((r) => !r.ok).map((r) => `${r.host} (${r.detail ?? 'revoke failed'})`)];
    throw Object.assign(
      new FleetmonError('DEPLOY_HOSTS_FAILED', `apply finished except on ${bad.join(', ')}`, { kind: 'ssh', suggestions: ['fix the host, then run fleetmon apply again: what holds is skipped'] }),
      { result },
    );
  }
  return result;
}
