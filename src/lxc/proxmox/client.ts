/**
 * fleetmon's Proxmox VE client: `proxmox-api`'s typed path builder over our transport (structured errors, no blind
 * retries) and TLS dispatcher (CA, pin or --insecure). Only the calls fleetmon needs, each returning a narrow type;
 * where the library's generated types are wrong about the wire (nextid is a string, /interfaces may be null) the
 * methods normalise. Every method here is listed in test/pve/extract-schema.ts so the simulator can check it.
 */
import proxmoxApi, { type Proxmox } from 'proxmox-api';
import type { Agent } from 'undici';
import { FleetmonError } from '../../core/errors.js';
import type { TaskApi, TaskStatus } from './tasks.js';
import { readCaFile } from '../../core/tls-pin.js';
import { createPveDispatcher, parseFingerprint, type Fingerprints } from './tls.js';
import { PveTransport, type FetchLike, type TransportOptions } from './transport.js';

export interface PveVersion {
  version: string;
  release: string;
  repoid?: string;
}

export interface PveNodeInfo {
  node: string;
  status: string;
}

export interface PveResource {
  id: string;
  type: string;
  vmid?: number;
  node?: string;
  name?: string;
  status?: string;
  tags?: string;
  lock?: string;
  pool?: string;
  template?: number;
}

export interface PveStorage {
  storage: string;
  type: string;
  content: string;
  active?: number | boolean;
  enabled?: number | boolean;
}

export interface PveVolume {
  volid: string;
  content?: string;
}

export interface PveInterface {
  name: string;
  hwaddr?: string;
  inet?: string;
  inet6?: string;
  'ip-addresses'?: { 'ip-address'?: string; 'ip-address-type'?: string; prefix?: number }[];
}

/** One interface as the QEMU guest agent reports it. */
export interface PveAgentInterface {
  name: string;
  'hardware-address'?: string;
  'ip-addresses'?: { 'ip-address': string; 'ip-address-type': 'ipv4' | 'ipv6'; prefix?: number }[];
}

export type PveLxcConfig = Record<string, string | number | undefined> & { digest?: string; lock?: string };

export interface PveLxcStatus {
  status: string;
  lock?: string;
  name?: string;
}

/** The body of POST /nodes/{node}/lxc as fleetmon sends it (see lxc.ts `createParams`). */
export type LxcCreateParams = Record<string, string | number>;

export class PveClient implements TaskApi {
  readonly api: Proxmox.Api;

  constructor(
    readonly transport: PveTransport,
    private readonly dispatcher?: Agent,
  ) {
    this.api = proxmoxApi(transport);
  }

  version(): Promise<PveVersion> {
    return this.api.version.$get() as Promise<PveVersion>;
  }

  async nodes(): Promise<PveNodeInfo[]> {
    return (await this.api.nodes.$get()) as PveNodeInfo[];
  }

  /** The server sends the number as a JSON string (Perl); the library types it as a number. Accept both. */
  async nextId(vmid?: number): Promise<number> {
    const raw: unknown = await this.api.cluster.nextid.$get(vmid === undefined ? undefined : { vmid });
    const n = Number(raw);
    if (!Number.isInteger(n)) throw new FleetmonError('PVE_BAD_NEXTID', `/cluster/nextid returned ${JSON.stringify(raw)}`, { kind: 'proxmox' });
    return n;
  }

  async resources(type?: 'vm' | 'storage' | 'node'): Promise<PveResource[]> {
    return (await this.api.cluster.resources.$get(type ? { type } : undefined)) as PveResource[];
  }

  /** Effective privileges of the calling token on one ACL path (inheritance and pools applied by the server). */
  async privilegesAt(path: string): Promise<string[]> {
    const data = (await this.api.access.permissions.$get({ path })) as Record<string, Record<string, number>> | null;
    return Object.keys(data?.[path] ?? {});
  }

  async pools(): Promise<string[]> {
    const data = (await this.api.pools.$get()) as { poolid: string }[];
    return data.map((p) => p.poolid);
  }

  async storages(node: string): Promise<PveStorage[]> {
    return (await this.api.nodes.$(node).storage.$get()) as PveStorage[];
  }

