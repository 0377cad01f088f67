import { Flags } from '@oclif/core';
import { BaseCommand } from '../../cli/base.js';
import { ServerCommand } from '../../cli/server-command.js';
import { age, safe, table } from '../../cli/format.js';
import type { Alert } from '../../core/model.js';

export default class Alerts extends ServerCommand {
  static override summary = 'List open alerts (or all, with --all).';
  static override examples = ['<%= config.bin %> alerts', '<%= config.bin %> alerts --all --json'];
  static override baseFlags = { ...BaseCommand.baseFlags, ...ServerCommand.baseFlags };
  static override flags = { all: Flags.boolean({ summary: 'include resolved alerts' }) };

  async run(): Promise<Alert[]> {
    const { flags } = await this.parse(Alerts);
    const alerts = await this.client(flags).alerts(flags.all);
    if (alerts.length === 0) this.say(flags.all ? 'no alerts' : 'no open alerts');
    else
      this.say(
        table(
          ['ID', 'SEVERITY', 'TYPE', 'HOST', 'AGE', 'STATE', 'ACK', 'MESSAGE'],
          alerts.map((a) => [a.id, a.severity, a.type, safe(a.host), age(a.created), a.state, a.acknowledged ? 'yes' : 'no', safe(a.message)]),
        ),
      );
    return alerts;
  }
}
