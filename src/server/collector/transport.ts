/**
 * How the poller reaches a host's probe: the local transport runs it as a child process (no SSH needed for the
 * machine fleetmon runs on); the SSH transport keeps one ssh2 connection per host with keepalive and host-key
 * pinning, and one exec channel running the probe (inline, or the installed one through the gate).
 */
import { spawn } from 'node:child_process';
import { readFileSync, existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Client, ClientChannel } from 'ssh2';
import { FleetmonError, errorMessage } from '../../core/errors.js';
import { shQuote } from '../../core/shell-quote.js';
import { ProbeChannel } from '../../protocol/probe-channel.js';
import { gateProbeCommand } from '../../protocol/gate-protocol.js';
import { helperScriptPath } from '../../paths.js';
import { connectSsh, type HostKeyRefusal } from '../../ssh/connect.js';
import { knownHostsName } from '../../ssh/known-hosts.js';
import type { ExecResult } from '../../ssh/remote-shell.js';

export interface Transport {
  readonly kind: 'local' | 'ssh';
  /** Opens (or reuses) the probe channel. */
  channel(): Promise<ProbeChannel>;
  /** Runs one short command on the host through the same authentication (used for session kills). */
  run(argv: string[], deadlineMs: number): Promise<ExecResult>;
  close(): void;
}

export class LocalTransport implements Transport {
  readonly kind = 'local' as const;
  private current: ProbeChannel | null = null;
  /** allUsers: as root, the probe runs the shipped all-users helper directly (serve without a configuration). */
  constructor(
    private readonly probeScript: string,
    private readonly opts: { allUsers?: boolean } = {},
  ) {}

  async channel(): Promise<ProbeChannel> {
    if (this.current?.alive) return this.current;
    // As root, the shipped helper lists every user's tmux servers (the probe runs it directly, no sudo).
    const env = this.opts.allUsers === true && process.getuid?.() === 0 && existsSync(helperScriptPath) ? { ...process.env, FLEETMON_HELPER: helperScriptPath } : process.env;
    const child = spawn('sh', ['-c', this.probeScript, 'fleetmon-probe'], { stdio: ['pipe', 'pipe', 'pipe'], env });
    this.current = new ProbeChannel({
      stdin: child.stdin,
      stdout: child.stdout,
      stderr: child.stderr,
      destroy: () => child.kill('SIGKILL'),
    });
    return this.current;
  }

  run(argv: string[], deadlineMs: number): Promise<ExecResult> {
    return new Promise((resolve) => {
      const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], timeout: deadlineMs });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('error', (err) => resolve({ stdout, stderr: stderr + err.message, code: 127 }));
      child.on('close', (code) => resolve({ stdout, stderr, code: code ?? 124 }));
    });
  }

  close(): void {
    this.current?.close();
    this.current = null;
  }
}

export interface HostKeyPolicy {
  /** Expected 'SHA256:…' fingerprint, if pinned. */
  pinned: string | null;
  /** Otherwise, when ssh.known_hosts is set: only a key that file lists for the host (never trust on first use). */
  knownHosts: { path: string; text: string } | null;
  /** Called with the presented fingerprint when nothing is pinned; return true to accept (and record). */
  onUnpinned: (fingerprint: string, keyType: string) => boolean;
}

export interface SshTarget {
  host: string;
  address: string;
  port: number;
  user: string;
  keyPath: string | null;
  timeoutMs: number;
  gate: boolean;
  hostKey: HostKeyPolicy;
}

export class HostKeyMismatchError extends FleetmonError {
  constructor(
    readonly host: string,
    readonly expected: string,
    readonly presented: string,
  ) {
    super('HOST_KEY_CHANGED', `host key of ${host} changed: expected ${expected}, got ${presented}; refusing to connect`, {
      kind: 'ssh',
      suggestions: [`if the host was reinstalled, update its host_key in the config (or run fleetmon keys deploy ${host})`],
    });
  }
}

/** known_hosts lists other keys for the host (a changed key: the critical alert), or does not list it at all. */
function knownHostsRefusal(t: SshTarget, r: HostKeyRefusal): FleetmonError {
  const { path } = t.hostKey.knownHosts!;
  const shown = `${r.presented.type} ${r.presented.fingerprint}`;
  if (r.reason === 'mismatch') return new HostKeyMismatchError(t.host, r.expected.join(' or '), r.presented.fingerprint);
  const why = r.reason === 'revoked' ? `is marked @revoked in ${path}` : `is not listed for ${knownHostsName(t.address, t.port)} in ${path}`;
  return new FleetmonError('HOST_KEY_UNKNOWN', `host key of ${t.host} (${shown}) ${why}; not connecting`, {
    kind: 'ssh',
    suggestions: [`check the key on ${t.host}'s console (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub) and add it to ${path} (ssh-keyscan -p ${t.port} ${t.address}), or pin it with host_key`],
  });
}

