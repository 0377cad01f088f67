import { Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base.js';
import { ServerCommand } from '../cli/server-command.js';
import { FleetmonError } from '../core/errors.js';
import { loadOnce } from '../top/feed.js';
import { frame, frameText, initialState } from '../top/view.js';

export interface TopResult {
  width: number;
  height: number;
  /** The frame, one string per line, without colour. */
  lines: string[];
}

export default class Top extends ServerCommand {
  static override summary = 'The fleet in a terminal: hosts, GPUs, sessions and alerts, live.';
  static override description =
    'Full screen, live over the server\'s WebSocket (polling while it is down). Keys: ? lists them, q quits. ' +
    'Colour follows the server\'s alert thresholds; NO_COLOR or TERM=dumb turns it off. --once prints one frame and exits.';
  static override examples = ['<%= config.bin %> top', '<%= config.bin %> top --server https://fleetmon:8080 --fingerprint AA:BB:…', '<%= config.bin %> top --once --width 120 --height 40'];
  static override baseFlags = { ...BaseCommand.baseFlags, ...ServerCommand.baseFlags };
  static override flags = {
    once: Flags.boolean({ summary: 'print one frame and exit (for scripts)' }),
    width: Flags.integer({ summary: 'columns of the --once frame (default: the terminal\'s, else 80)', min: 40, max: 1000, dependsOn: ['once'] }),
    height: Flags.integer({ summary: 'rows of the --once frame (default: the terminal\'s, else 24)', min: 10, max: 1000, dependsOn: ['once'] }),
    poll: Flags.integer({ summary: 'seconds between polls while the live feed is down', default: 2, min: 1, max: 3600 }),
    'poll-only': Flags.boolean({ summary: 'poll the REST API only, never open the WebSocket' }),
  };

  async run(): Promise<TopResult | undefined> {
    const { flags } = await this.parse(Top);
    const client = this.client(flags);
    const { colorWanted, renderOnce, runTop } = await loadRenderer(Boolean(process.stdout.isTTY));
    if (flags.once) {
      const width = flags.width ?? (process.stdout.columns || 80);
      const height = flags.height ?? (process.stdout.rows || 24);
      const state = { ...initialState(), ...(await loadOnce(client)) };
      const now = Date.now();
      if (!this.jsonEnabled()) this.log(renderOnce(state, width, height, colorWanted(process.env, Boolean(process.stdout.isTTY)), now));
      return { width, height, lines: frameText(frame(state, width, height, now)).split('\n') };
    }
    if (this.jsonEnabled()) throw new FleetmonError('USAGE', '--json needs --once: the live view is for a terminal', { kind: 'usage', suggestions: ['fleetmon top --once --json'] });
    if (!process.stdin.isTTY || !process.stdout.isTTY) {
      throw new FleetmonError('NOT_A_TERMINAL', 'fleetmon top needs a terminal on stdin and stdout', {
        kind: 'usage',
        suggestions: ['run it in a terminal, or print one frame with --once'],
      });
    }
    await runTop(client, { color: colorWanted(process.env, true), feed: { pollMs: flags.poll * 1000, retryMs: 5000, live: !flags['poll-only'] } });
    return undefined;
  }
}

/**
 * Ink decides once, when it is first imported, whether it runs "in CI" (CI or CONTINUOUS_INTEGRATION set), and there
 * it draws nothing until the app exits, for the sake of CI logs. On a terminal that is a blank screen: a shell
 * opened from a CI job, or a tmux server started by one, inherits CI=true. So on a terminal those two go before Ink
 * is imported; nothing top starts reads them.
 */
async function loadRenderer(onTerminal: boolean): Promise<typeof import('../top/app.js')> {
  if (onTerminal) {
    delete process.env.CI;
    delete process.env.CONTINUOUS_INTEGRATION;
  }
  return import('../top/app.js');
}
