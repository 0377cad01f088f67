/**
 * The monitor's Debian 12 container on Proxmox VE: resolve the spec (flags → validated values), gather facts from the
 * API, plan (pure: spec + facts → steps, config differences and blockers), then apply with listr2 progress. A re-run
 * finds the container by hostname (or VMID) and only does what is missing; a container whose configuration differs
 * is reported and left alone unless --force asks to change it in place.
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { ListrTask } from 'listr2';
import { FleetmonError, type ExitKind } from '../core/errors.js';
import type { PveClient, PveLxcConfig, PveNodeInfo, PveResource, PveStorage, PveVersion } from './proxmox/client.js';
import { ProxmoxApiError, grantHint, toFleetmonError } from './proxmox/errors.js';
import { missingPrivileges, pathsOf, type EffectivePermissions, type PrivilegeNeed } from './proxmox/privileges.js';
import { isTransientReadError, waitForTask, type TaskResult } from './proxmox/tasks.js';
import { chooseDebian12Template, type AplEntry, type TemplateChoice } from './proxmox/template.js';
import { formatDuration, poll, type Clock } from './proxmox/wait.js';
import type { SshProbe } from '../ssh/banner.js';
import { runTasks, type Renderer } from '../steps/progress.js';

/** Marks containers fleetmon made; `lxc destroy` removes only those. Always added to --tags. */
export const FLEETMON_TAG = 'fleetmon';
/** The seed's create-lxc.sh started numbering here. */
export const FIRST_VMID = 200;

// ---- spec ------------------------------------------------------------------------------------------------------

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
const IPV4_RE = new RegExp(`^${IPV4_OCTET}(\\.${IPV4_OCTET}){3}$`);
const TAG_RE = /^[a-z0-9_][a-z0-9_\-+.]*$/i;
const POOL_RE = /^[A-Za-z0-9.\-_]+(?:\/[A-Za-z0-9.\-_]+){0,2}$/;
const SSH_KEY_RE = /^(?:ssh-(?:ed25519|rsa|dss)|ecdsa-sha2-nistp(?:256|384|521)|sk-(?:ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com) [A-Za-z0-9+/]+={0,2}(?: .*)?$/;

const usage = (code: string, message: string, suggestions: string[] = []) => new FleetmonError(code, message, { kind: 'usage', suggestions });

export interface SpecDeps {
  readFile?: (path: string) => string;
  home?: string;
}

/** Validates every value that ends up in an API path or a property string, and loads the SSH key. */
export function resolveLxcSpec(input: LxcSpecInput, deps: SpecDeps = {}): LxcSpec {
  const readFile = deps.readFile ?? ((p: string) => readFileSync(p, 'utf8'));
  if (input.vmid !== undefined && (!Number.isInteger(input.vmid) || input.vmid < 100 || input.vmid > 999_999_999)) {
    throw usage('BAD_VMID', `VMID must be an integer from 100 to 999999999, got ${input.vmid}`);
  }
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
  const tags = [FLEETMON_TAG, ...input.tags.split(/[,;\s]+/).filter(Boolean)].map((t) => t.toLowerCase());
  for (const t of tags) if (!TAG_RE.test(t)) throw usage('BAD_TAG', `--tags: ${JSON.stringify(t)} is not a valid Proxmox tag`);
  if (input.pool !== undefined && !POOL_RE.test(input.pool)) throw usage('BAD_POOL', `--pool ${JSON.stringify(input.pool)} is not a pool ID`);

  const home = deps.home ?? homedir();
  const candidates = input.sshPublicKey ? [input.sshPublicKey] : [join(home, '.ssh', 'id_ed25519.pub'), join(home, '.ssh', 'id_rsa.pub')];
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
      input.sshPublicKey ? `cannot read --ssh-public-key ${input.sshPublicKey}` : `no SSH public key at ${candidates.join(' or ')}`,
      ['pass --ssh-public-key FILE (fleetmon provision logs in as root with this key)', 'or create one: ssh-keygen -t ed25519'],
    );
  }
  const lines = keys.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  if (!lines.length || !lines.every((l) => SSH_KEY_RE.test(l))) {
    throw usage('BAD_SSH_KEY', `${keyFile} is not an OpenSSH public key file (did you pass the private key?)`);
  }
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
    sshPublicKeys: `${lines.join('\n')}\n`,
    sshPublicKeyFile: keyFile,
    unprivileged: input.unprivileged,
    onboot: input.onboot,
    tags: [...new Set(tags)],
    pool: input.pool,
    force: input.force,
    sshPort: input.sshPort,
  };
}

// ---- facts -----------------------------------------------------------------------------------------------------

export interface ExistingCt {
  vmid: number;
  node: string;
  status: string;
  config: PveLxcConfig;
}

export interface LxcFacts {
  version: PveVersion;
  nodes: PveNodeInfo[];
  node: string;
  vmid: number;
  existing?: ExistingCt;
  /** Other guests that make the target ambiguous or taken (a VM with the VMID, several CTs with the hostname). */
  conflicts: PveResource[];
  permissions: EffectivePermissions;
  storages?: PveStorage[];
  templateVolumes?: string[];
  aplinfo?: AplEntry[];
  bridges?: string[];
  pools?: string[];
  /** Facts that could not be read, with the server's answer (usually a missing privilege, reported by the plan). */
  unreadable: { what: string; error: string }[];
}

/** Proxmox VE 7+ (PBS also answers /version, with 2.x–4.x numbers). */
export function pveMajorMinor(version: string): [number, number] {
  const m = /^(\d+)\.(\d+)/.exec(version);
  return m ? [Number(m[1]), Number(m[2])] : [0, 0];
}

export function chooseNode(wanted: string | undefined, nodes: PveNodeInfo[]): string {
  const names = nodes.map((n) => n.node).sort();
  if (wanted) {
    if (!names.includes(wanted)) {
      throw new FleetmonError('PVE_NO_SUCH_NODE', `node '${wanted}' is not in this cluster (nodes: ${names.join(', ') || 'none'})`, { kind: 'notFound' });
    }
    return wanted;
  }
  if (names.length === 1 && names[0]) return names[0];
  throw usage('PVE_WHICH_NODE', `the cluster has ${names.length} nodes (${names.join(', ')}): pass --node NAME`);
}

