/**
 * Client side of the forced-command gate (gate.sh, wire format v1; the gate's header is the reference): the
 * command strings the collector sends as the SSH exec request once `fleetmon keys deploy` has set a host up.
 * The session name travels base64url-encoded, so whatever tmux allows in a name reaches the gate as one word of
 * [A-Za-z0-9_-] and no shell on the way can interpret it.
 */
import { FleetmonError } from '../core/errors.js';

export const GATE_PROTOCOL = 'v1';

/** Exit statuses of the gate. */
export const GATE_EXIT = { ok: 0, failed: 1, badRequest: 2, notFound: 3, ambiguous: 4 } as const;

export const GATE_PING_REPLY = 'pong v1';

export function gatePingCommand(): string {
  return `fleetmon-ping ${GATE_PROTOCOL}`;
}

export function gateProbeCommand(): string {
  return `fleetmon-probe ${GATE_PROTOCOL}`;
}

/** base64url (RFC 4648 §5) without padding. */
export function base64url(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64').replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/**
 * `fleetmon-kill v1 NAME64 CREATED`: kill the session named exactly `name` (as tmux lists it) if it was created at
 * `createdEpoch` (seconds, #{session_created}). Names tmux cannot have (empty, NUL, ':' or '.') are refused here.
 */
export function gateKillCommand(name: string, createdEpoch: number): string {
  if (name === '' || /[\0:.]/.test(name)) {
    throw new FleetmonError('BAD_SESSION_NAME', `tmux has no session named ${JSON.stringify(name)}`, { kind: 'usage' });
  }
  if (!Number.isSafeInteger(createdEpoch) || createdEpoch < 0 || String(createdEpoch).length > 12) {
    throw new FleetmonError('BAD_SESSION_CREATED', `invalid session creation time ${createdEpoch}`, { kind: 'usage' });
  }
  const name64 = base64url(name);
  if (name64.length > 1700) {
    throw new FleetmonError('BAD_SESSION_NAME', 'session name too long for the gate (1275 bytes at most)', { kind: 'usage' });
  }
  return `fleetmon-kill ${GATE_PROTOCOL} ${name64} ${createdEpoch}`;
}

/**
 * `fleetmon-kill-user v1 UID NAME64 CREATED`: the same exact kill for a session of another user's server, through
 * the root helper that `keys deploy --all-users` installs (the gate runs it with sudo -n).
 */
export function gateKillUserCommand(uid: number, name: string, createdEpoch: number): string {
  if (!Number.isSafeInteger(uid) || uid < 0 || String(uid).length > 10) {
    throw new FleetmonError('BAD_SESSION_OWNER', `invalid owner uid ${uid}`, { kind: 'usage' });
  }
  const [, , name64, created] = gateKillCommand(name, createdEpoch).split(' ');
  return `fleetmon-kill-user ${GATE_PROTOCOL} ${uid} ${name64} ${created}`;
}
