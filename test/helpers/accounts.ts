/**
 * Commands the tests run as root, and the monitor's service accounts they create on this machine (keys deploy adds
 * the account, its gate under a lib dir, and with --all-users a sudoers rule) and remove again, also after a run
 * that died half way.
 */
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { removeDir } from './sshd.js';

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command (argv, no shell), with optional stdin. */
export function sh(cmd: string, args: string[], input?: string): RunResult {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...(input !== undefined ? { input } : {}) });
  return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** The account, its processes (its tmux server, say), its home and lib dir, and the extra files named (a sudoers rule). */
export function removeServiceAccount(account: string, libDir: string, files: string[] = []): void {
  for (const f of files) rmSync(f, { force: true });
  sh('pkill', ['-KILL', '-u', account]);
  sh('userdel', [account]);
  removeDir(`/home/${account}`);
  removeDir(libDir);
}
