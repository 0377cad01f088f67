import { readFileSync } from 'node:fs';
import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../../cli/base.js';
import { EXIT, FleetmonError } from '../../core/errors.js';
import { resolveAuth } from '../../cli/ssh-login.js';
import { fetchServerKey, loadKeyFile } from '../../keys/key-source.js';
import { keysDeploy, type KeysDeployResult } from '../../keys/deploy.js';
import { DEFAULT_ACCOUNT, DEFAULT_LIB_DIR } from '../../keys/target.js';
import { chooseRenderer } from '../../steps/progress.js';

export default class KeysDeploy extends BaseCommand {
  static override summary = "Set up fleet hosts for the monitor's key: service account, gate, restricted key, pinned host keys.";
  static override description = `Logs in to each HOST as an admin (root, or a sudo user) and makes sure that:
the service account exists (no password, shell /bin/sh); the probe and the forced-command gate are installed under
/usr/local/lib/fleetmon (root-owned); the key is in the account's authorized_keys as
restrict,command="/usr/local/lib/fleetmon/gate" inside a marked block, in a root-owned ~/.ssh. It then logs in
with the key (when the private key is at hand) and checks that the gate answers and refuses everything else.
With --all-users it also installs the root helper tmux-all-users there and /etc/sudoers.d/fleetmon (checked with
visudo -cf first), which lets the service account run that helper and nothing else: the monitor then sees every
user's tmux sessions. Without it, or where sudo is missing, the monitor sees its own account's sessions and says so.
Each host's SSH host key fingerprint is printed and, with --config, pinned in that hosts.yml (comments kept).
Re-running changes nothing; a host whose key no longer matches its pin is refused.`;
  static override examples = [
    '<%= config.bin %> keys deploy --key /var/lib/fleetmon/ssh/id_ed25519.pub --config /etc/fleetmon/hosts.yml gpu1 gpu2',
    '<%= config.bin %> keys deploy --from-server http://10.0.0.5:8080 --admin-user alice --identity ~/.ssh/id_ed25519 10.0.0.21',
    '<%= config.bin %> keys deploy --key fleet.pub --dry-run gpu1:2222',
    '<%= config.bin %> keys deploy --key fleet.pub --all-users gpu1 gpu2',
  ];
  static override strict = false;
  static override args = {
    host: Args.string({ required: true, description: 'HOST, HOST:PORT or [IPv6]:PORT (several allowed)' }),
  };
  static override flags = {
    key: Flags.string({ char: 'k', env: 'FLEETMON_KEY', description: "the monitor's key: its .pub file, or the private key", exclusive: ['from-server'] }),
    'from-server': Flags.string({ env: 'FLEETMON_SERVER', description: "take the public key from a running fleetmon server (GET URL/api/public-key)" }),
    token: Flags.string({ env: 'FLEETMON_TOKEN', description: 'API token for --from-server, if the server requires one' }),
    'admin-user': Flags.string({ char: 'u', env: 'FLEETMON_ADMIN_USER', default: 'root', description: 'account to log in to the hosts as (root or a sudo user)' }),
    identity: Flags.string({ char: 'i', env: 'FLEETMON_IDENTITY', description: 'private key for the admin login (else ssh-agent, else a password prompt)' }),
    'ask-password': Flags.boolean({ env: 'FLEETMON_ASK_PASSWORD', default: false, description: 'ask for the admin password even when a key or agent is available' }),
    port: Flags.integer({ char: 'p', env: 'FLEETMON_SSH_PORT', default: 22, min: 1, max: 65535, description: 'SSH port for hosts given without one' }),
    config: Flags.string({ char: 'c', env: 'FLEETMON_CONFIG', description: 'hosts.yml to pin the host keys in (host_key, gate: true)' }),
    account: Flags.string({ env: 'FLEETMON_ACCOUNT', default: DEFAULT_ACCOUNT, description: 'service account to create on the hosts' }),
    'lib-dir': Flags.string({ env: 'FLEETMON_LIB_DIR', default: DEFAULT_LIB_DIR, description: 'where the gate and the probe are installed on the hosts' }),
    from: Flags.string({ env: 'FLEETMON_KEY_FROM', description: 'limit the key to these source addresses (authorized_keys from="…")' }),
    concurrency: Flags.integer({ env: 'FLEETMON_CONCURRENCY', default: 4, min: 1, max: 64, description: 'hosts set up at the same time' }),
    'all-users': Flags.boolean({
      env: 'FLEETMON_ALL_USERS',
      default: false,
      description: "also install the root helper and /etc/sudoers.d/fleetmon, so the monitor sees every user's tmux sessions (not only its own account's)",
    }),
    'dry-run': Flags.boolean({ env: 'FLEETMON_DRY_RUN', default: false, description: 'show what would change, change nothing' }),
    probe: Flags.string({ env: 'FLEETMON_PROBE_SCRIPT', hidden: true, description: 'install this probe script instead of the shipped one (development)' }),
    timeout: Flags.integer({ env: 'FLEETMON_SSH_TIMEOUT', default: 15, min: 1, max: 600, description: 'seconds to connect, and per command ×4' }),
  };

