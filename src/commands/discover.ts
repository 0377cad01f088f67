import { Flags } from '@oclif/core';
import { existsSync } from 'node:fs';
import { BaseCommand } from '../cli/base.js';
import { connectFromFlags, proxmoxFlags } from '../cli/proxmox-flags.js';
import { FleetmonError } from '../core/errors.js';
import { writeFileAtomic } from '../core/files.js';
import { discover, fleetFileText, type DiscoverResult } from '../deploy/discover.js';
import { toFleetmonError } from '../lxc/proxmox/errors.js';

const { 'task-timeout': _t, ...connection } = proxmoxFlags;

export default class Discover extends BaseCommand {
  static override summary = "List a Proxmox cluster's nodes and guests with their addresses, as fleet.yml host entries.";
  static override description = `Containers report their interfaces (Proxmox VE 8.1+); virtual machines only through the QEMU guest \
agent, where it runs. --write FILE writes a fleet.yml to start from (never over an existing file). The token needs \
VM.Audit on the guests (and VM.GuestAgent.Audit on PVE 9, VM.Monitor on PVE 8, for the agent).`;
  static override examples = ["FLEETMON_PVE_TOKEN='…' <%= config.bin %> discover --proxmox https://pve1:8006 --ca-file pve-root-ca.pem --write fleet.yml"];
  static override flags = { ...connection, write: Flags.string({ summary: 'Write a fleet.yml with the discovered hosts to this file.' }) };

  async run(): Promise<DiscoverResult & { written?: string }> {
    const { flags } = await this.parse(Discover);
    if (flags.write && existsSync(flags.write)) {
      throw new FleetmonError('FILE_EXISTS', `${flags.write} exists; discover does not overwrite it`, { kind: 'usage', suggestions: ['pass another --write FILE, or compare with the hosts printed without --write'] });
    }
    const client = connectFromFlags(flags, (m) => this.logToStderr(`Warning: ${m}`));
    let result: DiscoverResult;
    try {
      result = await discover(client);
    } catch (err) {
      throw toFleetmonError(err, 'discovering guests');
    } finally {
      await client.close();
    }
    this.say(`nodes: ${result.nodes.map((n) => `${n.node} (${n.status})`).join(', ')}`);
    for (const g of result.guests) {
      this.say(`  ${g.type === 'lxc' ? 'CT' : 'VM'} ${g.vmid} ${g.name} on ${g.node}: ${g.address ?? `no address (${g.detail ?? g.source})`}${g.monitor ? ' [the fleetmon monitor]' : ''}`);
    }
    if (flags.write) {
      writeFileAtomic(flags.write, fleetFileText(flags.proxmox, result, { ...(flags['ca-file'] ? { caFile: flags['ca-file'] } : {}), ...(flags.fingerprint ? { fingerprint: flags.fingerprint } : {}) }));
      this.say(`wrote ${flags.write} with ${result.hosts.length} host(s)`);
      return { ...result, written: flags.write };
    }
    return result;
  }
}
