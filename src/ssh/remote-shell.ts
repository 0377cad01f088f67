/**
 * RemoteShell: one SSH connection (npm ssh2) to a machine being provisioned, with
 *  - argv-only commands: every element is POSIX-quoted, so no user data is ever parsed by the remote shell;
 *    a non-zero exit comes back as a value ({stdout, stderr, code}), not an exception;
 *  - the connection from ssh/connect.ts: the host key checked against the pin when one is given (and the negotiated
 *    key type can be restricted), otherwise taken and recorded (`hostKey`); keepalive on, a deadline on connecting;
 *  - a deadline on every command; a command that overruns it ends the whole connection, because a wedged channel
 *    cannot be trusted afterwards;
 *  - root: when the login user is not root, privileged commands run through `sudo -n`, or, where sudo wants a
 *    password, `sudo -k -S` with the password as the first line of stdin (-k makes sudo always read it, so the
 *    password can never leak into the command's own input).
 */
import { randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import type { Readable } from 'node:stream';
import type { Client, ClientChannel } from 'ssh2';
import { FleetmonError } from '../core/errors.js';
import { shJoin } from '../core/shell-quote.js';
import { DEFAULT_KEEPALIVE_INTERVAL_MS, DEFAULT_READY_TIMEOUT_MS, connectSsh, type SshConnectOptions } from './connect.js';
import type { HostKeyInfo } from './fingerprint.js';

export type { HostKeyInfo } from './fingerprint.js';

export interface ExecResult {
  stdout: string;
  stderr: string;
  /** Exit status; null when the command was ended by a signal. */
  code: number | null;
  signal?: string;
}

export interface ExecOptions {
  /** Data written to the command's stdin, which is then closed. */
  stdin?: string | Buffer | Readable;
  /** Run as root (through sudo when the login user is not root). Default true. */
  root?: boolean;
  timeoutMs?: number;
  /** Output larger than this ends the command with an error. Default 16 MiB. */
  maxOutputBytes?: number;
}

/** Where and how to log in: the connect layer's own options; the host key is pinned or recorded, below. */
export interface RemoteShellOptions extends Pick<SshConnectOptions, 'host' | 'port' | 'username' | 'privateKey' | 'passphrase' | 'agent' | 'password'> {
  /** `SHA256:…` as `ssh-keygen -lf` prints it: any other host key is refused. */
  hostKeyPin?: string;
  /** Host key algorithms to negotiate, e.g. only the pinned key's type, so a server cannot offer another key. */
  hostKeyAlgorithms?: string[];
  readyTimeoutMs?: number;
  commandTimeoutMs?: number;
  keepaliveIntervalMs?: number;
  /** Password for sudo when the login user is not root and sudo asks for one (asked only when needed). */
  sudoPassword?: string | (() => Promise<string>);
  /** Skip working out root access (a restricted account whose forced command would refuse `id`). */
  skipPrivilegeDetection?: boolean;
}

export type Privilege = 'root' | 'sudo-nopasswd' | 'sudo-password' | 'none';

/** Runs one `sh -c SCRIPT` with positional arguments: the script is a constant, the data travel as "$1"… */
export function shScript(script: string, ...args: string[]): string[] {
  return ['sh', '-c', script, 'fleetmon', ...args];
}

const DEFAULT_MAX_OUTPUT = 16 * 1024 * 1024;

export class RemoteShell {
  readonly host: string;
  readonly username: string;
  readonly hostKey: HostKeyInfo;
  private privilege: Privilege = 'none';
  private sudoPassword: string | undefined;
  private closed = false;

  private constructor(
    private readonly client: Client,
    private readonly opts: RemoteShellOptions,
    hostKey: HostKeyInfo,
  ) {
    this.host = opts.host;
    this.username = opts.username;
    this.hostKey = hostKey;
  }

  /** Connects, authenticates and works out how to become root. */
  static async connect(opts: RemoteShellOptions): Promise<RemoteShell> {
    const { client, hostKey } = await connectSsh({
      host: opts.host,
      port: opts.port ?? 22,
      username: opts.username,
      readyTimeoutMs: opts.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS,
      keepaliveIntervalMs: opts.keepaliveIntervalMs ?? DEFAULT_KEEPALIVE_INTERVAL_MS,
      // Without a pin the key is taken and recorded (this.hostKey): the caller shows it, or pins it from then on.
      hostKey: opts.hostKeyPin !== undefined ? { kind: 'pin', fingerprint: opts.hostKeyPin } : { kind: 'accept-any' },
      ...(opts.hostKeyAlgorithms ? { hostKeyAlgorithms: opts.hostKeyAlgorithms } : {}),
      ...(opts.privateKey !== undefined ? { privateKey: opts.privateKey } : {}),
      ...(opts.passphrase !== undefined ? { passphrase: opts.passphrase } : {}),
      ...(opts.agent ? { agent: opts.agent } : {}),
      ...(opts.password !== undefined ? { password: opts.password } : {}),
    });
    const shell = new RemoteShell(client, opts, hostKey);
    if (opts.skipPrivilegeDetection) return shell;
    try {
      await shell.detectPrivilege();
    } catch (err) {
      shell.close();
      throw err;
    }
    return shell;
  }

  /** How this shell becomes root. */
  get privilegeMode(): Privilege {
    return this.privilege;
  }

  private async detectPrivilege(): Promise<void> {
    const id = await this.exec(['id', '-u'], { root: false });
    if (id.code === 0 && id.stdout.trim() === '0') {
      this.privilege = 'root';
      return;
    }
    const nopasswd = await this.exec(['sudo', '-n', 'true'], { root: false });
    if (nopasswd.code === 0) {
      this.privilege = 'sudo-nopasswd';
      return;
    }
    this.privilege = 'none';
  }

  /** Gets (asking once, if a prompt was given) and checks the sudo password. */
  private async ensureSudoPassword(): Promise<void> {
    if (this.privilege !== 'none' || this.opts.sudoPassword === undefined) return;
    const password = typeof this.opts.sudoPassword === 'function' ? await this.opts.sudoPassword() : this.opts.sudoPassword;
    const check = await this.exec(['sudo', '-k', '-S', '-p', '', 'true'], { root: false, stdin: `${password}\n` });
    if (check.code !== 0) {
      throw new FleetmonError('SUDO_FAILED', `${this.username}@${this.host}: sudo refused: ${check.stderr.trim() || `exit ${check.code}`}`, {
        kind: 'auth',
        suggestions: ['check the sudo password, or log in as root'],
      });
    }
    this.sudoPassword = password;
    this.privilege = 'sudo-password';
  }

  /** The command line and stdin prefix that run argv with the wanted privilege. */
  private async privileged(argv: readonly string[], root: boolean): Promise<{ line: string; prefix?: Buffer }> {
    if (!root || this.privilege === 'root') return { line: shJoin(argv) };
    if (this.privilege === 'none') await this.ensureSudoPassword();
    if (this.privilege === 'sudo-nopasswd') return { line: shJoin(['sudo', '-n', '--', ...argv]) };
    if (this.privilege === 'sudo-password') {
      return { line: shJoin(['sudo', '-k', '-S', '-p', '', '--', ...argv]), prefix: Buffer.from(`${this.sudoPassword}\n`) };
    }
    throw new FleetmonError('NOT_ROOT', `${this.username}@${this.host} is not root and cannot use sudo without a password`, {
      kind: 'auth',
      suggestions: ['log in as root (--user root), or give the sudo password when asked (FLEETMON_SUDO_PASSWORD)'],
    });
  }

  /** Runs argv (each element quoted) and returns its output and exit status. */
  async exec(argv: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
    const r = await this.execBuffer(argv, options);
    return { ...r, stdout: r.stdout.toString('utf8') };
  }

  /**
   * Sends a command line exactly as given, as the login user: for fixed protocol lines to a forced command
   * (`fleetmon-ping v1`). Never build one from user data; use exec(argv) for that.
   */
  async execLine(line: string, options: Omit<ExecOptions, 'root'> = {}): Promise<ExecResult> {
    const r = await this.run(line, options);
    return { ...r, stdout: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8') };
  }

  /** Like exec, but a non-zero exit is an error carrying stderr. Returns stdout. */
  async check(argv: readonly string[], options: ExecOptions & { what?: string } = {}): Promise<string> {
    const r = await this.exec(argv, options);
    if (r.code !== 0) {
      const what = options.what ?? argv.slice(0, 2).join(' ');
      throw new FleetmonError('REMOTE_COMMAND_FAILED', `${this.host}: ${what} failed (exit ${r.code ?? r.signal}): ${lastLines(r.stderr || r.stdout)}`, {
        kind: 'ssh',
      });
    }
    return r.stdout;
  }

  /** exec with stdout as bytes (binary files). */
  async execBuffer(argv: readonly string[], options: ExecOptions = {}): Promise<Omit<ExecResult, 'stdout'> & { stdout: Buffer }> {
    const { line, prefix } = await this.privileged(argv, options.root ?? true);
    const r = await this.run(line, options, prefix);
    return { ...r, stderr: r.stderr.toString('utf8') };
  }

  /** A file's content, or null when it does not exist. */
  async readFile(path: string, options: { root?: boolean } = {}): Promise<Buffer | null> {
    const r = await this.execBuffer(shScript('if [ -e "$1" ]; then exec cat -- "$1"; else exit 3; fi', path), options);
    if (r.code === 3) return null;
    if (r.code !== 0) throw new FleetmonError('REMOTE_READ_FAILED', `${this.host}: cannot read ${path}: ${lastLines(r.stderr)}`, { kind: 'ssh' });
    return r.stdout;
  }

  /**
   * Writes a file atomically: a private temporary file in the same directory, then owner and mode, then rename,
   * so readers never see a half-written file and the content is never briefly readable by others.
   */
  async upload(
    path: string,
    content: string | Buffer | Readable,
    options: { mode: number; owner?: string; group?: string; timeoutMs?: number },
  ): Promise<void> {
    if (!posix.isAbsolute(path)) throw new Error(`upload needs an absolute path, got ${path}`);
    const tmp = posix.join(posix.dirname(path), `.${posix.basename(path)}.fleetmon-${randomBytes(6).toString('hex')}`);
    const owner = `${options.owner ?? 'root'}:${options.group ?? options.owner ?? 'root'}`;
    const mode = options.mode.toString(8).padStart(4, '0');
    // One round trip: write the private temporary file from stdin, then owner, mode, rename; clean up on failure.
    const r = await this.exec(
      shScript(
        'umask 077 && cat > "$3" && chown -- "$1" "$3" && chmod -- "$2" "$3" && mv -f -- "$3" "$4" || { s=$?; rm -f -- "$3"; exit $s; }',
        owner,
        mode,
        tmp,
        path,
      ),
      { stdin: content, timeoutMs: options.timeoutMs ?? this.opts.commandTimeoutMs ?? 600_000 },
    );
    if (r.code !== 0) {
      throw new FleetmonError('REMOTE_WRITE_FAILED', `${this.host}: cannot write ${path}: ${lastLines(r.stderr)}`, { kind: 'ssh' });
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.client.end();
  }

  private run(command: string, options: ExecOptions, prefix?: Buffer): Promise<{ stdout: Buffer; stderr: Buffer; code: number | null; signal?: string }> {
    if (this.closed) return Promise.reject(new FleetmonError('SSH_CLOSED', `${this.host}: the SSH connection is closed`, { kind: 'ssh' }));
    const timeoutMs = options.timeoutMs ?? this.opts.commandTimeoutMs ?? 120_000;
    const max = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT;
    return new Promise((resolve, reject) => {
      let channel: ClientChannel | undefined;
      let settled = false;
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let size = 0;
      const finish = (fn: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        fn();
      };
      const timer = setTimeout(() => {
        finish(() => {
          // A command that overran cannot be stopped reliably over SSH: drop the connection.
          this.close();
          reject(
            new FleetmonError('SSH_COMMAND_TIMEOUT', `${this.host}: no answer within ${Math.round(timeoutMs / 1000)} s to: ${truncate(command)}`, {
              kind: 'timeout',
              suggestions: ['re-run the same command: every step checks first, so it resumes where this one stopped'],
            }),
          );
        });
      }, timeoutMs);
      const onData = (list: Buffer[]) => (chunk: Buffer) => {
        size += chunk.length;
        if (size > max) {
          finish(() => {
            channel?.close();
            reject(new FleetmonError('SSH_OUTPUT_TOO_LARGE', `${this.host}: more than ${max} bytes of output from: ${truncate(command)}`, { kind: 'ssh' }));
          });
          return;
        }
        list.push(chunk);
      };
      this.client.exec(command, (e, ch) => {
        if (e) {
          finish(() => reject(new FleetmonError('SSH_EXEC_FAILED', `${this.host}: cannot run a command: ${e.message}`, { kind: 'ssh', cause: e })));
          return;
        }
        channel = ch;
        let code: number | null = null;
        let signal: string | undefined;
        ch.on('data', onData(out));
        ch.stderr.on('data', onData(err));
        ch.on('exit', (c: number | null, s?: string) => {
          code = c ?? null;
          signal = s ?? undefined;
        });
        ch.on('close', () => {
          finish(() =>
            resolve({ stdout: Buffer.concat(out), stderr: Buffer.concat(err), code, ...(signal !== undefined ? { signal } : {}) }),
          );
        });
        ch.on('error', (chErr: Error) => finish(() => reject(new FleetmonError('SSH_EXEC_FAILED', `${this.host}: ${chErr.message}`, { kind: 'ssh' }))));
        if (prefix) ch.write(prefix);
        const stdin = options.stdin;
        if (stdin === undefined) ch.end();
        else if (typeof stdin === 'string' || Buffer.isBuffer(stdin)) ch.end(stdin);
        else {
          stdin.on('error', (sErr) => finish(() => {
            ch.close();
            reject(new FleetmonError('UPLOAD_SOURCE_FAILED', `cannot read the data to send: ${sErr.message}`, { kind: 'usage' }));
          }));
          stdin.pipe(ch);
        }
      });
    });
  }
}

function truncate(s: string, n = 120): string {
  return s.length > n ? `${s.slice(0, n)}…` : s;
}

export function lastLines(s: string, n = 3): string {
  const lines = s.trim().split('\n').filter(Boolean);
  return lines.slice(-n).join(' | ') || '(no output)';
}

