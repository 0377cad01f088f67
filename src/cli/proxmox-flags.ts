/**
 * Flags every Proxmox command shares (connection, TLS, task deadline), each with its FLEETMON_* twin, the
 * container flags of `lxc create` (which `up` takes too), and the glue from parsed flags to a client and a spec.
 * Kept out of src/commands so oclif does not take it for a command, and so commands never import each other.
 */
import { Flags, type Interfaces } from '@oclif/core';
import { connectPve, type PveClient } from '../lxc/proxmox/client.js';
import { parseDuration } from '../lxc/proxmox/wait.js';
import { resolveLxcSpec, type LxcSpec } from '../lxc/spec.js';

/** A duration flag: `90s`, `5m`, `1h`, or a bare number of seconds. */
export const durationFlag = Flags.custom<number>({
  parse: async (input) => {
    const ms = parseDuration(input);
    if (ms === undefined || ms <= 0) throw new Error(`expected a duration like 90s, 5m or 1h, got ${JSON.stringify(input)}`);
    return ms;
  },
});

export const proxmoxFlags = {
  proxmox: Flags.string({
    summary: 'Proxmox VE API address, e.g. https://pve1:8006 (port 8006 by default).',
    env: 'FLEETMON_PVE_URL',
    required: true,
    helpGroup: 'PROXMOX',
  }),
  token: Flags.string({
    summary: "API token 'USER@REALM!TOKENID=SECRET' (prefer the env var: flags show in the process list).",
    env: 'FLEETMON_PVE_TOKEN',
    required: true,
    helpGroup: 'PROXMOX',
  }),
  'ca-file': Flags.string({
    summary: "Trust this CA (the cluster's /etc/pve/pve-root-ca.pem) instead of the system store.",
    env: 'FLEETMON_PVE_CA_FILE',
    helpGroup: 'PROXMOX',
  }),
  fingerprint: Flags.string({
    summary: "Pin the node's key: sha256//BASE64 of its public key, or the certificate's SHA-256 as AA:BB:….",
    env: 'FLEETMON_PVE_FINGERPRINT',
    helpGroup: 'PROXMOX',
  }),
  insecure: Flags.boolean({
    summary: "Do not verify the server's certificate (prints a warning; use --fingerprint instead).",
    env: 'FLEETMON_PVE_INSECURE',
    default: false,
    helpGroup: 'PROXMOX',
  }),
  'task-timeout': durationFlag({
    summary: 'Deadline for each Proxmox task (template download, create, start, stop, destroy).',
    env: 'FLEETMON_PVE_TASK_TIMEOUT',
    default: 30 * 60_000,
    defaultHelp: async () => '30m',
    helpGroup: 'PROXMOX',
  }),
};

export interface ProxmoxFlagValues {
  proxmox: string;
  token: string;
  'ca-file'?: string;
  fingerprint?: string;
  insecure: boolean;
}

export function connectFromFlags(flags: ProxmoxFlagValues, warn: (message: string) => void): PveClient {
  return connectPve({
    url: flags.proxmox,
    token: flags.token,
    caFile: flags['ca-file'],
    fingerprint: flags.fingerprint,
    insecure: flags.insecure,
    warn,
    onRequest: process.env.FLEETMON_DEBUG
      ? (r) => process.stderr.write(`[pve] ${r.method} ${r.path} → ${r.status} (${r.ms} ms)\n`)
      : undefined,
  });
}

