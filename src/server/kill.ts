/**
 * Killing a tmux session is two steps and audited: the first request gets a single-use confirmation token bound
 * to the session id and its creation time (valid 60 s); the second presents it. On the host the exact session is
 * targeted after re-checking that a session of that name still has that creation time, so a session renamed or
 * replaced meanwhile is left alone.
 */
import { randomBytes } from 'node:crypto';
import type { Session } from '../core/model.js';
import type { HostHandle } from './collector/poller.js';
import type { Transport } from './collector/transport.js';
import { gateKillCommand, gateKillUserCommand } from '../protocol/gate-protocol.js';

export const CONFIRM_TTL_MS = 60_000;

/**
 * Exit 3: no session with that exact name and creation time. The name arrives as one argv word and is only ever
 * compared as a string: the session is then killed by its id ($N), because tmux's own target parser gives names
 * such as `$(x)` another meaning even behind `=`, and ids are never reused within a tmux server. tmux -u: the names
 * are compared as the probe listed them, UTF-8 whatever the login's locale (without it "é" lists as "_").
 */
export const KILL_SCRIPT = [
  'name=$1; created=$2',
  'case $created in "" | *[!0-9]*) echo "bad creation time" >&2; exit 2 ;; esac',
  'list=$(tmux -u list-sessions -F "#{session_created} #{session_id} #{session_name}" 2>/dev/null) || list=""',
  'target=""; seen=0',
  'while IFS= read -r line; do',
  '  c=${line%% *}; rest=${line#* }; id=${rest%% *}; n=${rest#* }',
  '  [ "$n" = "$name" ] || continue',
  '  seen=1',
  '  [ "$c" = "$created" ] && target=$id',
  'done <<EOF',
  '$list',
  'EOF',
  '[ -n "$target" ] || { [ "$seen" = 1 ] && echo "session was replaced since it was listed" >&2 || echo "no such session" >&2; exit 3; }',
  'tmux kill-session -t "$target"',
].join('\n');

export function killArgv(session: Pick<Session, 'name' | 'created_epoch' | 'owner_uid'>, viaGate: boolean): string[] {
  // The gate's words are all of [A-Za-z0-9_-], so quoting them for the transport leaves them as they are.
  // Another user's server (listed by the all-users helper): the gate hands it to the helper, which kills as the owner.
  if (viaGate && session.owner_uid !== undefined) return gateKillUserCommand(session.owner_uid, session.name, session.created_epoch).split(' ');
  if (viaGate) return gateKillCommand(session.name, session.created_epoch).split(' ');
  return ['sh', '-c', KILL_SCRIPT, 'fleetmon-kill', session.name, String(session.created_epoch)];
}

interface PendingKill {
  sessionId: string;
  createdEpoch: number;
  expiresAt: number;
  used: boolean;
}

export type ConfirmCheck =
  | { ok: true }
  | { ok: false; status: 403 | 409; reason: string };

export class KillConfirmations {
  private readonly pending = new Map<string, PendingKill>();
  constructor(private readonly now: () => number = Date.now) {}

  issue(session: Session): { token: string; expiresAt: number } {
    const now = this.now();
    for (const [t, p] of this.pending) if (p.expiresAt < now - CONFIRM_TTL_MS) this.pending.delete(t);
    const token = randomBytes(24).toString('base64url');
    const expiresAt = now + CONFIRM_TTL_MS;
    this.pending.set(token, { sessionId: session.fleetmon_id, createdEpoch: session.created_epoch, expiresAt, used: false });
    return { token, expiresAt };
  }

  /** Consumes the token when it is valid for this session. */
  redeem(token: string, session: Session): ConfirmCheck {
    const p = this.pending.get(token);
    if (!p) return { ok: false, status: 403, reason: 'unknown confirmation token' };
    if (p.sessionId !== session.fleetmon_id) return { ok: false, status: 403, reason: 'the confirmation token belongs to another session' };
    if (p.used) return { ok: false, status: 409, reason: 'the confirmation token was already used' };
    if (this.now() > p.expiresAt) return { ok: false, status: 409, reason: 'the confirmation token expired; ask for a new one' };
    if (p.createdEpoch !== session.created_epoch) {
      p.used = true;
      return { ok: false, status: 409, reason: 'the session was replaced since the token was issued' };
    }
    p.used = true;
    return { ok: true };
  }
}

export interface KillOutcome {
  result: 'killed' | 'gone' | 'failed';
  detail: string;
}

export async function killOnHost(transport: Transport, session: Session, viaGate: boolean, deadlineMs: number): Promise<KillOutcome> {
  try {
    const r = await transport.run(killArgv(session, viaGate), deadlineMs);
    if (r.code === 0) return { result: 'killed', detail: `session '${session.name}' killed` };
    if (r.code === 3) return { result: 'gone', detail: r.stderr.trim() || 'the session no longer exists as it was' };
    return { result: 'failed', detail: `exit ${r.code}: ${r.stderr.trim().slice(0, 300)}` };
  } catch (err) {
    return { result: 'failed', detail: (err as Error).message };
  }
}

/**
 * Kills a session on its host through the host's own handle; a killed session leaves the live view at once.
 * Undefined when no such host is configured.
 */
export async function killSession(
  handleOf: (host: string) => HostHandle | undefined,
  session: Session,
  deadlineMs: number,
): Promise<KillOutcome | undefined> {
  const handle = handleOf(session.host);
  if (!handle) return undefined;
  const outcome = await killOnHost(handle.transport, session, handle.viaGate, deadlineMs);
  if (outcome.result === 'killed') handle.forgetSession(session.fleetmon_id);
  return outcome;
}
