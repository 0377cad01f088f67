/**
 * After a deploy: does the key work, and only through the gate? With the private key at hand we log in as the
 * account for real; without it the gate is run as the account on the host itself.
 */
import { randomBytes } from 'node:crypto';
import { errorMessage } from '../core/errors.js';
import { GATE_EXIT, GATE_PING_REPLY, gatePingCommand } from '../protocol/gate-protocol.js';
import { RemoteShell, type HostKeyInfo, type RemoteShellOptions } from '../ssh/remote-shell.js';
import type { Target } from './target.js';

export interface VerifyResult {
  ok: boolean;
  method: 'ssh' | 'local' | 'skipped';
  detail: string;
}

/** Logs in as the account with the fleet key, pings through the gate, and checks that other commands are refused. */
export async function verifyWithKey(
  target: Target,
  account: string,
  privateKey: string | Buffer,
  hostKey: HostKeyInfo,
  connect: (o: RemoteShellOptions) => Promise<RemoteShell> = RemoteShell.connect,
  timeoutMs = 10_000,
): Promise<VerifyResult> {
  let shell: RemoteShell | undefined;
  try {
    shell = await connect({
      host: target.address,
      port: target.port,
      username: account,
      privateKey,
      hostKeyPin: hostKey.fingerprint,
      hostKeyAlgorithms: [hostKey.type],
      readyTimeoutMs: timeoutMs,
      commandTimeoutMs: timeoutMs,
      skipPrivilegeDetection: true,
    });
    const ping = await shell.execLine(gatePingCommand());
    if (ping.code !== 0 || ping.stdout.trim() !== GATE_PING_REPLY) {
      return { ok: false, method: 'ssh', detail: `ping through the gate answered ${JSON.stringify(ping.stdout.trim())} (exit ${ping.code}): ${ping.stderr.trim()}` };
    }
    const marker = `fleetmon-unrestricted-${randomBytes(4).toString('hex')}`;
    const other = await shell.execLine(`echo ${marker}`);
    if (other.stdout.includes(marker) || other.code !== GATE_EXIT.badRequest) {
      return { ok: false, method: 'ssh', detail: 'the key can run other commands: the gate is not in force' };
    }
    return { ok: true, method: 'ssh', detail: `logged in as ${account} with the key: ping answered, other commands refused` };
  } catch (err) {
    return { ok: false, method: 'ssh', detail: errorMessage(err) };
  } finally {
    shell?.close();
  }
}

/** Without the private key: runs the gate's ping as the account on the host itself. */
export async function verifyLocally(shell: RemoteShell, account: string, libDir: string): Promise<VerifyResult> {
  const r = await shell.exec(['runuser', '-u', account, '--', 'env', '-i', `SSH_ORIGINAL_COMMAND=${gatePingCommand()}`, `${libDir}/gate`]);
  if (r.code === 0 && r.stdout.trim() === GATE_PING_REPLY) {
    return { ok: true, method: 'local', detail: `the gate answers as ${account} (key login not tried: no private key here)` };
  }
  return { ok: false, method: 'local', detail: `the gate did not answer as ${account}: exit ${r.code}: ${r.stderr.trim()}` };
}
