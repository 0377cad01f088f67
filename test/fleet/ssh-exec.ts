/**
 * One command on a fake host over real SSH (ssh2), with the fleet's key and the host's pinned key fingerprint:
 * what tests use to prove that a host is reachable and behaves like a fleet host.
 */
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { Client } from 'ssh2';
import { shQuote } from './fleet.js';

export interface SshTarget {
  address: string;
  port: number;
  /** 'SHA256:…'; the connection fails if the server presents another key. */
  hostKeyFingerprint: string;
}

export interface SshLogin {
  user: string;
  keyPath: string;
}

export interface SshExecResult {
  stdout: string;
  stderr: string;
  /** Exit status; 128 + n when the remote command died of signal n (-1 if the number is unknown). */
  code: number;
  signal?: string;
}

export interface SshOptions {
  /** Whole operation (connect, run, close). Default 10 s. */
  timeoutMs?: number;
  /** Written to the command's stdin, then EOF. */
  stdin?: string;
}

const SIGNAL_NUMBERS: Record<string, number> = { HUP: 1, INT: 2, QUIT: 3, ABRT: 6, KILL: 9, USR1: 10, SEGV: 11, USR2: 12, PIPE: 13, ALRM: 14, TERM: 15 };

/** Connect with the fleet key, pinning the host key; resolves when authenticated. The caller ends the client. */
export function connectSsh(target: SshTarget, login: SshLogin, timeoutMs = 10_000): Promise<Client> {
  return new Promise((resolve, reject) => {
    const conn = new Client();
    let presented: string | undefined;
    conn.once('ready', () => resolve(conn));
    conn.once('error', (err) => {
      conn.end();
      reject(presented !== undefined && presented !== target.hostKeyFingerprint
        ? new Error(`host key mismatch at ${target.address}: expected ${target.hostKeyFingerprint}, got ${presented}`)
        : err);
    });
    conn.connect({
      host: target.address,
      port: target.port,
      username: login.user,
      privateKey: readFileSync(login.keyPath),
      readyTimeout: timeoutMs,
      algorithms: { serverHostKey: ['ssh-ed25519'] },
      hostVerifier: (key: Buffer) => {
        presented = `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
        return presented === target.hostKeyFingerprint;
      },
    });
  });
}

/**
 * Run one command. A string goes to the remote shell as is; an argv array is quoted for POSIX sh word by word
 * (the fleet user's shell is dash, so bash's $'…' quoting would not do).
 */
export async function sshExec(target: SshTarget, login: SshLogin, command: string | readonly string[], opts: SshOptions = {}): Promise<SshExecResult> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const deadline = Date.now() + timeoutMs;
  const conn = await connectSsh(target, login, timeoutMs);
  const line = typeof command === 'string' ? command : command.map(shQuote).join(' ');
  try {
    return await new Promise<SshExecResult>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`ssh ${target.address}: ${line}: no exit within ${timeoutMs} ms`)), Math.max(1, deadline - Date.now()));
      conn.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      conn.exec(line, (err, stream) => {
        if (err) {
          clearTimeout(timer);
          reject(err);
          return;
        }
        let stdout = '';
        let stderr = '';
        let code: number | undefined;
        let signal: string | undefined;
        stream.setEncoding('utf8');
        stream.stderr.setEncoding('utf8');
        stream.on('data', (d: string) => (stdout += d));
        stream.stderr.on('data', (d: string) => (stderr += d));
        stream.on('exit', (c: number | null, sig?: string) => {
          if (c !== null) code = c;
          else if (sig !== undefined) {
            signal = sig;
            const n = SIGNAL_NUMBERS[sig];
            code = n === undefined ? -1 : 128 + n;
          }
        });
        stream.on('close', () => {
          clearTimeout(timer);
          resolve({ stdout, stderr, code: code ?? -1, ...(signal === undefined ? {} : { signal }) });
        });
        stream.end(opts.stdin);
      });
    });
  } finally {
    conn.end();
  }
}
