/**
 * The plan, pure: spec + facts → the steps to take, the exact request bodies, how an existing container differs and
 * how --force would reconcile it, the privileges that takes, and what blocks it (each blocker a coded error with a
 * next step). Tested as data (test/lxc/lxc-plan.test.ts).
 */
import { FleetmonError, type ExitKind } from '../core/errors.js';
import type { PveLxcConfig } from './proxmox/client.js';
import { grantHint } from './proxmox/errors.js';
import { missingPrivileges, type EffectivePermissions, type PrivilegeNeed } from './proxmox/privileges.js';
import { chooseDebian12Template, type TemplateChoice } from './proxmox/template.js';
import { pveMajorMinor, type ExistingCt, type LxcFacts } from './facts.js';
import { privilegeNeeds } from './needs.js';
import { splitTags, type LxcSpec } from './spec.js';

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

/** Pure: what to do to get from the facts to the spec, what it takes (privileges), and what stands in the way. */
export function planLxc(spec: LxcSpec, facts: LxcFacts): LxcPlan {
  const blockers = targetBlockers(spec, facts);
  const staticAddress = spec.ipv4.mode === 'static' ? spec.ipv4.cidr.split('/')[0] : undefined;
  const part = facts.existing ? planExisting(spec, facts, facts.existing, blockers) : planCreate(spec, facts, blockers);
  return {
    node: facts.node,
    vmid: facts.vmid,
    hostname: spec.hostname,
    ...part,
    // Every path ends waiting for the address (unless it is static) and for SSH.
    steps: [...part.steps, ...(staticAddress ? [] : ['wait-address' as const]), 'wait-ssh'],
    ...(staticAddress ? { staticAddress } : {}),
    blockers,
  };
}

/** What the plan decides for one path (existing or create); planLxc adds the rest. */
type PlanPart = Pick<LxcPlan, 'action' | 'steps' | 'template' | 'createParams' | 'updateParams' | 'resize' | 'differences' | 'privileges' | 'warnings'>;

/** Problems with the target itself, whichever path: the node, the API version, what the VMID or hostname names. */
function targetBlockers(spec: LxcSpec, facts: LxcFacts): PlanBlocker[] {
  const [major, minor] = pveMajorMinor(facts.version.version);
  const blockers: PlanBlocker[] = [];
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
  return blockers;
}

/** The container exists: report how it differs, and (with --force) change what can be changed in place. */
function planExisting(spec: LxcSpec, facts: LxcFacts, ex: ExistingCt, blockers: PlanBlocker[]): PlanPart {
  const [major] = pveMajorMinor(facts.version.version);
  const differences = diffConfig(spec, ex.config);
  blockers.push(...existingBlockers(spec, ex, differences));
  const updateParams = spec.force ? updateParamsFor(spec, ex.config, differences) : {};
  const updateKeys = Object.keys(updateParams).filter((k) => k !== 'digest');
  const growTo = differences.find((d) => d.fix === 'resize') && spec.force ? `${spec.diskGiB}G` : undefined;
  const start = ex.status !== 'running';
  const privileges = privilegeNeeds(spec, { vmid: ex.vmid, major, download: false, existing: true, updateKeys, resize: !!growTo, start });
  addPrivilegeBlocker(blockers, privileges, facts.permissions);
  const steps: StepId[] = [];
  if (updateKeys.length) steps.push('update-config');
  if (growTo) steps.push('resize-disk');
  if (start) steps.push('start');
  return {
    action: differences.length ? 'update' : 'existing',
    steps,
    differences,
    ...(updateKeys.length ? { updateParams } : {}),
    ...(growTo ? { resize: { disk: 'rootfs' as const, size: growTo } } : {}),
    privileges,
    warnings: [],
  };
}

/** Why an existing container cannot be used as it is: another node, a lock, a configuration --force cannot fix. */
function existingBlockers(spec: LxcSpec, ex: ExistingCt, differences: ConfigDifference[]): PlanBlocker[] {
  const blockers: PlanBlocker[] = [];
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
  return blockers;
}

/** No container yet: storages, bridge and template must be there, and the token must be allowed to use them. */
function planCreate(spec: LxcSpec, facts: LxcFacts, blockers: PlanBlocker[]): PlanPart {
  const [major] = pveMajorMinor(facts.version.version);
  const warnings: string[] = [];
  const template = facts.aplinfo !== undefined || facts.templateVolumes !== undefined
    ? chooseDebian12Template(facts.aplinfo ?? [], facts.templateVolumes ?? [], spec.templateStorage)
    : undefined;
  const privileges = privilegeNeeds(spec, { vmid: facts.vmid, major, download: template?.download ?? false });
  addPrivilegeBlocker(blockers, privileges, facts.permissions);
  const privBlocked = blockers.some((b) => b.code === 'PVE_MISSING_PRIVILEGES');
  blockers.push(...storageBlockers(spec, facts));
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
  return {
    action: 'create',
    steps,
    ...(template ? { template, createParams: createParams(spec, facts.vmid, template) } : {}),
    differences: [],
    privileges,
    warnings,
  };
}

/** The root-disk and template storages exist on the node, hold the right content and are active. */
function storageBlockers(spec: LxcSpec, facts: LxcFacts): PlanBlocker[] {
  const storages = facts.storages;
  if (!storages) return [];
  const blockers: PlanBlocker[] = [];
  const check = (id: string, content: string, flag: string, what: string) => {
    const s = storages.find((x) => x.storage === id);
    if (!s) {
      const known = storages.filter((x) => x.content.split(',').includes(content)).map((x) => x.storage);
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
  return blockers;
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
