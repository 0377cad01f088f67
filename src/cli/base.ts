/**
 * Base for every fleetmon command: `--json` on all of them, and FleetmonError → one clear line (plus suggestions)
 * with the error's exit status, never a stack trace. Set FLEETMON_DEBUG=1 to see the stack.
 */
import { Command } from '@oclif/core';
import { FleetmonError } from '../core/errors.js';

export abstract class BaseCommand extends Command {
  static override enableJsonFlag = true;

  protected override async catch(caught: Error & { exitCode?: number; oclif?: { exit?: number }; parse?: unknown }): Promise<unknown> {
    // oclif's flag/argument errors carry the whole parse, flag values included (a token from the environment, say);
    // under --json oclif would print all of that and exit 1. Report them as the usage errors they are.
    const err =
      caught.parse !== undefined && !(caught instanceof FleetmonError)
        ? new FleetmonError('USAGE', caught.message.replace(/\s*See more help with --help\s*$/, ''), {
            kind: 'usage',
            suggestions: [`see: ${this.config.bin} ${(this.id ?? '').replace(/:/g, ' ')} --help`],
          })
        : caught;
    if (err instanceof FleetmonError) {
      if (process.env.FLEETMON_DEBUG) this.logToStderr(err.stack ?? String(err));
      if (this.jsonEnabled()) {
        this.logJson({ error: { code: err.code, message: err.message, suggestions: err.suggestions } });
        this.exit(err.exit);
      }
      const hint = err.suggestions.length ? `\n${err.suggestions.map((s) => `  → ${s}`).join('\n')}` : '';
      this.logToStderr(`Error: ${err.message}${hint}`);
      this.exit(err.exit);
    }
    return super.catch(err);
  }

  /** Human output only; under --json the returned object is printed instead. */
  protected say(message = ''): void {
    if (!this.jsonEnabled()) this.log(message);
  }
}
