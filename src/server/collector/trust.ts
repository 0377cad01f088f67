/**
 * Which host keys the collector accepts. A key pinned in the config (host_key) must match; otherwise, with
 * ssh.known_hosts set, a key that file lists for the host; otherwise the key recorded on first use must; otherwise (trust on first use) the first key seen is recorded and accepted, unless
 * ssh.accept_unknown_host_keys accepts any key without recording it.
 */
import type { Logger } from 'pino';
import type { HostConfig } from '../../core/config.js';
import type { HostKeyPolicy } from './transport.js';

/** Where keys seen on first use are kept (the store's HostKeyRepository). */
export interface KnownHostKeys {
  find(host: string): { fingerprint: string; keyType: string } | undefined;
  remember(host: string, fingerprint: string, keyType: string, now: number): void;
}

export interface TrustOptions {
  known: KnownHostKeys;
  /** ssh.known_hosts, read: it replaces trust on first use for every host without a host_key. */
  knownHosts?: { path: string; text: string } | null;
  acceptUnknown: boolean;
  now: () => number;
  log: Logger;
}

export function hostKeyPolicy(h: HostConfig, opts: TrustOptions): HostKeyPolicy {
  const { known, log } = opts;
  return {
    // host_key, else known_hosts (when configured it is the whole truth: no key recorded on first use counts), else
    // the key recorded on first use.
    pinned: h.host_key ?? (opts.knownHosts ? null : known.find(h.name)?.fingerprint ?? null),
    knownHosts: h.host_key ? null : opts.knownHosts ?? null,
    onUnpinned: (fingerprint, keyType) => {
      if (opts.acceptUnknown) return true;
      // Trust on first use: the first key seen is recorded and every later connection must present it.
      const seen = known.find(h.name);
      if (seen) return seen.fingerprint === fingerprint;
      known.remember(h.name, fingerprint, keyType, opts.now());
      log.warn({ host: h.name, fingerprint }, 'host key recorded on first use; pin it with host_key in the config');
      return true;
    },
  };
}
