import { Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base.js';
import { deployFlags, deploySetup } from '../cli/deploy-flags.js';
import { canPrompt, confirm } from '../cli/prompt.js';
import { FleetmonError } from '../core/errors.js';
import { destroyDeploy, type DeployDestroyResult } from '../deploy/destroy.js';
import { toFleetmonError } from '../lxc/proxmox/errors.js';
import { realClock } from '../lxc/proxmox/wait.js';
import { chooseRenderer } from '../steps/progress.js';

export default class Destroy extends BaseCommand {
  static override summary = "Revoke the monitor's key from every host and remove its container.";
  static override description = `Revokes the key on the hosts fleet.yml lists and on those the monitor's hosts.yml manages, then \
removes the container (only one carrying the fleetmon tag). Asks first; --yes skips the question (needed with --json \
or without a terminal).`;
  static override examples = ['<%= config.bin %> destroy -f fleet.yml', '<%= config.bin %> destroy -f fleet.yml --yes --json'];
  static override flags = { ...deployFlags, yes: Flags.boolean({ char: 'y', summary: 'Remove without asking.' }) };

  async run(): Promise<DeployDestroyResult> {
    const { flags } = await this.parse(Destroy);
    const json = this.jsonEnabled();
    if (!flags.yes && (json || !canPrompt())) {
      throw new FleetmonError('CONFIRMATION_REQUIRED', `refusing to destroy without confirmation ${json ? 'under --json' : 'on a non-interactive terminal'}`, { kind: 'usage', suggestions: ['add --yes'] });
    }
    const warn = (m: string) => this.logToStderr(`Warning: ${m}`);
    const renderer = chooseRenderer(json);
    const { fleet, spec, client, ports } = await deploySetup(flags, renderer, warn, (m) => this.say(`» ${m}`));
    let result: DeployDestroyResult;
    try {
      result = await destroyDeploy(fleet, spec, {
        ...ports,
        lxc: { clock: realClock, renderer, taskTimeoutMs: flags['task-timeout'], warn },
        ...(flags.yes ? {} : { confirm: (w) => confirm(`Revoke the key on ${w.hosts.length} host(s)${w.vmid ? ` and remove CT ${w.vmid}` : ''}?`) }),
      });
    } catch (err) {
      throw toFleetmonError(err);
    } finally {
      await client.close();
    }
    if (result.declined) this.say('Nothing changed.');
    for (const r of result.revoked) this.say(`${r.ok ? '✔' : '✖'} ${r.host}: ${r.ok ? (r.removed ? 'key revoked' : 'no key there') : (r.detail ?? 'failed')}`);
    if (result.container) this.say(result.container.alreadyGone ? 'container: already gone' : `CT ${result.container.vmid} removed`);
    if (result.revoked.some((r) => !r.ok)) process.exitCode = 6;
    return result;
  }
}
