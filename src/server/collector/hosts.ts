/** How the collector reaches each configured host: the local transport, or SSH with the host-key policy. */
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { FleetConfig, HostConfig } from '../../core/config.js';
import { FleetmonError, errorMessage } from '../../core/errors.js';
import { probeScriptPath } from '../../paths.js';
import { sshUserOf } from './poller.js';
import { LocalTransport, SshTransport, type Transport } from './transport.js';
import { hostKeyPolicy, type KnownHostKeys } from './trust.js';

export interface TransportFactoryOptions {
  config: FleetConfig;
  known: KnownHostKeys;
  now: () => number;
  log: Logger;
  /** The probe script (default: the packaged probe.sh). */
  probe?: string;
  /** Local hosts list every user's tmux sessions when the server runs as root (serve without a configuration). */
  localAllUsers?: boolean;
}

/** Read once at start: a missing file is a configuration error now, not a refusal of every host later. */
function readKnownHosts(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new FleetmonError('KNOWN_HOSTS_UNREADABLE', `cannot read ssh.known_hosts ${path}: ${errorMessage(err)}`, {
      kind: 'config',
      suggestions: ['point ssh.known_hosts at an OpenSSH known_hosts file (ssh-keyscan HOST >> FILE), or set it to null to pin per host'],
    });
  }
}

export function transportFactory(opts: TransportFactoryOptions): (h: HostConfig) => Transport {
  const { config } = opts;
  const probe = opts.probe ?? readFileSync(probeScriptPath, 'utf8');
  const knownHosts = config.ssh.known_hosts ? { path: config.ssh.known_hosts, text: readKnownHosts(config.ssh.known_hosts) } : null;
  const trust = { known: opts.known, knownHosts, acceptUnknown: config.ssh.accept_unknown_host_keys, now: opts.now, log: opts.log };
  return (h) => {
    if (h.transport === 'local') return new LocalTransport(probe, { allUsers: opts.localAllUsers === true });
    const { ssh } = config;
    return new SshTransport(
      {
        host: h.name,
        address: h.address,
        port: h.port ?? ssh.port,
        user: sshUserOf(config, h),
        keyPath: ssh.key_path,
        timeoutMs: ssh.timeout * 1000,
        gate: h.gate === true,
        hostKey: hostKeyPolicy(h, trust),
      },
      probe,
    );
  };
}
