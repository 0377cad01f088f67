/**
 * How the CLI logs in to a machine it sets up, once resolved (cli/ssh-login.ts asks for what is missing): a key,
 * the agent and/or a password, and sudo's password for a sudo user. Deploy-side modules take it already resolved,
 * so none of them needs the CLI's prompts.
 */
import type { RemoteShellOptions } from './remote-shell.js';

export interface AdminAuth {
  username: string;
  privateKey?: string | Buffer;
  passphrase?: string;
  agent?: string;
  password?: string;
  sudoPassword?: string | (() => Promise<string>);
}

/** The login part of RemoteShell.connect's options. */
export function loginOptions(auth: AdminAuth): Pick<RemoteShellOptions, 'username' | 'privateKey' | 'passphrase' | 'agent' | 'password' | 'sudoPassword'> {
  return {
    username: auth.username,
    ...(auth.privateKey !== undefined ? { privateKey: auth.privateKey } : {}),
    ...(auth.passphrase !== undefined ? { passphrase: auth.passphrase } : {}),
    ...(auth.agent ? { agent: auth.agent } : {}),
    ...(auth.password !== undefined ? { password: auth.password } : {}),
    ...(auth.sudoPassword !== undefined ? { sudoPassword: auth.sudoPassword } : {}),
  };
}
