import { Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base.js';
import { deployFlags, deploySetup } from '../cli/deploy-flags.js';
import { canPrompt, confirm } from '../cli/prompt.js';
import { durationFlag } from '../cli/proxmox-flags.js';
import { FleetmonError } from '../core/errors.js';
import { applyDeploy, type DeployApplyResult } from '../deploy/apply.js';
import { describeDeployPlan } from '../deploy/plan.js';
import { toFleetmonError } from '../lxc/proxmox/errors.js';
import { realClock } from '../lxc/proxmox/wait.js';
import { probeSshBanner } from '../ssh/banner.js';
import { chooseRenderer } from '../steps/progress.js';

export default class Apply extends BaseCommand {
  static override summary = 'Make the deployment match fleet.yml: container, monitor, keys, configuration.';
  static override description = `Shows the plan, asks (--yes to skip; needed with --json or without a terminal), then converges: \
creates what is missing, changes what differs in place (what Proxmox cannot change live is said, not forced), deploys \
the key to added hosts, revokes it from managed hosts no longer listed, writes the monitor's hosts.yml and restarts \
it once. A second run changes nothing.`;
  static override examples = ["FLEETMON_PVE_TOKEN='fleetmon@pve!fleetmon=…' <%= config.bin %> apply -f fleet.yml", '<%= config.bin %> apply -f fleet.yml --yes --json'];
  static override flags = {
    ...deployFlags,
    yes: Flags.boolean({ char: 'y', summary: 'Apply without asking.' }),
    'address-timeout': durationFlag({ summary: 'Deadline for eth0 to get an IPv4 address.', env: 'FLEETMON_LXC_ADDRESS_TIMEOUT', default: 5 * 60_000, defaultHelp: async () => '5m' }),
    'ssh-timeout': durationFlag({ summary: 'Deadline for SSH to answer.', env: 'FLEETMON_LXC_SSH_TIMEOUT', default: 5 * 60_000, defaultHelp: async () => '5m' }),
    'poll-timeout': durationFlag({ summary: 'Deadline for the monitor to poll every host at the end.', env: 'FLEETMON_UP_POLL_TIMEOUT', default: 3 * 60_000, defaultHelp: async () => '3m' }),
  };

  async run(): Promise<DeployApplyResult> {
    const { flags } = await this.parse(Apply);
    const json = this.jsonEnabled();
    if (!flags.yes && (json || !canPrompt())) {
      throw new FleetmonError('CONFIRMATION_REQUIRED', `refusing to apply without confirmation ${json ? 'under --json' : 'on a non-interactive terminal'}`, { kind: 'usage', suggestions: ['run fleetmon plan to see the changes, then add --yes'] });
    }
    const warn = (m: string) => this.logToStderr(`Warning: ${m}`);
    const renderer = chooseRenderer(json);
    const { fleet, spec, client, ports } = await deploySetup(flags, renderer, warn, (m) => this.say(`» ${m}`));
    let result: DeployApplyResult;
    try {
      result = await applyDeploy(fleet, spec, {
        ...ports,
        pollTimeoutMs: flags['poll-timeout'],
        lxc: { clock: realClock, probeSsh: probeSshBanner, renderer, timeouts: { taskMs: flags['task-timeout'], addressMs: flags['address-timeout'], sshMs: flags['ssh-timeout'] }, warn },
        confirm: async (plan) => {
          for (const line of describeDeployPlan(plan)) this.say(line);
          return flags.yes || confirm('Apply these changes?');
        },
      });
    } catch (err) {
      throw toFleetmonError(err);
    } finally {
      await client.close();
    }
    if (result.declined) this.say('Nothing changed.');
    else if (!result.plan.changed) this.say('No changes: the deployment matches fleet.yml.');
    else {
      for (const d of result.deployed) {
        const sessions = d.sessions ? `; sessions: ${d.sessions === 'all-users' ? "every user's" : "the service account's own only"}` : '';
        this.say(`${d.ok ? '✔' : '✖'} key on ${d.host}: ${d.detail}${sessions}`);
      }
      for (const r of result.revoked) this.say(`${r.ok ? '✔' : '✖'} key revoked on ${r.host}${r.removed ? '' : ' (was not there)'}`);
      for (const n of result.notChanged) this.say(`! not changed (Proxmox cannot change it in place): ${n}`);
      if (result.restarted) this.say(`monitor configuration: ${result.configChanges.length} change(s), restarted once`);
      for (const h of result.polled ?? []) this.say(`  ${h.name}: ${h.status}`);
      this.say('Applied.');
    }
    return result;
  }
}