function defaultPrivateKey(keyPath: string | null): Buffer | undefined {
  const candidates = keyPath ? [keyPath] : [join(homedir(), '.ssh', 'id_ed25519'), join(homedir(), '.ssh', 'id_rsa')];
  for (const p of candidates) {
    if (existsSync(p)) return readFileSync(p);
  }
  if (keyPath) {
    throw new FleetmonError('SSH_KEY_MISSING', `SSH key ${keyPath} does not exist`, {
      kind: 'config',
      suggestions: ['set ssh.key_path to the monitor\'s private key (fleetmon provision creates one)'],
    });
  }
  return undefined;
}

export class SshTransport implements Transport {
  readonly kind = 'ssh' as const;
  private client: Client | null = null;
  private connecting: Promise<Client> | null = null;
  private current: ProbeChannel | null = null;

  constructor(
    private readonly target: SshTarget,
    private readonly probeScript: string,
  ) {}

  private connect(): Promise<Client> {
    if (this.client) return Promise.resolve(this.client);
    if (this.connecting) return this.connecting;
    const t = this.target;
    const privateKey = defaultPrivateKey(t.keyPath);
    this.connecting = connectSsh({
      host: t.address,
      port: t.port,
      username: t.user,
      readyTimeoutMs: t.timeoutMs,
      keepaliveIntervalMs: Math.max(1000, Math.min(15000, t.timeoutMs)),
      keepaliveCountMax: 3,
      deadlineMs: t.timeoutMs + 500,
      ...(privateKey ? { privateKey } : {}),
      ...(process.env.SSH_AUTH_SOCK ? { agent: process.env.SSH_AUTH_SOCK } : {}),
      hostKey: t.hostKey.pinned
        ? { kind: 'pin', fingerprint: t.hostKey.pinned }
        : t.hostKey.knownHosts
          ? { kind: 'known-hosts', text: t.hostKey.knownHosts.text }
          : { kind: 'tofu', accept: (key) => t.hostKey.onUnpinned(key.fingerprint, key.type) },
      describeFailure: (f) => {
        // A pinned key that changed is its own error: the poller raises the critical host_key_changed alert on it.
        if (f.kind === 'host-key' && f.refusal.trust === 'pin') return new HostKeyMismatchError(t.host, f.refusal.expected[0]!, f.refusal.presented.fingerprint);
        if (f.kind === 'host-key' && f.refusal.trust === 'known-hosts') return knownHostsRefusal(t, f.refusal);
        if (f.kind === 'deadline') return new FleetmonError('SSH_TIMEOUT', `ssh to ${t.address}:${t.port} timed out after ${t.timeoutMs} ms`, { kind: 'timeout' });
        return new FleetmonError('SSH_CONNECT', `ssh to ${t.user}@${t.address}:${t.port}: ${errorMessage(f.error)}`, { kind: 'ssh' });
      },
    })
      .then(({ client }) => {
        // An error after login (a reset, a keepalive timeout) ends this connection; the next poll reconnects.
        client.on('error', () => client.destroy());
        client.on('close', () => {
          if (this.client === client) this.client = null;
          this.current = null;
        });
        this.client = client;
        return client;
      })
      .finally(() => {
        this.connecting = null;
      });
    return this.connecting;
  }

  async channel(): Promise<ProbeChannel> {
    if (this.current?.alive) return this.current;
    const client = await this.connect();
    const command = this.target.gate ? gateProbeCommand() : `sh -c ${shQuote(this.probeScript)} fleetmon-probe`;
    const stream = await new Promise<ClientChannel>((resolve, reject) => {
      client.exec(command, (err, s) => (err ? reject(new FleetmonError('SSH_EXEC', `cannot start the probe on ${this.target.host}: ${err.message}`, { kind: 'ssh' })) : resolve(s)));
    });
    this.current = new ProbeChannel({
      stdin: stream,
      stdout: stream,
      stderr: stream.stderr,
      destroy: () => {
        stream.destroy();
        // A probe that broke its contract may sit on a wedged connection: drop it too and reconnect next time.
        this.dropConnection();
      },
    });
    return this.current;
  }

  async run(argv: string[], deadlineMs: number): Promise<ExecResult> {
    const client = await this.connect();
    const command = argv.map(shQuote).join(' ');
    return new Promise((resolve, reject) => {
      client.exec(command, (err, stream) => {
        if (err) return reject(new FleetmonError('SSH_EXEC', `${this.target.host}: ${err.message}`, { kind: 'ssh' }));
        let stdout = '';
        let stderr = '';
        const timer = setTimeout(() => {
          stream.close();
          resolve({ stdout, stderr: stderr + '\n(timed out)', code: 124 });
        }, deadlineMs);
        stream.on('data', (d: Buffer) => (stdout += d.toString()));
        stream.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        stream.on('close', (code: number | null) => {
          clearTimeout(timer);
          resolve({ stdout, stderr, code: code ?? 255 });
        });
      });
    });
  }

  private dropConnection(): void {
    const c = this.client;
    this.client = null;
    this.current = null;
    c?.destroy();
  }

  close(): void {
    this.current?.close();
    this.dropConnection();
  }
}
