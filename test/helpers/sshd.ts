/**
 * A real OpenSSH server for tests, started next to (not instead of) any system sshd: its own config, host key,
 * pid file and listen address (127.0.3.200–209 belong to the provisioning tests, 210–212 to test/deploy: the test fleet never takes 127.0.3.x), `UsePAM no` as on a minimal
 * host. Root logs in with a test key from an authorized_keys file inside the test directory, so root's real
 * ~/.ssh is never touched. The directory is under /run because sshd's StrictModes refuses key files below a
 * world-writable directory such as /tmp.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';

export interface TestSshd {
  address: string;
  port: number;
  dir: string;
  /** SHA256:… of the server's ed25519 host key. */
  hostKeyFingerprint: string;
  log(): string;
  stop(): Promise<void>;
}

export function sshdAvailable(): string | null {
  if (process.getuid?.() !== 0) return 'these tests start sshd and create accounts, so they need root';
  if (!existsSync('/usr/sbin/sshd')) return 'openssh-server (/usr/sbin/sshd) is not installed';
  return null;
}

export function makeTestDir(prefix: string): string {
  return mkdtempSync(join('/run', `${prefix}-`));
}

export function generateKey(path: string, comment = 'fleetmon-test'): { privateKey: string; publicKey: string } {
  const r = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', path], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ssh-keygen failed: ${r.stderr}`);
  return { privateKey: readFileSync(path, 'utf8'), publicKey: readFileSync(`${path}.pub`, 'utf8') };
}

export function fingerprintOf(pubPath: string): string {
  const r = spawnSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', pubPath], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ssh-keygen -l failed: ${r.stderr}`);
  return r.stdout.split(' ')[1]!;
}

async function waitForPort(address: string, port: number, child: ChildProcess, deadlineMs: number): Promise<void> {
  const until = Date.now() + deadlineMs;
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`sshd exited with ${child.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host: address, port }, () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`sshd did not listen on ${address}:${port} within ${deadlineMs} ms`);
}

export async function startSshd(opts: {
  address: string;
  port?: number;
  dir: string;
  rootAuthorizedKeys: string;
  allowUsers: string[];
  passwordAuthentication?: boolean;
}): Promise<TestSshd> {
  const port = opts.port ?? 22;
  const dir = join(opts.dir, `sshd-${opts.address}-${port}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // The privilege-separation directory sshd insists on; shared with any other sshd, so it is left in place.
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const hostKey = join(dir, 'host_ed25519');
  generateKey(hostKey, `host-${opts.address}`);
  const rootKeys = join(dir, 'root_authorized_keys');
  writeFileSync(rootKeys, opts.rootAuthorizedKeys, { mode: 0o600 });
  const config = join(dir, 'sshd_config');
  writeFileSync(
    config,
    [
      `ListenAddress ${opts.address}:${port}`,
      `HostKey ${hostKey}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      'UsePAM no',
      'PermitRootLogin prohibit-password',
      `PasswordAuthentication ${opts.passwordAuthentication ? 'yes' : 'no'}`,
      'KbdInteractiveAuthentication no',
      'StrictModes yes',
      'AuthorizedKeysFile .ssh/authorized_keys',
      'Subsystem sftp internal-sftp',
      'AllowTcpForwarding yes',
      'X11Forwarding no',
      'MaxStartups 50',
      'LogLevel VERBOSE',
      `AllowUsers ${opts.allowUsers.join(' ')}`,
      'Match User root',
      `  AuthorizedKeysFile ${rootKeys}`,
      '',
    ].join('\n'),
  );
  const test = spawnSync('/usr/sbin/sshd', ['-t', '-f', config], { encoding: 'utf8' });
  if (test.status !== 0) throw new Error(`sshd -t: ${test.stderr}`);
  const child = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (d: Buffer) => {
    log += d.toString();
    if (log.length > 200_000) log = log.slice(-100_000);
  });
  try {
    await waitForPort(opts.address, port, child, 5000);
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`${(err as Error).message}\n${log}`);
  }
  return {
    address: opts.address,
    port,
    dir,
    hostKeyFingerprint: fingerprintOf(`${hostKey}.pub`),
    log: () => log,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Removes a test directory (best effort, for after() hooks). */
export function removeDir(dir: string | undefined): void {
  if (dir) rmSync(dir, { recursive: true, force: true });
}