export async function gatherLxcFacts(client: PveClient, spec: LxcSpec, note: (m: string) => void = () => undefined): Promise<LxcFacts> {
  const version = await client.version();
  const [major] = pveMajorMinor(version.version ?? '');
  if (major < 7) {
    throw new FleetmonError('PVE_UNSUPPORTED', `the server reports version ${JSON.stringify(version.version)}, which is not Proxmox VE 7 or newer`, {
      kind: 'proxmox',
      suggestions: ['--proxmox must point at a Proxmox VE node (port 8006), not e.g. a Proxmox Backup Server (8007)'],
    });
  }
  note(`Proxmox VE ${version.version}`);
  const nodes = await client.nodes();
  const vms = (await client.resources('vm')).filter((r) => r.type === 'lxc' || r.type === 'qemu');
  const conflicts: PveResource[] = [];
  let match: PveResource | undefined;
  if (spec.vmid !== undefined) {
    match = vms.find((r) => r.vmid === spec.vmid);
    if (match && match.type !== 'lxc') {
      conflicts.push(match);
      match = undefined;
    }
    // A container with this hostname under another VMID: creating a second one is not what a re-run should do.
    if (!match) conflicts.push(...vms.filter((r) => r.type === 'lxc' && r.name === spec.hostname));
  } else {
    const named = vms.filter((r) => r.type === 'lxc' && r.name === spec.hostname);
    if (named.length > 1) conflicts.push(...named);
    else match = named[0];
  }
  let existing: ExistingCt | undefined;
  if (match?.vmid !== undefined && match.node) {
    const config = await client.lxcConfig(match.node, match.vmid);
    existing = { vmid: match.vmid, node: match.node, status: match.status ?? 'unknown', config };
    note(`found CT ${match.vmid} '${match.name ?? ''}' on ${match.node} (${existing.status})`);
  }
  const node = existing?.node ?? chooseNode(spec.node, nodes);
  let vmid: number;
  if (existing) vmid = existing.vmid;
  else if (spec.vmid !== undefined) {
    vmid = spec.vmid;
    if (!conflicts.length) await assertVmidFree(client, vmid);
  } else vmid = await freeVmid(client, vms);

  const unreadable: LxcFacts['unreadable'] = [];
  const tolerant = async <T>(what: string, fn: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await fn();
    } catch (err) {
      // A 403 here is explained by the permission check; other server errors become plan blockers.
      if (err instanceof ProxmoxApiError && err.status !== 401) {
        unreadable.push({ what, error: err.message });
        return undefined;
      }
      throw err;
    }
  };
  const permissions: EffectivePermissions = {};
  // The create path's needs name every ACL path any plan may need (reconciling an existing CT needs a subset).
  for (const path of pathsOf(createNeedsFor(spec, vmid, major, true))) {
    permissions[path] = (await tolerant(`permissions on ${path}`, () => client.privilegesAt(path))) ?? [];
  }
  const facts: LxcFacts = { version, nodes, node, vmid, existing, conflicts, permissions, unreadable };
  if (!existing && !conflicts.length) {
    facts.storages = await tolerant('storages', () => client.storages(node));
    facts.templateVolumes = (await tolerant(`templates on ${spec.templateStorage}`, () =>
      client.storageContent(node, spec.templateStorage, 'vztmpl')))?.map((v) => v.volid);
    facts.aplinfo = await tolerant('the appliance index', () => client.aplinfo(node));
    facts.bridges = await tolerant('bridges', () => client.bridges(node));
    if (spec.pool) facts.pools = await tolerant('pools', () => client.pools());
  }
  return facts;
}

async function assertVmidFree(client: PveClient, vmid: number): Promise<void> {
  try {
    await client.nextId(vmid);
  } catch (err) {
    if (err instanceof ProxmoxApiError && err.status === 400) {
      throw new FleetmonError('PVE_VMID_IN_USE', `VMID ${vmid} is already in use (by a guest this token cannot see)`, {
        kind: 'conflict',
        suggestions: ['pick another VMID, or leave it out to take the next free one'],
      });
    }
    throw err;
  }
}

/** The lowest free id from 200 up (the seed's range), confirmed by the server; never an id in use. */
async function freeVmid(client: PveClient, vms: PveResource[]): Promise<number> {
  let first: number;
  try {
    first = await client.nextId();
  } catch (err) {
    if (err instanceof ProxmoxApiError && /free VMID/i.test(err.message)) {
      throw new FleetmonError('PVE_NO_FREE_VMID', `no free VMID: ${err.message}`, {
        kind: 'conflict',
        suggestions: ['free one, widen Datacenter → Options → Next Free VMID Range, or pass an unused VMID'],
      });
    }
    throw err;
  }
  if (first >= FIRST_VMID) return first; // ids below it in the server's range are all taken, so this is the lowest ≥ 200
  const used = new Set(vms.map((v) => v.vmid));
  for (let candidate = FIRST_VMID, tries = 0; tries < 25 && candidate <= 999_999_999; candidate++) {
    if (used.has(candidate)) continue;
    tries++;
    try {
      return await client.nextId(candidate);
    } catch (err) {
      if (!(err instanceof ProxmoxApiError && err.status === 400)) throw err; // 400: taken by a guest we cannot see
    }
  }
  throw new FleetmonError('PVE_NO_FREE_VMID', `no free VMID found from ${FIRST_VMID} up`, { kind: 'conflict', suggestions: ['pass an unused VMID'] });
}

// ---- plan ------------------------------------------------------------------------------------------------------

export type StepId = 'download-template' | 'create' | 'update-config' | 'resize-disk' | 'start' | 'wait-address' | 'wait-ssh';

export interface ConfigDifference {
  key: string;
  current: string;
  wanted: string;
  /** How --force would reconcile it. */
  fix: 'update' | 'resize' | 'impossible';
}

export interface PlanBlocker {
  code: string;
  kind: ExitKind;
  message: string;
  suggestions: string[];
}

