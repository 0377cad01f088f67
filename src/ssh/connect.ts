/**
 * The one way fleetmon opens an SSH connection (npm ssh2), for provisioning, keys and the collector alike:
 *  - ssh2 accepts any host key unless `hostVerifier` is set, so every connection has one, built from a trust rule:
 *    a pinned `SHA256:…`, a known_hosts file, a trust-on-first-use callback, or (explicitly) any key, recorded;
 *  - keepalive on (ssh2's default is off: keepaliveInterval 0) and a deadline on the handshake (readyTimeout),
 *    optionally a hard one on the whole attempt;
 *  - key, agent and password (also as keyboard-interactive) login; the host key type can be restricted
 *    (algorithms.serverHostKey) so a server cannot fall back to another key;
 *  - a failure is a coded FleetmonError; callers with their own error contract pass `describeFailure`.
 */
import { Client, type ConnectConfig } from 'ssh2';
import { FleetmonError, errorMessage } from '../core/errors.js';
import { hostKeyInfo, type HostKeyInfo } from './fingerprint.js';
import { lookupKnownHost } from './known-hosts.js';

export const DEFAULT_READY_TIMEOUT_MS = 15_000;
export const DEFAULT_KEEPALIVE_INTERVAL_MS = 10_000;
export const DEFAULT_KEEPALIVE_COUNT_MAX = 3;

/** Which host keys to accept. */
export type HostKeyTrust =
  /** Only this `SHA256:…` (as `ssh-keygen -lf` prints it). */
  | { kind: 'pin'; fingerprint: string }
  /** Only a key listed for the host in this known_hosts text (the file's content). */
  | { kind: 'known-hosts'; text: string }
  /** Nothing pinned: the callback decides (and records) on first use. */
  | { kind: 'tofu'; accept: (key: HostKeyInfo) => boolean }
  /** Any key (it is still recorded: `presented`). Only for a first contact whose key is shown to the user. */
  | { kind: 'accept-any' };

export interface HostKeyRefusal {
  trust: HostKeyTrust['kind'];
  /** pin: a different key; known-hosts: listed with other keys, or revoked; unknown: not listed; refused: tofu said no. */
  reason: 'mismatch' | 'revoked' | 'unknown' | 'refused';
  presented: HostKeyInfo;
  /** The fingerprints that would have been accepted, where known. */
  expected: string[];
}

export interface HostKeyVerifier {
  /** For ssh2's `hostVerifier`. */
  readonly verify: (blob: Buffer) => boolean;
  /** The key the server presented, once it got that far. */
  readonly presented: () => HostKeyInfo | undefined;
  /** Why that key was refused, when it was. */
  readonly refusal: () => HostKeyRefusal | undefined;
}

export function hostKeyVerifier(trust: HostKeyTrust, target: { host: string; port: number }): HostKeyVerifier {
  let presented: HostKeyInfo | undefined;
  let refusal: HostKeyRefusal | undefined;
  const refuse = (key: HostKeyInfo, reason: HostKeyRefusal['reason'], expected: string[] = []) => {
    refusal = { trust: trust.kind, reason, presented: key, expected };
    return false;
  };
  const verify = (blob: Buffer): boolean => {
    const key = hostKeyInfo(blob);
    presented = key;
    refusal = undefined;
    switch (trust.kind) {
      case 'pin':
        return key.fingerprint === trust.fingerprint || refuse(key, 'mismatch', [trust.fingerprint]);
      case 'known-hosts': {
        const found = lookupKnownHost(trust.text, target.host, target.port, blob);
        if (found.verdict === 'known') return true;
        if (found.verdict === 'changed') return refuse(key, 'mismatch', found.expected);
        return refuse(key, found.verdict);
      }
      case 'tofu':
        return trust.accept(key) || refuse(key, 'refused');
      case 'accept-any':
        return true;
    }
  };
  return { verify, presented: () => presented, refusal: () => refusal };
}

export interface SshConnectOptions {
  /** Address (or name) to connect to. */
  host: string;
  port?: number;
  username: string;
  privateKey?: string | Buffer;
  passphrase?: string;
  /** ssh-agent socket (SSH_AUTH_SOCK). */
  agent?: string;
  /** Password login, also answered to keyboard-interactive prompts. */
  password?: string;
  hostKey: HostKeyTrust;
  /** Host key algorithms to negotiate, e.g. only the pinned key's type. */
  hostKeyAlgorithms?: string[];
  /** ssh2's readyTimeout: the handshake and login. */
  readyTimeoutMs?: number;
  keepaliveIntervalMs?: number;
  keepaliveCountMax?: number;
  /** A hard deadline on the whole attempt, beyond readyTimeout: the client is destroyed when it passes. */
  deadlineMs?: number;
  /** Turns a failure into the caller's coded error; the default is connectFailureError. */
  describeFailure?: (failure: ConnectFailure, opts: SshConnectOptions) => FleetmonError;
}

/** Why a connection attempt failed, before it is worded. */
export type ConnectFailure =
  | { kind: 'host-key'; refusal: HostKeyRefusal; error: Error }
  | { kind: 'auth'; error: Error }
  /** ssh2's readyTimeout passed. */
  | { kind: 'timeout'; error: Error }
  /** deadlineMs passed. */
  | { kind: 'deadline' }
  | { kind: 'other'; error: Error & { code?: string } };

export interface SshConnection {
  client: Client;
  hostKey: HostKeyInfo;
}

