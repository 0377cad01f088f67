/**
 * Alerts the server raises about itself rather than about a polled host (types in SERVER_ALERT_TYPES): pure
 * builders of the condition, which start.ts writes once. Their `host` is SERVER_ALERT_HOST, which no configured
 * host can be named (host names are letters, digits, dots, dashes and underscores).
 */
import type { FleetConfig } from '../../core/config.js';
import { conditionKey, SEVERITY, type Condition } from './evaluate.js';

export const SERVER_ALERT_HOST = '(server)';

/** Which SSH hosts keep a pin in the configuration, and which relied on keys recorded on first use in the database. */
export function pinsAfterLosingRecordedKeys(config: FleetConfig, recovered: readonly string[] = []): { stillPinned: string[]; recovered: string[]; relearned: string[] } {
  const ssh = config.hosts.filter((h) => h.transport !== 'local');
  if (config.ssh.known_hosts || config.ssh.accept_unknown_host_keys) return { stillPinned: ssh.map((h) => h.name), recovered: [], relearned: [] };
  const unpinned = ssh.filter((h) => !h.host_key).map((h) => h.name);
  return {
    stillPinned: ssh.filter((h) => h.host_key).map((h) => h.name),
    recovered: unpinned.filter((n) => recovered.includes(n)),
    relearned: unpinned.filter((n) => !recovered.includes(n)),
  };
}

/** The database failed its integrity check and was renamed: where it went, and what that means for host keys. */
export function databaseMovedAside(path: string, movedTo: string, config: FleetConfig, recoveredKeys: readonly string[] = []): Condition {
  const { stillPinned, recovered, relearned } = pinsAfterLosingRecordedKeys(config, recoveredKeys);
  const back = recovered.length ? ` The host keys recorded on first use of ${recovered.join(', ')} were read back from it and stay pinned.` : '';
  const keys = relearned.length
    ? ` The host keys recorded on first use${recovered.length ? ' of the others' : ''} were lost with it: ${relearned.join(', ')} will trust the next key they present and record it again;` +
      ` check each fingerprint on the host's console (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub) and pin it with host_key in hosts.yml.`
    : recovered.length ? '' : ' The host keys recorded on first use were lost with it; no host depends on them.';
  const pinned = stillPinned.length ? ` Still pinned by the configuration (host_key or ssh.known_hosts): ${stillPinned.join(', ')}.` : '';
  return {
    conditionKey: conditionKey('database_moved_aside', SERVER_ALERT_HOST, movedTo),
    type: 'database_moved_aside',
    severity: SEVERITY.database_moved_aside,
    host: SERVER_ALERT_HOST,
    session: null,
    gpuIndex: null,
    message:
      `the database ${path} failed its integrity check and was moved aside to ${movedTo} (history, audit and acknowledgements are in that file); ` +
      `fleetmon started with a new, empty one.${back}${keys}${pinned}`,
    value: null,
    threshold: null,
  };
}
