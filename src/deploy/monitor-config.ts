/**
 * The monitor's hosts.yml as fleet.yml wants it, pure: the current file (comments, the local entry and any setting
 * fleet.yml does not speak of are kept) with the fleet's hosts, their pins, the port, TLS, polling interval, alert
 * thresholds and notification channels set. The hosts fleetmon manages are the entries with `gate: true` (keys deploy
 * writes it with the pin); those fleet.yml no longer lists are the ones to revoke.
 */
import { isDeepStrictEqual } from 'node:util';
import { isMap, isScalar, isSeq, parseDocument, type YAMLMap } from 'yaml';
import { parseConfigText, type FleetConfig } from '../core/config.js';
import type { FleetFile } from './fleet-file.js';

export interface ManagedHost {
  name: string;
  address: string;
  port: number;
  hostKey?: string;
}

export interface ConfigChange {
  key: string;
  current: string;
  wanted: string;
}

/** The entries keys deploy made (gate: true, reached over SSH), as the current file lists them. */
export function managedHosts(config: FleetConfig): ManagedHost[] {
  return config.hosts
    .filter((h) => h.gate === true && h.transport !== 'local')
    .map((h) => ({ name: h.name, address: h.address, port: h.port ?? config.ssh.port, ...(h.host_key ? { hostKey: h.host_key } : {}) }));
}

const sameTarget = (a: { address: string; port: number }, b: { address: string; port: number }) => a.address === b.address && a.port === b.port;

/**
 * The file fleet.yml wants, from the current text. `pins` are the host keys seen per `address:port` (from the
 * hosts themselves); a host without a pin yet keeps the one the file has.
 */
export function desiredMonitorConfig(
  currentText: string,
  fleet: FleetFile,
  pins: Map<string, string>,
  o: { fileName?: string; leaveAlone?: Set<string> } = {},
): string {
  const fileName = o.fileName ?? 'hosts.yml';
  // `address:port` of hosts whose entry stays as it is (their deploy failed: not added, not changed, not removed).
  const leaveAlone = o.leaveAlone ?? new Set<string>();
  const current = parseConfigText(currentText, fileName);
  const doc = parseDocument(currentText);
  if (doc.contents === null) doc.contents = doc.createNode({}) as never;
  const m = fleet.monitor;
  const setIfDiffers = (path: string[], value: unknown, now: unknown) => {
    if (!isDeepStrictEqual(now, value)) doc.setIn(path, doc.createNode(value));
  };
  setIfDiffers(['polling_interval_seconds'], m.polling_interval_seconds, current.polling_interval_seconds);
  setIfDiffers(['server', 'port'], m.port, current.server.port);
  setIfDiffers(['ssh', 'user'], fleet.keys.account, current.ssh.user);
  const tls = m.tls === 'self-signed' ? 'self-signed' : null;
  // Own certificate files set by hand count as TLS on: fleet.yml's `tls: self-signed` does not replace them.
  const tlsNow = current.server.tls !== null && typeof current.server.tls === 'object' && m.tls === 'self-signed' ? 'self-signed' : current.server.tls;
  if (tlsNow !== tls) {
    if (tls === null) doc.deleteIn(['server', 'tls']);
    else doc.setIn(['server', 'tls'], tls);
  }
  for (const [k, v] of Object.entries(m.alerts)) setIfDiffers(['alerts', k], v, (current.alerts as Record<string, unknown>)[k]);
  if (!isDeepStrictEqual(normalChannels(current.notifications.channels), normalChannels(m.notifications.channels))) {
    doc.setIn(['notifications', 'channels'], doc.createNode(m.notifications.channels));
  }
  for (const [k, v] of Object.entries(m.notifications)) {
    if (k !== 'channels') setIfDiffers(['notifications', k], v, (current.notifications as Record<string, unknown>)[k]);
  }

  const hosts = doc.get('hosts', true);
  const seq = isSeq(hosts) ? hosts : (doc.set('hosts', doc.createNode([])), doc.get('hosts', true));
  if (!isSeq(seq)) throw new Error('unreachable: hosts is a list');
  const defaultPort = current.ssh.port;
  const entries = () => seq.items.filter((i): i is YAMLMap => isMap(i));
  const scalar = (map: YAMLMap, key: string): unknown => {
    const v = map.get(key, true);
    return isScalar(v) ? v.value : v;
  };
  const entryTarget = (e: YAMLMap) => ({ address: String(scalar(e, 'address')), port: typeof scalar(e, 'port') === 'number' ? (scalar(e, 'port') as number) : defaultPort });
  // Removed: managed entries fleet.yml no longer lists.
  seq.items = seq.items.filter((i) => {
    if (!isMap(i) || scalar(i, 'gate') !== true || scalar(i, 'transport') === 'local') return true;
    return fleet.hosts.some((h) => sameTarget(h, entryTarget(i)));
  });
  const flow = entries()[0]?.flow ?? true;
  for (const h of fleet.hosts) {
    if (leaveAlone.has(`${h.address}:${h.port}`)) continue;
    const pin = pins.get(`${h.address}:${h.port}`);
    let entry = entries().find((e) => sameTarget(h, entryTarget(e))) ?? entries().find((e) => scalar(e, 'name') === h.name);
    if (!entry) {
      entry = doc.createNode({ name: h.name, address: h.address }) as YAMLMap;
      entry.flow = flow;
      seq.items.push(entry);
    }
    const set = (k: string, v: unknown) => {
      if (scalar(entry, k) !== v) entry.set(k, v);
    };
    set('name', h.name);
    set('address', h.address);
    if (h.port !== defaultPort) set('port', h.port);
    else if (entry.has('port')) entry.delete('port');
    set('has_gpu', h.gpu);
    set('gate', true);
    if (pin) set('host_key', pin);
  }
  const out = doc.toString({ lineWidth: 0 });
  if (out === currentText) return currentText;
  // Same meaning, other spelling (a re-serialised comment, quotes): keep the user's file as it is.
  if (isDeepStrictEqual(parseConfigText(out, fileName), current)) return currentText;
  parseConfigText(out, fileName); // never write a file the server would refuse
  return out;
}