/** `lxc create`'s container flags; `fleetmon up` takes the same ones (less --dry-run). */
export const lxcFlags = {
  node: Flags.string({ summary: 'Cluster node to create it on (default: the only node).', env: 'FLEETMON_PVE_NODE' }),
  hostname: Flags.string({ summary: 'Container hostname; also how a re-run finds it.', env: 'FLEETMON_LXC_HOSTNAME', default: 'fleetmon' }),
  cores: Flags.integer({ summary: 'CPU cores.', env: 'FLEETMON_LXC_CORES', default: 1, min: 1 }),
  memory: Flags.integer({ summary: 'Memory in MiB.', env: 'FLEETMON_LXC_MEMORY', default: 1024, min: 16 }),
  swap: Flags.integer({ summary: 'Swap in MiB.', env: 'FLEETMON_LXC_SWAP', default: 512, min: 0 }),
  disk: Flags.integer({ summary: 'Root disk size in GiB.', env: 'FLEETMON_LXC_DISK', default: 8, min: 1 }),
  storage: Flags.string({ summary: 'Storage for the root disk (content rootdir).', env: 'FLEETMON_LXC_STORAGE', default: 'local-lvm' }),
  'template-storage': Flags.string({ summary: 'Storage for the template (content vztmpl).', env: 'FLEETMON_LXC_TEMPLATE_STORAGE', default: 'local' }),
  bridge: Flags.string({ summary: 'Bridge for eth0.', env: 'FLEETMON_LXC_BRIDGE', default: 'vmbr0' }),
  ip: Flags.string({ summary: 'Static IPv4 address with prefix, e.g. 192.168.1.50/24 (default: DHCP).', env: 'FLEETMON_LXC_IP', dependsOn: ['gateway'] }),
  gateway: Flags.string({ summary: 'IPv4 gateway for --ip.', env: 'FLEETMON_LXC_GATEWAY', dependsOn: ['ip'] }),
  'ssh-public-key': Flags.string({
    summary: "Public key file for root's authorized_keys (default: ~/.ssh/id_ed25519.pub, else ~/.ssh/id_rsa.pub).",
    env: 'FLEETMON_LXC_SSH_PUBLIC_KEY',
  }),
  unprivileged: Flags.boolean({
    summary: 'Unprivileged container with nesting=1 (a privileged one needs Sys.Modify on / and gets no features).',
    env: 'FLEETMON_LXC_UNPRIVILEGED',
    default: true,
    allowNo: true,
  }),
  onboot: Flags.boolean({ summary: 'Start it when the node boots.', env: 'FLEETMON_LXC_ONBOOT', default: true, allowNo: true }),
  tags: Flags.string({ summary: "Proxmox tags, comma-separated ('fleetmon' is always added: lxc destroy looks for it).", env: 'FLEETMON_LXC_TAGS', default: 'fleetmon' }),
  pool: Flags.string({ summary: 'Resource pool to put it in.', env: 'FLEETMON_LXC_POOL' }),
  force: Flags.boolean({ summary: 'Change an existing container whose configuration differs, in place.', env: 'FLEETMON_LXC_FORCE', default: false }),
  'dry-run': Flags.boolean({ summary: 'Check and plan, change nothing.', env: 'FLEETMON_LXC_DRY_RUN', default: false }),
  'ssh-port': Flags.integer({ summary: 'Port to wait on for SSH.', env: 'FLEETMON_LXC_SSH_PORT', default: 22, min: 1, max: 65_535 }),
  'address-timeout': durationFlag({
    summary: 'Deadline for eth0 to get an IPv4 address.',
    env: 'FLEETMON_LXC_ADDRESS_TIMEOUT',
    default: 5 * 60_000,
    defaultHelp: async () => '5m',
  }),
  'ssh-timeout': durationFlag({
    summary: 'Deadline for SSH to answer.',
    env: 'FLEETMON_LXC_SSH_TIMEOUT',
    default: 5 * 60_000,
    defaultHelp: async () => '5m',
  }),
};

export type LxcFlagValues = Interfaces.InferredFlags<typeof lxcFlags>;

/** The container spec from `lxc create`'s flags (also `fleetmon up`'s). */
export function lxcSpecFromFlags(vmid: number | undefined, f: LxcFlagValues): LxcSpec {
  return resolveLxcSpec({
    vmid,
    node: f.node,
    hostname: f.hostname,
    cores: f.cores,
    memory: f.memory,
    swap: f.swap,
    disk: f.disk,
    storage: f.storage,
    templateStorage: f['template-storage'],
    bridge: f.bridge,
    ip: f.ip,
    gateway: f.gateway,
    sshPublicKey: f['ssh-public-key'],
    unprivileged: f.unprivileged,
    onboot: f.onboot,
    tags: f.tags,
    pool: f.pool,
    force: f.force,
    sshPort: f['ssh-port'],
  });
}
