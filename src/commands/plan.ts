import { BaseCommand } from '../cli/base.js';
import { deployFlags, deploySetup } from '../cli/deploy-flags.js';
import { deployPlan } from '../deploy/apply.js';
import { describeDeployPlan, type DeployPlan } from '../deploy/plan.js';
import { toFleetmonError } from '../lxc/proxmox/errors.js';

export default class Plan extends BaseCommand {
  static override summary = 'Show what apply would change to make the deployment match fleet.yml.';
  static override description = `Reads the truth each time — Proxmox, the container, the monitor's hosts.yml and every host — and \
prints, stage by stage, what would change: the container, provisioning, per host the key, gate and pin, and the \
monitor's configuration. Nothing is changed and no state file is kept.

Exit status: 0 nothing would change; 2 something would (like terraform plan -detailed-exitcode; a usage error also \
exits 2, and says so on stderr or in the --json error object); others as for lxc create.`;
  static override examples = ["FLEETMON_PVE_TOKEN='fleetmon@pve!fleetmon=…' <%= config.bin %> plan -f fleet.yml", '<%= config.bin %> plan -f fleet.yml --json'];
  static override flags = { ...deployFlags };

  async run(): Promise<DeployPlan> {
    const { flags } = await this.parse(Plan);
    const warn = (m: string) => this.logToStderr(`Warning: ${m}`);
    const { fleet, spec, client, ports } = await deploySetup(flags, 'silent', warn, () => undefined);
    let plan: DeployPlan;
    try {
      plan = (await deployPlan(fleet, spec, ports)).plan;
    } catch (err) {
      throw toFleetmonError(err);
    } finally {
      await client.close();
    }
    for (const line of describeDeployPlan(plan)) this.say(line);
    if (plan.changed) process.exitCode = 2;
    return plan;
  }
}
