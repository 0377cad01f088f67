/**
 * A Proxmox VE API simulator for tests: a real HTTPS server (self-signed PKI made with openssl) that speaks the
 * /api2/json protocol the way pveproxy does (see README.md here), checks API-token auth and ACL privileges, validates
 * every request against the official schema (schema.ts), runs asynchronous tasks with UPIDs and logs, and models a
 * node with storages, templates, bridges and containers whose eth0 gets an address a little after start.
 *
 * Every request is recorded with whether it passed the schema check, so a test can assert that *all* requests the
 * client sent would have been accepted by a real server.
 */
import { createHash } from 'node:crypto';
import { createServer as createHttpsServer, type Server } from 'node:https';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { makePki, type TestPki } from './cert.js';
import { ApiSchema, splitList, validateParams, type MethodInfo, type ParamErrors, type ParamValue, type PermissionCheck, type SchemaVersion } from './schema.js';

export type TaskType = 'download' | 'vzcreate' | 'vzstart' | 'vzstop' | 'vzdestroy' | 'resize';

export interface SimAcl {
  path: string;
  privs: readonly string[];
  /** Inherited by paths below (Proxmox's default for ACLs set in the GUI). */
  propagate?: boolean;
}

export interface SimToken {
  /** `user@realm!tokenname` */
  id: string;
  secret: string;
  acl: SimAcl[];
}

export interface SimStorage {
  storage: string;
  type: string;
  content: string[];
  active?: boolean;
  enabled?: boolean;
  shared?: boolean;
}

export interface SimAplTemplate {
  template: string;
  package: string;
  version: string;
  os: string;
  section: string;
  type: 'lxc';
  headline: string;
  architecture?: string;
  [k: string]: unknown;
}

export interface SimTaskOutcome {
  /** `OK`, `WARNINGS: N` or an error text. */
  exitstatus: string;
  log?: string[];
}

export interface SeedGuest {
  vmid: number;
  hostname: string;
  node?: string;
  type?: 'lxc' | 'qemu';
  status?: 'running' | 'stopped';
  pool?: string;
  /** Extra/overriding config keys (e.g. `{cores: 4, lock: 'create'}`). */
  config?: Record<string, string | number>;
  /**
   * QEMU only: the guest agent's interfaces (network-get-interfaces `result`) while it runs; with `config.agent`
   * unset the VM has no agent configured, and without this it is configured but not running.
   */
  agentInterfaces?: SimAgentInterface[];
}

/** One interface as qemu-guest-agent's guest-network-get-interfaces reports it. */
export interface SimAgentInterface {
  name: string;
  'hardware-address': string;
  'ip-addresses': { 'ip-address': string; 'ip-address-type': 'ipv4' | 'ipv6'; prefix: number }[];
}

export interface PveSimulatorOptions {
  schema?: SchemaVersion;
  /** pve-manager version reported by /version (default 9.1.2 or 8.4.1); below 8.1 `/interfaces` answers 501. */
  version?: string;
  tokens?: SimToken[];
  nodes?: (string | { node: string; status?: 'online' | 'offline' })[];
  storages?: SimStorage[];
  bridges?: string[];
  aplinfo?: SimAplTemplate[];
  /** Template file names already in the first storage that holds `vztmpl`. */
  templatesPresent?: string[];
  containers?: SeedGuest[];
  pools?: string[];
  nextIdRange?: { lower: number; upper: number };
  taskDurationMs?: number | Partial<Record<TaskType, number>>;
  /** How long after a start eth0 gets its IPv4 address; Infinity: never (a DHCP server that never answers). */
  addressDelayMs?: number;
  /** The address DHCP hands out (the SSH banner server listens on 127.0.0.1, so tests keep the default). */
  dhcpAddress?: string;
  /** Makes every task of this type end with this exit status (an error unless `OK`/`WARNINGS: N`). */
  failTask?: { type: TaskType; exitstatus?: string; log?: string[] };
  /** Outcome per task type when it does not fail, e.g. `{vzcreate: {exitstatus: 'WARNINGS: 1', log: [...]}}`. */
  taskOutcomes?: Partial<Record<TaskType, SimTaskOutcome>>;
  /** pveproxy delays every 401 by 3 s; tests make it short. */
  authFailDelayMs?: number;
  /** Serve an SSH banner (`SSH-2.0-…`) on 127.0.0.1 for running containers whose address is 127.0.0.1. */
  ssh?: boolean;
  pki?: TestPki;
}

export interface SimRequest {
  method: string;
  /** Relative to /api2/json, without the query string. */
  path: string;
  /** The schema method that served it, e.g. `POST /nodes/{node}/lxc`. */
  method_key?: string;
  params: Record<string, ParamValue>;
  authId?: string;
  hadAuthorization: boolean;
  status: number;
  /** Whether the parameters pass the schema check (computed for every request, even ones refused earlier). */
  schemaValid: boolean;
  schemaErrors: ParamErrors;
}

export interface SimTask {
  upid: string;
  node: string;
  type: TaskType;
  id: string;
  authId: string;
  pid: number;
  pstart: number;
  starttime: number;
  status: 'running' | 'stopped';
  exitstatus?: string;
  log: string[];
}

export interface SimGuest {
  vmid: number;
  node: string;
  type: 'lxc' | 'qemu';
  status: 'running' | 'stopped';
  pool?: string;
  config: Record<string, string | number>;
  startedAt?: number;
  agentInterfaces?: SimAgentInterface[];
}

export interface SimState {
  version: string;
  nodes: { node: string; status: 'online' | 'offline' }[];
  storages: SimStorage[];
  /** storage → volids */
  content: Map<string, Set<string>>;
  bridges: string[];
  aplinfo: SimAplTemplate[];
  guests: Map<number, SimGuest>;
  tasks: Map<string, SimTask>;
  tokens: SimToken[];
  pools: Set<string>;
  nextIdRange: { lower: number; upper: number };
  addressDelayMs: number;
  dhcpAddress: string;
  failTask?: { type: TaskType; exitstatus?: string; log?: string[] };
  taskOutcomes: Partial<Record<TaskType, SimTaskOutcome>>;
  authFailDelayMs: number;
}

export interface PveSimulator {
  url: string;
  port: number;
  /** SHA-256 of the certificate (`AA:BB:…`) and of its public key (base64); `--fingerprint` takes either. */
  fingerprint: { cert: string; spki: string };
  caPem: string;
  caFile: string;
  sshPort: number;
  schema: ApiSchema;
  state: SimState;
  requests: SimRequest[];
  /** TCP connections accepted on the API port (a client refusing the pin still connects, then sends nothing). */
  readonly connections: number;
  /** TLS handshakes the server saw complete. */
  readonly tlsHandshakes: number;
  invalidRequests(): SimRequest[];
  close(): Promise<void>;
}

