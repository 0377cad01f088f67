/**
 * The --all-users pieces on a fleet host: the root helper beside the gate and the sudoers drop-in that lets the
 * service account run it, and nothing else. `keys deploy --all-users` installs them (the steps here), `keys revoke`
 * and fleet.yml's `all_users: false` remove them (`removeAllUsers`), and `fleetmon plan` reads where they stand
 * (`readAllUsersState`). One check serves all three, so "current" means the same thing to each of them.
 */
import { FleetmonError } from '../core/errors.js';
import { shScript, type RemoteShell } from '../ssh/remote-shell.js';
import type { Step, StepCheck } from '../steps/steps.js';
import { checkRootFile } from './host-state.js';

/** Where `--all-users` puts the sudoers rule (sudo skips names with a '.' or ending in '~', so no suffix). */
export const DEFAULT_SUDOERS_FILE = '/etc/sudoers.d/fleetmon';
export const HELPER_NAME = 'tmux-all-users';

export const helperPath = (libDir: string): string => `${libDir}/${HELPER_NAME}`;

/** What installing them takes: the account the rule names, the gate's directory, the helper's text, the drop-in's path. */
export interface AllUsersFiles {
  account: string;
  libDir: string;
  helperScript: string;
  sudoersFile: string;
}

/**
 * The sudoers drop-in: the account may run the helper as root without a password, and nothing else. No argument
 * list in the rule: the helper itself accepts only its fixed verbs, and refuses everything else.
 */
export function sudoersRule(account: string, libDir: string): string {
  const helper = helperPath(libDir);
  return [
    '# Written by fleetmon keys deploy --all-users; removed by fleetmon keys revoke.',
    `# ${account} (the monitor) may run the root helper that lists and kills tmux sessions of every user, nothing else.`,
    `Defaults!${helper} !requiretty`,
    `${account} ALL=(root) NOPASSWD: ${helper}`,
    '',
  ].join('\n');
}

export const NO_SUDO_NOTE =
  "sudo or visudo is not installed: the monitor sees only its own account's tmux sessions (install sudo and re-run with --all-users)";

async function hasSudo(shell: RemoteShell): Promise<boolean> {
  return (await shell.exec(shScript('[ -x /usr/bin/sudo ] && command -v visudo >/dev/null 2>&1'))).code === 0;
}

const checkHelper = (shell: RemoteShell, f: AllUsersFiles) => checkRootFile(shell, helperPath(f.libDir), f.helperScript, '755');
const checkSudoers = (shell: RemoteShell, f: AllUsersFiles) => checkRootFile(shell, f.sudoersFile, sudoersRule(f.account, f.libDir), '440');

/** keys deploy --all-users: the helper (root-owned 0755), then the drop-in that lets the account run it. */
export function allUsersSteps(shell: RemoteShell, f: AllUsersFiles, warnings: string[]): Step[] {
  return [
    {
      id: 'helper',
      title: `helper ${helperPath(f.libDir)}`,
      check: () => checkHelper(shell, f),
      apply: async () => {
        await shell.upload(helperPath(f.libDir), f.helperScript, { mode: 0o755, owner: 'root', group: 'root' });
      },
    },
    sudoersStep(shell, f, warnings),
  ];
}

/**
 * The sudoers drop-in, root-owned 0440. Written beside its place under a name sudo ignores (a leading '.'),
 * checked with `visudo -cf`, then renamed into place: a broken file would lock every sudo user out. Where sudo is
 * missing the step does nothing and says so (sessions of the service account only, as without --all-users).
 */
