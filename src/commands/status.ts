import { BaseCommand } from '../cli/base.js';
import { ServerCommand } from '../cli/server-command.js';
import type { FleetSummary } from '../core/model.js';

export default class Status extends ServerCommand {
  static override summary = 'Fleet summary: hosts online/offline, sessions active/legacy, open alerts.';
  static override examples = ['<%= config.bin %> status', '<%= config.bin %> status --json --server http://fleetmon:8080'];
  static override baseFlags = { ...BaseCommand.baseFlags, ...ServerCommand.baseFlags };

  async run(): Promise<FleetSummary> {
    const { flags } = await this.parse(Status);
    const s = await this.client(flags).summary();
    this.say(`hosts     ${s.hosts_online} online, ${s.hosts_degraded} degraded, ${s.hosts_offline} offline, ${s.hosts_pending} pending (${s.hosts_total} total)`);
    this.say(`sessions  ${s.sessions_active} active, ${s.sessions_legacy} legacy`);
    this.say(`gpus      ${s.gpus}`);
    this.say(`alerts    ${s.alerts_open} open, ${s.alerts_unacknowledged} unacknowledged`);
    this.say(`last poll ${s.last_cycle_at ?? 'not yet'}${s.last_cycle_ms === null ? '' : ` (${s.last_cycle_ms} ms)`}`);
    return s;
  }
}
