import { Args } from '@oclif/core';
import { BaseCommand } from '../../cli/base.js';
import { ServerCommand } from '../../cli/server-command.js';
import type { NotifyTestResult } from '../../client/api-client.js';
import { FleetmonError } from '../../core/errors.js';

export default class NotifyTest extends ServerCommand {
  static override summary = 'Send a test message through one notification channel and print what happened.';
  static override examples = ['<%= config.bin %> notify test ops-webhook', '<%= config.bin %> notify test oncall-mail --json'];
  static override baseFlags = { ...BaseCommand.baseFlags, ...ServerCommand.baseFlags };
  static override args = { name: Args.string({ description: 'the channel name (notifications.channels[].name in hosts.yml)', required: true }) };

  async run(): Promise<NotifyTestResult> {
    const { args, flags } = await this.parse(NotifyTest);
    const result = await this.client(flags).notifyTest(args.name);
    if (!result.ok) {
      throw new FleetmonError('NOTIFY_FAILED', `the test message to '${result.channel}' (${result.type}) failed after ${result.ms} ms: ${result.detail}`, {
        kind: 'server',
        suggestions: ['check the channel in hosts.yml and that its receiver is reachable from the server; `fleetmon notify log` shows every attempt'],
      });
    }
    this.say(`sent a test message to '${result.channel}' (${result.type}) in ${result.ms} ms: ${result.detail}`);
    return result;
  }
}
