import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../../cli/base.js';
import { connectFromFlags, proxmoxFlags } from '../../cli/proxmox-flags.js';
import { canPrompt, confirm } from '../../cli/prompt.js';
import { FleetmonError } from '../../core/errors.js';
import { chooseRenderer } from '../../steps/progress.js';
import { toFleetmonError } from '../../lxc/proxmox/errors.js';
import { realClock } from '../../lxc/proxmox/wait.js';
import { destroyLxc, type LxcDestroyResult } from '../../lxc/destroy.js';
import { FLEETMON_TAG } from '../../lxc/spec.js';

export default class LxcDestroy extends BaseCommand {
  static override summary = 'Stop and remove a container that fleetmon created.';

  static override description = `Removes only containers that carry the '${FLEETMON_TAG}' tag (lxc create always sets \
it); anything else is refused. A running container is stopped first; its disks go with it and it is dropped from \
pools, replication and HA. A VMID that does not exist is success: there is nothing to remove. It asks before \
removing anything; --yes skips the question (and is needed with --json or without a terminal).

The token needs VM.Audit, VM.PowerMgmt and VM.Allocate on /vms/VMID.

Exit status: 0 removed or already gone; 2 bad arguments; 5 Proxmox error (a task failed); 7 a task passed its \
deadline; 8 refused (not a fleetmon container, a VM, or locked); 9 authentication, privilege or TLS trust failure.`;

  static override examples = [
    {
      description: 'Remove CT 200',
      command: '<%= config.bin %> <%= command.id %> 200 --proxmox https://pve1:8006 --ca-file pve-root-ca.pem',
    },
    {
      description: 'As JSON (FLEETMON_PVE_URL, FLEETMON_PVE_TOKEN and FLEETMON_PVE_FINGERPRINT set)',
      command: '<%= config.bin %> <%= command.id %> 200 --yes --json',
    },
  ];

  static override args = {
    vmid: Args.integer({ description: 'VMID of the container', required: true, min: 100, max: 999_999_999 }),
  };

  static override flags = {
    ...proxmoxFlags,
    node: Flags.string({ summary: 'Refuse unless the container is on this node (as lxc create takes it).', env: 'FLEETMON_PVE_NODE' }),
    yes: Flags.boolean({ char: 'y', summary: 'Remove without asking.' }),
  };

  async run(): Promise<LxcDestroyResult> {
    const { args, flags } = await this.parse(LxcDestroy);
    if (!flags.yes && (this.jsonEnabled() || !canPrompt())) {
      throw new FleetmonError('CONFIRMATION_REQUIRED', `refusing to remove CT ${args.vmid} without confirmation ${this.jsonEnabled() ? 'under --json' : 'on a non-interactive terminal'}`, {
        kind: 'usage',
        suggestions: ['add --yes'],
      });
    }
    // Not this.warn(): in development mode oclif appends a stack trace to every warning.
    const warn = (m: string) => this.logToStderr(`Warning: ${m}`);
    const client = connectFromFlags(flags, warn);
    let result: LxcDestroyResult;
    try {
      result = await destroyLxc(args.vmid, {
        client,
        clock: realClock,
        renderer: chooseRenderer(this.jsonEnabled()),
        taskTimeoutMs: flags['task-timeout'],
        warn,
        ...(flags.node ? { node: flags.node } : {}),
        ...(flags.yes ? {} : { confirm: (ct) => confirm(`Remove CT ${ct.vmid} '${ct.hostname}' on ${ct.node} (${ct.status}) and its disks?`) }),
      });
    } catch (err) {
      throw toFleetmonError(err);
    } finally {
      await client.close();
    }
    if (result.declined) {
      this.say(`CT ${result.vmid} left as it is.`);
      return result;
    }
    this.say(result.alreadyGone ? `CT ${result.vmid} does not exist: nothing to do.` : `CT ${result.vmid} '${result.hostname ?? ''}' removed from ${result.node ?? '?'}.`);
    return result;
  }
}