  async storageContent(node: string, storage: string, content?: string): Promise<PveVolume[]> {
    return (await this.api.nodes.$(node).storage.$(storage).content.$get(content ? { content } : undefined)) as PveVolume[];
  }

  async bridges(node: string): Promise<string[]> {
    const data = (await this.api.nodes.$(node).network.$get({ type: 'any_bridge' })) as { iface: string }[];
    return data.map((i) => i.iface);
  }

  async aplinfo(node: string): Promise<{ template: string; package?: string; version?: string; type?: string }[]> {
    return (await this.api.nodes.$(node).aplinfo.$get()) as { template: string }[];
  }

  downloadTemplate(node: string, storage: string, template: string): Promise<string> {
    return this.api.nodes.$(node).aplinfo.$post({ storage, template });
  }

  createLxc(node: string, params: LxcCreateParams): Promise<string> {
    // Our params are checked against the server's schema in tests; the generated type (PVE 8.1) is older than both.
    type CreateParams = Parameters<ReturnType<Proxmox.Api['nodes']['$']>['lxc']['$post']>[0];
    return this.api.nodes.$(node).lxc.$post(params as unknown as CreateParams);
  }

  async lxcConfig(node: string, vmid: number): Promise<PveLxcConfig> {
    return (await this.api.nodes.$(node).lxc.$(vmid).config.$get()) as PveLxcConfig;
  }

  async updateLxcConfig(node: string, vmid: number, params: Record<string, string | number>): Promise<void> {
    await this.api.nodes.$(node).lxc.$(vmid).config.$put(params);
  }

  resizeLxcDisk(node: string, vmid: number, disk: string, size: string): Promise<string> {
    return this.api.nodes.$(node).lxc.$(vmid).resize.$put({ disk: disk as 'rootfs', size }) as Promise<string>;
  }

  async lxcStatus(node: string, vmid: number): Promise<PveLxcStatus> {
    return (await this.api.nodes.$(node).lxc.$(vmid).status.current.$get()) as PveLxcStatus;
  }

  startLxc(node: string, vmid: number): Promise<string> {
    return this.api.nodes.$(node).lxc.$(vmid).status.start.$post();
  }

  stopLxc(node: string, vmid: number): Promise<string> {
    return this.api.nodes.$(node).lxc.$(vmid).status.stop.$post();
  }

  /** `purge` also drops it from pools, replication and HA; unreferenced disks go with it. */
  deleteLxc(node: string, vmid: number): Promise<string> {
    return this.api.nodes.$(node).lxc.$(vmid).$delete({ purge: true, 'destroy-unreferenced-disks': true });
  }

  /** PVE 8.1+. Null while the container is stopped. */
  async lxcInterfaces(node: string, vmid: number): Promise<PveInterface[] | null> {
    return ((await this.api.nodes.$(node).lxc.$(vmid).interfaces.$get()) as PveInterface[] | null) ?? null;
  }

  /**
   * A QEMU VM's interfaces from its guest agent (`network-get-interfaces`); the server answers an error when the
   * agent is not configured or not running, which the caller treats as "no address known".
   */
  async qemuAgentInterfaces(node: string, vmid: number): Promise<PveAgentInterface[]> {
    const raw = (await this.api.nodes.$(node).qemu.$(vmid).agent['network-get-interfaces'].$get()) as { result?: PveAgentInterface[] } | null;
    return raw?.result ?? [];
  }

  async taskStatus(node: string, upid: string): Promise<TaskStatus> {
    return (await this.api.nodes.$(node).tasks.$(upid).status.$get()) as TaskStatus;
  }

  /** Uses the transport directly: the line count (`total`) is outside `data`, which the library drops. */
  async taskLog(node: string, upid: string, start: number, limit: number): Promise<{ lines: string[]; total: number }> {
    const env = await this.transport.request<{ n: number; t: string }[]>(
      'GET',
      `/nodes/${encodeURIComponent(node)}/tasks/${encodeURIComponent(upid)}/log`,
      { start, limit },
    );
    const lines = (env.data ?? []).map((l) => l.t);
    return { lines, total: env.total ?? start + lines.length };
  }

