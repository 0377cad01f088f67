/**
 * fleet.yml: the whole deployment in one file — the Proxmox target, the monitor's container, the monitor's own
 * settings (port, TLS, the alert thresholds and notification channels of hosts.yml) and the fleet. Checked like
 * hosts.yml (core/config.ts): every problem at once, each with file:line:col and the fix. The Proxmox token is never
 * in the file: it comes from the environment variable the file names.
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { Type, type Static } from '@sinclair/typebox';
import {
  AlertsConfigSchema,
  HostConfigSchema,
  NotificationsConfigSchema,
  channelChecks,
  checkAgainstSchema,
  keyPath,
  readYamlDocument,
  type SchemaProblem,
} from '../core/config.js';
import { FleetmonError, errorMessage } from '../core/errors.js';
import { resolveLxcSpec, type LxcSpec, type SpecDeps } from '../lxc/spec.js';
import { DEFAULT_SUDOERS_FILE } from '../keys/all-users.js';
import { DEFAULT_ACCOUNT, DEFAULT_LIB_DIR } from '../keys/target.js';

const PORT = (def: number) => Type.Integer({ default: def, minimum: 1, maximum: 65535 });
const NAME = { pattern: '^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?$', expected: 'must be a node name (letters, digits and -)', example: 'pve1' };

export const FleetProxmoxSchema = Type.Object(
  {
    url: Type.String({ pattern: '^https://\\S+$', expected: 'must be the https:// address of a Proxmox VE node', example: 'https://pve1:8006' }),
    node: Type.Optional(Type.String(NAME)),
    ca_file: Type.Optional(Type.String({ minLength: 1, example: 'pve-root-ca.pem', description: "the cluster's /etc/pve/pve-root-ca.pem" })),
    fingerprint: Type.Optional(Type.String({ minLength: 8, example: 'sha256//BASE64', description: "the node's key pin" })),
    token_env: Type.String({
      default: 'FLEETMON_PVE_TOKEN',
      pattern: '^[A-Za-z_][A-Za-z0-9_]*$',
      expected: 'must be the name of an environment variable',
      description: "the variable holding 'USER@REALM!TOKENID=SECRET' (a secret never goes in the file)",
    }),
  },
  { additionalProperties: false, expected: 'must be a mapping with at least url', fix: 'write e.g. `proxmox: {url: https://pve1:8006, ca_file: pve-root-ca.pem}`' },
);

export const FleetContainerSchema = Type.Object(
  {
    vmid: Type.Union([Type.Literal('auto'), Type.Integer({ minimum: 100, maximum: 999_999_999 })], { default: 'auto', example: 210 }),
    hostname: Type.String({ default: 'fleetmon', pattern: '^[a-zA-Z0-9]([a-zA-Z0-9.-]*[a-zA-Z0-9])?$', expected: 'must be a DNS name', example: 'fleetmon' }),
    cores: Type.Integer({ default: 1, minimum: 1, maximum: 8192 }),
    memory: Type.Integer({ default: 1024, minimum: 16, maximum: 4_194_304, description: 'MiB' }),
    swap: Type.Integer({ default: 512, minimum: 0, maximum: 4_194_304, description: 'MiB' }),
    disk: Type.Integer({ default: 8, minimum: 1, maximum: 131_072, description: 'GiB' }),
    storage: Type.String({ default: 'local-lvm', minLength: 1 }),
    template_storage: Type.String({ default: 'local', minLength: 1 }),
    bridge: Type.String({ default: 'vmbr0', minLength: 1 }),
    ipv4: Type.String({ default: 'dhcp', pattern: '^(dhcp|\\d{1,3}(\\.\\d{1,3}){3}/\\d{1,2})$', expected: "must be 'dhcp' or an address with prefix length", example: '192.168.1.50/24' }),
    gateway: Type.Optional(Type.String({ pattern: '^\\d{1,3}(\\.\\d{1,3}){3}$', expected: 'must be an IPv4 address', example: '192.168.1.1' })),
    ssh_public_key: Type.Optional(Type.String({ minLength: 1, example: '~/.ssh/id_ed25519.pub', description: "root's authorized key on the container" })),
    unprivileged: Type.Boolean({ default: true }),
    onboot: Type.Boolean({ default: true }),
    tags: Type.Array(Type.String({ minLength: 1 }), { default: [], noun: 'tags' }),
    pool: Type.Optional(Type.String({ minLength: 1 })),
    ssh_port: PORT(22),
  },
  { additionalProperties: false, default: {} },
);

export const FleetMonitorSchema = Type.Object(
  {
    port: PORT(8080),
    tls: Type.Union([Type.Literal('off'), Type.Literal('self-signed')], { default: 'off' }),
    polling_interval_seconds: Type.Number({ default: 30, minimum: 0.2, maximum: 86400, description: 'seconds' }),
    node_runtime: Type.Union([Type.Literal('auto'), Type.Literal('upload'), Type.Literal('nodesource')], { default: 'auto' }),
    alerts: AlertsConfigSchema,
    notifications: NotificationsConfigSchema,
  },
  { additionalProperties: false, default: {} },
);

export const FleetKeysSchema = Type.Object(
  {
    account: Type.String({ default: DEFAULT_ACCOUNT, pattern: '^[a-z_][a-z0-9_-]{0,31}$', expected: 'must be a user name', example: 'fleetmon' }),
    lib_dir: Type.String({ default: DEFAULT_LIB_DIR, pattern: '^/[A-Za-z0-9._/-]+$', expected: 'must be an absolute path', example: DEFAULT_LIB_DIR }),
    // sudo reads only /etc/sudoers.d's files whose names have no '.' and do not end in '~': any other path would be a rule that never applies.
    sudoers_file: Type.String({
      default: DEFAULT_SUDOERS_FILE,
      pattern: '^/etc/sudoers\\.d/[A-Za-z0-9_-]+$',
      expected: "must be a file in /etc/sudoers.d whose name has no '.' or '~' (sudo skips those)",
      example: DEFAULT_SUDOERS_FILE,
      description: "the all-users hosts' sudoers drop-in",
    }),
  },
  { additionalProperties: false, default: {} },
);

export const FleetHostSchema = Type.Object(
  {
    name: HostConfigSchema.properties.name,
    address: Type.String({ minLength: 1, pattern: '^[A-Za-z0-9._:-]+$', expected: 'must be a host name or IP address', example: '192.168.1.20' }),
    port: PORT(22),
    admin: Type.String({ default: 'root', pattern: '^[A-Za-z_][A-Za-z0-9_.-]{0,31}$', expected: 'must be a user name (root or a sudo user)', example: 'root' }),
    all_users: Type.Boolean({ default: false, description: "the monitor sees and may end every user's tmux sessions, not only the service account's" }),
    gpu: Type.Union([Type.Boolean(), Type.Null()], { default: null, description: 'null: detect nvidia-smi' }),
  },
  { additionalProperties: false, expected: 'must be a host: a mapping with at least name and address', fix: 'write each host as a mapping: `- {name: gpu1, address: 192.168.1.20}`' },
);

export const FleetFileSchema = Type.Object(
  {
    proxmox: FleetProxmoxSchema,
    container: FleetContainerSchema,
    monitor: FleetMonitorSchema,
    keys: FleetKeysSchema,
    hosts: Type.Array(FleetHostSchema, { default: [], noun: 'hosts', fix: 'write each host as a list item: `- {name: gpu1, address: 192.168.1.20}`, or `hosts: []` for none' }),
  },
  { additionalProperties: false },
);

export type FleetFile = Static<typeof FleetFileSchema>;
export type FleetHost = Static<typeof FleetHostSchema>;

/** Duplicate names and address:port pairs, a gateway without a static address, the notification channels' own needs. */
function fleetChecks(raw: Record<string, unknown>): SchemaProblem[] {
  const out: SchemaProblem[] = [];
  const hosts = Array.isArray(raw.hosts) ? (raw.hosts as unknown[]) : [];
  const names = new Map<string, number>();
  const targets = new Map<string, number>();
  hosts.forEach((h, i) => {
    if (!h || typeof h !== 'object' || Array.isArray(h)) return;
    const host = h as Record<string, unknown>;
    if (typeof host.name === 'string') {
      const first = names.get(host.name);
      if (first === undefined) names.set(host.name, i);
      else out.push({ path: ['hosts', i, 'name'], part: 'value', text: `${keyPath(raw, ['hosts', i, 'name'])}: duplicate host name '${host.name}' (${keyPath(raw, ['hosts', first])} has it too); fix: give each host its own name` });
    }
    if (typeof host.address === 'string') {
      const key = `${host.address}:${typeof host.port === 'number' ? host.port : 22}`;
      const first = targets.get(key);
      if (first === undefined) targets.set(key, i);
      else out.push({ path: ['hosts', i, 'address'], part: 'value', text: `${keyPath(raw, ['hosts', i, 'address'])}: ${key} is listed twice (${keyPath(raw, ['hosts', first])} has it too); fix: list each host once` });
    }
  });
  const ct = raw.container && typeof raw.container === 'object' ? (raw.container as Record<string, unknown>) : {};
  const staticIp = typeof ct.ipv4 === 'string' && ct.ipv4 !== 'dhcp';
  if (staticIp && ct.gateway === undefined) out.push({ path: ['container', 'gateway'], part: 'parent', text: 'container.gateway is required with a static ipv4: add `gateway: 192.168.1.1`' });
  if (!staticIp && ct.gateway !== undefined) out.push({ path: ['container', 'gateway'], part: 'key', text: "container.gateway is only for a static ipv4; fix: remove it, or set `ipv4: 192.168.1.50/24`" });
  const px = raw.proxmox && typeof raw.proxmox === 'object' ? (raw.proxmox as Record<string, unknown>) : {};
  if (px.ca_file !== undefined && px.fingerprint !== undefined) out.push({ path: ['proxmox', 'fingerprint'], part: 'key', text: 'proxmox.fingerprint and proxmox.ca_file are both set; fix: keep one of them' });
  out.push(...channelChecks(raw, ['monitor', 'notifications']));
  return out;
}

