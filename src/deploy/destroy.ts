/**
 * `fleetmon destroy`: take the monitor's key off every host fleet.yml lists and every host the monitor's hosts.yml
 * manages, then remove the container (only one fleetmon made: lxc destroy checks the tag).
 */
import { errorInfo } from '../keys/target.js';
import { keysRevoke } from '../keys/revoke.js';
import { destroyLxc, type LxcDestroyDeps, type LxcDestroyResult } from '../lxc/destroy.js';
import { parseConfigText } from '../core/config.js';
import type { LxcSpec } from '../lxc/spec.js';
import { containerAddress, type DeployPorts } from './facts.js';
import { gatherLxcFacts } from '../lxc/facts.js';
import { targetOf, type FleetFile } from './fleet-file.js';
import { managedHosts } from './monitor-config.js';

export interface DeployDestroyResult {
  revoked: { host: string; ok: boolean; removed: boolean; detail?: string }[];
  container?: LxcDestroyResult;
  declined?: boolean;
}

export interface DestroyPorts extends DeployPorts {
  lxc: Omit<LxcDestroyDeps, 'client' | 'confirm' | 'node'>;
  /** Asked with what will go, before anything changes. */
  confirm?: (what: { vmid?: number; hosts: string[] }) => Promise<boolean>;
}

export async function destroyDeploy(fleet: FleetFile, spec: LxcSpec, ports: DestroyPorts): Promise<DeployDestroyResult> {
  const facts = await gatherLxcFacts(ports.pve, spec);
  const ex = facts.existing;
  const targets = new Map(fleet.hosts.map((h) => [`${h.address}:${h.port}`, targetOf(h)] as const));
  if (ex) {
    // The hosts the monitor manages, too: one dropped from fleet.yml but never applied still has the key.
    const address = await containerAddress(ports.pve, spec, ex.node, ex.vmid, ex.status);
    if (address) {
      try {
        const m = await ports.monitor(address);
        try {
          const text = await m.readConfig();
          if (text !== undefined) for (const h of managedHosts(parseConfigText(text, 'hosts.yml'))) targets.set(`${h.address}:${h.port}`, targetOf({ address: h.address, port: h.port }));
        } finally {
          m.close();
        }
      } catch (err) {
        ports.note?.(`cannot read the monitor's hosts.yml (${errorInfo(err).message}); revoking on fleet.yml's hosts only`);
      }
    }
  }
  if (ports.confirm && !(await ports.confirm({ ...(ex ? { vmid: ex.vmid } : {}), hosts: [...targets.keys()] }))) return { revoked: [], declined: true };
  const result: DeployDestroyResult = { revoked: [] };
  if (targets.size) {
    // libDir and sudoersFile: the all-users helper and rule of fleet.yml's all_users hosts go with the key.
    const r = await keysRevoke({
      targets: [...targets.values()], auth: ports.auth, account: fleet.keys.account, libDir: fleet.keys.lib_dir, sudoersFile: fleet.keys.sudoers_file,
      ...(ports.keys?.connect ? { connect: ports.keys.connect } : {}),
    });
    result.revoked = r.hosts.map((h) => ({ host: `${h.host}:${h.port}`, ok: h.ok, removed: h.removed, ...(h.error ? { detail: h.error.message } : {}) }));
  }
  if (ex) result.container = await destroyLxc(ex.vmid, { ...ports.lxc, client: ports.pve, node: ex.node });
  return result;
}
