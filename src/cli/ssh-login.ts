/**
 * Works out how the CLI logs in to a machine it sets up: a key file (--identity), the ssh-agent (SSH_AUTH_SOCK),
 * and/or a password (FLEETMON_SSH_PASSWORD, or asked on the terminal when there is neither key nor agent). For a
 * sudo user, sudo's password is FLEETMON_SUDO_PASSWORD, else the login password, else asked when sudo wants it.
 */
import { readFileSync } from 'node:fs';
import { FleetmonError, errorMessage } from '../core/errors.js';
import { once, promptSecret } from './prompt.js';
import type { AdminAuth } from '../ssh/login.js';

export interface AuthFlags {
  user: string;
  identity?: string | undefined;
  askPassword?: boolean | undefined;
  /** Where to ask; tests inject. */
  prompt?: (question: string, envHint: string) => Promise<string>;
  env?: NodeJS.ProcessEnv;
  /** Host(s) named in the prompt. */
  target: string;
}

export async function resolveAuth(f: AuthFlags): Promise<AdminAuth> {
  const env = f.env ?? process.env;
  const prompt = f.prompt ?? promptSecret;
  const auth: AdminAuth = { username: f.user };
  if (f.identity) {
    try {
      auth.privateKey = readFileSync(f.identity);
    } catch (err) {
      throw new FleetmonError('IDENTITY_UNREADABLE', `cannot read the key ${f.identity}: ${errorMessage(err)}`, { kind: 'usage' });
    }
    if (env.FLEETMON_SSH_KEY_PASSPHRASE) auth.passphrase = env.FLEETMON_SSH_KEY_PASSPHRASE;
  }
  if (env.SSH_AUTH_SOCK) auth.agent = env.SSH_AUTH_SOCK;
  if (env.FLEETMON_SSH_PASSWORD !== undefined) auth.password = env.FLEETMON_SSH_PASSWORD;
  else if (f.askPassword || (!auth.privateKey && !auth.agent)) {
    auth.password = await prompt(`Password for ${f.user}@${f.target}: `, 'FLEETMON_SSH_PASSWORD');
  }
  if (f.user !== 'root') {
    if (env.FLEETMON_SUDO_PASSWORD !== undefined) auth.sudoPassword = env.FLEETMON_SUDO_PASSWORD;
    else if (auth.password !== undefined) auth.sudoPassword = auth.password;
    else auth.sudoPassword = once(() => prompt(`[sudo] password for ${f.user}: `, 'FLEETMON_SUDO_PASSWORD'));
  }
  return auth;
}
