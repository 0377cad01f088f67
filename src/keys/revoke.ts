/** `fleetmon keys revoke`: take the monitor's key off fleet hosts (the marked block in authorized_keys). */
import { join } from 'node:path';
import { removeManagedBlock } from './authorized-keys.js';
import { findPin } from './config-pins.js';
import { readAccount } from './host-state.js';
import { DEFAULT_ACCOUNT, adminConnectOptions, errorInfo, parseTarget, readConfig } from './target.js';
import type { AdminAuth } from '../ssh/login.js';
import { RemoteShell, type RemoteShellOptions } from '../ssh/remote-shell.js';
import { mapLimit } from '../steps/steps.js';

export interface KeysRevokeOptions {
  targets: string[];
  auth: AdminAuth;
  port?: number;
  account?: string;
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
  error?: { code: string; message: string };
}

/** Removes the managed block from the account's authorized_keys on each host; "already gone" is success. */
export async function keysRevoke(o: KeysRevokeOptions): Promise<{ ok: boolean; account: string; hosts: HostRevokeResult[] }> {
  const account = o.account ?? DEFAULT_ACCOUNT;
  const targets = o.targets.map((t) => parseTarget(t, o.port ?? 22));
  const configText = o.configFile ? readConfig(o.configFile) : undefined;
  const connect = o.connect ?? RemoteShell.connect;
  const hosts = await mapLimit(targets, o.concurrency ?? 4, async (target): Promise<HostRevokeResult> => {
    const pin = configText !== undefined ? findPin(configText, target.address, target.port) : undefined;
    let shell: RemoteShell | undefined;
    try {
      shell = await connect(adminConnectOptions(target, o, pin));
      const a = await readAccount(shell, account);
      if (!a) return { host: target.address, port: target.port, ok: true, removed: false };
      const path = join(a.home, '.ssh', 'authorized_keys');
      const text = (await shell.readFile(path))?.toString('utf8');
      if (text === undefined) return { host: target.address, port: target.port, ok: true, removed: false };
      const edit = removeManagedBlock(text);
      if (edit.removed) await shell.upload(path, edit.text, { mode: 0o644, owner: 'root', group: 'root' });
      return { host: target.address, port: target.port, ok: true, removed: edit.removed };
    } catch (err) {
      return { host: target.address, port: target.port, ok: false, removed: false, error: errorInfo(err) };
    } finally {
      shell?.close();
    }
  });
  return { ok: hosts.every((h) => h.ok), account, hosts };
}
