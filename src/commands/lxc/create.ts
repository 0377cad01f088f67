import { Args } from '@oclif/core';
import { BaseCommand } from '../../cli/base.js';
import { connectFromFlags, lxcFlags, lxcSpecFromFlags, proxmoxFlags } from '../../cli/proxmox-flags.js';
import { chooseRenderer } from '../../steps/progress.js';
import { toFleetmonError } from '../../lxc/proxmox/errors.js';
import { realClock } from '../../lxc/proxmox/wait.js';
import { createLxc, type LxcCreateResult } from '../../lxc/apply.js';
import { probeSshBanner } from '../../ssh/banner.js';

export default class LxcCreate extends BaseCommand {
  static override summary = "Create the monitor's Debian 12 container on Proxmox VE (or find the one that exists).";

  static override description = `Talks to the Proxmox VE API with an API token, from any machine: checks the node, the token's \
privileges, the storages and the bridge; downloads the newest Debian 12 standard template if the template storage \
lacks it; creates an unprivileged container with nesting (Debian 12's systemd needs it), starts it, waits for its \
IPv4 address on eth0 and for SSH, and prints what to run next.

It is idempotent: when a container with this hostname (or the given VMID) exists, it is reported (and started if \
stopped) instead of created again. If its configuration differs from the flags, the differences are listed and \
nothing is changed unless --force asks to change it in place (the storage, a smaller disk and privileged/unprivileged \
cannot be changed in place).

Without a VMID it takes the lowest free one from 200 up. The token needs, on /vms (or the --pool): VM.Allocate, \
VM.Audit, VM.Config.CPU, VM.Config.Disk, VM.Config.Memory, VM.Config.Network, VM.Config.Options, VM.PowerMgmt; \
Datastore.AllocateSpace on the root-disk storage; Datastore.Audit (and Datastore.AllocateTemplate to download) on \
the template storage; SDN.Use on /sdn/zones/localnetwork/BRIDGE (PVE 8+). A missing one is named with its path.

TLS: Proxmox nodes use their cluster's own CA. Pass --ca-file with a copy of /etc/pve/pve-root-ca.pem, or pin the \
node's public key with --fingerprint sha256//BASE64 (it survives certificate renewals); on the node:
  openssl x509 -in /etc/pve/local/pve-ssl.pem -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64

Exit status: 0 done; 2 bad flags; 3 unreadable --ca-file; 5 Proxmox error (task failed, unsupported version, node \
offline, storage content); 7 a deadline passed (task, address, SSH); 8 conflict (configuration differs, no free \
VMID, VMID is a VM, locked); 9 authentication or trust (token refused, missing privilege, certificate not trusted or \
pin mismatch); 10 not found (node, storage, bridge, template).`;

  static override examples = [
    {
      description: 'Create it with DHCP, pinning the node key (token from the environment)',
      command: "FLEETMON_PVE_TOKEN='fleetmon@pve!fleetmon=…' <%= config.bin %> <%= command.id %> --proxmox https://pve1:8006 --fingerprint sha256//n5b…=",
    },
    {
      description: 'A fixed VMID and a static address, trusting the cluster CA',
      command: '<%= config.bin %> <%= command.id %> 210 --proxmox pve1 --ca-file pve-root-ca.pem --ip 192.168.1.50/24 --gateway 192.168.1.1',
    },
    {
      description: 'Show what would be done, as JSON',
      command: '<%= config.bin %> <%= command.id %> --proxmox pve1 --ca-file pve-root-ca.pem --dry-run --json',
    },
  ];

  static override args = {
    vmid: Args.integer({ description: 'VMID to use (default: the next free one from 200, or the existing container\'s)', min: 100, max: 999_999_999 }),
  };

  static override flags = {
    ...proxmoxFlags,
    ...lxcFlags,
  };

  async run(): Promise<LxcCreateResult> {
    const { args, flags } = await this.parse(LxcCreate);
    const spec = lxcSpecFromFlags(args.vmid, flags);
    const warn = (m: string) => this.logToStderr(`Warning: ${m}`);
    const client = connectFromFlags(flags, warn);
    let result: LxcCreateResult;
    try {
      result = await createLxc(spec, {
        client,
        clock: realClock,
        probeSsh: probeSshBanner,
        renderer: chooseRenderer(this.jsonEnabled()),
        timeouts: { taskMs: flags['task-timeout'], addressMs: flags['address-timeout'], sshMs: flags['ssh-timeout'] },
        warn,
        dryRun: flags['dry-run'],
      });
    } catch (err) {
      throw toFleetmonError(err);
    } finally {
      await client.close();
    }
    this.say('');
    this.say(`CT ${result.vmid} '${result.hostname}' on ${result.node}: ${result.action}, ${result.status}`);
    if (result.address) this.say(`  address   ${result.address}`);
    if (result.template) this.say(`  template  ${result.template}${result.templateDownloaded ? ' (downloaded)' : ''}`);
    for (const c of result.changes) this.say(`  changed   ${c.key}: ${c.current} → ${c.wanted}`);
    if (result.plan) this.say(`  plan      ${result.plan.steps.join(', ')}`);
    if (result.next) this.say(`\nNext: ${result.next}`);
    return result;
  }
}