/** Everything an unprivileged-container workflow needs (SECURITY.md), for tokens in tests. */
export const LXC_PRIVILEGES = [
  'VM.Allocate', 'VM.Audit', 'VM.Config.CPU', 'VM.Config.Disk', 'VM.Config.Memory', 'VM.Config.Network',
  'VM.Config.Options', 'VM.PowerMgmt', 'Datastore.AllocateSpace', 'Datastore.Audit', 'Datastore.AllocateTemplate',
  'SDN.Use', 'Sys.Audit', 'Pool.Audit',
] as const;

export const TEST_TOKEN: SimToken = {
  id: 'fleetmon@pve!ci',
  secret: '0f1e2d3c-4b5a-4697-8877-665544332211',
  acl: [{ path: '/', privs: [...LXC_PRIVILEGES], propagate: true }],
};

export function tokenHeaderValue(t: SimToken): string {
  return `${t.id}=${t.secret}`;
}

export const DEFAULT_APLINFO: SimAplTemplate[] = [
  apl('debian-11-standard', '11.7-1', 'debian-11'),
  apl('debian-12-standard', '12.2-1', 'debian-12'),
  apl('debian-12-standard', '12.12-1', 'debian-12'),
  apl('debian-12-standard', '12.7-1', 'debian-12'),
  apl('debian-13-standard', '13.1-2', 'debian-13'),
  apl('ubuntu-24.04-standard', '24.04-2', 'ubuntu-24.04'),
  { ...apl('alpine-3.22-default', '20250617', 'alpine-3.22'), template: 'alpine-3.22-default_20250617_amd64.tar.xz' },
];

function apl(pkg: string, version: string, os: string): SimAplTemplate {
  return {
    template: `${pkg}_${version}_amd64.tar.zst`,
    package: pkg,
    version,
    os,
    section: 'system',
    type: 'lxc',
    headline: `${os} standard template`,
    architecture: 'amd64',
    location: `http://download.proxmox.com/images/system/${pkg}_${version}_amd64.tar.zst`,
    maintainer: 'Proxmox Support Team <support@proxmox.com>',
    infopage: 'https://pve.proxmox.com/wiki/Linux_Container#pct_supported_distributions',
    description: `${os} base system`,
    sha512sum: createHash('sha512').update(`${pkg}_${version}`).digest('hex'),
  };
}

class SimError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly errors?: ParamErrors,
  ) {
    super(message);
  }
}

const paramError = (errors: ParamErrors) => new SimError(400, 'Parameter verification failed.', errors);
const permError = (what: string) => new SimError(403, `Permission check failed (${what})`);

const JSON_CT = 'application/json;charset=UTF-8';
const hex8 = (n: number) => n.toString(16).toUpperCase().padStart(8, '0');

