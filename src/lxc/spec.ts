/**
 * The container spec: `lxc create`'s flags turned into validated values. Everything that ends up in an API path or a
 * Proxmox property string is checked here, once, so later stages can build requests without escaping.
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { FleetmonError } from '../core/errors.js';

/** Marks containers fleetmon made; `lxc destroy` removes only those. Always added to --tags. */
export const FLEETMON_TAG = 'fleetmon';

export type Ipv4Spec = { mode: 'dhcp' } | { mode: 'static'; cidr: string; gateway: string };

export interface LxcSpec {
  vmid?: number;
  node?: string;
  hostname: string;
  cores: number;
  /** MiB */
  memory: number;
  /** MiB */
  swap: number;
  /** GiB (Proxmox's "G") */
  diskGiB: number;
  storage: string;
  templateStorage: string;
  bridge: string;
  ipv4: Ipv4Spec;
  /** Contents of the public key file(s), one OpenSSH key per line. */
  sshPublicKeys: string;
  sshPublicKeyFile: string;
  unprivileged: boolean;
  onboot: boolean;
  tags: string[];
  pool?: string;
  force: boolean;
  sshPort: number;
}

export interface LxcSpecInput {
  vmid?: number;
  node?: string;
  hostname: string;
  cores: number;
  memory: number;
  swap: number;
  disk: number;
  storage: string;
  templateStorage: string;
  bridge: string;
  ip?: string;
  gateway?: string;
  sshPublicKey?: string;
  unprivileged: boolean;
  onboot: boolean;
  tags: string;
  pool?: string;
  force: boolean;
  sshPort: number;
}