export interface LxcPlan {
  node: string;
  vmid: number;
  hostname: string;
  action: 'create' | 'existing' | 'update';
  steps: StepId[];
  template?: TemplateChoice;
  createParams?: Record<string, string | number>;
  updateParams?: Record<string, string | number>;
  resize?: { disk: 'rootfs'; size: string };
  differences: ConfigDifference[];
  /** Known without asking the container (a static --ip). */
  staticAddress?: string;
  privileges: PrivilegeNeed[];
  blockers: PlanBlocker[];
  warnings: string[];
}

/** Privileges the create path needs (SECURITY.md; pve-container create_vm). */
export function createNeedsFor(spec: LxcSpec, vmid: number, major: number, download: boolean): PrivilegeNeed[] {
  const vm = `/vms/${vmid}`;
  const alsoOn = spec.pool ? [`/pool/${spec.pool}`] : undefined;
  const needs: PrivilegeNeed[] = [
    { path: vm, alsoOn, privileges: ['VM.Allocate'], why: 'to create the container' },
    { path: vm, alsoOn, privileges: ['VM.Config.Disk', 'VM.Config.CPU', 'VM.Config.Memory', 'VM.Config.Network', 'VM.Config.Options'], why: 'to configure it' },
    { path: vm, alsoOn, privileges: ['VM.PowerMgmt'], why: 'to start it' },
    { path: vm, alsoOn, privileges: ['VM.Audit'], why: 'to read its status and address' },
    { path: `/storage/${spec.storage}`, privileges: ['Datastore.AllocateSpace'], why: 'to allocate its root disk' },
    { path: `/storage/${spec.templateStorage}`, privileges: ['Datastore.Audit', 'Datastore.AllocateSpace'], any: true, why: 'to use the template' },
  ];
  if (major >= 8) needs.push({ path: `/sdn/zones/localnetwork/${spec.bridge}`, privileges: ['SDN.Use'], why: `to attach eth0 to ${spec.bridge}` });
  if (download) needs.push({ path: `/storage/${spec.templateStorage}`, privileges: ['Datastore.AllocateTemplate'], why: 'to download the Debian 12 template' });
  if (!spec.unprivileged) needs.push({ path: '/', privileges: ['Sys.Modify'], why: 'to create a privileged container' });
  return needs;
}

/** Privileges for the path the plan takes: create, or reconcile an existing container. */
function privilegeNeeds(
  spec: LxcSpec,
  ctx: { vmid: number; major: number; download: boolean; existing?: ExistingCt; updateKeys?: string[]; resize?: boolean; start?: boolean },
): PrivilegeNeed[] {
  if (!ctx.existing) return createNeedsFor(spec, ctx.vmid, ctx.major, ctx.download);
  const vm = `/vms/${ctx.vmid}`;
  const needs: PrivilegeNeed[] = [{ path: vm, privileges: ['VM.Audit'], why: 'to read its status and address' }];
  if (ctx.start) needs.push({ path: vm, privileges: ['VM.PowerMgmt'], why: 'to start it' });
  const byKey: Record<string, string> = {
    cores: 'VM.Config.CPU', memory: 'VM.Config.Memory', swap: 'VM.Config.Memory', net0: 'VM.Config.Network',
    hostname: 'VM.Config.Options', onboot: 'VM.Config.Options', tags: 'VM.Config.Options', features: 'VM.Allocate',
  };
  for (const key of ctx.updateKeys ?? []) {
    const priv = byKey[key];
    if (priv) needs.push({ path: vm, privileges: [priv], why: `to change ${key}` });
    if (key === 'net0' && ctx.major >= 8) needs.push({ path: `/sdn/zones/localnetwork/${spec.bridge}`, privileges: ['SDN.Use'], why: `to attach eth0 to ${spec.bridge}` });
  }
  if (ctx.resize) needs.push({ path: vm, privileges: ['VM.Config.Disk'], why: 'to grow the root disk' });
  return needs;
}

export function net0For(spec: LxcSpec): string {
  const ip = spec.ipv4.mode === 'dhcp' ? 'ip=dhcp' : `ip=${spec.ipv4.cidr},gw=${spec.ipv4.gateway}`;
  return `name=eth0,bridge=${spec.bridge},${ip}`;
}

/** The exact body of POST /nodes/{node}/lxc. */
export function createParams(spec: LxcSpec, vmid: number, template: TemplateChoice): Record<string, string | number> {
  return {
    vmid,
    ostemplate: template.volid,
    hostname: spec.hostname,
    cores: spec.cores,
    memory: spec.memory,
    swap: spec.swap,
    rootfs: `${spec.storage}:${spec.diskGiB}`,
    net0: net0For(spec),
    // Always explicit: PVE 8 defaults to privileged (which a token cannot create), PVE 9 to unprivileged.
    unprivileged: spec.unprivileged ? 1 : 0,
    // Debian 12's systemd needs nesting; other feature flags (and any flag on a privileged CT) are root@pam only.
    ...(spec.unprivileged ? { features: 'nesting=1' } : {}),
    onboot: spec.onboot ? 1 : 0,
    tags: spec.tags.join(';'),
    'ssh-public-keys': spec.sshPublicKeys,
    description: 'fleetmon monitor (created by `fleetmon lxc create`)',
    ...(spec.pool ? { pool: spec.pool } : {}),
  };
}

export function parsePropertyString(text: string, defaultKey?: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text.split(',')) {
    if (!part) continue;
    const i = part.indexOf('=');
    if (i < 0) {
      if (defaultKey) out[defaultKey] = part;
    } else out[part.slice(0, i)] = part.slice(i + 1);
  }
  return out;
}

export function formatPropertyString(props: Record<string, string>): string {
  return Object.entries(props).map(([k, v]) => `${k}=${v}`).join(',');
}

/** `8G`, `8192M`, `1T`, `512K` → GiB. */
export function sizeToGiB(size: string | undefined): number | undefined {
  const m = /^(\d+(?:\.\d+)?)([KMGT])?(?:iB)?$/.exec(size ?? '');
  if (!m?.[1]) return undefined;
  const factor = { K: 1 / 1_048_576, M: 1 / 1024, G: 1, T: 1024 }[(m[2] ?? 'G') as 'K' | 'M' | 'G' | 'T'];
  return Number(m[1]) * factor;
}

const splitTags = (v: unknown) => String(v ?? '').split(/[,;\s]+/).filter(Boolean);