function sudoersStep(shell: RemoteShell, f: AllUsersFiles, warnings: string[]): Step {
  const file = f.sudoersFile;
  return {
    id: 'sudoers',
    title: `sudoers rule ${file}`,
    check: async (): Promise<StepCheck> => {
      if (!(await hasSudo(shell))) {
        if (!warnings.includes(NO_SUDO_NOTE)) warnings.push(NO_SUDO_NOTE);
        return { ok: true };
      }
      return checkSudoers(shell, f);
    },
    apply: async () => {
      const dir = file.slice(0, file.lastIndexOf('/')) || '/';
      const tmp = `${dir}/.${file.slice(file.lastIndexOf('/') + 1)}.fleetmon-new`;
      await shell.upload(tmp, sudoersRule(f.account, f.libDir), { mode: 0o440, owner: 'root', group: 'root' });
      const r = await shell.exec(shScript('if visudo -cf "$1" >&2; then mv -f -- "$1" "$2"; else rc=$?; rm -f -- "$1"; exit "$rc"; fi', tmp, file));
      if (r.code !== 0) {
        throw new FleetmonError('SUDOERS_INVALID', `${shell.host}: visudo refused the sudoers rule for ${file}, nothing was installed: ${r.stderr.trim()}`, {
          kind: 'ssh',
          suggestions: ['check the --account and --lib-dir values; deploy without --all-users to skip the rule'],
        });
      }
    },
  };
}

export type AllUsersFileState = 'current' | 'differs' | 'missing';

/** Where the helper and the drop-in stand on a host, judged by the same checks the install steps make. */
export interface AllUsersState {
  helper: AllUsersFileState;
  sudoers: AllUsersFileState;
  /** sudo and visudo are there; without them no rule is installed and the monitor sees its own account's sessions. */
  sudo: boolean;
  /** What the checks found where a file is not current ("helper: content differs"). */
  detail?: string;
}

function fileState(c: StepCheck): AllUsersFileState {
  return c.ok ? 'current' : c.detail === 'missing' ? 'missing' : 'differs';
}

/** Reads the helper's and the drop-in's state, changing nothing. */
export async function readAllUsersState(shell: RemoteShell, f: AllUsersFiles): Promise<AllUsersState> {
  const [helper, sudoers, sudo] = [await checkHelper(shell, f), await checkSudoers(shell, f), await hasSudo(shell)];
  const detail = [
    ...(helper.ok ? [] : [`helper: ${helper.detail ?? 'differs'}`]),
    ...(sudoers.ok ? [] : [`sudoers rule: ${sudoers.detail ?? 'differs'}`]),
  ].join('; ');
  return { helper: fileState(helper), sudoers: fileState(sudoers), sudo, ...(detail ? { detail } : {}) };
}

/**
 * Removes the drop-in, then the helper (a dangling symlink counts as there); true when either was there. The rule
 * goes first: nothing should be left that lets the account run something as root that is no longer fleetmon's.
 */
export async function removeAllUsers(shell: RemoteShell, sudoersFile: string, libDir: string): Promise<boolean> {
  const gone = await shell.exec(
    shScript('r=1; for f do if [ -e "$f" ] || [ -h "$f" ]; then rm -f -- "$f" || exit 2; r=0; fi; done; exit "$r"', sudoersFile, helperPath(libDir)),
  );
  if (gone.code === 2) {
    throw new FleetmonError('ALL_USERS_REMOVE_FAILED', `${shell.host}: cannot remove ${sudoersFile} or ${helperPath(libDir)}: ${gone.stderr.trim()}`, {
      kind: 'ssh',
      suggestions: ['check that the admin login can write /etc/sudoers.d (root, or a sudo user), then run it again'],
    });
  }
  return gone.code === 0;
}

/** fleet.yml's `all_users: false`: neither the drop-in nor the helper is on the host (the key stays). */
export function allUsersOffStep(shell: RemoteShell, sudoersFile: string, libDir: string): Step {
  return {
    id: 'all-users-off',
    title: `no all-users helper or sudoers rule (${sudoersFile})`,
    check: async () => {
      const r = await shell.check(shScript('for f do if [ -e "$f" ] || [ -h "$f" ]; then printf "%s\\n" "$f"; fi; done', sudoersFile, helperPath(libDir)), {
        what: `look for ${sudoersFile}`,
      });
      const there = r.split('\n').filter(Boolean);
      return there.length ? { ok: false, detail: `${there.join(' and ')} present` } : { ok: true };
    },
    apply: async () => {
      await removeAllUsers(shell, sudoersFile, libDir);
    },
  };
}
