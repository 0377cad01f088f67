import { Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base.js';
import { resolveAuth } from '../cli/ssh-login.js';
import { provisionHost } from '../provision/provision-host.js';
import type { ProvisionResult } from '../provision/apply.js';
import { chooseRenderer } from '../steps/progress.js';

export default class Provision extends BaseCommand {
  static override summary = 'Install and start the fleetmon server on a Debian 12 machine (the monitor container) over SSH.';
  static override description = `Plans, then applies only what is missing: apt packages, a Node.js ≥ 20 runtime (this machine's own
copied over when it can run there, else NodeSource's), the service user, /opt/fleetmon (app), /var/lib/fleetmon (data),
/etc/fleetmon/hosts.yml (written once, never overwritten after you edit it), the fleet SSH key, and a hardened systemd
unit; then waits for /health and prints the dashboard URL, where the API token is, and the public key for
\`fleetmon keys deploy\`. Re-running changes nothing; after a fleetmon upgrade it installs the new release and restarts.`;
  static override examples = [
    '<%= config.bin %> provision --host 10.0.0.5',
    '<%= config.bin %> provision --host 10.0.0.5 --dry-run',
    '<%= config.bin %> provision --host ct.example --user admin --identity ~/.ssh/id_ed25519 --node nodesource --json',
  ];
  static override flags = {
    host: Flags.string({ char: 'H', env: 'FLEETMON_PROVISION_HOST', required: true, description: 'address of the machine to provision' }),
    port: Flags.integer({ char: 'p', env: 'FLEETMON_SSH_PORT', default: 22, min: 1, max: 65535, description: 'SSH port' }),
    user: Flags.string({ char: 'u', env: 'FLEETMON_SSH_USER', default: 'root', description: 'log in as (root, or a sudo user)' }),
    identity: Flags.string({ char: 'i', env: 'FLEETMON_IDENTITY', description: 'private key to log in with (else ssh-agent, else a password prompt)' }),
    'ask-password': Flags.boolean({ env: 'FLEETMON_ASK_PASSWORD', default: false, description: 'ask for the password even when a key or agent is available' }),
    'host-key': Flags.string({ env: 'FLEETMON_HOST_KEY', description: "expected SSH host key fingerprint (SHA256:…); any other is refused" }),
    node: Flags.string({ env: 'FLEETMON_NODE', options: ['auto', 'upload', 'nodesource'], default: 'auto', description: "how to get Node.js there: copy this machine's, or NodeSource's apt repository" }),
    'listen-host': Flags.string({ env: 'FLEETMON_LISTEN_HOST', default: '0.0.0.0', description: 'address the dashboard listens on (written to a new hosts.yml)' }),
    'listen-port': Flags.integer({ env: 'FLEETMON_LISTEN_PORT', default: 8080, min: 1, max: 65535, description: 'dashboard port (written to a new hosts.yml)' }),
    tls: Flags.string({
      env: 'FLEETMON_PROVISION_TLS',
      options: ['off', 'self-signed'],
      default: 'off',
      description: 'self-signed: HTTPS with a certificate the service makes once (written to a new hosts.yml); its fingerprint is printed',
    }),
    'dry-run': Flags.boolean({ env: 'FLEETMON_DRY_RUN', default: false, description: 'print the plan, change nothing' }),
    'app-root': Flags.string({ env: 'FLEETMON_APP_ROOT', hidden: true, description: 'install the package at this path instead of this one (development, tests)' }),
    timeout: Flags.integer({ env: 'FLEETMON_SSH_TIMEOUT', default: 20, min: 1, max: 600, description: 'seconds to connect, and per ordinary command ×3' }),
  };

  async run(): Promise<ProvisionResult> {
    const { flags } = await this.parse(Provision);
    const auth = await resolveAuth({ user: flags.user, identity: flags.identity, askPassword: flags['ask-password'], target: flags.host });
    const result = await provisionHost({
      host: flags.host,
      port: flags.port,
      auth,
      hostKey: flags['host-key'],
      node: flags.node as 'auto' | 'upload' | 'nodesource',
      listenHost: flags['listen-host'],
      listenPort: flags['listen-port'],
      tls: flags.tls as 'off' | 'self-signed',
      dryRun: flags['dry-run'],
      timeoutMs: flags.timeout * 1000,
      renderer: chooseRenderer(this.jsonEnabled()),
      ...(flags['app-root'] !== undefined ? { root: flags['app-root'] } : {}),
    });
    this.report(result);
    return result;
  }

  private report(r: ProvisionResult): void {
    this.say();
    this.say(`${r.host}: host key ${r.hostKey.type} ${r.hostKey.fingerprint}`);
    this.say(`runtime: ${r.runtime.method === 'upload' ? `Node.js ${r.runtime.version} copied from this machine` : `Node.js ${r.runtime.major}.x from NodeSource`} (${r.runtime.reason})`);
    if (r.dryRun) {
      const todo = r.steps.filter((s) => s.status === 'planned');
      this.say(todo.length ? 'plan (dry run, nothing changed):' : 'nothing to do: the container is already provisioned');
      for (const s of todo) this.say(`  • ${s.title}: ${s.detail ?? ''}`);
      return;
    }
    this.say(r.changed ? `provisioned fleetmon ${r.bundle.version}: ${r.steps.filter((s) => s.status === 'changed').map((s) => s.id).join(', ')}` : `nothing to change: fleetmon ${r.bundle.version} is installed and running`);
    this.say();
    this.say(`dashboard:  ${r.dashboardUrl}`);
    this.say(`API token:  ${r.tokenPath} (on the container, mode 0600)`);
    this.say(`config:     ${r.configPath}`);
    if (r.tls) {
      this.say(`TLS:        ${r.tls.certPath}, SHA-256 ${r.tls.sha256}`);
      this.say(`            pin it: fleetmon status --server ${r.dashboardUrl.replace(/\/$/, '')} --fingerprint ${r.tls.sha256}`);
    }
    if (r.publicKey) {
      this.say();
      this.say("the monitor's public key:");
      this.say(`  ${r.publicKey}`);
      this.say('next, give it access to the fleet (then `systemctl restart fleetmon` there to load the new hosts):');
      this.say(`  ${r.nextCommand}`);
      this.say('or from here, with the key saved to fleet.pub (pins go to the hosts.yml you name):');
      this.say('  fleetmon keys deploy --key fleet.pub --config hosts.yml HOST…');
    }
  }
}
