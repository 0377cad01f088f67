/**
 * What Proxmox says before anything is planned: its version, the node, the container (found by hostname or VMID) and
 * its configuration, the token's permissions on every path a plan may need, and — when creating — storages,
 * templates, bridges and pools. A fact the token may not read is recorded, not fatal: the plan explains it.
 */
import { FleetmonError } from '../core/errors.js';
import type { PveClient, PveLxcConfig, PveNodeInfo, PveResource, PveStorage, PveVersion } from './proxmox/client.js';
import { ProxmoxApiError } from './proxmox/errors.js';
import { pathsOf, type EffectivePermissions } from './proxmox/privileges.js';
import type { AplEntry } from './proxmox/template.js';
import { createNeedsFor } from './needs.js';
import { usage, type LxcSpec } from './spec.js';

/** The seed's create-lxc.sh started numbering here. */
export const FIRST_VMID = 200;

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
  const { match, conflicts } = findContainer(vms, spec);
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

/** The container a re-run means (by VMID, else by hostname), and the guests that make it ambiguous or taken. */
function findContainer(vms: PveResource[], spec: LxcSpec): { match?: PveResource; conflicts: PveResource[] } {
  const named = vms.filter((r) => r.type === 'lxc' && r.name === spec.hostname);
  if (spec.vmid === undefined) return named.length > 1 ? { conflicts: named } : { match: named[0], conflicts: [] };
  const byId = vms.find((r) => r.vmid === spec.vmid);
  if (byId?.type === 'lxc') return { match: byId, conflicts: [] };
  // A container with this hostname under another VMID: creating a second one is not what a re-run should do.
  return { conflicts: [...(byId ? [byId] : []), ...named] };
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
