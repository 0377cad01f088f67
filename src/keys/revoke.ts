/**
 * `fleetmon keys revoke`: take the monitor's key off fleet hosts (the marked block in authorized_keys), and the
 * --all-users sudoers rule and root helper where deploy installed them.
 */
import { join } from 'node:path';
import { removeManagedBlock } from './authorized-keys.js';
import { findPin } from './config-pins.js';
import { readAccount } from './host-state.js';
import { DEFAULT_SUDOERS_FILE, removeAllUsers } from './all-users.js';
import { DEFAULT_ACCOUNT, DEFAULT_LIB_DIR, adminConnectOptions, errorInfo, parseTarget, readConfig } from './target.js';
import type { AdminAuth } from '../ssh/login.js';
import { RemoteShell, type RemoteShellOptions } from '../ssh/remote-shell.js';
import { mapLimit } from '../steps/steps.js';

export interface KeysRevokeOptions {
  targets: string[];
  auth: AdminAuth;
  port?: number;
  account?: string;
  /** Where the helper was installed (keys deploy --lib-dir). */
  libDir?: string;
  /** The sudoers rule of --all-users; default /etc/sudoers.d/fleetmon. */
  sudoersFile?: string;
  configFile?: string;
  concurrency?: number;
  connectTimeoutMs?: number;
  commandTimeoutMs?: number;
  connect?: (o: RemoteShellOptions) => Promise<RemoteShell>;
}

export interface HostRevokeResult {
  host: string;
  port: number;
  ok: boolean;
  /** True when a fleetmon block was there and is now gone; false when there was none. */
  removed: boolean;
  /** True when the --all-users sudoers rule or helper was there and is now gone. */
  removedAllUsers?: boolean;
  error?: { code: string; message: string };
}

/** Removes the managed block from the account's authorized_keys on each host; "already gone" is success. */
export async function keysRevoke(o: KeysRevokeOptions): Promise<{ ok: boolean; account: string; hosts: HostRevokeResult[] }> {
  const account = o.account ?? DEFAULT_ACCOUNT;
  const libDir = (o.libDir ?? DEFAULT_LIB_DIR).replace(/\/+$/, '');
  const sudoersFile = o.sudoersFile ?? DEFAULT_SUDOERS_FILE;
  const targets = o.targets.map((t) => parseTarget(t, o.port ?? 22));
  const configText = o.configFile ? readConfig(o.configFile) : undefined;
  const connect = o.connect ?? RemoteShell.connect;
  const hosts = await mapLimit(targets, o.concurrency ?? 4, async (target): Promise<HostRevokeResult> => {
    const pin = configText !== undefined ? findPin(configText, target.address, target.port) : undefined;
    let shell: RemoteShell | undefined;
    try {
      shell = await connect(adminConnectOptions(target, o, pin));
      // The sudoers rule first: once the key is gone nothing should be left that grants root to anyone.
      const removedAllUsers = await removeAllUsers(shell, sudoersFile, libDir);
      const a = await readAccount(shell, account);
      if (!a) return { host: target.address, port: target.port, ok: true, removed: false, removedAllUsers };
      const path = join(a.home, '.ssh', 'authorized_keys');
      const text = (await shell.readFile(path))?.toString('utf8');
      if (text === undefined) return { host: target.address, port: target.port, ok: true, removed: false, removedAllUsers };
      const edit = removeManagedBlock(text);
      if (edit.removed) await shell.upload(path, edit.text, { mode: 0o644, owner: 'root', group: 'root' });
      return { host: target.address, port: target.port, ok: true, removed: edit.removed, removedAllUsers };
    } catch (err) {
      return { host: target.address, port: target.port, ok: false, removed: false, error: errorInfo(err) };
    } finally {
      shell?.close();
    }
  });
  return { ok: hosts.every((h) => h.ok), account, hosts };
}