/** What differs between the running configuration and the spec, and how --force would fix each. */
export function diffConfig(spec: LxcSpec, config: PveLxcConfig): ConfigDifference[] {
  const out: ConfigDifference[] = [];
  const num = (key: string, wanted: number, fallback: number | undefined) => {
    const cur = config[key] === undefined ? fallback : Number(config[key]);
    if (cur !== wanted) out.push({ key, current: cur === undefined ? '(unset)' : String(cur), wanted: String(wanted), fix: 'update' });
  };
  if (config.hostname !== spec.hostname) out.push({ key: 'hostname', current: String(config.hostname ?? '(unset)'), wanted: spec.hostname, fix: 'update' });
  num('cores', spec.cores, undefined);
  num('memory', spec.memory, 512);
  num('swap', spec.swap, 512);
  const root = parsePropertyString(String(config.rootfs ?? ''), 'volume');
  const rootStorage = (root.volume ?? '').split(':')[0] ?? '';
  if (rootStorage !== spec.storage) out.push({ key: 'rootfs.storage', current: rootStorage || '(unset)', wanted: spec.storage, fix: 'impossible' });
  const size = sizeToGiB(root.size);
  if (size !== undefined && size !== spec.diskGiB) {
    out.push({ key: 'rootfs.size', current: `${size}G`, wanted: `${spec.diskGiB}G`, fix: size < spec.diskGiB ? 'resize' : 'impossible' });
  }
  const net = parsePropertyString(String(config.net0 ?? ''));
  const wantNet = parsePropertyString(net0For(spec));
  for (const k of ['bridge', 'ip', 'gw'] as const) {
    if ((net[k] ?? '') !== (wantNet[k] ?? '')) out.push({ key: `net0.${k}`, current: net[k] ?? '(unset)', wanted: wantNet[k] ?? '(unset)', fix: 'update' });
  }
  const unpriv = Number(config.unprivileged ?? 0) === 1;
  if (unpriv !== spec.unprivileged) out.push({ key: 'unprivileged', current: unpriv ? '1' : '0', wanted: spec.unprivileged ? '1' : '0', fix: 'impossible' });
  if (spec.unprivileged) {
    const nesting = parsePropertyString(String(config.features ?? '')).nesting;
    if (!['1', 'on', 'yes', 'true'].includes(nesting ?? '')) out.push({ key: 'features.nesting', current: nesting ?? '0', wanted: '1', fix: 'update' });
  }
  const onboot = Number(config.onboot ?? 0) === 1;
  if (onboot !== spec.onboot) out.push({ key: 'onboot', current: onboot ? '1' : '0', wanted: spec.onboot ? '1' : '0', fix: 'update' });
  const tags = splitTags(config.tags);
  const missing = spec.tags.filter((t) => !tags.includes(t));
  if (missing.length) {
    out.push({ key: 'tags', current: tags.join(';') || '(none)', wanted: [...tags, ...missing].join(';'), fix: 'update' });
  }
  return out;
}

function updateParamsFor(spec: LxcSpec, config: PveLxcConfig, diffs: ConfigDifference[]): Record<string, string | number> {
  const keys = new Set(diffs.filter((d) => d.fix === 'update').map((d) => d.key.split('.')[0] ?? d.key));
  const out: Record<string, string | number> = {};
  if (keys.has('hostname')) out.hostname = spec.hostname;
  if (keys.has('cores')) out.cores = spec.cores;
  if (keys.has('memory')) out.memory = spec.memory;
  if (keys.has('swap')) out.swap = spec.swap;
  if (keys.has('onboot')) out.onboot = spec.onboot ? 1 : 0;
  if (keys.has('net0')) {
    // Keep the MAC address and every other key: a new hwaddr would look like a new machine to the DHCP server.
    const net = parsePropertyString(String(config.net0 ?? ''));
    const want = parsePropertyString(net0For(spec));
    delete net.gw;
    out.net0 = formatPropertyString({ ...net, ...want, name: net.name ?? 'eth0' });
  }
  if (keys.has('features')) out.features = formatPropertyString({ ...parsePropertyString(String(config.features ?? '')), nesting: '1' });
  if (keys.has('tags')) out.tags = [...new Set([...splitTags(config.tags), ...spec.tags])].join(';');
  if (Object.keys(out).length && config.digest) out.digest = config.digest;
  return out;
}

const blocker = (code: string, kind: ExitKind, message: string, suggestions: string[] = []): PlanBlocker => ({ code, kind, message, suggestions });

