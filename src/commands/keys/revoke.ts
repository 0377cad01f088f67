import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../../cli/base.js';
import { EXIT } from '../../core/errors.js';
import { resolveAuth } from '../../cli/ssh-login.js';
import { keysRevoke, type HostRevokeResult } from '../../keys/revoke.js';
import { DEFAULT_ACCOUNT, DEFAULT_LIB_DIR } from '../../keys/target.js';

export interface KeysRevokeResult {
  ok: boolean;
  account: string;
  hosts: HostRevokeResult[];
}

export default class KeysRevoke extends BaseCommand {
  static override summary = "Remove the monitor's key from fleet hosts (the marked block in the service account's authorized_keys).";
  static override description = `The account, the gate and the probe stay; the key block goes, so the monitor can no longer log in,
and so do the --all-users sudoers rule (/etc/sudoers.d/fleetmon) and root helper where they were installed.
A host without the block counts as done.`;
  static override examples = ['<%= config.bin %> keys revoke gpu1 gpu2', '<%= config.bin %> keys revoke --admin-user alice 10.0.0.21:2222'];
  static override strict = false;
  static override args = {
    host: Args.string({ required: true, description: 'HOST, HOST:PORT or [IPv6]:PORT (several allowed)' }),
  };
  static override flags = {
    'admin-user': Flags.string({ char: 'u', env: 'FLEETMON_ADMIN_USER', default: 'root', description: 'account to log in to the hosts as (root or a sudo user)' }),
    identity: Flags.string({ char: 'i', env: 'FLEETMON_IDENTITY', description: 'private key for the admin login (else ssh-agent, else a password prompt)' }),
    'ask-password': Flags.boolean({ env: 'FLEETMON_ASK_PASSWORD', default: false, description: 'ask for the admin password even when a key or agent is available' }),
    port: Flags.integer({ char: 'p', env: 'FLEETMON_SSH_PORT', default: 22, min: 1, max: 65535, description: 'SSH port for hosts given without one' }),
    config: Flags.string({ char: 'c', env: 'FLEETMON_CONFIG', description: 'hosts.yml whose host_key pins are enforced while connecting' }),
    account: Flags.string({ env: 'FLEETMON_ACCOUNT', default: DEFAULT_ACCOUNT, description: 'service account on the hosts' }),
    'lib-dir': Flags.string({ env: 'FLEETMON_LIB_DIR', default: DEFAULT_LIB_DIR, description: 'where keys deploy installed the gate and the helper' }),
    concurrency: Flags.integer({ env: 'FLEETMON_CONCURRENCY', default: 4, min: 1, max: 64, description: 'hosts handled at the same time' }),
    timeout: Flags.integer({ env: 'FLEETMON_SSH_TIMEOUT', default: 15, min: 1, max: 600, description: 'seconds to connect, and per command ×4' }),
  };

  async run(): Promise<KeysRevokeResult> {
    const { flags, argv } = await this.parse(KeysRevoke);
    const hosts = argv as string[];
    const auth = await resolveAuth({
      user: flags['admin-user'],
      identity: flags.identity,
      askPassword: flags['ask-password'],
      target: hosts.length === 1 ? hosts[0]! : `${hosts.length} hosts`,
    });
    const result = await keysRevoke({
      targets: hosts,
      auth,
      port: flags.port,
      account: flags.account,
      libDir: flags['lib-dir'],
      ...(flags.config !== undefined ? { configFile: flags.config } : {}),
      concurrency: flags.concurrency,
      connectTimeoutMs: flags.timeout * 1000,
      commandTimeoutMs: flags.timeout * 4000,
    });
    for (const h of result.hosts) {
      this.say(`${h.ok ? '✔' : '✖'} ${h.host}:${h.port}  ${h.ok ? `${h.removed ? 'key removed' : 'no fleetmon key there'}${h.removedAllUsers ? '; sudoers rule and helper removed' : ''}` : `FAILED: ${h.error?.message}`}`);
    }
    if (!result.ok) process.exitCode = EXIT.ssh;
    return result;
  }
}