  async close(): Promise<void> {
    await this.dispatcher?.close();
  }
}

export interface PveConnectOptions {
  /** `https://pve1:8006`, `pve1:8006` or `pve1` (port 8006 by default). */
  url: string;
  /** `USER@REALM!TOKENID=SECRET` */
  token: string;
  caFile?: string;
  fingerprint?: string;
  insecure?: boolean;
  warn?: (message: string) => void;
  fetch?: FetchLike;
  timeoutMs?: number;
  onRequest?: TransportOptions['onRequest'];
}

/** Parses `--proxmox`. The API is HTTPS only; the port defaults to 8006 (proxmox-api's own engine has no default). */
export function parseProxmoxUrl(text: string): URL {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `https://${text}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new FleetmonError('BAD_PVE_URL', `--proxmox ${JSON.stringify(text)} is not a URL`, {
      kind: 'usage',
      suggestions: ['e.g. --proxmox https://pve1:8006'],
    });
  }
  if (url.protocol !== 'https:') {
    throw new FleetmonError('BAD_PVE_URL', `--proxmox must use https:// (Proxmox VE serves its API only over TLS), got ${url.protocol}`, {
      kind: 'usage',
    });
  }
  if (url.username || url.password) {
    throw new FleetmonError('BAD_PVE_URL', '--proxmox must not contain credentials; use --token', { kind: 'usage' });
  }
  if (!url.port) url.port = '8006';
  const path = url.pathname.replace(/\/+$/, '');
  if (path !== '' && path !== '/api2/json') {
    throw new FleetmonError('BAD_PVE_URL', `--proxmox takes the node's address (https://HOST:8006), not a path (${url.pathname})`, { kind: 'usage' });
  }
  return new URL(`${url.protocol}//${url.host}`);
}

export function parseToken(text: string): { tokenId: string; secret: string } {
  const t = text.trim().replace(/^PVEAPIToken=/, '');
  const m = /^([^\s@!=]+@[^\s@!=]+![A-Za-z][A-Za-z0-9._-]*)=(\S+)$/.exec(t);
  if (!m?.[1] || !m[2]) {
    throw new FleetmonError('BAD_PVE_TOKEN', 'the API token must look like USER@REALM!TOKENID=SECRET', {
      kind: 'usage',
      suggestions: [
        "create one under Datacenter → Permissions → API Tokens and pass it as --token 'fleetmon@pve!fleetmon=SECRET'",
        'prefer FLEETMON_PVE_TOKEN to --token so the secret does not show in the process list',
      ],
    });
  }
  return { tokenId: m[1], secret: m[2] };
}

export function connectPve(opts: PveConnectOptions): PveClient {
  const baseUrl = parseProxmoxUrl(opts.url);
  const { tokenId, secret } = parseToken(opts.token);
  const caPem = opts.caFile ? readCaFile(opts.caFile, 'PVE_CA_FILE') : undefined;
  const pin = opts.fingerprint ? parseFingerprint(opts.fingerprint) : undefined;
  if (opts.insecure && !pin && !caPem) {
    opts.warn?.(
      "--insecure: the Proxmox server's certificate is NOT verified. Anyone on the network path can impersonate it and " +
        'read your API token. Use --fingerprint or --ca-file instead.',
    );
  }
  let warnedPeer = false;
  const dispatcher = createPveDispatcher({
    caPem,
    pin,
    insecure: opts.insecure && !pin && !caPem,
    onInsecurePeer: (fp: Fingerprints) => {
      if (warnedPeer) return;
      warnedPeer = true;
      opts.warn?.(`--insecure: the server presented public key sha256//${fp.spki}; if that is your node, pin it with --fingerprint sha256//${fp.spki}`);
    },
  });
  const transport = new PveTransport({
    baseUrl,
    tokenId,
    tokenSecret: secret,
    dispatcher,
    fetch: opts.fetch,
    timeoutMs: opts.timeoutMs,
    onRequest: opts.onRequest,
  });
  return new PveClient(transport, dispatcher);
}
