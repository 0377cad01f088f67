/**
 * Fleet hosts as `keys deploy` and `keys revoke` reach them: the HOST[:PORT] argument, the admin login's connect
 * options (with the host key pin from hosts.yml), and the defaults both commands share.
 */
import { readFileSync } from 'node:fs';
import { FleetmonError, errorMessage } from '../core/errors.js';
import { loginOptions, type AdminAuth } from '../ssh/login.js';
import type { RemoteShellOptions } from '../ssh/remote-shell.js';

/** The service account the monitor logs in as. */
export const DEFAULT_ACCOUNT = 'fleetmon';
/** Where the gate and the probe are installed (root-owned). */
export const DEFAULT_LIB_DIR = '/usr/local/lib/fleetmon';

export interface Target {
  address: string;
  port: number;
  /** The admin account for this host when the argument named one (`alice@gpu1`); else --admin-user. */
  user?: string;
}

/** `[user@]host`, `[user@]host:port`, `[user@][v6addr]` or `[user@][v6addr]:port`, as ssh and scp take them. */
export function parseTarget(given: string, defaultPort: number): Target {
  const bad = () => new FleetmonError('BAD_HOST', `cannot read host ${JSON.stringify(given)}: expected HOST, USER@HOST, HOST:PORT or [IPv6]:PORT`);
  const at = given.lastIndexOf('@');
  const user = at >= 0 ? given.slice(0, at) : undefined;
  // A POSIX account name (what useradd accepts); never an option to ssh.
  if (user !== undefined && !/^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/.test(user)) throw bad();
  const spec = at >= 0 ? given.slice(at + 1) : given;
  let address = spec;
  let port = defaultPort;
  const v6 = /^\[([0-9A-Fa-f:.]+)\](?::(\d+))?$/.exec(spec);
  if (v6) {
    address = v6[1]!;
    if (v6[2]) port = Number(v6[2]);
  } else if (/^[^:]+:\d+$/.test(spec)) {
    const i = spec.lastIndexOf(':');
    address = spec.slice(0, i);
    port = Number(spec.slice(i + 1));
  } else if (spec.includes(':') && !/^[0-9A-Fa-f:]+$/.test(spec)) {
    throw bad();
  }
  if (!/^[A-Za-z0-9._:-]+$/.test(address) || address.startsWith('-')) throw bad();
  if (!(port >= 1 && port <= 65535)) throw bad();
  return user === undefined ? { address, port } : { address, port, user };
}

/** What logging in to a host as its admin takes. */
export interface AdminConnect {
  auth: AdminAuth;
  connectTimeoutMs?: number;
  commandTimeoutMs?: number;
}

export function adminConnectOptions(target: Target, o: AdminConnect, pin?: string): RemoteShellOptions {
  return {
    host: target.address,
    port: target.port,
    ...loginOptions(o.auth),
    ...(target.user ? { username: target.user } : {}),
    ...(pin ? { hostKeyPin: pin } : {}),
    readyTimeoutMs: o.connectTimeoutMs ?? 15_000,
    commandTimeoutMs: o.commandTimeoutMs ?? 60_000,
  };
}

/** A host's failure as it goes into the result (and --json). */
export function errorInfo(err: unknown): { code: string; message: string } {
  return err instanceof FleetmonError ? { code: err.code, message: err.message } : { code: 'ERROR', message: errorMessage(err) };
}

/** The hosts.yml whose pins are read (and, by deploy, recorded). */
export function readConfig(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new FleetmonError('CONFIG_UNREADABLE', `cannot read ${file}: ${errorMessage(err)}`, { kind: 'config' });
  }
}
