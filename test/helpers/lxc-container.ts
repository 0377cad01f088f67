/**
 * A real Debian 12 system container for provisioning tests, with LXC on this machine (apt packages lxc,
 * debootstrap; privileged, since the tests run as root). The root filesystem is debootstrapped once from Debian's
 * mirror and cached under /var/cache/fleetmon-test/; each test run copies it, attaches the container to a bridge the
 * test creates (10.231.47.0/24, static addresses: no DHCP needed), boots systemd as PID 1 and logs in over SSH with a
 * key it writes into the copy. Everything is removed afterwards: container, copy, bridge.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';

export const CACHE_DIR = '/var/cache/fleetmon-test';
export const ROOTFS_CACHE = join(CACHE_DIR, 'debian-12-rootfs');
const MIRROR = process.env.FLEETMON_TEST_DEBIAN_MIRROR ?? 'http://deb.debian.org/debian';
const PACKAGES = ['systemd', 'systemd-sysv', 'dbus', 'openssh-server', 'openssh-client', 'ca-certificates', 'iproute2', 'procps'];

export const BRIDGE = 'fmtprovbr0';
export const BRIDGE_ADDRESS = '10.231.47.1';
export const LXC_PATH = '/var/lib/fleetmon-test-lxc';

function run(cmd: string, args: string[], opts: { timeoutMs?: number; input?: string } = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: opts.timeoutMs ?? 60_000, ...(opts.input !== undefined ? { input: opts.input } : {}) });
  return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? (r.error ? r.error.message : '') };
}

function must(cmd: string, args: string[], opts: { timeoutMs?: number; input?: string } = {}): string {
  const r = run(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.code}): ${r.stderr.trim().slice(-2000)}`);
  return r.stdout;
}

/** This machine cannot build or start containers (as opposed to a container that starts but misbehaves). */
export class LxcUnavailable extends Error {}

/** Why LXC cannot run here, or null. */
export function lxcSkipReason(): string | null {
  if (process.env.FLEETMON_SKIP_LXC) return 'FLEETMON_SKIP_LXC is set';
  if (process.getuid?.() !== 0) return 'LXC tests need root';
  for (const bin of ['lxc-start', 'lxc-attach', 'debootstrap']) {
    if (run('sh', ['-c', `command -v ${bin}`]).code !== 0) return `${bin} is not installed (apt-get install lxc debootstrap)`;
  }
  if (!existsSync('/sys/fs/cgroup')) return 'no cgroup filesystem';
  return null;
}

/** Debootstraps the cached root filesystem if it is not there yet (minutes, once). */
export function ensureRootfs(): string {
  if (existsSync(join(ROOTFS_CACHE, '.fleetmon-complete'))) return ROOTFS_CACHE;
  mkdirSync(CACHE_DIR, { recursive: true });
  const tmp = `${ROOTFS_CACHE}.partial`;
  rmSync(tmp, { recursive: true, force: true });
  const boot = run('debootstrap', ['--variant=minbase', `--include=${PACKAGES.join(',')}`, 'bookworm', tmp, MIRROR], { timeoutMs: 20 * 60_000 });
  if (boot.code !== 0) {
    rmSync(tmp, { recursive: true, force: true });
    throw new LxcUnavailable(`cannot debootstrap Debian 12 from ${MIRROR} (set FLEETMON_TEST_DEBIAN_MIRROR?): ${boot.stderr.trim().slice(-500)}`);
  }
  // No getty on consoles the container does not have; no network setup inside (LXC configures the interface).
  writeFileSync(join(tmp, 'etc', 'hostname'), 'fleetmon-test-ct\n');
  must('chroot', [tmp, 'systemctl', 'mask', 'systemd-networkd-wait-online.service', 'getty@tty1.service', 'console-getty.service']);
  must('chroot', [tmp, 'apt-get', 'clean']);
  writeFileSync(join(tmp, '.fleetmon-complete'), new Date().toISOString());
  rmSync(ROOTFS_CACHE, { recursive: true, force: true });
  renameSync(tmp, ROOTFS_CACHE);
  return ROOTFS_CACHE;
}

export interface TestContainer {
  name: string;
  address: string;
  rootfs: string;
  attach(args: string[]): { code: number | null; stdout: string; stderr: string };
  destroy(): void;
}

