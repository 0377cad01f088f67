/** How the collector reaches each configured host: the local transport, or SSH with the host-key policy. */
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { FleetConfig, HostConfig } from '../../core/config.js';
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
}

export function transportFactory(opts: TransportFactoryOptions): (h: HostConfig) => Transport {
  const { config } = opts;
  const probe = opts.probe ?? readFileSync(probeScriptPath, 'utf8');
  const trust = { known: opts.known, acceptUnknown: config.ssh.accept_unknown_host_keys, now: opts.now, log: opts.log };
  return (h) => {
    if (h.transport === 'local') return new LocalTransport(probe);
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
