/**
 * `fleetmon discover`: a Proxmox cluster's nodes and guests with their addresses, as fleet.yml host entries — for a
 * fleet that lives on Proxmox. Containers report their interfaces (PVE 8.1+); VMs only through the QEMU guest
 * agent, where it runs. A guest without a known address is listed without one, and left out of a written file.
 */
import { stringify } from 'yaml';
import { cleanHostName } from '../core/names.js';
import { eth0Ipv4 } from '../lxc/apply.js';
import type { PveAgentInterface, PveClient } from '../lxc/proxmox/client.js';
import { FLEETMON_TAG, IPV4_RE, splitTags } from '../lxc/spec.js';

export interface DiscoveredGuest {
  vmid: number;
  type: 'lxc' | 'qemu';
  node: string;
  name: string;
  status: string;
  address?: string;
  /** Where the address came from, or why there is none. */
  source: 'interfaces' | 'guest-agent' | 'none';
  detail?: string;
  /** The container fleetmon made for itself (carries the tag): never a fleet host. */
  monitor: boolean;
}

export interface DiscoverResult {
  nodes: { node: string; status: string }[];
  guests: DiscoveredGuest[];
  /** fleet.yml host entries for the guests with an address. */
  hosts: { name: string; address: string }[];
}

/** The first IPv4 the guest agent reports on an interface other than loopback. */
export function agentIpv4(ifaces: PveAgentInterface[]): string | undefined {
  for (const i of ifaces) {
    if (i.name === 'lo') continue;
    for (const a of i['ip-addresses'] ?? []) {
      if (a['ip-address-type'] === 'ipv4' && IPV4_RE.test(a['ip-address']) && !a['ip-address'].startsWith('127.') && !a['ip-address'].startsWith('169.254.')) return a['ip-address'];
    }
  }
  return undefined;
}

export async function discover(client: PveClient): Promise<DiscoverResult> {
  const nodes = (await client.nodes()).map((n) => ({ node: n.node, status: n.status })).sort((a, b) => a.node.localeCompare(b.node));
  const vms = (await client.resources('vm')).filter((r) => (r.type === 'lxc' || r.type === 'qemu') && r.vmid !== undefined && r.node && r.template !== 1);
  const guests: DiscoveredGuest[] = [];
  for (const r of vms.sort((a, b) => (a.vmid ?? 0) - (b.vmid ?? 0))) {
    const g: DiscoveredGuest = {
      vmid: r.vmid!, type: r.type as 'lxc' | 'qemu', node: r.node!, name: r.name ?? `guest-${r.vmid}`, status: r.status ?? 'unknown',
      source: 'none', monitor: r.type === 'lxc' && splitTags(r.tags).includes(FLEETMON_TAG),
    };
    if (g.status !== 'running') g.detail = g.status;
    else if (g.type === 'lxc') {
      try {
        const a = eth0Ipv4(await client.lxcInterfaces(g.node, g.vmid));
        if (a) Object.assign(g, { address: a, source: 'interfaces' });
        else g.detail = 'no IPv4 on eth0 yet';
      } catch (err) {
        g.detail = `interfaces: ${(err as Error).message}`;
      }
    } else {
      try {
        const a = agentIpv4(await client.qemuAgentInterfaces(g.node, g.vmid));
        if (a) Object.assign(g, { address: a, source: 'guest-agent' });
        else g.detail = 'the guest agent reports no IPv4';
      } catch (err) {
        g.detail = `no guest agent (${(err as Error).message.split('\n')[0]})`;
      }
    }
    guests.push(g);
  }
  const taken = new Set<string>();
  const hosts = guests
    .filter((g) => g.address && !g.monitor)
    .map((g) => {
      const base = cleanHostName(g.name, `guest-${g.vmid}`);
      let name = base;
      for (let i = 2; taken.has(name); i++) name = `${base}-${i}`;
      taken.add(name);
      return { name, address: g.address! };
    });
  return { nodes, guests, hosts };
}

/** A fleet.yml to start from: the cluster as the Proxmox target, the discovered guests as hosts. */
export function fleetFileText(url: string, d: DiscoverResult, o: { node?: string; caFile?: string; fingerprint?: string }): string {
  const doc = {
    proxmox: { url, ...(o.node ? { node: o.node } : d.nodes.length === 1 ? { node: d.nodes[0]!.node } : {}), ...(o.caFile ? { ca_file: o.caFile } : {}), ...(o.fingerprint ? { fingerprint: o.fingerprint } : {}) },
    container: { hostname: 'fleetmon', memory: 1024 },
    monitor: { port: 8080 },
    hosts: d.hosts.map((h) => ({ ...h, admin: 'root', gpu: null })),
  };
  return `# fleet.yml written by \`fleetmon discover\`: check the hosts, then \`fleetmon plan -f fleet.yml\`.\n${stringify(doc, { lineWidth: 0 })}`;
}