export async function startPveSimulator(opts: PveSimulatorOptions = {}): Promise<PveSimulator> {
  const schemaVersion = opts.schema ?? '9.1';
  const schema = ApiSchema.load(schemaVersion);
  const pki = opts.pki ?? makePki();
  const ownPki = !opts.pki;
  const nodes = (opts.nodes ?? ['pve']).map((n) =>
    typeof n === 'string' ? { node: n, status: 'online' as const } : { node: n.node, status: n.status ?? ('online' as const) },
  );
  const firstNode = nodes[0]?.node ?? 'pve';
  const storages = opts.storages ?? [
    { storage: 'local', type: 'dir', content: ['vztmpl', 'iso', 'backup'] },
    { storage: 'local-lvm', type: 'lvmthin', content: ['rootdir', 'images'] },
  ];
  const content = new Map<string, Set<string>>(storages.map((s) => [s.storage, new Set<string>()]));
  const tmplStorage = storages.find((s) => s.content.includes('vztmpl'))?.storage;
  for (const t of opts.templatesPresent ?? []) if (tmplStorage) content.get(tmplStorage)?.add(`${tmplStorage}:vztmpl/${t}`);

  const state: SimState = {
    version: opts.version ?? (schemaVersion === '9.1' ? '9.1.2' : '8.4.1'),
    nodes,
    storages,
    content,
    bridges: opts.bridges ?? ['vmbr0'],
    aplinfo: opts.aplinfo ?? DEFAULT_APLINFO,
    guests: new Map(),
    tasks: new Map(),
    tokens: opts.tokens ?? [TEST_TOKEN],
    pools: new Set(opts.pools ?? []),
    nextIdRange: opts.nextIdRange ?? { lower: 100, upper: 1_000_000 },
    addressDelayMs: opts.addressDelayMs ?? 100,
    dhcpAddress: opts.dhcpAddress ?? '127.0.0.1',
    failTask: opts.failTask,
    taskOutcomes: opts.taskOutcomes ?? {},
    authFailDelayMs: opts.authFailDelayMs ?? 3000,
  };
  for (const g of opts.containers ?? []) {
    const type = g.type ?? 'lxc';
    state.guests.set(g.vmid, {
      vmid: g.vmid,
      node: g.node ?? firstNode,
      type,
      status: g.status ?? 'running',
      pool: g.pool,
      startedAt: (g.status ?? 'running') === 'running' ? Date.now() - 3_600_000 : undefined,
      ...(g.agentInterfaces ? { agentInterfaces: g.agentInterfaces } : {}),
      config:
        type === 'lxc'
          ? {
              arch: 'amd64', cores: 1, hostname: g.hostname, memory: 512, swap: 512, ostype: 'debian',
              net0: `name=eth0,bridge=vmbr0,hwaddr=${macFor(g.vmid)},ip=dhcp,type=veth`,
              rootfs: `local-lvm:vm-${g.vmid}-disk-0,size=8G`, unprivileged: 1, ...g.config,
            }
          : { name: g.hostname, cores: 2, memory: 2048, ...g.config },
    });
  }

  const major = Number(state.version.split('.')[0]);
  const minor = Number(state.version.split('.')[1]);
  const requests: SimRequest[] = [];
  const timers = new Set<NodeJS.Timeout>();
  let tlsHandshakes = 0;
  let connections = 0;
  let pidCounter = 0x1a2b0;

  const later = (ms: number, fn: () => void) => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
  };
  const durationOf = (type: TaskType) => {
    const d = opts.taskDurationMs;
    if (typeof d === 'number') return d;
    return d?.[type] ?? 30;
  };

  // ---- permissions ------------------------------------------------------------------------------------------
  const tokenById = (id: string) => state.tokens.find((t) => t.id === id);
  function privsAt(authId: string, path: string): Set<string> {
    const out = new Set<string>();
    for (const acl of tokenById(authId)?.acl ?? []) {
      const inherits = acl.propagate !== false && (acl.path === '/' || path.startsWith(`${acl.path}/`));
      if (acl.path === path || inherits) for (const p of acl.privs) out.add(p);
    }
    // A guest in a pool also gets the pool's ACLs (PVE maps /vms/ID into /pool/NAME).
    const vm = /^\/vms\/(\d+)$/.exec(path);
    const pool = vm?.[1] ? state.guests.get(Number(vm[1]))?.pool : undefined;
    if (pool) for (const p of privsAt(authId, `/pool/${pool}`)) out.add(p);
    return out;
  }
  function requirePrivs(authId: string, path: string, privs: string[], any = false): void {
    const have = privsAt(authId, path);
    if (any) {
      if (!privs.some((p) => have.has(p))) throw permError(`${path}, ${privs.join('|')}`);
      return;
    }
    for (const p of privs) if (!have.has(p)) throw permError(`${path}, ${p}`);
  }
  /** check_vm_perm: on /vms/ID, or on /pool/POOL when the request names one. */
  function requireVmPrivs(authId: string, vmid: number, pool: string | undefined, privs: string[]): void {
    for (const p of privs) {
      if (privsAt(authId, `/vms/${vmid}`).has(p)) continue;
      if (pool && privsAt(authId, `/pool/${pool}`).has(p)) continue;
      throw permError(`/vms/${vmid}, ${p}`);
    }
  }
  function evalCheck(check: PermissionCheck, authId: string, params: Record<string, ParamValue>): void {
    const [op, ...rest] = check;
    if (op === 'and') {
      for (const c of rest as PermissionCheck[]) evalCheck(c, authId, params);
      return;
    }
    if (op === 'or') {
      let last: unknown;
      for (const c of rest as PermissionCheck[]) {
        try {
          evalCheck(c, authId, params);
          return;
        } catch (err) {
          last = err;
        }
      }
      throw last;
    }
    if (op === 'perm') {
      const [tmpl, privs, ...flags] = rest as [string, string[], ...unknown[]];
      const path = tmpl.replace(/\{([^}]+)\}/g, (_, k: string) => String(params[k] ?? ''));
      const anyIdx = flags.indexOf('any');
      requirePrivs(authId, path, privs, anyIdx >= 0 && flags[anyIdx + 1] === 1);
      return;
    }
    throw new SimError(500, `simulator: permission check '${String(op)}' not implemented`);
  }

  // ---- tasks --------------------------------------------------------------------------------------------------
  function startTask(
    node: string,
    type: TaskType,
    id: string,
    authId: string,
    lines: string[],
    finish: () => string[] | void,
    onFail?: () => void,
  ): string {
    const starttime = Math.floor(Date.now() / 1000);
    const pid = ++pidCounter;
    const pstart = 0x00a1b2c3 + pid;
    const upid = `UPID:${node}:${hex8(pid)}:${hex8(pstart)}:${hex8(starttime)}:${type}:${id}:${authId}:`;
    const task: SimTask = { upid, node, type, id, authId, pid, pstart, starttime, status: 'running', log: [...lines] };
    state.tasks.set(upid, task);
    later(durationOf(type), () => {
      const fail = state.failTask?.type === type ? state.failTask : undefined;
      const outcome = state.taskOutcomes[type];
      try {
        if (fail) throw new SimError(500, fail.exitstatus ?? `${type} failed (simulated)`);
        const more = finish() ?? [];
        task.log.push(...more, ...(outcome?.log ?? []));
        const exit = outcome?.exitstatus ?? 'OK';
        task.log.push(`TASK ${exit}`);
        task.exitstatus = exit;
      } catch (err) {
        const msg = err instanceof Error ? err.message : String(err);
        task.log.push(...(fail?.log ?? []), `TASK ERROR: ${msg}`);
        task.exitstatus = msg;
        onFail?.();
      }
      task.status = 'stopped';
    });
    return upid;
  }

  // ---- helpers ------------------------------------------------------------------------------------------------
  const nodeOf = (name: string) => {
    const n = state.nodes.find((x) => x.node === name);
    if (!n) throw new SimError(500, `no such cluster node '${name}'`);
    if (n.status !== 'online') throw new SimError(595, `Connection refused`);
    return n;
  };
  const storageOf = (id: string) => {
    const s = state.storages.find((x) => x.storage === id);
    if (!s) throw new SimError(500, `storage '${id}' does not exist`);
    return s;
  };
  const ctOf = (node: string, vmid: number) => {
    const g = state.guests.get(vmid);
    if (!g || g.type !== 'lxc' || g.node !== node) {
      throw new SimError(500, `Configuration file 'nodes/${node}/lxc/${vmid}.conf' does not exist`);
    }
    return g;
  };
  const checkLock = (g: SimGuest) => {
    if (g.config.lock !== undefined) throw new SimError(500, `CT is locked (${g.config.lock})`);
  };
  const bool = (v: ParamValue | undefined) => v === true || v === '1' || v === 1;
  const str = (v: ParamValue | undefined) => (v === undefined || v === null ? undefined : String(v));
  const parsePropString = (s: string, defaultKey?: string) => {
    const out: Record<string, string> = {};
    for (const part of s.split(',')) {
      if (!part) continue;
      const i = part.indexOf('=');
      if (i < 0 && defaultKey) out[defaultKey] = part;
      else out[part.slice(0, i)] = part.slice(i + 1);
    }
    return out;
  };
  const addressOf = (g: SimGuest): string | undefined => {
    if (g.status !== 'running' || g.startedAt === undefined) return undefined;
    const net = parsePropString(String(g.config.net0 ?? ''));
    if (!net.ip || net.ip === 'manual') return undefined;
    if (net.ip !== 'dhcp') return net.ip;
    if (Date.now() - g.startedAt < state.addressDelayMs) return undefined;
    return `${state.dhcpAddress}/24`;
  };
  const digestOf = (config: Record<string, string | number>) => createHash('sha1').update(JSON.stringify(config)).digest('hex');

  /** pve-container check_ct_modify_config_perm: which privilege each config key needs. */
  function checkConfigPerms(authId: string, vmid: number, pool: string | undefined, params: Record<string, ParamValue>, privileged: boolean) {
    for (const key of Object.keys(params)) {
      if (['node', 'vmid', 'digest', 'delete', 'pool', 'storage', 'ostemplate', 'password', 'ssh-public-keys', 'start',
        'unprivileged', 'restore', 'force', 'unique', 'ignore-unpack-errors', 'bwlimit', 'debug', 'ha-managed'].includes(key)) continue;
      if (['cores', 'cpulimit', 'cpuunits'].includes(key)) requireVmPrivs(authId, vmid, pool, ['VM.Config.CPU']);
      else if (['memory', 'swap'].includes(key)) requireVmPrivs(authId, vmid, pool, ['VM.Config.Memory']);
      else if (/^net\d+$/.test(key)) {
        requireVmPrivs(authId, vmid, pool, ['VM.Config.Network']);
        const bridge = parsePropString(String(params[key])).bridge;
        if (bridge && major >= 8) requirePrivs(authId, `/sdn/zones/localnetwork/${bridge}`, ['SDN.Use']);
      } else if (key === 'rootfs' || /^mp\d+$/.test(key)) requireVmPrivs(authId, vmid, pool, ['VM.Config.Disk']);
      else if (key === 'features') {
        const feats = parsePropString(String(params.features));
        if (privileged) throw new SimError(403, 'changing feature flags for privileged container is only allowed for root@pam');
        if (Object.keys(feats).some((k) => k !== 'nesting')) {
          throw new SimError(403, 'changing feature flags (except nesting) is only allowed for root@pam');
        }
        requireVmPrivs(authId, vmid, pool, ['VM.Allocate']);
      } else if (/^(dev\d+|hookscript|lxc\..*)$/.test(key)) {
        throw new SimError(403, `${key} is only allowed for root@pam`);
      } else requireVmPrivs(authId, vmid, pool, ['VM.Config.Options']);
    }
  }

  function validateSshKeys(keys: string): void {
    for (const line of keys.split('\n')) {
      if (/^\s*(#.*)?$/.test(line)) continue;
      const m = /^(?:\S+\s+)?(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(?:256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com)\s+([A-Za-z0-9+/]+={0,2})(\s.*)?$/.exec(line.trim());
      const blob = m?.[2] ? Buffer.from(m[2], 'base64') : undefined;
      const typeLen = blob && blob.length > 4 ? blob.readUInt32BE(0) : -1;
      if (!m || !blob || blob.subarray(4, 4 + typeLen).toString() !== m[1]) {
        throw new SimError(500, 'SSH public key validation error');
      }
    }
  }

  // ---- handlers -----------------------------------------------------------------------------------------------
  type Ctx = { authId: string; params: Record<string, ParamValue>; info: MethodInfo };
  type Handler = (c: Ctx) => unknown;
  const P = (c: Ctx, k: string) => str(c.params[k]) ?? '';
  const N = (c: Ctx, k: string) => Number(c.params[k]);

  const handlers: Record<string, Handler> = {
    'GET /version': () => ({ version: state.version, release: state.version.split('.').slice(0, 2).join('.'), repoid: 'a1b2c3d4e5f60718' }),

    'GET /nodes': () =>
      state.nodes.map((n) => ({
        node: n.node, status: n.status, type: 'node', id: `node/${n.node}`, level: '',
        ...(n.status === 'online' ? { cpu: 0.02, maxcpu: 16, mem: 8e9, maxmem: 64e9, uptime: 86400 } : {}),
      })),

    'GET /cluster/nextid': (c) => {
      if (c.params.vmid !== undefined) {
        const vmid = N(c, 'vmid');
        if (state.guests.has(vmid)) throw paramError({ vmid: `VM ${vmid} already exists` });
        return String(vmid);
      }
      const { lower, upper } = state.nextIdRange;
      for (let i = lower; i < upper; i++) if (!state.guests.has(i)) return String(i); // Perl sends the number as a string
      throw new SimError(500, `unable to get any free VMID in range [${lower}, ${upper}]`);
    },

    'GET /cluster/resources': (c) => {
      const type = str(c.params.type);
      const out: Record<string, unknown>[] = [];
      if (!type || type === 'node') for (const n of state.nodes) out.push({ id: `node/${n.node}`, type: 'node', node: n.node, status: n.status });
      if (!type || type === 'storage') {
        for (const n of state.nodes) {
          for (const s of state.storages) {
            if (privsAt(c.authId, `/storage/${s.storage}`).size === 0) continue;
            out.push({ id: `storage/${n.node}/${s.storage}`, type: 'storage', node: n.node, storage: s.storage, status: 'available', content: s.content.join(','), plugintype: s.type });
          }
        }
      }
      if (!type || type === 'vm') {
        for (const g of state.guests.values()) {
          if (!privsAt(c.authId, `/vms/${g.vmid}`).has('VM.Audit')) continue;
          out.push({
            id: `${g.type}/${g.vmid}`, type: g.type, vmid: g.vmid, node: g.node, status: g.status, template: 0,
            name: g.type === 'lxc' ? g.config.hostname : g.config.name, maxcpu: g.config.cores, maxmem: Number(g.config.memory ?? 0) * 1048576,
            ...(g.config.tags !== undefined ? { tags: g.config.tags } : {}), ...(g.pool ? { pool: g.pool } : {}),
            ...(g.config.lock !== undefined ? { lock: g.config.lock } : {}),
          });
        }
      }
      return out;
    },

    'GET /access/permissions': (c) => {
      const userid = str(c.params.userid);
      if (userid && userid !== c.authId) requirePrivs(c.authId, '/access', ['Sys.Audit']);
      const who = userid ?? c.authId;
      const asMap = (privs: Iterable<string>) => Object.fromEntries([...privs].sort().map((p) => [p, 1]));
      const path = str(c.params.path);
      if (path) return { [path]: asMap(privsAt(who, path)) };
      const out: Record<string, Record<string, number>> = {};
      for (const acl of tokenById(who)?.acl ?? []) out[acl.path] = asMap(privsAt(who, acl.path));
      return out;
    },

    'GET /pools': (c) => {
      const poolid = str(c.params.poolid);
      return [...state.pools]
        .filter((p) => (!poolid || p === poolid) && privsAt(c.authId, `/pool/${p}`).has('Pool.Audit'))
        .map((p) => ({ poolid: p }));
    },

    'GET /nodes/{node}/storage': (c) => {
      nodeOf(P(c, 'node'));
      const want = str(c.params.content);
      return state.storages
        .filter((s) => {
          const privs = privsAt(c.authId, `/storage/${s.storage}`);
          return privs.has('Datastore.Audit') || privs.has('Datastore.AllocateSpace');
        })
        .filter((s) => !want || s.content.includes(want))
        .filter((s) => !str(c.params.storage) || s.storage === str(c.params.storage))
        .map((s) => ({
          storage: s.storage, type: s.type, content: s.content.join(','), active: s.active === false ? 0 : 1,
          enabled: s.enabled === false ? 0 : 1, shared: s.shared ? 1 : 0, total: 100 * 2 ** 30, used: 10 * 2 ** 30,
          avail: 90 * 2 ** 30, used_fraction: 0.1,
        }));
    },

    'GET /nodes/{node}/storage/{storage}/content': (c) => {
      nodeOf(P(c, 'node'));
      const s = storageOf(P(c, 'storage'));
      const want = str(c.params.content);
      return [...(state.content.get(s.storage) ?? [])]
        .map((volid) => ({ volid, content: volid.includes(':vztmpl/') ? 'vztmpl' : 'rootdir', format: volid.endsWith('.tar.zst') ? 'tzst' : 'raw', size: 129_862_360, ctime: 1_730_000_000 }))
        .filter((v) => !want || v.content === want);
    },

    'GET /nodes/{node}/network': (c) => {
      nodeOf(P(c, 'node'));
      const type = str(c.params.type);
      const all = [
        { iface: 'eno1', type: 'eth', active: 1, autostart: 1, method: 'manual', families: ['inet'], priority: 3 },
        ...state.bridges.map((b, i) => ({
          iface: b, type: 'bridge', active: 1, autostart: 1, method: 'static', families: ['inet'], bridge_ports: i === 0 ? 'eno1' : 'none',
          bridge_stp: 'off', bridge_fd: '0', priority: 4 + i,
        })),
      ];
      if (!type) return all;
      if (type === 'any_bridge' || type === 'any_local_bridge' || type === 'include_sdn') return all.filter((x) => x.type === 'bridge');
      return all.filter((x) => x.type === type);
    },

    'GET /nodes/{node}/aplinfo': (c) => {
      nodeOf(P(c, 'node'));
      return state.aplinfo;
    },

    'POST /nodes/{node}/aplinfo': (c) => {
      const node = nodeOf(P(c, 'node')).node;
      const s = storageOf(P(c, 'storage'));
      const template = P(c, 'template');
      const entry = state.aplinfo.find((t) => t.template === template);
      if (!entry) throw new SimError(500, 'no such template');
      if (!s.content.includes('vztmpl')) throw new SimError(500, `storage '${s.storage}' does not support templates`);
      const path = `/var/lib/vz/template/cache/${template}`;
      return startTask(node, 'download', template, c.authId, [`starting template download from: ${String(entry.location)}`, `target file: ${path}`], () => {
        state.content.get(s.storage)?.add(`${s.storage}:vztmpl/${template}`);
        return ['download of template file finished', `calculating checksum of ${path}...`, 'OK, checksum verified'];
      });
    },

    'GET /nodes/{node}/lxc': (c) => {
      const node = nodeOf(P(c, 'node')).node;
      return [...state.guests.values()]
        .filter((g) => g.type === 'lxc' && g.node === node && privsAt(c.authId, `/vms/${g.vmid}`).has('VM.Audit'))
        .map((g) => ({ vmid: g.vmid, name: g.config.hostname, status: g.status, type: 'lxc', ...(g.config.tags !== undefined ? { tags: g.config.tags } : {}) }));
    },

    'POST /nodes/{node}/lxc': (c) => {
      const node = nodeOf(P(c, 'node')).node;
      const vmid = N(c, 'vmid');
      const pool = str(c.params.pool);
      if (bool(c.params.restore)) throw new SimError(501, 'simulator: restore is not implemented');
      requireVmPrivs(c.authId, vmid, pool, ['VM.Allocate']);
      const existing = state.guests.get(vmid);
      if (existing) throw new SimError(500, `${existing.type === 'lxc' ? 'CT' : 'VM'} ${vmid} already exists on node '${existing.node}'`);
      if (pool && !state.pools.has(pool)) throw new SimError(500, `pool '${pool}' does not exist`);
      // PVE 9 creates an unprivileged CT when the parameter is missing; PVE 8 a privileged one (pve-container 103068a).
      const unprivileged = c.params.unprivileged !== undefined ? bool(c.params.unprivileged) : major >= 9;
      if (!unprivileged) requirePrivs(c.authId, '/', ['Sys.Modify']);
      checkConfigPerms(c.authId, vmid, pool, c.params, !unprivileged);
      if (bool(c.params.start)) requireVmPrivs(c.authId, vmid, pool, ['VM.PowerMgmt']);
      // rootfs: "STORAGE:N" allocates N GiB; a bare N means "$storage:N"; missing means "$storage:4".
      const storageParam = str(c.params.storage) ?? 'local';
      const rootfs = parsePropString(str(c.params.rootfs) ?? `${storageParam}:4`, 'volume');
      const vol = rootfs.volume ?? '';
      const m = /^(?:([a-z][a-z0-9\-_.]*[a-z0-9]):)?(\d+(?:\.\d+)?)$/i.exec(vol);
      if (!m?.[2]) throw new SimError(501, 'simulator: only "STORAGE:SIZE" root disks are implemented');
      const rootStorage = storageOf(m[1] ?? storageParam);
      if (!rootStorage.content.includes('rootdir')) {
        throw paramError({ storage: `storage '${rootStorage.storage}' does not support container directories` });
      }
      requirePrivs(c.authId, `/storage/${rootStorage.storage}`, ['Datastore.AllocateSpace']);
      const ostemplate = P(c, 'ostemplate');
      const tm = /^([a-z][a-z0-9\-_.]*[a-z0-9]):vztmpl\/(.+)$/i.exec(ostemplate);
      if (!tm?.[1]) throw new SimError(500, `unable to parse volume ID '${ostemplate}'`);
      const tstore = storageOf(tm[1]);
      requirePrivs(c.authId, `/storage/${tstore.storage}`, ['Datastore.AllocateSpace', 'Datastore.Audit'], true);
      if (!state.content.get(tstore.storage)?.has(ostemplate)) throw new SimError(500, `volume '${ostemplate}' does not exist`);
      const keys = str(c.params['ssh-public-keys']);
      if (keys) validateSshKeys(keys);

      const config: Record<string, string | number> = { arch: 'amd64', ostype: 'debian', lock: 'create', unprivileged: unprivileged ? 1 : 0 };
      for (const [k, v] of Object.entries(c.params)) {
        if (['node', 'vmid', 'pool', 'storage', 'ostemplate', 'password', 'ssh-public-keys', 'start', 'unprivileged', 'rootfs', 'ha-managed'].includes(k)) continue;
        config[k] = typeof v === 'boolean' ? (v ? 1 : 0) : /^\d+$/.test(String(v)) ? Number(v) : String(v);
      }
      for (const [k, v] of Object.entries(config)) {
        if (!/^net\d+$/.test(k)) continue;
        const net = parsePropString(String(v));
        net.hwaddr ??= macFor(vmid);
        net.type ??= 'veth';
        config[k] = Object.entries(net).map(([a, b]) => `${a}=${b}`).join(',');
      }
      if (typeof config.tags === 'string') config.tags = splitList(config.tags).join(';');
      const sizeG = m[2];
      const guest: SimGuest = { vmid, node, type: 'lxc', status: 'stopped', pool, config };
      state.guests.set(vmid, guest);
      const disk = `vm-${vmid}-disk-0`;
      const tmplFile = ostemplate.replace(/^[^:]+:vztmpl\//, '');
      return startTask(
        node, 'vzcreate', String(vmid), c.authId,
        [`  Logical volume "${disk}" created.`, `Creating filesystem with ${Number(sizeG) * 262144} 4k blocks and ${Number(sizeG) * 65536} inodes`,
          `extracting archive '/var/lib/vz/template/cache/${tmplFile}'`],
        () => {
          guest.config.rootfs = `${rootStorage.storage}:${disk},size=${sizeG}G`;
          delete guest.config.lock;
          if (bool(c.params.start)) {
            guest.status = 'running';
            guest.startedAt = Date.now();
          }
          return ['Total bytes read: 521144320 (498MiB, 180MiB/s)', 'Detected container architecture: amd64',
            "Creating SSH host key 'ssh_host_ed25519_key' - this may take some time ...", `done: SHA256:${createHash('sha256').update(String(vmid)).digest('base64').slice(0, 43)} root@${String(guest.config.hostname ?? 'localhost')}`];
        },
        () => state.guests.delete(vmid), // a failed create removes the half-made container
      );
    },

    'GET /nodes/{node}/lxc/{vmid}/config': (c) => {
      const g = ctOf(nodeOf(P(c, 'node')).node, N(c, 'vmid'));
      return { ...g.config, digest: digestOf(g.config) };
    },

    'PUT /nodes/{node}/lxc/{vmid}/config': (c) => {
      const g = ctOf(nodeOf(P(c, 'node')).node, N(c, 'vmid'));
      const digest = str(c.params.digest);
      if (digest && digest !== digestOf(g.config)) throw new SimError(500, 'detected modified configuration - file changed by other user? Try again.');
      checkLock(g);
      checkConfigPerms(c.authId, g.vmid, g.pool, c.params, !Number(g.config.unprivileged));
      for (const [k, v] of Object.entries(c.params)) {
        if (['node', 'vmid', 'digest', 'delete', 'revert'].includes(k)) continue;
        if (k === 'rootfs' || k === 'unprivileged') throw new SimError(500, `unable to modify read-only option: '${k}'`);
        g.config[k] = /^\d+$/.test(String(v)) ? Number(v) : String(v);
      }
      for (const k of splitList(str(c.params.delete) ?? '')) delete g.config[k];
      if (typeof g.config.tags === 'string') g.config.tags = splitList(g.config.tags).join(';');
      return null;
    },

    'PUT /nodes/{node}/lxc/{vmid}/resize': (c) => {
      const node = nodeOf(P(c, 'node')).node;
      const g = ctOf(node, N(c, 'vmid'));
      checkLock(g);
      if (P(c, 'disk') !== 'rootfs') throw new SimError(501, 'simulator: only rootfs can be resized');
      const root = parsePropString(String(g.config.rootfs), 'volume');
      const cur = Number((root.size ?? '0').replace(/G$/, ''));
      const sm = /^(\+)?(\d+)G$/.exec(P(c, 'size'));
      if (!sm?.[2]) throw new SimError(501, 'simulator: sizes must be [+]NG');
      const next = sm[1] ? cur + Number(sm[2]) : Number(sm[2]);
      if (next < cur) throw new SimError(500, 'unable to shrink disk size');
      return startTask(node, 'resize', String(g.vmid), c.authId, [`  Size of logical volume changed to ${next}.00 GiB.`], () => {
        g.config.rootfs = `${root.volume},size=${next}G`;
      });
    },

    'GET /nodes/{node}/lxc/{vmid}/status/current': (c) => {
      const g = ctOf(nodeOf(P(c, 'node')).node, N(c, 'vmid'));
      return {
        vmid: g.vmid, name: g.config.hostname, status: g.status, type: 'lxc', cpus: g.config.cores, maxmem: Number(g.config.memory ?? 512) * 1048576,
        maxswap: Number(g.config.swap ?? 512) * 1048576, maxdisk: 8 * 2 ** 30, uptime: g.startedAt ? Math.floor((Date.now() - g.startedAt) / 1000) : 0,
        ha: { managed: 0 }, ...(g.config.lock !== undefined ? { lock: g.config.lock } : {}), ...(g.config.tags !== undefined ? { tags: g.config.tags } : {}),
      };
    },

    'POST /nodes/{node}/lxc/{vmid}/status/start': (c) => {
      const node = nodeOf(P(c, 'node')).node;
      const g = ctOf(node, N(c, 'vmid'));
      if (!bool(c.params.skiplock)) checkLock(g);
      if (g.status === 'running') throw new SimError(500, `CT ${g.vmid} already running`);
      return startTask(node, 'vzstart', String(g.vmid), c.authId, [], () => {
        const bridge = parsePropString(String(g.config.net0 ?? '')).bridge;
        if (bridge && !state.bridges.includes(bridge)) {
          throw new SimError(500, `startup for container '${g.vmid}' failed`);
        }
        g.status = 'running';
        g.startedAt = Date.now();
      });
    },

    'POST /nodes/{node}/lxc/{vmid}/status/stop': (c) => {
      const node = nodeOf(P(c, 'node')).node;
      const g = ctOf(node, N(c, 'vmid'));
      if (!bool(c.params.skiplock)) checkLock(g);
      if (g.status !== 'running') throw new SimError(500, `CT ${g.vmid} not running`);
      return startTask(node, 'vzstop', String(g.vmid), c.authId, [], () => {
        g.status = 'stopped';
        g.startedAt = undefined;
      });
    },

    'DELETE /nodes/{node}/lxc/{vmid}': (c) => {
      const node = nodeOf(P(c, 'node')).node;
      const g = ctOf(node, N(c, 'vmid'));
      checkLock(g);
      if (g.status === 'running' && !bool(c.params.force)) throw new SimError(500, `CT ${g.vmid} is running - destroy failed`);
      return startTask(node, 'vzdestroy', String(g.vmid), c.authId, [`  Logical volume "vm-${g.vmid}-disk-0" successfully removed.`], () => {
        state.guests.delete(g.vmid);
      });
    },

    'GET /nodes/{node}/lxc/{vmid}/interfaces': (c) => {
      const g = ctOf(nodeOf(P(c, 'node')).node, N(c, 'vmid'));
      if (g.status !== 'running') return null;
      const mac = parsePropString(String(g.config.net0 ?? '')).hwaddr ?? macFor(g.vmid);
      const ll = `fe80::${mac.toLowerCase().split(':').slice(0, 2).join('')}:${mac.toLowerCase().split(':').slice(2, 3).join('')}ff:fe${mac.toLowerCase().split(':').slice(3, 4).join('')}:${mac.toLowerCase().split(':').slice(4).join('')}/64`;
      const v4 = addressOf(g);
      const full = major > 8 || (major === 8 && minor >= 4); // PVE 8.4 added hardware-address and ip-addresses
      const item = (name: string, hw: string, inet: string | undefined, inet6: string) => ({
        name, hwaddr: hw, ...(inet ? { inet } : {}), inet6,
        ...(full
          ? {
              'hardware-address': hw,
              'ip-addresses': [
                ...(inet ? [{ 'ip-address': inet.split('/')[0], 'ip-address-type': 'inet', prefix: Number(inet.split('/')[1]) }] : []),
                { 'ip-address': inet6.split('/')[0], 'ip-address-type': 'inet6', prefix: Number(inet6.split('/')[1]) },
              ],
            }
          : {}),
      });
      return [item('lo', '00:00:00:00:00:00', '127.0.0.1/8', '::1/128'), item('eth0', mac, v4, ll)];
    },

    // qemu-server's agent_cmd: the VM must exist, run, have `agent: 1` (a property string whose first key is enabled)
    // and an agent that answers; each failure is a 500 with the server's words.
    'GET /nodes/{node}/qemu/{vmid}/agent/network-get-interfaces': (c) => {
      const node = nodeOf(P(c, 'node')).node;
      const vmid = N(c, 'vmid');
      const g = state.guests.get(vmid);
      if (!g || g.type !== 'qemu' || g.node !== node) throw new SimError(500, `Configuration file 'nodes/${node}/qemu-server/${vmid}.conf' does not exist`);
      if (g.status !== 'running') throw new SimError(500, `VM ${vmid} is not running`);
      const agent = parsePropString(String(g.config.agent ?? '0'), 'enabled');
      if (!bool(agent.enabled)) throw new SimError(500, 'No QEMU guest agent configured');
      if (!g.agentInterfaces) throw new SimError(500, 'QEMU guest agent is not running');
      return { result: g.agentInterfaces };
    },

    'GET /nodes/{node}/tasks/{upid}/status': (c) => {
      const t = taskOf(c);
      const [user, tokenid] = t.authId.split('!');
      return {
        upid: t.upid, node: t.node, pid: t.pid, pstart: t.pstart, starttime: t.starttime, type: t.type, id: t.id,
        user, ...(tokenid ? { tokenid } : {}), status: t.status, ...(t.status === 'stopped' ? { exitstatus: t.exitstatus } : {}),
      };
    },

    'GET /nodes/{node}/tasks/{upid}/log': (c) => {
      const t = taskOf(c);
      const start = c.params.start !== undefined ? N(c, 'start') : 0;
      const limit = c.params.limit !== undefined ? N(c, 'limit') : 50;
      const lines = t.log.map((text, i) => ({ n: i + 1, t: text }));
      return { __total: lines.length, data: lines.slice(start, start + limit) };
    },
  };

  function taskOf(c: Ctx): SimTask {
    const node = nodeOf(P(c, 'node')).node;
    const upid = P(c, 'upid');
    if (!/^UPID:([a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?):([0-9A-Fa-f]{8}):([0-9A-Fa-f]{8,9}):([0-9A-Fa-f]{8}):([^:\s]+):([^:\s]*):([^:\s]+):$/.test(upid)) {
      throw new SimError(400, `unable to parse worker upid '${upid}'`);
    }
    const t = state.tasks.get(upid);
    if (!t || t.node !== node) throw new SimError(500, `no such task`);
    if (t.authId !== c.authId) requirePrivs(c.authId, `/nodes/${node}`, ['Sys.Audit']);
    return t;
  }

  // ---- HTTP -----------------------------------------------------------------------------------------------------
  function authenticate(header: string | undefined): { authId: string } | { error: string } {
    if (!header) return { error: 'No ticket' };
    const m = /^PVEAPIToken=(.+)$/.exec(header.trim());
    if (!m?.[1]) return { error: 'No ticket' };
    const eq = m[1].lastIndexOf('=');
    if (eq < 0) return { error: 'no tokenid specified' };
    const tokenId = m[1].slice(0, eq);
    const value = m[1].slice(eq + 1);
    const tm = /^(\S+@\S+)!([A-Za-z][A-Za-z0-9._-]*)$/.exec(tokenId);
    if (!tm?.[1] || !tm[2]) return { error: `'${tokenId}' is not a valid token ID` };
    const token = tokenById(tokenId);
    if (!state.tokens.some((t) => t.id.startsWith(`${tm[1]}!`))) return { error: `no such user ('${tm[1]}')` };
    if (!token) return { error: `no such token '${tm[2]}' for user '${tm[1]}'` };
    if (token.secret !== value) return { error: 'invalid token value!' };
    return { authId: token.id };
  }

  function send(res: ServerResponse, status: number, message: string, body?: unknown): void {
    res.statusCode = status;
    res.statusMessage = message.split('\n')[0] ?? '';
    res.setHeader('Server', 'pve-api-daemon/3.0');
    res.setHeader('Cache-Control', 'max-age=0');
    res.setHeader('Pragma', 'no-cache');
    res.setHeader('Expires', new Date().toUTCString());
    if (body === undefined) {
      res.end();
      return;
    }
    const raw = JSON.stringify(body);
    res.setHeader('Content-Type', JSON_CT);
    res.setHeader('Content-Length', Buffer.byteLength(raw));
    res.end(raw);
  }

  function parseForm(text: string, into: Record<string, ParamValue>): void {
    for (const [k, v] of new URLSearchParams(text)) {
      const old = into[k];
      if (old === undefined) into[k] = v;
      else into[k] = Array.isArray(old) ? [...old, v] : [old, v];
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = (req.method ?? 'GET').toUpperCase();
    const url = new URL(req.url ?? '/', 'https://sim');
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const bodyText = Buffer.concat(chunks).toString('utf8');
    const rec: SimRequest = {
      method, path: url.pathname.replace(/^\/api2\/json/, ''), params: {}, hadAuthorization: req.headers.authorization !== undefined,
      status: 0, schemaValid: false, schemaErrors: {},
    };
    requests.push(rec);
    const reply = (status: number, message: string, body?: unknown) => {
      rec.status = status;
      send(res, status, message, body);
    };
    const fail = (err: SimError) =>
      reply(err.status, err.message, { data: null, ...(err.errors ? { errors: err.errors } : {}), message: `${err.message}\n` });

    if (!url.pathname.startsWith('/api2/json/')) return fail(new SimError(501, `no such file '${url.pathname}'`));
    const path = rec.path;
    // Parameters: the body (form or JSON) with the query merged in, as pve-http-server's extract_params does.
    const params: Record<string, ParamValue> = {};
    if (bodyText.length) {
      if (method === 'GET' || method === 'DELETE') return fail(new SimError(501, `Unexpected content for method '${method}'`));
      const ct = String(req.headers['content-type'] ?? '').split(';')[0]?.trim();
      if (ct === 'application/x-www-form-urlencoded') parseForm(bodyText, params);
      else if (ct === 'application/json') {
        try {
          Object.assign(params, JSON.parse(bodyText) as Record<string, ParamValue>);
        } catch {
          return fail(new SimError(400, 'failed to parse JSON body'));
        }
      } else return fail(new SimError(506, `unsupported content type '${ct ?? ''}'`));
    }
    parseForm(url.search.slice(1), params);
    rec.params = params;

    const match = schema.find(method, path);
    const allParams: Record<string, ParamValue> = { ...params };
    const duplicates: ParamErrors = {};
    if (match) {
      rec.method_key = match.key;
      for (const [k, v] of Object.entries(match.pathParams)) {
        if (params[k] !== undefined && String(params[k]) !== v) {
          duplicates[k] = 'duplicate parameter (already defined in URI) with conflicting values!';
        }
        allParams[k] = v;
      }
      rec.schemaErrors = Object.keys(duplicates).length ? duplicates : validateParams(match.info, allParams);
      rec.schemaValid = Object.keys(rec.schemaErrors).length === 0;
    }

    const auth = authenticate(req.headers.authorization);
    if ('error' in auth) {
      await new Promise((r) => later(state.authFailDelayMs, () => r(undefined)));
      rec.status = 401;
      return send(res, 401, auth.error); // pveproxy: the reason in the status line, no body, no content type
    }
    rec.authId = auth.authId;
    const interfacesMissing = match?.key === 'GET /nodes/{node}/lxc/{vmid}/interfaces' && (major < 8 || (major === 8 && minor < 1));
    if (!match || interfacesMissing) return fail(new SimError(501, `Method '${method} ${path}' not implemented`));
    try {
      if (match.info.allowtoken === 0) throw new SimError(403, `URI '${path}' not available with API token, need proper ticket.`);
      if (Object.keys(duplicates).length) throw paramError(duplicates);
      const check = match.info.permissions?.check;
      if (check) evalCheck(check, auth.authId, allParams);
      else if (!match.info.permissions) throw permError('root@pam only');
      if (!rec.schemaValid) throw paramError(rec.schemaErrors);
      const handler = handlers[match.key];
      if (!handler) throw new SimError(501, `Method '${method} ${path}' not implemented`);
      const data = handler({ authId: auth.authId, params: allParams, info: match.info });
      if (data && typeof data === 'object' && '__total' in data) {
        const d = data as { __total: number; data: unknown };
        return reply(200, 'OK', { data: d.data, total: d.__total });
      }
      return reply(200, 'OK', { data: data === undefined ? null : data });
    } catch (err) {
      if (err instanceof SimError) return fail(err);
      return fail(new SimError(500, err instanceof Error ? err.message : String(err)));
    }
  }

  const server: Server = createHttpsServer({ key: pki.keyPem, cert: pki.certPem }, (req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) send(res, 500, String(err), { data: null, message: `${String(err)}\n` });
    });
  });
  server.on('connection', () => {
    connections++;
  });
  server.on('secureConnection', () => {
    tlsHandshakes++;
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  // SSH: answer with a banner once a running container has 127.0.0.1; before that, drop the connection.
  let sshServer: NetServer | undefined;
  const sockets = new Set<Socket>();
  let sshPort = 0;
  if (opts.ssh !== false) {
    sshServer = createNetServer((sock) => {
      sockets.add(sock);
      sock.on('close', () => sockets.delete(sock));
      sock.on('error', () => undefined);
      const ready = [...state.guests.values()].some((g) => g.type === 'lxc' && addressOf(g)?.startsWith('127.0.0.1/'));
      if (!ready) {
        sock.destroy();
        return;
      }
      sock.end('SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u7\r\n');
    });
    await new Promise<void>((resolve) => sshServer?.listen(0, '127.0.0.1', resolve));
    sshPort = (sshServer.address() as AddressInfo).port;
  }

  return {
    url: `https://127.0.0.1:${port}`,
    port,
    fingerprint: { cert: pki.certSha256, spki: pki.spkiSha256 },
    caPem: pki.caPem,
    caFile: pki.caFile,
    sshPort,
    schema,
    state,
    requests,
    get connections() {
      return connections;
    },
    get tlsHandshakes() {
      return tlsHandshakes;
    },
    invalidRequests: () => requests.filter((r) => !r.schemaValid),
    close: async () => {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      for (const s of sockets) s.destroy();
      server.closeAllConnections();
      await Promise.all([
        new Promise<void>((r) => server.close(() => r())),
        sshServer ? new Promise<void>((r) => sshServer?.close(() => r())) : Promise.resolve(),
      ]);
      if (ownPki) pki.cleanup();
    },
  };
}

/** Proxmox's own OUI (BC:24:11) plus the vmid, so addresses are stable in tests. */
function macFor(vmid: number): string {
  const h = vmid.toString(16).padStart(6, '0').slice(-6).toUpperCase();
  return `BC:24:11:${h.slice(0, 2)}:${h.slice(2, 4)}:${h.slice(4, 6)}`;
}