/** The ssh2 options for a connection (pure). */
export function sshConnectConfig(opts: SshConnectOptions, hostVerifier: (blob: Buffer) => boolean): ConnectConfig {
  return {
    host: opts.host,
    port: opts.port ?? 22,
    username: opts.username,
    readyTimeout: opts.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS,
    keepaliveInterval: opts.keepaliveIntervalMs ?? DEFAULT_KEEPALIVE_INTERVAL_MS,
    keepaliveCountMax: opts.keepaliveCountMax ?? DEFAULT_KEEPALIVE_COUNT_MAX,
    tryKeyboard: opts.password !== undefined,
    hostVerifier,
    ...(opts.hostKeyAlgorithms ? { algorithms: { serverHostKey: opts.hostKeyAlgorithms as never } } : {}),
    ...(opts.privateKey !== undefined ? { privateKey: opts.privateKey } : {}),
    ...(opts.passphrase !== undefined ? { passphrase: opts.passphrase } : {}),
    ...(opts.agent ? { agent: opts.agent } : {}),
    ...(opts.password !== undefined ? { password: opts.password } : {}),
  };
}

export function classifyConnectError(err: Error & { level?: string }, refusal: HostKeyRefusal | undefined): ConnectFailure {
  if (refusal) return { kind: 'host-key', refusal, error: err };
  const msg = errorMessage(err);
  if (/authentication methods failed/i.test(msg) || err.level === 'client-authentication') return { kind: 'auth', error: err };
  if (/timed out/i.test(msg) || err.level === 'client-timeout') return { kind: 'timeout', error: err };
  return { kind: 'other', error: err };
}

/** The default wording of a failed connection. */
export function connectFailureError(f: ConnectFailure, opts: SshConnectOptions): FleetmonError {
  const where = `${opts.username}@${opts.host}:${opts.port ?? 22}`;
  switch (f.kind) {
    case 'host-key': {
      const { presented, expected, reason } = f.refusal;
      if (reason === 'mismatch' && f.refusal.trust === 'pin') {
        return new FleetmonError('HOST_KEY_MISMATCH', `${where}: host key ${presented.type} ${presented.fingerprint} does not match the pinned ${expected[0]}; not connecting`, {
          kind: 'ssh',
          suggestions: ['if the host was reinstalled on purpose, check the new key on its console (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub) and update the pin'],
        });
      }
      if (reason === 'mismatch' || reason === 'revoked') {
        const listed = reason === 'revoked' ? 'is revoked in known_hosts' : `is not the one known_hosts lists (${expected.join(', ')})`;
        return new FleetmonError('HOST_KEY_MISMATCH', `${where}: host key ${presented.type} ${presented.fingerprint} ${listed}; not connecting`, {
          kind: 'ssh',
          suggestions: ['if the host was reinstalled on purpose, check the new key on its console (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub) and update known_hosts'],
        });
      }
      return new FleetmonError('HOST_KEY_UNKNOWN', `${where}: host key ${presented.type} ${presented.fingerprint} is not trusted; not connecting`, {
        kind: 'ssh',
        suggestions: ['check the key on the host\'s console (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), then pin it or add it to known_hosts'],
      });
    }
    case 'auth':
      return new FleetmonError('SSH_AUTH_FAILED', `${where}: login refused (${errorMessage(f.error)})`, {
        kind: 'auth',
        suggestions: ['give a key with --identity, load it into ssh-agent, or enter the password when asked'],
      });
    case 'timeout':
    case 'deadline':
      return new FleetmonError('SSH_TIMEOUT', `${where}: no SSH handshake within ${Math.round((opts.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS) / 1000)} s`, {
        kind: 'timeout',
        suggestions: ['check the address and that sshd runs there'],
      });
    case 'other':
      return new FleetmonError('SSH_CONNECT_FAILED', `${where}: ${errorMessage(f.error)}`, {
        kind: 'ssh',
        suggestions: f.error.code === 'ECONNREFUSED' ? ['nothing listens on that port: is sshd running?'] : [],
        cause: f.error,
      });
  }
}

/**
 * Connects and logs in. The returned client keeps a listener for 'error' (a reset or a keepalive timeout after
 * login must not become an uncaught exception): the commands and channels that hit such an error report it.
 */
export function connectSsh(opts: SshConnectOptions): Promise<SshConnection> {
  const port = opts.port ?? 22;
  const verifier = hostKeyVerifier(opts.hostKey, { host: opts.host, port });
  const describe = opts.describeFailure ?? connectFailureError;
  const client = new Client();
  if (opts.password !== undefined) {
    client.on('keyboard-interactive', (_name, _instructions, _lang, prompts, finish) => {
      finish(prompts.map(() => opts.password!));
    });
  }
  return new Promise<SshConnection>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const settle = () => {
      clearTimeout(timer);
      client.removeListener('ready', ok);
      client.removeListener('error', fail);
      // The socket may still report a reset after this: nobody else may listen, so it must not become uncaught.
      client.on('error', () => {});
    };
    const fail = (err: Error & { level?: string }) => {
      settle();
      client.destroy();
      reject(describe(classifyConnectError(err, verifier.refusal()), opts));
    };
    const ok = () => {
      settle();
      resolve({ client, hostKey: verifier.presented()! });
    };
    if (opts.deadlineMs !== undefined) {
      timer = setTimeout(() => {
        settle();
        client.destroy();
        reject(describe({ kind: 'deadline' }, opts));
      }, opts.deadlineMs);
    }
    client.once('ready', ok);
    client.once('error', fail);
    client.connect(sshConnectConfig(opts, verifier.verify));
  });
}
