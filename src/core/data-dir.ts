/**
 * Where the server keeps its database and API token. Its own module, free of the config schema (TypeBox, yaml),
 * so that query commands, which only need the token file, start fast.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';

export function defaultDataDir(): string {
  if (process.env.XDG_STATE_HOME) return join(process.env.XDG_STATE_HOME, 'fleetmon');
  return join(homedir(), '.local', 'state', 'fleetmon');
}
