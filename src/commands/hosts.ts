import { BaseCommand } from '../cli/base.js';
import { ServerCommand } from '../cli/server-command.js';
import { mb, ownAccountNotes, pct, safe, table } from '../cli/format.js';
import type { Host } from '../core/model.js';

export default class Hosts extends ServerCommand {
  static override summary = 'List monitored hosts with status, CPU, memory, load and GPUs.';
  static override examples = ['<%= config.bin %> hosts', '<%= config.bin %> hosts --json'];
  static override baseFlags = { ...BaseCommand.baseFlags, ...ServerCommand.baseFlags };

  async run(): Promise<Host[]> {
    const { flags } = await this.parse(Hosts);
    const hosts = await this.client(flags).hosts();
    if (hosts.length === 0) this.say('no hosts configured: see the README (hosts.yml)');
    else
      this.say(
        table(
          ['HOST', 'STATUS', 'CPU', 'MEM', 'LOAD', 'GPUS', 'SESSIONS', 'SCOPE', 'NOTE'],
          hosts.map((h) => [
            safe(h.hostname),
            h.pending ? 'pending' : h.status,
            pct(h.cpu_percent),
            h.memory_used_mb !== null && h.memory_total_mb !== null ? `${mb(h.memory_used_mb)}/${mb(h.memory_total_mb)}` : '-',
            h.load_avg?.[0]?.toFixed(2) ?? '-',
            String(h.gpus.length),
            String(h.sessions.length),
            h.sessions_scope.scope,
            safe(h.last_error ?? h.problems.join('; ')),
          ]),
        ),
      );
    for (const note of ownAccountNotes(hosts)) this.say(note);
    return hosts;
  }
}