export function planLxc(spec: LxcSpec, facts: LxcFacts): LxcPlan {
  const [major, minor] = pveMajorMinor(facts.version.version);
  const blockers: PlanBlocker[] = [];
  const warnings: string[] = [];
  const base = { node: facts.node, vmid: facts.vmid, hostname: spec.hostname };
  const staticAddress = spec.ipv4.mode === 'static' ? spec.ipv4.cidr.split('/')[0] : undefined;

  const nodeInfo = facts.nodes.find((n) => n.node === facts.node);
  if (nodeInfo && nodeInfo.status !== 'online') {
    blockers.push(blocker('PVE_NODE_OFFLINE', 'proxmox', `node ${facts.node} is ${nodeInfo.status}`, ['bring the node online or pass --node with another one']));
  }
  if (spec.ipv4.mode === 'dhcp' && (major < 8 || (major === 8 && minor < 1))) {
    blockers.push(
      blocker(
        'PVE_NO_INTERFACES_API',
        'proxmox',
        `Proxmox VE ${facts.version.version} cannot report a container's DHCP address (GET …/lxc/{vmid}/interfaces came in 8.1)`,
        ['pass a static address: --ip 192.168.1.50/24 --gateway 192.168.1.1', 'or upgrade the node to Proxmox VE 8.1 or newer'],
      ),
    );
  }
  for (const c of facts.conflicts) {
    if (c.type === 'qemu') {
      blockers.push(blocker('PVE_VMID_IS_VM', 'conflict', `VMID ${c.vmid} is a QEMU virtual machine ('${c.name ?? ''}' on ${c.node ?? '?'}), not a container`, ['pick another VMID, or leave it out']));
    }
  }
  const sameName = facts.conflicts.filter((c) => c.type === 'lxc');
  if (sameName.length && spec.vmid !== undefined) {
    blockers.push(
      blocker('LXC_HOSTNAME_TAKEN', 'conflict', `a container named '${spec.hostname}' already exists: ${sameName.map((c) => `CT ${c.vmid} on ${c.node ?? '?'}`).join(', ')}`, [
        `pass its VMID (${sameName[0]?.vmid ?? ''}) to use it, or another --hostname for a second monitor`,
      ]),
    );
  } else if (sameName.length) {
    blockers.push(
      blocker('LXC_AMBIGUOUS', 'conflict', `${sameName.length} containers are named '${spec.hostname}': ${sameName.map((c) => `${c.vmid} on ${c.node ?? '?'}`).join(', ')}`, [
        'pass the VMID of the one to use',
      ]),
    );
  }

  if (facts.existing) {
    const ex = facts.existing;
    if (spec.node && spec.node !== ex.node) {
      blockers.push(blocker('LXC_OTHER_NODE', 'conflict', `CT ${ex.vmid} '${spec.hostname}' already exists on node ${ex.node}, not ${spec.node}`, [
        `leave out --node, or use another --hostname to make a second monitor`,
      ]));
    }
    if (ex.config.lock) {
      blockers.push(blocker('LXC_LOCKED', 'conflict', `CT ${ex.vmid} is locked (${ex.config.lock})${ex.config.lock === 'create' ? ': a create is still running or failed half-way' : ''}`, [
        'wait for the task to finish and run the command again',
        `if no task is running, inspect it in the web UI (pct unlock ${ex.vmid} on the node clears a stale lock)`,
      ]));
    }
    const differences = diffConfig(spec, ex.config);
    const impossible = differences.filter((d) => d.fix === 'impossible');
    const describe = (ds: ConfigDifference[]) => ds.map((d) => `${d.key}: ${d.current} → ${d.wanted}`).join('; ');
    if (differences.length && !spec.force) {
      blockers.push(blocker('LXC_CONFIG_DIFFERS', 'conflict', `CT ${ex.vmid} '${spec.hostname}' exists with a different configuration: ${describe(differences)}`, [
        impossible.length
          ? `${impossible.map((d) => d.key).join(', ')} cannot be changed in place: destroy it (fleetmon lxc destroy ${ex.vmid}) or pick another --hostname`
          : 'run again with --force to change it in place',
        'or run with flags that match the existing container',
      ]));
    } else if (impossible.length) {
      blockers.push(blocker('LXC_CANNOT_CHANGE', 'conflict', `CT ${ex.vmid}: ${describe(impossible)} cannot be changed in place, even with --force`, [
        `destroy it (fleetmon lxc destroy ${ex.vmid}) and create it again, or pick another --hostname`,
      ]));
    }
    const updateParams = spec.force ? updateParamsFor(spec, ex.config, differences) : {};
    const updateKeys = Object.keys(updateParams).filter((k) => k !== 'digest');
    const growTo = differences.find((d) => d.fix === 'resize') && spec.force ? `${spec.diskGiB}G` : undefined;
    const start = ex.status !== 'running';
    const privileges = privilegeNeeds(spec, { vmid: ex.vmid, major, download: false, existing: ex, updateKeys, resize: !!growTo, start });
    addPrivilegeBlocker(blockers, privileges, facts.permissions);
    const steps: StepId[] = [];
    if (updateKeys.length) steps.push('update-config');
    if (growTo) steps.push('resize-disk');
    if (start) steps.push('start');
    if (!staticAddress) steps.push('wait-address');
    steps.push('wait-ssh');
    return {
      ...base,
      action: differences.length ? 'update' : 'existing',
      steps,
      differences,
      ...(updateKeys.length ? { updateParams } : {}),
      ...(growTo ? { resize: { disk: 'rootfs' as const, size: growTo } } : {}),
      ...(staticAddress ? { staticAddress } : {}),
      privileges,
      blockers,
      warnings,
    };
  }

  // Create: storages, bridge and template must be there.
  const template = facts.aplinfo !== undefined || facts.templateVolumes !== undefined
    ? chooseDebian12Template(facts.aplinfo ?? [], facts.templateVolumes ?? [], spec.templateStorage)
    : undefined;
  const privileges = privilegeNeeds(spec, { vmid: facts.vmid, major, download: template?.download ?? false });
  addPrivilegeBlocker(blockers, privileges, facts.permissions);
  const privBlocked = blockers.some((b) => b.code === 'PVE_MISSING_PRIVILEGES');
  if (facts.storages) {
    const check = (id: string, content: string, flag: string, what: string) => {
      const s = facts.storages?.find((x) => x.storage === id);
      if (!s) {
        const known = facts.storages?.filter((x) => x.content.split(',').includes(content)).map((x) => x.storage) ?? [];
        blockers.push(blocker('PVE_NO_SUCH_STORAGE', 'notFound', `storage '${id}' does not exist on node ${facts.node} (or the token cannot see it)`, [
          known.length ? `storages that hold ${what}: ${known.join(', ')} (pass ${flag})` : `add a storage with content '${content}' in Datacenter → Storage`,
        ]));
      } else if (!s.content.split(',').includes(content)) {
        blockers.push(blocker('PVE_STORAGE_CONTENT', 'proxmox', `storage '${id}' does not hold ${what} (content: ${s.content})`, [
          `enable '${content}' for it in Datacenter → Storage, or pass another ${flag}`,
        ]));
      } else if (s.active === 0 || s.active === false || s.enabled === 0 || s.enabled === false) {
        blockers.push(blocker('PVE_STORAGE_INACTIVE', 'proxmox', `storage '${id}' is not active on node ${facts.node}`));
      }
    };
    check(spec.storage, 'rootdir', '--storage', 'container root disks');
    check(spec.templateStorage, 'vztmpl', '--template-storage', 'container templates');
  }
  if (facts.bridges && !facts.bridges.includes(spec.bridge)) {
    blockers.push(blocker('PVE_NO_SUCH_BRIDGE', 'notFound', `bridge '${spec.bridge}' does not exist on node ${facts.node}`, [
      facts.bridges.length ? `bridges there: ${facts.bridges.join(', ')} (pass --bridge)` : 'create a Linux bridge under the node → System → Network',
    ]));
  }
  if (!template && (facts.aplinfo !== undefined || facts.templateVolumes !== undefined)) {
    blockers.push(blocker('LXC_NO_TEMPLATE', 'notFound', `no Debian 12 template: the node's appliance index lists none and storage '${spec.templateStorage}' holds none`, [
      'refresh the index on the node: pveam update',
    ]));
  }
  if (spec.pool && facts.pools && !facts.pools.includes(spec.pool)) {
    warnings.push(`pool '${spec.pool}' is not visible to the token (it may not exist, or the token lacks Pool.Audit on /pool/${spec.pool})`);
  }
  if (!privBlocked) {
    for (const u of facts.unreadable) blockers.push(blocker('PVE_READ_FAILED', 'proxmox', `cannot read ${u.what}: ${u.error}`));
  }
  const steps: StepId[] = [];
  if (template?.download) steps.push('download-template');
  steps.push('create', 'start');
  if (!staticAddress) steps.push('wait-address');
  steps.push('wait-ssh');
  return {
    ...base,
    action: 'create',
    steps,
    ...(template ? { template, createParams: createParams(spec, facts.vmid, template) } : {}),
    differences: [],
    ...(staticAddress ? { staticAddress } : {}),
    privileges,
    blockers,
    warnings,
  };
}