function ensureBridge(): void {
  if (run('ip', ['link', 'show', BRIDGE]).code === 0) return;
  must('ip', ['link', 'add', BRIDGE, 'type', 'bridge']);
  must('ip', ['addr', 'add', `${BRIDGE_ADDRESS}/24`, 'dev', BRIDGE]);
  must('ip', ['link', 'set', BRIDGE, 'up']);
}

export function removeBridge(): void {
  run('ip', ['link', 'del', BRIDGE]);
}

async function waitPort(host: string, port: number, deadline: number): Promise<void> {
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host, port, timeout: 1000 }, () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
      s.on('timeout', () => {
        s.destroy();
        resolve(false);
      });
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`${host}:${port} did not open in time`);
}

/** Starts a container from a copy of the cached rootfs, with `authorizedKey` for root. */
export async function startContainer(name: string, octet: number, authorizedKey: string): Promise<TestContainer> {
  const rootfsCache = ensureRootfs();
  ensureBridge();
  const dir = join(LXC_PATH, name);
  run('lxc-stop', ['-P', LXC_PATH, '-n', name, '-k']);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const rootfs = join(dir, 'rootfs');
  // cp -a, not fs.cpSync: the root filesystem holds device nodes.
  must('cp', ['-a', '--', rootfsCache, rootfs], { timeoutMs: 5 * 60_000 });
  mkdirSync(join(rootfs, 'root', '.ssh'), { recursive: true, mode: 0o700 });
  writeFileSync(join(rootfs, 'root', '.ssh', 'authorized_keys'), authorizedKey, { mode: 0o600 });
  chmodSync(join(rootfs, 'root', '.ssh'), 0o700);
  const address = `10.231.47.${octet}`;
  writeFileSync(
    join(dir, 'config'),
    [
      `lxc.uts.name = ${name}`,
      `lxc.rootfs.path = dir:${rootfs}`,
      'lxc.include = /usr/share/lxc/config/common.conf',
      'lxc.arch = linux64',
      'lxc.apparmor.profile = unconfined',
      'lxc.mount.auto = proc:mixed sys:mixed cgroup:mixed',
      'lxc.autodev = 1',
      'lxc.tty.max = 0',
      'lxc.pty.max = 16',
      'lxc.net.0.type = veth',
      `lxc.net.0.link = ${BRIDGE}`,
      'lxc.net.0.flags = up',
      `lxc.net.0.ipv4.address = ${address}/24`,
      `lxc.net.0.ipv4.gateway = ${BRIDGE_ADDRESS}`,
      `lxc.net.0.hwaddr = 02:00:0a:e7:2f:${octet.toString(16).padStart(2, '0')}`,
      `lxc.log.file = ${join(dir, 'lxc.log')}`,
      'lxc.log.level = WARN',
      '',
    ].join('\n'),
  );
  const start = run('lxc-start', ['-P', LXC_PATH, '-n', name, '-d', '-l', 'ERROR', '-o', join(dir, 'start.log')], { timeoutMs: 30_000 });
  if (start.code !== 0) {
    const log = run('tail', ['-n', '5', join(dir, 'start.log')]).stdout.trim();
    rmSync(dir, { recursive: true, force: true });
    run('rmdir', [LXC_PATH]);
    throw new LxcUnavailable(`lxc-start cannot start a container on this machine: ${log || start.stderr.trim()}`);
  }
  const attach = (args: string[]) => run('lxc-attach', ['-P', LXC_PATH, '-n', name, '--clear-env', '--', ...args], { timeoutMs: 60_000 });
  const deadline = Date.now() + 60_000;
  // systemd up (a "degraded" system still boots fine for our purpose), then sshd listening.
  while (Date.now() < deadline) {
    const state = attach(['systemctl', 'is-system-running']).stdout.trim();
    if (state === 'running' || state === 'degraded') break;
    await new Promise((r) => setTimeout(r, 500));
  }
  await waitPort(address, 22, deadline);
  return {
    name,
    address,
    rootfs,
    attach,
    destroy: () => {
      run('lxc-stop', ['-P', LXC_PATH, '-n', name, '-k'], { timeoutMs: 30_000 });
      rmSync(dir, { recursive: true, force: true });
      run('rmdir', [LXC_PATH]); // only when no other test container is left
    },
  };
}
