import { Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base.js';
import { connectFromFlags, durationFlag, lxcFlags, lxcSpecFromFlags, proxmoxFlags } from '../cli/proxmox-flags.js';
import { parsePublicKey } from '../keys/authorized-keys.js';
import { keysDeploy } from '../keys/deploy.js';
import { DEFAULT_ACCOUNT, DEFAULT_LIB_DIR } from '../keys/target.js';
import { createLxc } from '../lxc/apply.js';
import { provisionHost } from '../provision/provision-host.js';
import { toFleetmonError } from '../lxc/proxmox/errors.js';
import { realClock } from '../lxc/proxmox/wait.js';
import { resolveAuth } from '../cli/ssh-login.js';
import { RemoteShell } from '../ssh/remote-shell.js';
import { probeSshBanner } from '../ssh/banner.js';
import { chooseRenderer } from '../steps/progress.js';
import { up, type UpResult } from '../up.js';

// up always applies (each stage is idempotent); lxc create's --dry-run does not apply to it.
const { 'dry-run': _dryRun, ...containerFlags } = { ...proxmoxFlags, ...lxcFlags };

export default class Up extends BaseCommand {
  static override summary = 'From a Proxmox token and a host list to a running dashboard: lxc create → provision → keys deploy.';
  static override description = `Runs the three commands in order and waits until the monitor has polled every host, then prints the \
dashboard URL. Every stage is idempotent, so a re-run after a failure (or with more hosts) skips what already holds. \
The container takes the lxc create flags; the container's root login and the fleet hosts' admin login use \
--identity (else the ssh-agent, else a password prompt). The host keys are pinned in the container's hosts.yml.`;
  static override strict = false;
  static override examples = [
    "FLEETMON_PVE_TOKEN='fleetmon@pve!fleetmon=…' <%= config.bin %> up --proxmox https://pve1:8006 --ca-file pve-root-ca.pem gpu1 gpu2 root@build:2222",
  ];
  static override flags = {
    ...containerFlags,
    identity: Flags.string({ char: 'i', env: 'FLEETMON_IDENTITY', summary: 'private key for root on the container and the admin login on hosts' }),
    'admin-user': Flags.string({ env: 'FLEETMON_ADMIN_USER', default: 'root', summary: 'account to log in to the fleet hosts as (root or a sudo user)' }),
    'node-runtime': Flags.string({ env: 'FLEETMON_NODE', options: ['auto', 'upload', 'nodesource'], default: 'auto', summary: 'how provision gets Node.js into the container' }),
    'listen-port': Flags.integer({ env: 'FLEETMON_LISTEN_PORT', default: 8080, min: 1, max: 65535, summary: 'dashboard port' }),
    'poll-timeout': durationFlag({ summary: 'Deadline for every host to be polled.', env: 'FLEETMON_UP_POLL_TIMEOUT', default: 3 * 60_000, defaultHelp: async () => '3m' }),
    account: Flags.string({ env: 'FLEETMON_ACCOUNT', default: DEFAULT_ACCOUNT, hidden: true, summary: 'service account on the hosts' }),
    'lib-dir': Flags.string({ env: 'FLEETMON_LIB_DIR', default: DEFAULT_LIB_DIR, hidden: true, summary: 'where the gate and probe go on the hosts' }),
    'all-users': Flags.boolean({ env: 'FLEETMON_ALL_USERS', default: false, summary: "keys deploy --all-users: see every user's tmux sessions (root helper + sudoers rule)" }),
    'app-root': Flags.string({ env: 'FLEETMON_APP_ROOT', hidden: true, summary: 'install the package at this path (development, tests)' }),
  };

  async run(): Promise<UpResult> {
    const { flags, argv } = await this.parse(Up);
    const hosts = argv as string[];
    const json = this.jsonEnabled();
    const warn = (m: string) => this.logToStderr(`Warning: ${m}`);
    const root = await resolveAuth({ user: 'root', identity: flags.identity, target: 'the container' });
    const admin = hosts.length ? await resolveAuth({ user: flags['admin-user'], identity: flags.identity, target: `${hosts.length} host(s)` }) : root;
    const result = await up(
      { hosts, account: flags.account, pollTimeoutMs: flags['poll-timeout'] },
      {
        createContainer: async () => {
          const client = connectFromFlags(flags, warn);
          try {
            return await createLxc(lxcSpecFromFlags(undefined, { ...flags, 'dry-run': false }), {
              client,
              clock: realClock,
              probeSsh: probeSshBanner,
              renderer: chooseRenderer(json),
              timeouts: { taskMs: flags['task-timeout'], addressMs: flags['address-timeout'], sshMs: flags['ssh-timeout'] },
              warn,
              dryRun: false,
            });
          } catch (err) {
            throw toFleetmonError(err);
          } finally {
            await client.close();
          }
        },
        provision: (address) =>
          provisionHost({
            host: address,
            port: flags['ssh-port'],
            auth: root,
            node: flags['node-runtime'] as 'auto' | 'upload' | 'nodesource',
            listenHost: '0.0.0.0',
            listenPort: flags['listen-port'],
            dryRun: false,
            timeoutMs: 20_000,
            renderer: chooseRenderer(json),
            ...(flags['app-root'] ? { root: flags['app-root'] } : {}),
          }),
        connect: (address, hostKey) =>
          RemoteShell.connect({
            host: address,
            port: flags['ssh-port'],
            username: 'root',
            ...(root.privateKey !== undefined ? { privateKey: root.privateKey } : {}),
            ...(root.agent ? { agent: root.agent } : {}),
            ...(root.password !== undefined ? { password: root.password } : {}),
            hostKeyPin: hostKey,
            readyTimeoutMs: 20_000,
            commandTimeoutMs: 60_000,
          }),
        deployKeys: (publicKey, configFile) =>
          keysDeploy({
            targets: hosts,
            publicKey: parsePublicKey(publicKey),
            auth: admin,
            account: flags.account,
            libDir: flags['lib-dir'],
            allUsers: flags['all-users'],
            configFile,
            renderer: chooseRenderer(json),
          }),
        note: (m) => this.say(`» ${m}`),
      },
    );
    this.say('');
    this.say(`CT ${result.container.vmid} '${result.container.hostname}' at ${result.container.address} (${result.container.action})`);
    for (const k of result.keys) this.say(`${k.ok ? '✔' : '✖'} ${k.host}  ${k.detail}`);
    for (const h of result.hosts) this.say(`  ${h.hostname}: ${h.status}, ${h.sessions} session(s)`);
    this.say(`\nDashboard: ${result.dashboardUrl}  (API token in ${result.provision.tokenPath} on the container)`);
    return result;
  }
}