function addPrivilegeBlocker(blockers: PlanBlocker[], needs: PrivilegeNeed[], perms: EffectivePermissions): void {
  const missing = missingPrivileges(needs, perms);
  if (!missing.length) return;
  const byPath = new Map<string, string[]>();
  for (const m of missing) byPath.set(m.path, [...(byPath.get(m.path) ?? []), m.privilege]);
  blockers.push(
    blocker(
      'PVE_MISSING_PRIVILEGES',
      'auth',
      `the API token lacks ${missing.map((m) => `${m.privilege} on ${m.path} (${m.why})`).join(', ')}`,
      [...byPath].map(([path, privs]) => grantHint(path, privs)),
    ),
  );
}

export function blockerError(plan: LxcPlan): FleetmonError | undefined {
  const [first, ...rest] = plan.blockers;
  if (!first) return undefined;
  const more = rest.length ? `\n${rest.map((b) => `  also: ${b.message}`).join('\n')}` : '';
  return new FleetmonError(first.code, `${first.message}${more}`, { kind: first.kind, suggestions: [...first.suggestions, ...rest.flatMap((b) => b.suggestions)] });
}

// ---- apply -----------------------------------------------------------------------------------------------------

export interface LxcApplyDeps {
  client: PveClient;
  clock: Clock;
  probeSsh: SshProbe;
  renderer: Renderer;
  timeouts: { taskMs: number; addressMs: number; sshMs: number };
  /** Where warnings go (stderr); the result object carries them too. */
  warn?: (message: string) => void;
  dryRun?: boolean;
}

export interface LxcCreateResult {
  vmid: number;
  node: string;
  hostname: string;
  /** `created`, `existing` (nothing to do), `updated` (--force), `planned` (--dry-run). */
  action: 'created' | 'existing' | 'updated' | 'planned';
  status: string;
  address?: string;
  sshPort: number;
  template?: string;
  templateDownloaded: boolean;
  started: boolean;
  changes: ConfigDifference[];
  warnings: string[];
  tasks: { upid: string; exitstatus: string }[];
  proxmoxVersion: string;
  /** The next command to run. */
  next?: string;
  plan?: { steps: StepId[]; createParams?: Record<string, string | number>; updateParams?: Record<string, string | number> };
}

interface CreateCtx {
  facts?: LxcFacts;
  plan?: LxcPlan;
  address?: string;
  status: string;
  tasks: TaskResult[];
  started: boolean;
  downloaded: boolean;
}