export function parseFleetText(text: string, fileName: string): FleetFile {
  const { raw, locate } = readYamlDocument(text, fileName);
  return checkAgainstSchema(FleetFileSchema, raw ?? {}, fileName, {
    locate,
    crossChecks: fleetChecks,
    topLevelFix: 'start from the example in the README: `proxmox: {url: https://pve1:8006}` and a `hosts:` list',
  });
}

export function loadFleetFile(path: string): FleetFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new FleetmonError('FLEET_FILE_UNREADABLE', `cannot read ${path}: ${errorMessage(err)}`, {
      kind: 'config',
      suggestions: ['pass the deployment file with -f FILE', 'write one from a cluster: fleetmon discover --proxmox URL --write fleet.yml'],
    });
  }
  return parseFleetText(text, path);
}

/** The container spec lxc create would build from flags, from the file's container section. */
export function lxcSpecOf(fleet: FleetFile, deps: SpecDeps = {}): LxcSpec {
  const c = fleet.container;
  const key = c.ssh_public_key?.replace(/^~(?=\/)/, deps.home ?? homedir());
  return resolveLxcSpec(
    {
      ...(c.vmid === 'auto' ? {} : { vmid: c.vmid }),
      ...(fleet.proxmox.node ? { node: fleet.proxmox.node } : {}),
      hostname: c.hostname,
      cores: c.cores,
      memory: c.memory,
      swap: c.swap,
      disk: c.disk,
      storage: c.storage,
      templateStorage: c.template_storage,
      bridge: c.bridge,
      ...(c.ipv4 === 'dhcp' ? {} : { ip: c.ipv4, gateway: c.gateway }),
      ...(key ? { sshPublicKey: key } : {}),
      unprivileged: c.unprivileged,
      onboot: c.onboot,
      tags: c.tags.join(','),
      ...(c.pool ? { pool: c.pool } : {}),
      // apply changes what differs in place (what can be): the file is the truth, not a first guess.
      force: true,
      sshPort: c.ssh_port,
    },
    deps,
  );
}

/** `admin@address:port` as keys deploy and revoke take a target. */
export function targetOf(h: { admin?: string; address: string; port: number }): string {
  const addr = h.address.includes(':') ? `[${h.address}]` : h.address;
  return `${h.admin ? `${h.admin}@` : ''}${addr}:${h.port}`;
}
