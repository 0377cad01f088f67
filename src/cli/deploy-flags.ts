/**
 * What plan, apply and destroy share: `-f fleet.yml`, the logins (--identity for root on the container and the
 * hosts' admin logins), the Proxmox client from the file's proxmox section (the token from the variable it names),
 * and the ports deploy runs on.
 */
import { Flags } from '@oclif/core';
import { FleetmonError } from '../core/errors.js';
import { loadFleetFile, lxcSpecOf, type FleetFile } from '../deploy/fleet-file.js';
import type { DeployPorts } from '../deploy/facts.js';
import { sshMonitor } from '../deploy/monitor.js';
import { connectPve, type PveClient } from '../lxc/proxmox/client.js';
import type { LxcSpec } from '../lxc/spec.js';
import type { Renderer } from '../steps/progress.js';
import { durationFlag } from './proxmox-flags.js';
import { resolveAuth } from './ssh-login.js';

export const deployFlags = {
  file: Flags.string({ char: 'f', summary: 'The deployment file.', env: 'FLEETMON_FLEET_FILE', default: 'fleet.yml' }),
  identity: Flags.string({ char: 'i', env: 'FLEETMON_IDENTITY', summary: 'private key for root on the container and the admin logins on hosts' }),
  'task-timeout': durationFlag({ summary: 'Deadline for each Proxmox task.', env: 'FLEETMON_PVE_TASK_TIMEOUT', default: 30 * 60_000, defaultHelp: async () => '30m' }),
  'app-root': Flags.string({ env: 'FLEETMON_APP_ROOT', hidden: true, summary: 'install the package at this path (development, tests)' }),
};

export interface DeploySetup {
  fleet: FleetFile;
  spec: LxcSpec;
  client: PveClient;
  ports: DeployPorts;
}

export function pveClientFor(fleet: FleetFile, warn: (m: string) => void, env = process.env): PveClient {
  const token = env[fleet.proxmox.token_env];
  if (!token) {
    throw new FleetmonError('PVE_NO_TOKEN', `the Proxmox API token is not set: fleet.yml reads it from $${fleet.proxmox.token_env}`, {
      kind: 'usage',
      suggestions: [`export ${fleet.proxmox.token_env}='fleetmon@pve!fleetmon=SECRET'`],
    });
  }
  return connectPve({ url: fleet.proxmox.url, token, caFile: fleet.proxmox.ca_file, fingerprint: fleet.proxmox.fingerprint, insecure: false, warn });
}

export async function deploySetup(flags: { file: string; identity?: string | undefined; 'app-root'?: string | undefined }, renderer: Renderer, warn: (m: string) => void, note: (m: string) => void): Promise<DeploySetup> {
  const fleet = loadFleetFile(flags.file);
  const spec = lxcSpecOf(fleet);
  const auth = await resolveAuth({ user: 'root', identity: flags.identity, target: `the container and ${fleet.hosts.length} host(s)` });
  const client = pveClientFor(fleet, warn);
  const ports: DeployPorts = {
    pve: client,
    auth,
    note,
    monitor: (address) => sshMonitor({ address, port: fleet.container.ssh_port, auth, fleet, renderer, ...(flags['app-root'] ? { root: flags['app-root'] } : {}) }),
  };
  return { fleet, spec, client, ports };
}