/** Gather → plan → apply, each a listr2 task, so a terminal shows where a slow create is. */
export async function createLxc(spec: LxcSpec, deps: LxcApplyDeps): Promise<LxcCreateResult> {
  const { client, clock, timeouts } = deps;
  const ctx: CreateCtx = { status: 'unknown', tasks: [], started: false, downloaded: false };
  const wants = (id: StepId) => !deps.dryRun && (ctx.plan?.steps.includes(id) ?? false);
  const task = async (what: string, run: () => Promise<string>, onWait?: (ms: number) => void) => {
    const upid = await callOnce(what, run);
    const res = await waitForTask(client, upid, { clock, deadlineMs: timeouts.taskMs, what, onWait });
    ctx.tasks.push(res);
    for (const w of res.warnings) deps.warn?.(`${what}: ${w}`);
    return res;
  };
  const plan = () => ctx.plan as LxcPlan;
  const tasks: ListrTask<CreateCtx>[] = [
    {
      title: 'Check Proxmox VE, node, privileges, storages and bridge',
      task: async (_c, t) => {
        ctx.facts = await gatherLxcFacts(client, spec, (m) => (t.output = m)).catch((err: unknown) => {
          throw toFleetmonError(err, 'checking Proxmox');
        });
        ctx.plan = planLxc(spec, ctx.facts);
        const err = blockerError(ctx.plan);
        if (err) throw err;
        for (const w of ctx.plan.warnings) deps.warn?.(w);
        ctx.status = ctx.facts.existing?.status ?? 'absent';
        t.title = describePlan(ctx.plan, ctx.facts);
      },
    },
    {
      title: 'Download the Debian 12 template',
      enabled: () => wants('download-template'),
      task: async (_c, t) => {
        const tpl = plan().template as TemplateChoice;
        t.title = `Download ${tpl.template} to ${spec.templateStorage}`;
        await task(`download of ${tpl.template}`, () => client.downloadTemplate(plan().node, spec.templateStorage, tpl.template), (ms) => (t.output = `running for ${formatDuration(ms)}`));
        ctx.downloaded = true;
      },
    },
    {
      title: 'Create the container',
      enabled: () => wants('create'),
      task: async (_c, t) => {
        const p = plan();
        t.title = `Create CT ${p.vmid} '${p.hostname}' on ${p.node}`;
        await task(`creating CT ${p.vmid}`, () => client.createLxc(p.node, p.createParams ?? {}), (ms) => (t.output = `running for ${formatDuration(ms)}`));
        ctx.status = 'stopped';
      },
    },
    {
      title: 'Update the configuration',
      enabled: () => wants('update-config'),
      task: async (_c, t) => {
        const p = plan();
        t.title = `Update CT ${p.vmid}: ${Object.keys(p.updateParams ?? {}).filter((k) => k !== 'digest').join(', ')}`;
        await callOnce(`updating CT ${p.vmid}`, () => client.updateLxcConfig(p.node, p.vmid, p.updateParams ?? {}));
      },
    },
    {
      title: 'Grow the root disk',
      enabled: () => wants('resize-disk'),
      task: async (_c, t) => {
        const p = plan();
        t.title = `Grow the root disk of CT ${p.vmid} to ${p.resize?.size ?? ''}`;
        await task(`resizing CT ${p.vmid}`, () => client.resizeLxcDisk(p.node, p.vmid, 'rootfs', p.resize?.size ?? ''));
      },
    },
    {
      title: 'Start the container',
      enabled: () => wants('start'),
      task: async (_c, t) => {
        const p = plan();
        t.title = `Start CT ${p.vmid}`;
        await task(`starting CT ${p.vmid}`, () => client.startLxc(p.node, p.vmid));
        ctx.status = 'running';
        ctx.started = true;
      },
    },
    {
      title: 'Wait for an IPv4 address on eth0',
      enabled: () => wants('wait-address'),
      task: async (_c, t) => {
        const p = plan();
        ctx.address = await waitForAddress(client, p, spec, { clock, deadlineMs: timeouts.addressMs, onWait: (ms) => (t.output = `no address yet after ${formatDuration(ms)}`) });
        t.title = `CT ${p.vmid} has address ${ctx.address}`;
      },
    },
    {
      title: 'Wait for SSH',
      enabled: () => wants('wait-ssh'),
      task: async (_c, t) => {
        const p = plan();
        const address = ctx.address ?? p.staticAddress;
        if (!address) throw new FleetmonError('LXC_NO_ADDRESS', `CT ${p.vmid} has no known address`, { kind: 'proxmox' });
        ctx.address = address;
        t.title = `Wait for SSH on ${address}:${spec.sshPort}`;
        await waitForSsh(deps.probeSsh, address, spec.sshPort, p.vmid, { clock, deadlineMs: timeouts.sshMs, onWait: (ms) => (t.output = `not answering after ${formatDuration(ms)}`) });
        t.title = `SSH answers on ${address}:${spec.sshPort}`;
      },
    },
  ];
  await runTasks(tasks, deps.renderer, ctx);
  const p = plan();
  const facts = ctx.facts as LxcFacts;
  const warnings = [...p.warnings, ...ctx.tasks.flatMap((r) => r.warnings)];
  const action = deps.dryRun ? 'planned' : p.action === 'create' ? 'created' : p.action === 'update' ? 'updated' : 'existing';
  return {
    vmid: p.vmid,
    node: p.node,
    hostname: p.hostname,
    action,
    status: ctx.status,
    ...(ctx.address ? { address: ctx.address } : {}),
    sshPort: spec.sshPort,
    ...(p.template ? { template: p.template.volid } : {}),
    templateDownloaded: ctx.downloaded,
    started: ctx.started,
    changes: p.differences,
    warnings,
    tasks: ctx.tasks.map((r) => ({ upid: r.upid, exitstatus: r.exitstatus })),
    proxmoxVersion: facts.version.version,
    ...(ctx.address ? { next: `fleetmon provision --host ${ctx.address}` } : {}),
    ...(deps.dryRun ? { plan: { steps: p.steps, createParams: p.createParams, updateParams: p.updateParams } } : {}),
  };
}

function describePlan(p: LxcPlan, f: LxcFacts): string {
  const where = `Proxmox VE ${f.version.version}, node ${p.node}`;
  if (p.action === 'create') return `${where}: will create CT ${p.vmid} '${p.hostname}'${p.template ? ` from ${p.template.template}` : ''}`;
  if (p.action === 'update') return `${where}: CT ${p.vmid} '${p.hostname}' exists; will change ${p.differences.map((d) => d.key).join(', ')}`;
  return `${where}: CT ${p.vmid} '${p.hostname}' exists (${f.existing?.status ?? '?'})`;
}

/**
 * A request that changes something is sent exactly once: if it fails without an answer it may still have been
 * executed, so we stop and let a re-run look at what is there (every step checks before it acts).
 */
async function callOnce<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const fe = toFleetmonError(err, what);
    if ((err as { mayHaveReachedServer?: boolean }).mayHaveReachedServer) {
      fe.suggestions.unshift('the request may have reached Proxmox; run the same command again: it finds what was done and continues');
    }
    throw fe;
  }
}

/** First IPv4 on eth0 that is not link-local; undefined while DHCP has not answered. */
export function eth0Ipv4(ifaces: { name: string; inet?: string; 'ip-addresses'?: { 'ip-address'?: string; 'ip-address-type'?: string }[] }[] | null): string | undefined {
  const eth0 = ifaces?.find((i) => i.name === 'eth0');
  if (!eth0) return undefined;
  const candidates = [
    ...(eth0.inet ? [eth0.inet.split('/')[0] ?? ''] : []),
    ...(eth0['ip-addresses'] ?? []).filter((a) => a['ip-address-type'] === 'inet').map((a) => a['ip-address'] ?? ''),
  ];
  return candidates.find((a) => IPV4_RE.test(a) && !a.startsWith('169.254.'));
}