function normalChannels(channels: unknown[]): unknown {
  return JSON.parse(JSON.stringify(channels)) as unknown;
}

/**
 * What differs between two hosts.yml texts, as keys a person can read (`alerts.gpu_temp_warning`, `hosts: + gpu3`).
 * Notification channels are shown by name only: their URLs and settings may hold keys (hosts.yml's errors never
 * echo them either).
 */
export function diffMonitorConfig(currentText: string, wantedText: string): ConfigChange[] {
  if (currentText === wantedText) return [];
  const a = parseConfigText(currentText, 'hosts.yml (current)');
  const b = parseConfigText(wantedText, 'hosts.yml (wanted)');
  const out: ConfigChange[] = [];
  const show = (v: unknown) => (v === undefined ? '(unset)' : typeof v === 'string' ? v : JSON.stringify(v));
  const names = (v: unknown) => (Array.isArray(v) ? v.map((c) => String((c as { name?: unknown }).name)).join(', ') || '(none)' : '(none)');
  const walk = (x: unknown, y: unknown, path: string) => {
    if (isDeepStrictEqual(x, y)) return;
    if (path === 'notifications.channels') {
      out.push({ key: path, current: names(x), wanted: names(y) === names(x) ? `${names(y)} (settings differ)` : names(y) });
      return;
    }
    if (x && y && typeof x === 'object' && typeof y === 'object' && !Array.isArray(x) && !Array.isArray(y)) {
      for (const k of new Set([...Object.keys(x), ...Object.keys(y)])) walk((x as Record<string, unknown>)[k], (y as Record<string, unknown>)[k], path ? `${path}.${k}` : k);
      return;
    }
    out.push({ key: path, current: show(x), wanted: show(y) });
  };
  const { hosts: ha, ...restA } = a;
  const { hosts: hb, ...restB } = b;
  walk(restA, restB, '');
  for (const h of ha) if (!hb.some((x) => x.name === h.name)) out.push({ key: `hosts: - ${h.name}`, current: `${h.address}:${h.port ?? a.ssh.port}`, wanted: '(removed)' });
  for (const h of hb) {
    const old = ha.find((x) => x.name === h.name);
    if (!old) out.push({ key: `hosts: + ${h.name}`, current: '(absent)', wanted: `${h.address}:${h.port ?? b.ssh.port}` });
    else walk(old, h, `hosts[${h.name}]`);
  }
  return out;
}
