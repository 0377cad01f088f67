/**
 * Reading a fleet host's state over the admin shell, a round trip per question: stat (and sha256) of paths, a
 * small text file with its owner and mode, the service account's passwd and shadow entries.
 */
import { createHash } from 'node:crypto';
import { FleetmonError } from '../core/errors.js';
import { shScript, type RemoteShell } from '../ssh/remote-shell.js';
import type { StepCheck } from '../steps/steps.js';

export interface RemoteStat {
  exists: boolean;
  owner?: string;
  group?: string;
  mode?: string;
  sha256?: string;
}

/** stat (and sha256 of regular files) for several paths in one round trip. */
export async function remoteStats(shell: RemoteShell, paths: string[], hash: boolean): Promise<RemoteStat[]> {
  const out = await shell.check(
    shScript(
      'h=$1; shift; for p do if [ -e "$p" ]; then s=$(stat --printf "%U\\t%G\\t%a" -- "$p") || exit 1; ' +
        'if [ "$h" = hash ] && [ -f "$p" ]; then x=$(sha256sum -- "$p" | cut -d" " -f1); else x=-; fi; ' +
        'printf "%s\\t%s\\n" "$s" "$x"; else echo missing; fi; done',
      hash ? 'hash' : 'nohash',
      ...paths,
    ),
    { what: `stat ${paths.join(' ')}` },
  );
  const lines = out.split('\n');
  return paths.map((_, i) => {
    const line = lines[i] ?? 'missing';
    if (line === 'missing') return { exists: false };
    const [owner, group, mode, digest] = line.split('\t');
    return { exists: true, owner, group, mode, ...(digest && digest !== '-' ? { sha256: digest } : {}) };
  });
}

export async function remoteStat(shell: RemoteShell, path: string, hash: boolean): Promise<RemoteStat> {
  return (await remoteStats(shell, [path], hash))[0]!;
}

/** stat and content of a small text file in one round trip; null when missing. */
export async function remoteTextFile(shell: RemoteShell, path: string): Promise<{ stat: RemoteStat; text: string } | null> {
  const r = await shell.exec(shScript('[ -e "$1" ] || exit 3; stat --printf "%U\\t%G\\t%a\\n" -- "$1" && exec cat -- "$1"', path));
  if (r.code === 3) return null;
  if (r.code !== 0) throw new FleetmonError('REMOTE_READ_FAILED', `${shell.host}: cannot read ${path}: ${r.stderr.trim()}`, { kind: 'ssh' });
  const nl = r.stdout.indexOf('\n');
  const [owner, group, mode] = r.stdout.slice(0, nl).split('\t');
  return { stat: { exists: true, owner, group, mode }, text: r.stdout.slice(nl + 1) };
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** A root-owned file with exactly this content and mode (octal, as stat prints it): "missing", or what differs. */
export async function checkRootFile(shell: RemoteShell, path: string, content: string, mode: string): Promise<StepCheck> {
  const st = await remoteStat(shell, path, true);
  if (!st.exists) return { ok: false, detail: 'missing' };
  const problems = [];
  if (st.sha256 !== sha256(content)) problems.push('content differs');
  if (st.owner !== 'root' || st.group !== 'root') problems.push(`owned by ${st.owner}:${st.group}`);
  if (st.mode !== mode) problems.push(`mode ${st.mode}`);
  return problems.length ? { ok: false, detail: problems.join(', ') } : { ok: true };
}

export interface PasswdEntry {
  name: string;
  uid: number;
  home: string;
  shell: string;
  passwordField: string;
}

export async function readAccount(shell: RemoteShell, account: string): Promise<PasswdEntry | null> {
  const out = await shell.check(
    shScript('p=$(getent passwd "$1") || { echo missing; exit 0; }; printf "%s\\n" "$p"; getent shadow "$1" | cut -d: -f2', account),
    { what: `look up ${account}` },
  );
  const [passwd, shadow] = out.split('\n');
  if (passwd === 'missing' || !passwd) return null;
  const f = passwd.split(':');
  return { name: f[0]!, uid: Number(f[2]), home: f[5] ?? '', shell: f[6] ?? '', passwordField: shadow ?? '' };
}

export const UNUSABLE_SHELLS = /(^$|\/nologin$|\/false$)/;

export function accountProblems(a: PasswdEntry): string[] {
  const problems: string[] = [];
  if (a.passwordField === '' ) problems.push('empty password field (anyone could su in)');
  else if (a.passwordField.startsWith('!')) problems.push(`password field "${a.passwordField.slice(0, 2)}…" (locked: sshd without PAM refuses key logins)`);
  if (UNUSABLE_SHELLS.test(a.shell)) problems.push(`shell ${a.shell || '(none)'} cannot run the forced command`);
  if (!a.home.startsWith('/')) problems.push('no home directory');
  return problems;
}
