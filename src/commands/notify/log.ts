import { Flags } from '@oclif/core';
import { BaseCommand } from '../../cli/base.js';
import { ServerCommand } from '../../cli/server-command.js';
import { age, safe, table } from '../../cli/format.js';
import type { NotificationsLog } from '../../client/api-client.js';

export default class NotifyLog extends ServerCommand {
  static override summary = 'Show the notification channels, their health and the delivery log.';
  static override examples = ['<%= config.bin %> notify log', '<%= config.bin %> notify log --channel ops-webhook --limit 20 --json'];
  static override baseFlags = { ...BaseCommand.baseFlags, ...ServerCommand.baseFlags };
  static override flags = {
    channel: Flags.string({ summary: 'only this channel' }),
    limit: Flags.integer({ summary: 'how many log entries, newest first', default: 50, min: 1, max: 10000 }),
  };

  async run(): Promise<NotificationsLog> {
    const { flags } = await this.parse(NotifyLog);
    const result = await this.client(flags).notifications({ limit: flags.limit, ...(flags.channel !== undefined ? { channel: flags.channel } : {}) });
    if (result.channels.length === 0) this.say('no notification channels are configured (notifications.channels in hosts.yml)');
    else
      this.say(
        table(
          ['CHANNEL', 'TYPE', 'HEALTH', 'PENDING', 'FAILED', 'LAST SENT', 'LAST ERROR'],
          result.channels.map((c) => [c.name, c.type, c.health, String(c.pending), String(c.failed), age(c.last_delivered_at), safe(c.last_error ?? '-')]),
        ),
      );
    if (result.log.length > 0) {
      this.say('');
      this.say(
        table(
          ['ID', 'CHANNEL', 'ALERT', 'EVENT', 'STATE', 'ATTEMPTS', 'AGE', 'ERROR / DETAIL'],
          result.log.map((e) => [String(e.id), e.channel, e.alert_id, e.event, e.state, String(e.attempts), age(e.created_at), safe(e.last_error ?? e.detail ?? '')]),
        ),
      );
    }
    return result;
  }
}
