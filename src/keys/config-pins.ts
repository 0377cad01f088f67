/**
 * Records host key pins in a fleetmon hosts.yml with the `yaml` Document API, so the user's comments, ordering
 * and flow/block style survive: each deployed host gets `host_key: SHA256:…` and `gate: true` on its entry (found by
 * address and port, or by name), or a new entry when it has none. The result is re-validated with the config schema.
 */
import { isMap, isScalar, isSeq, parseDocument, type Document, type YAMLMap, type YAMLSeq } from 'yaml';
import { parseConfigText } from '../core/config.js';
import { FleetmonError } from '../core/errors.js';
import { cleanHostName } from '../core/names.js';

export interface HostPin {
  /** The address as given on the command line (matched against `address`, then `name`). */
  address: string;
  port: number;
  fingerprint: string;
}

export interface PinChange {
  address: string;
  name: string;
  action: 'added' | 'updated' | 'unchanged';
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

function scalar(map: YAMLMap, key: string): unknown {
  const v = map.get(key, true);
  return isScalar(v) ? v.value : v;
}

function hostsSeq(doc: Document): YAMLSeq {
  let hosts = doc.get('hosts', true);
  if (hosts === undefined || hosts === null || (isScalar(hosts) && hosts.value === null)) {
    doc.set('hosts', doc.createNode([]));
    hosts = doc.get('hosts', true);
  }
  if (!isSeq(hosts)) throw new FleetmonError('CONFIG_INVALID', "'hosts' is not a list", { kind: 'config' });
  return hosts;
}

/** The configured host key pin for an address, if the file has one (so deploy can refuse a changed key). */
export function findPin(text: string, address: string, port: number, defaultPort = 22): string | undefined {
  const doc = parseDocument(text);
  const hosts = doc.get('hosts', true);
  if (!isSeq(hosts)) return undefined;
  const entry = findEntry(hosts, address, port, sshPort(doc, defaultPort));
  const pin = entry ? scalar(entry, 'host_key') : undefined;
  return typeof pin === 'string' ? pin : undefined;
}

function sshPort(doc: Document, fallback: number): number {
  const p = doc.getIn(['ssh', 'port']);
  return typeof p === 'number' ? p : fallback;
}

function findEntry(hosts: YAMLSeq, address: string, port: number, defaultPort: number): YAMLMap | undefined {
  const maps = hosts.items.filter((i): i is YAMLMap => isMap(i));
  const portOf = (m: YAMLMap) => {
    const p = scalar(m, 'port');
    return typeof p === 'number' ? p : defaultPort;
  };
  return (
    maps.find((m) => scalar(m, 'address') === address && portOf(m) === port) ??
    maps.find((m) => scalar(m, 'name') === address && portOf(m) === port)
  );
}

function uniqueName(hosts: YAMLSeq, address: string): string {
  const taken = new Set(hosts.items.filter(isMap).map((m) => String(scalar(m as YAMLMap, 'name'))));
  let base = cleanHostName(address, 'host');
  if (!NAME_RE.test(base)) base = 'host';
  let name = base;
  for (let i = 2; taken.has(name); i++) name = `${base}-${i}`;
  return name;
}

/** Returns the updated file text and what changed per host. The text is unchanged when nothing needed to. */
export function recordPins(text: string, pins: HostPin[], fileName = 'hosts.yml'): { text: string; changes: PinChange[] } {
  const doc = parseDocument(text);
  if (doc.errors.length > 0) {
    throw new FleetmonError('CONFIG_SYNTAX', `${fileName}: invalid YAML: ${doc.errors[0]!.message.split('\n')[0]}`, { kind: 'config' });
  }
  if (doc.contents === null) doc.contents = doc.createNode({}) as never;
  const hosts = hostsSeq(doc);
  const defaultPort = sshPort(doc, 22);
  const changes: PinChange[] = [];
  for (const pin of pins) {
    const entry = findEntry(hosts, pin.address, pin.port, defaultPort);
    if (entry) {
      const same = scalar(entry, 'host_key') === pin.fingerprint && scalar(entry, 'gate') === true;
      if (!same) {
        entry.set('host_key', pin.fingerprint);
        entry.set('gate', true);
      }
      changes.push({ address: pin.address, name: String(scalar(entry, 'name')), action: same ? 'unchanged' : 'updated' });
      continue;
    }
    const name = uniqueName(hosts, pin.address);
    const value: Record<string, unknown> = { name, address: pin.address };
    if (pin.port !== defaultPort) value.port = pin.port;
    value.gate = true;
    value.host_key = pin.fingerprint;
    const node = doc.createNode(value) as YAMLMap;
    // Match the list's style: the seed writes one flow mapping per host.
    const first = hosts.items.find(isMap) as YAMLMap | undefined;
    node.flow = first ? Boolean(first.flow) : false;
    hosts.items.push(node);
    changes.push({ address: pin.address, name, action: 'added' });
  }
  if (changes.every((c) => c.action === 'unchanged')) return { text, changes };
  const out = doc.toString({ lineWidth: 0 });
  parseConfigText(out, fileName); // never write a file the server would refuse
  return { text: out, changes };
}
