import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../../cli/base.js';
import { ServerCommand } from '../../cli/server-command.js';
import type { Alert } from '../../core/model.js';

export default class AlertsAck extends ServerCommand {
  static override summary = 'Acknowledge an alert.';
  static override examples = ['<%= config.bin %> alerts ack a1b2c3d4e5lx9k2', "<%= config.bin %> alerts ack a1b2c3d4e5lx9k2 --note 'on it'"];
  static override baseFlags = { ...BaseCommand.baseFlags, ...ServerCommand.baseFlags };
  static override args = { id: Args.string({ description: 'alert id (see fleetmon alerts)', required: true }) };
  static override flags = { note: Flags.string({ summary: 'a note kept with the acknowledgement' }) };

  async run(): Promise<Alert> {
    const { args, flags } = await this.parse(AlertsAck);
    const alert = await this.client(flags).ack(args.id, flags.note);
    this.say(`acknowledged ${alert.id}: ${alert.message}`);
    return alert;
  }
}