  async run(): Promise<KeysDeployResult> {
    const { flags, argv } = await this.parse(KeysDeploy);
    const hosts = argv as string[];
    if (!flags.key && !flags['from-server']) {
      throw new FleetmonError('NO_KEY', 'which key? give --key FILE or --from-server URL', {
        suggestions: ['fleetmon provision prints the server\'s public key and the exact keys deploy command'],
      });
    }
    const passphrase = process.env.FLEETMON_KEY_PASSPHRASE;
    const fleetKey = flags.key
      ? loadKeyFile(flags.key, passphrase)
      : await fetchServerKey(flags['from-server']!, flags.token ? { token: flags.token } : {});
    const auth = await resolveAuth({
      user: flags['admin-user'],
      identity: flags.identity,
      askPassword: flags['ask-password'],
      target: hosts.length === 1 ? hosts[0]! : `${hosts.length} hosts`,
    });
    const result = await keysDeploy({
      targets: hosts,
      publicKey: fleetKey.publicKey,
      ...(fleetKey.privateKey ? { verifyKey: fleetKey.privateKey } : {}),
      auth,
      port: flags.port,
      account: flags.account,
      libDir: flags['lib-dir'],
      ...(flags.from !== undefined ? { from: flags.from } : {}),
      ...(flags.config !== undefined ? { configFile: flags.config } : {}),
      ...(flags.probe !== undefined ? { probeScript: readProbe(flags.probe) } : {}),
      allUsers: flags['all-users'],
      concurrency: flags.concurrency,
      dryRun: flags['dry-run'],
      renderer: chooseRenderer(this.jsonEnabled()),
      connectTimeoutMs: flags.timeout * 1000,
      commandTimeoutMs: flags.timeout * 4000,
    });
    this.report(result);
    if (!result.ok) process.exitCode = EXIT.ssh;
    return result;
  }

  private report(r: KeysDeployResult): void {
    this.say();
    this.say(`key ${r.key.type} ${r.key.fingerprint}${r.key.comment ? ` (${r.key.comment})` : ''} → account ${r.account}${r.dryRun ? ' [dry run]' : ''}`);
    for (const h of r.hosts) {
      const changed = h.steps.filter((s) => s.status === 'changed' || s.status === 'planned').map((s) => s.id);
      const what = h.ok ? (changed.length ? `${r.dryRun ? 'would change' : 'changed'}: ${changed.join(', ')}` : 'nothing to change') : `FAILED: ${h.error?.message ?? h.verify?.detail}`;
      this.say(`${h.ok ? '✔' : '✖'} ${h.host}:${h.port}  ${what}`);
      if (h.verify && h.ok) this.say(`    verify: ${h.verify.detail}`);
      if (h.sessionsScope) this.say(`    sessions: ${h.sessionsScope.scope === 'all-users' ? "every user's" : 'the service account\'s own only'}`);
      for (const w of h.warnings) this.say(`    note: ${w}`);
    }
    const pinned = r.hosts.filter((h) => h.hostKey);
    if (pinned.length) {
      this.say();
      this.say('host key pins (hosts.yml host_key):');
      for (const h of pinned) this.say(`  ${h.host}:${h.port}  ${h.hostKey!.type}  ${h.hostKey!.fingerprint}`);
    }
    if (r.config) {
      const changed = r.config.changes.filter((c) => c.action !== 'unchanged');
      if (r.config.written) this.say(`pinned in ${r.config.file}: ${changed.map((c) => `${c.name} (${c.action})`).join(', ')}`);
      else if (changed.length) this.say(`would pin in ${r.config.file}: ${changed.map((c) => `${c.name} (${c.action})`).join(', ')}`);
      else this.say(`${r.config.file} already has these pins`);
    }
  }
}

function readProbe(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new FleetmonError('PROBE_UNREADABLE', `cannot read the probe script ${file}: ${(err as Error).message}`);
  }
}
