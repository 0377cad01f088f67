import { createInterface } from 'node:readline/promises';
import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../../cli/base.js';
import { ServerCommand } from '../../cli/server-command.js';
import { activeReason, age, safe } from '../../cli/format.js';
import { FleetmonError } from '../../core/errors.js';
import type { Session } from '../../core/model.js';

export interface KillResult {
  id: string;
  result: 'killed' | 'not-killed';
  detail: string;
  session: Session;
}

export default class SessionsKill extends ServerCommand {
  static override summary = 'Kill one tmux session (two-step, audited).';
  static override description =
    'Shows the session and asks for confirmation (or --yes). Active sessions (attached or recently detached) also need --force.';
  static override examples = [
    "<%= config.bin %> sessions kill 'gpu1:fleetmon:old-run'",
    "<%= config.bin %> sessions kill 'gpu1:old-run' --yes --json",
  ];
  static override baseFlags = { ...BaseCommand.baseFlags, ...ServerCommand.baseFlags };
  static override args = { id: Args.string({ description: 'session id (host:user:name or host:name)', required: true }) };
  static override flags = {
    yes: Flags.boolean({ char: 'y', summary: 'do not ask for confirmation' }),
    force: Flags.boolean({ summary: 'allow killing an active session' }),
  };

  async run(): Promise<KillResult> {
    const { args, flags } = await this.parse(SessionsKill);
    const client = this.client(flags);
    const pending = await client.requestKill(args.id);
    const s = pending.session;
    if (s.status === 'active' && !flags.force) {
      throw new FleetmonError('SESSION_ACTIVE', `session ${safe(s.id)} is active (${activeReason(s)}); not killing it`, {
        kind: 'conflict',
        suggestions: ['add --force if you really mean to end an active session'],
      });
    }
    this.say(`${safe(s.id)}: ${s.window_count} window(s), created ${age(s.created)} ago, ${s.process_count} process(es), ${s.attached ? 'attached' : 'detached'}`);
    if (!flags.yes && !this.jsonEnabled()) {
      if (!process.stdin.isTTY) {
        throw new FleetmonError('CONFIRMATION_REQUIRED', 'refusing to kill without confirmation on a non-interactive terminal', {
          kind: 'usage',
          suggestions: ['add --yes'],
        });
      }
      const rl = createInterface({ input: process.stdin, output: process.stderr });
      const answer = await rl.question(`Kill session '${safe(s.name)}' on ${safe(s.host)}? [y/N] `);
      rl.close();
      if (!/^y(es)?$/i.test(answer.trim())) {
        // Saying no is a decision, not a failure: exit 0, and --json callers never get here.
        this.say('not killed');
        return { id: s.id, result: 'not-killed', detail: 'declined at the prompt', session: s };
      }
    } else if (!flags.yes && this.jsonEnabled()) {
      throw new FleetmonError('CONFIRMATION_REQUIRED', '--json never prompts: add --yes to kill', { kind: 'usage' });
    }
    const done = await client.confirmKill(args.id, pending.confirm_token);
    this.say(`killed ${safe(s.id)}`);
    return { id: s.id, result: done.result, detail: done.detail, session: s };
  }
}

