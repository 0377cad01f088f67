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
}

/** `host`, `host:port`, `[v6addr]` or `[v6addr]:port`. */
export function parseTarget(spec: string, defaultPort: number): Target {
  const bad = () => new FleetmonError('BAD_HOST', `cannot read host ${JSON.stringify(spec)}: expected HOST, HOST:PORT or [IPv6]:PORT`);
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
  return { address, port };
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
