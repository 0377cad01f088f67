import { Flags } from '@oclif/core';
import { BaseCommand } from '../../cli/base.js';
import { ServerCommand } from '../../cli/server-command.js';
import { age, mb, ownAccountNotes, pct, safe, table } from '../../cli/format.js';
import type { Session } from '../../core/model.js';

export default class Sessions extends ServerCommand {
  static override summary = 'List tmux sessions across the fleet.';
  static override examples = ['<%= config.bin %> sessions', '<%= config.bin %> sessions --status legacy --json'];
  static override baseFlags = { ...BaseCommand.baseFlags, ...ServerCommand.baseFlags };
  static override flags = {
    status: Flags.string({ summary: 'only active or legacy sessions', options: ['active', 'legacy'] }),
  };

  async run(): Promise<Session[]> {
    const { flags } = await this.parse(Sessions);
    const client = this.client(flags);
    const sessions = await client.sessions(flags.status as 'active' | 'legacy' | undefined);
    // --json stays the session list; the scope of each host is in `fleetmon hosts --json`.
    const notes = this.jsonEnabled() ? [] : ownAccountNotes(await client.hosts());
    if (sessions.length === 0) this.say(flags.status ? `no ${flags.status} sessions` : 'no tmux sessions');
    else
      this.say(
        table(
          ['ID', 'OWNER', 'STATUS', 'WIN', 'AGE', 'ATTACHED', 'CPU', 'RSS', 'GPU MEM'],
          sessions.map((s) => [
            safe(s.id),
            safe(s.user),
            s.status,
            String(s.window_count),
            age(s.created),
            s.attached ? 'yes' : 'no',
            pct(s.cpu_percent),
            mb(s.memory_mb),
            s.gpu_memory_mb ? mb(s.gpu_memory_mb) : '-',
          ]),
        ),
      );
    for (const note of notes) this.say(note);
    return sessions;
  }
}