const NODE_RE = /^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?$/;
const STORAGE_RE = /^[a-z][a-z0-9\-_.]*[a-z0-9]$/i;
const DNS_LABEL = '[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?';
const DNS_RE = new RegExp(`^(${DNS_LABEL}\\.)*${DNS_LABEL}$`);
const IPV4_OCTET = '(25[0-5]|(2[0-4]|1[0-9]|[1-9])?[0-9])';
export const IPV4_RE = new RegExp(`^${IPV4_OCTET}(\\.${IPV4_OCTET}){3}$`);
const TAG_RE = /^[a-z0-9_][a-z0-9_\-+.]*$/i;
const POOL_RE = /^[A-Za-z0-9.\-_]+(?:\/[A-Za-z0-9.\-_]+){0,2}$/;
const SSH_KEY_RE = /^(?:ssh-(?:ed25519|rsa|dss)|ecdsa-sha2-nistp(?:256|384|521)|sk-(?:ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com) [A-Za-z0-9+/]+={0,2}(?: .*)?$/;

export const usage = (code: string, message: string, suggestions: string[] = []) => new FleetmonError(code, message, { kind: 'usage', suggestions });

/** Proxmox's VMID range. */
export function checkVmid(vmid: number): void {
  if (!Number.isInteger(vmid) || vmid < 100 || vmid > 999_999_999) throw usage('BAD_VMID', `VMID must be an integer from 100 to 999999999, got ${vmid}`);
}

/** Proxmox tag lists are separated by `;` (the API), `,` or spaces (people). */
export const splitTags = (v: unknown) => String(v ?? '').split(/[,;\s]+/).filter(Boolean);

export interface SpecDeps {
  readFile?: (path: string) => string;
  home?: string;
}

/** Validates every value that ends up in an API path or a property string, and loads the SSH key. */
export function resolveLxcSpec(input: LxcSpecInput, deps: SpecDeps = {}): LxcSpec {
  if (input.vmid !== undefined) checkVmid(input.vmid);
  if (input.node !== undefined && !NODE_RE.test(input.node)) throw usage('BAD_NODE', `--node ${JSON.stringify(input.node)} is not a node name`);
  if (!DNS_RE.test(input.hostname) || input.hostname.length > 255) {
    throw usage('BAD_HOSTNAME', `--hostname ${JSON.stringify(input.hostname)} is not a valid DNS name`);
  }
  for (const [flag, v] of [['--storage', input.storage], ['--template-storage', input.templateStorage]] as const) {
    if (!STORAGE_RE.test(v)) throw usage('BAD_STORAGE', `${flag} ${JSON.stringify(v)} is not a storage ID`);
  }
  if (!/^[-_.\w]+$/.test(input.bridge)) throw usage('BAD_BRIDGE', `--bridge ${JSON.stringify(input.bridge)} is not a bridge name`);
  const ints: [string, number, number, number][] = [
    ['--cores', input.cores, 1, 8192],
    ['--memory', input.memory, 16, 4_194_304],
    ['--swap', input.swap, 0, 4_194_304],
    ['--disk', input.disk, 1, 131_072],
    ['--ssh-port', input.sshPort, 1, 65_535],
  ];
  for (const [flag, v, min, max] of ints) {
    if (!Number.isInteger(v) || v < min || v > max) throw usage('BAD_SIZE', `${flag} must be an integer from ${min} to ${max}, got ${v}`);
  }
  let ipv4: Ipv4Spec = { mode: 'dhcp' };
  if (input.ip !== undefined || input.gateway !== undefined) {
    const m = /^(.+)\/(\d+)$/.exec(input.ip ?? '');
    if (!m?.[1] || !IPV4_RE.test(m[1]) || Number(m[2]) < 8 || Number(m[2]) > 32) {
      throw usage('BAD_IP', `--ip must be an IPv4 address with prefix length, e.g. 192.168.1.50/24 (got ${JSON.stringify(input.ip ?? '')})`);
    }
    if (!input.gateway || !IPV4_RE.test(input.gateway)) {
      throw usage('BAD_GATEWAY', '--ip needs --gateway IP (the container has no other way out)');
    }
    ipv4 = { mode: 'static', cidr: input.ip as string, gateway: input.gateway };
  }
  const tags = [FLEETMON_TAG, ...splitTags(input.tags)].map((t) => t.toLowerCase());
  for (const t of tags) if (!TAG_RE.test(t)) throw usage('BAD_TAG', `--tags: ${JSON.stringify(t)} is not a valid Proxmox tag`);
  if (input.pool !== undefined && !POOL_RE.test(input.pool)) throw usage('BAD_POOL', `--pool ${JSON.stringify(input.pool)} is not a pool ID`);

  const { keys: sshPublicKeys, file: keyFile } = loadSshPublicKeys(input.sshPublicKey, deps);
  return {
    vmid: input.vmid,
    node: input.node,
    hostname: input.hostname,
    cores: input.cores,
    memory: input.memory,
    swap: input.swap,
    diskGiB: input.disk,
    storage: input.storage,
    templateStorage: input.templateStorage,
    bridge: input.bridge,
    ipv4,
    sshPublicKeys,
    sshPublicKeyFile: keyFile,
    unprivileged: input.unprivileged,
    onboot: input.onboot,
    tags: [...new Set(tags)],
    pool: input.pool,
    force: input.force,
    sshPort: input.sshPort,
  };
}

/** The public key file root's authorized_keys gets: --ssh-public-key, else the user's ed25519 or RSA key. */
function loadSshPublicKeys(given: string | undefined, deps: SpecDeps): { keys: string; file: string } {
  const readFile = deps.readFile ?? ((p: string) => readFileSync(p, 'utf8'));
  const home = deps.home ?? homedir();
  const candidates = given ? [given] : [join(home, '.ssh', 'id_ed25519.pub'), join(home, '.ssh', 'id_rsa.pub')];
  let keyFile: string | undefined;
  let keys: string | undefined;
  for (const file of candidates) {
    try {
      keys = readFile(file);
      keyFile = file;
      break;
    } catch {
      // try the next default
    }
  }
  if (keys === undefined || keyFile === undefined) {
    throw usage(
      'NO_SSH_KEY',
      given ? `cannot read --ssh-public-key ${given}` : `no SSH public key at ${candidates.join(' or ')}`,
      ['pass --ssh-public-key FILE (fleetmon provision logs in as root with this key)', 'or create one: ssh-keygen -t ed25519'],
    );
  }
  const lines = keys.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  if (!lines.length || !lines.every((l) => SSH_KEY_RE.test(l))) {
    throw usage('BAD_SSH_KEY', `${keyFile} is not an OpenSSH public key file (did you pass the private key?)`);
  }
  return { keys: `${lines.join('\n')}\n`, file: keyFile };
}