async function waitForAddress(
  client: PveClient,
  p: LxcPlan,
  spec: LxcSpec,
  opts: { clock: Clock; deadlineMs: number; onWait?: (ms: number) => void },
): Promise<string> {
  return poll({
    clock: opts.clock,
    deadlineMs: opts.deadlineMs,
    initialDelayMs: 1_000,
    maxDelayMs: 5_000,
    check: async () => {
      try {
        return eth0Ipv4(await client.lxcInterfaces(p.node, p.vmid));
      } catch (err) {
        if (err instanceof ProxmoxApiError && err.status === 501) {
          throw new FleetmonError('PVE_NO_INTERFACES_API', `this Proxmox VE cannot report container addresses (${err.message}); it came in PVE 8.1`, {
            kind: 'proxmox',
            suggestions: ['pass a static address: --ip CIDR --gateway IP', 'or upgrade the node to Proxmox VE 8.1 or newer'],
          });
        }
        if (isTransientReadError(err)) throw err;
        throw toFleetmonError(err, `reading the addresses of CT ${p.vmid}`);
      }
    },
    isTransient: isTransientReadError,
    onWait: (ms) => opts.onWait?.(ms),
    onTimeout: (elapsed) =>
      new FleetmonError('LXC_NO_ADDRESS', `CT ${p.vmid} got no IPv4 address on eth0 within ${formatDuration(elapsed)}`, {
        kind: 'timeout',
        suggestions: [
          `check that bridge ${spec.bridge} on ${p.node} reaches a network with a DHCP server (or use --ip CIDR --gateway IP)`,
          `look inside: on ${p.node} run  pct exec ${p.vmid} -- ip -4 addr show eth0`,
          'wait longer with --address-timeout; the container keeps running, and a re-run continues from here',
        ],
      }),
  });
}

async function waitForSsh(
  probe: SshProbe,
  address: string,
  port: number,
  vmid: number,
  opts: { clock: Clock; deadlineMs: number; onWait?: (ms: number) => void },
): Promise<void> {
  await poll({
    clock: opts.clock,
    deadlineMs: opts.deadlineMs,
    initialDelayMs: 1_000,
    maxDelayMs: 5_000,
    check: async () => ((await probe(address, port, 5_000)) ? true : undefined),
    onWait: (ms) => opts.onWait?.(ms),
    onTimeout: (elapsed) =>
      new FleetmonError('LXC_NO_SSH', `SSH on ${address}:${port} did not answer within ${formatDuration(elapsed)}`, {
        kind: 'timeout',
        suggestions: [
          `check that this machine can reach ${address} (routing, firewalls, the Proxmox firewall on CT ${vmid})`,
          `check sshd inside: pct exec ${vmid} -- systemctl status ssh`,
          'wait longer with --ssh-timeout; a re-run continues from here',
        ],
      }),
  });
}

// ---- destroy ---------------------------------------------------------------------------------------------------

export interface LxcDestroyResult {
  vmid: number;
  node?: string;
  hostname?: string;
  /** False when there was nothing to remove. */
  destroyed: boolean;
  alreadyGone: boolean;
  stopped: boolean;
  tasks: { upid: string; exitstatus: string }[];
}

export interface LxcDestroyDeps {
  client: PveClient;
  clock: Clock;
  renderer: Renderer;
  taskTimeoutMs: number;
  warn?: (message: string) => void;
}

/** Stops and removes a container fleetmon created (it carries the tag); a container already gone is success. */
export async function destroyLxc(vmid: number, deps: LxcDestroyDeps): Promise<LxcDestroyResult> {
  if (!Number.isInteger(vmid) || vmid < 100 || vmid > 999_999_999) throw usage('BAD_VMID', `VMID must be an integer from 100 to 999999999, got ${vmid}`);
  const { client, clock } = deps;
  const result: LxcDestroyResult = { vmid, destroyed: false, alreadyGone: false, stopped: false, tasks: [] };
  let found: PveResource | undefined;
  const wait = async (what: string, run: () => Promise<string>) => {
    const upid = await callOnce(what, run);
    const res = await waitForTask(client, upid, { clock, deadlineMs: deps.taskTimeoutMs, what });
    result.tasks.push({ upid: res.upid, exitstatus: res.exitstatus });
    for (const w of res.warnings) deps.warn?.(`${what}: ${w}`);
  };
  const gone = (err: unknown) => err instanceof ProxmoxApiError && /does not exist/.test(err.message);
  const tasks: ListrTask<object>[] = [
    {
      title: `Find CT ${vmid}`,
      task: async (_c, t) => {
        try {
          found = (await client.resources('vm')).find((r) => r.vmid === vmid);
        } catch (err) {
          throw toFleetmonError(err, 'listing guests');
        }
        if (!found?.node) {
          result.alreadyGone = true;
          t.title = `CT ${vmid} does not exist (nothing to do)`;
          return;
        }
        result.node = found.node;
        result.hostname = found.name;
        if (found.type !== 'lxc') {
          throw new FleetmonError('PVE_VMID_IS_VM', `VMID ${vmid} is a QEMU virtual machine ('${found.name ?? ''}'), not a container; fleetmon will not remove it`, { kind: 'conflict' });
        }
        if (!splitTags(found.tags).includes(FLEETMON_TAG)) {
          throw new FleetmonError('LXC_NOT_FLEETMON', `CT ${vmid} '${found.name ?? ''}' does not carry the '${FLEETMON_TAG}' tag, so fleetmon did not create it and will not remove it`, {
            kind: 'conflict',
            suggestions: ['remove it in the Proxmox web UI if you really mean to'],
          });
        }
        if (found.lock) throw new FleetmonError('LXC_LOCKED', `CT ${vmid} is locked (${found.lock})`, { kind: 'conflict', suggestions: ['wait for its task to finish and run the command again'] });
        t.title = `Found CT ${vmid} '${found.name ?? ''}' on ${found.node} (${found.status ?? '?'})`;
      },
    },
    {
      title: `Stop CT ${vmid}`,
      enabled: () => found?.status === 'running',
      task: async () => {
        try {
          await wait(`stopping CT ${vmid}`, () => client.stopLxc(found?.node ?? '', vmid));
          result.stopped = true;
        } catch (err) {
          if (!gone((err as { cause?: unknown }).cause)) throw err;
        }
      },
    },
    {
      title: `Destroy CT ${vmid}`,
      enabled: () => !result.alreadyGone,
      task: async () => {
        try {
          await wait(`destroying CT ${vmid}`, () => client.deleteLxc(found?.node ?? '', vmid));
          result.destroyed = true;
        } catch (err) {
          if (!gone((err as { cause?: unknown }).cause)) throw err;
          result.alreadyGone = true; // removed by someone else in the meantime: the goal holds
        }
      },
    },
  ];
  await runTasks(tasks, deps.renderer);
  return result;
}
