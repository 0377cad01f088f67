/**
 * Reading the truth, each time: Proxmox (the container fleetmon made, by hostname or VMID), the container's address,
 * the monitor (provision's dry run, its hosts.yml and fleet key over SSH) and every fleet host (keys deploy's dry run
 * with the monitor's key, pins from the monitor's hosts.yml, where the all-users helper and sudoers rule stand).
 * Nothing here changes anything.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parsePublicKey } from '../keys/authorized-keys.js';
import { keysDeploy } from '../keys/deploy.js';
import { errorInfo } from '../keys/target.js';
import { eth0Ipv4 } from '../lxc/apply.js';
import { gatherLxcFacts } from '../lxc/facts.js';
import type { PveClient } from '../lxc/proxmox/client.js';
import { toFleetmonError } from '../lxc/proxmox/errors.js';
import type { LxcSpec } from '../lxc/spec.js';
import type { AdminAuth } from '../ssh/login.js';
import type { RemoteShell, RemoteShellOptions } from '../ssh/remote-shell.js';
import { targetOf, type FleetFile } from './fleet-file.js';
import { reachableSpec, type DeployFacts, type HostFacts } from './plan.js';

/** The monitor in its container, as deploy reaches it (over SSH as root; tests give their own). */
export interface MonitorPort {
  /** provision: a dry run says what would change; a real run installs, and restarts the service when its config changed. */
  provision(dryRun: boolean): Promise<{ items: { id: string; title: string; change: boolean; detail: string }[]; publicKey: string | null }>;
  readConfig(): Promise<string | undefined>;
  writeConfig(text: string): Promise<void>;
  /**
   * Waits until the running monitor has polled every host (online or degraded) and returns what it reports; absent
   * where there is no server to ask (tests of the key stages).
   */
  waitPolled?(timeoutMs: number): Promise<{ name: string; status: string; detail?: string }[]>;
  close(): void;
}

export interface DeployPorts {
  pve: PveClient;
  /** Connects to the monitor at the container's address. */
  monitor(address: string): Promise<MonitorPort>;
  /** The admin login on fleet hosts (a host's `admin` names the user). */
  auth: AdminAuth;
  /** keys deploy's options tests set: their own gate/probe, connect. */
  keys?: { probeScript?: string; gateScript?: string; connect?: (o: RemoteShellOptions) => Promise<RemoteShell>; connectTimeoutMs?: number; commandTimeoutMs?: number };
  note?: (message: string) => void;
}

/** The container's IPv4: the static one fleet.yml gives, else what Proxmox reports on eth0. */
export async function containerAddress(pve: PveClient, spec: LxcSpec, node: string, vmid: number, status: string): Promise<string | undefined> {
  if (spec.ipv4.mode === 'static') return spec.ipv4.cidr.split('/')[0];
  if (status !== 'running') return undefined;
  try {
    return eth0Ipv4(await pve.lxcInterfaces(node, vmid));
  } catch {
    return undefined; // the plan says "no address yet"; apply waits for one
  }
}

export async function gatherDeployFacts(fleet: FleetFile, spec: LxcSpec, ports: DeployPorts): Promise<DeployFacts> {
  const note = ports.note ?? (() => undefined);
  const facts: DeployFacts = {};
  try {
    facts.lxc = await gatherLxcFacts(ports.pve, spec, note);
  } catch (err) {
    facts.lxcError = errorInfo(toFleetmonError(err, 'checking Proxmox'));
    return facts;
  }
  const ex = facts.lxc.existing;
  if (ex) {
    const address = await containerAddress(ports.pve, reachableSpec(spec, facts.lxc).spec, ex.node, ex.vmid, ex.status);
    if (address) facts.address = address;
  }
  if (!facts.address) return facts;
  let monitor: MonitorPort | undefined;
  try {
    monitor = await ports.monitor(facts.address);
    const prov = await monitor.provision(true);
    facts.provision = { items: prov.items };
    const configText = await monitor.readConfig();
    if (configText !== undefined) facts.monitor = { configText, publicKey: prov.publicKey };
  } catch (err) {
    facts.monitorError = errorInfo(err);
    return facts;
  } finally {
    monitor?.close();
  }
  if (facts.monitor?.publicKey && fleet.hosts.length) facts.hosts = await hostFacts(fleet, facts.monitor.publicKey, facts.monitor.configText, ports);
  return facts;
}

/**
 * keys deploy's dry run on every fleet.yml host: what it would change, the host key it sees (pins enforced), and
 * where the all-users helper and sudoers rule stand (read with keys deploy's own checks, whatever all_users says:
 * the plan decides whether to install them, remove them or leave them).
 */
export async function hostFacts(fleet: FleetFile, publicKey: string, configText: string, ports: DeployPorts): Promise<HostFacts[]> {
  const dir = mkdtempSync(join(tmpdir(), 'fleetmon-plan-'));
  try {
    const configFile = join(dir, 'hosts.yml');
    writeFileSync(configFile, configText, { mode: 0o600 });
    const r = await keysDeploy({
      targets: fleet.hosts.map(targetOf),
      publicKey: parsePublicKey(publicKey),
      auth: ports.auth,
      account: fleet.keys.account,
      libDir: fleet.keys.lib_dir,
      sudoersFile: fleet.keys.sudoers_file,
      inspectAllUsers: true,
      configFile,
      dryRun: true,
      ...ports.keys,
    });
    return r.hosts.map((h, i) => ({
      name: fleet.hosts[i]!.name,
      address: h.host,
      port: h.port,
      ...(h.hostKey ? { hostKey: h.hostKey.fingerprint } : {}),
      steps: h.steps,
      ...(h.allUsers ? { allUsers: h.allUsers } : {}),
      ...(h.error ? { error: h.error } : {}),
    }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
