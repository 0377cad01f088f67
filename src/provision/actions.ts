/** The remote work that makes each plan item hold; every action is followed by a fresh check (steps/steps.ts). */
import { createReadStream } from 'node:fs';
import { posix } from 'node:path';
import { FleetmonError } from '../core/errors.js';
import { cleanHostName } from '../core/names.js';
import { lastLines, shScript, type RemoteShell } from '../ssh/remote-shell.js';
import type { bundleStream } from './bundle.js';
import { gatherFacts } from './facts.js';
import { sha256, type PlanItemId, type ProvisionPlan } from './plan.js';
import { layout, type ProvisionSpec } from './spec.js';

/** What the actions work with. */
export interface ActionOptions {
  shell: RemoteShell;
  spec: ProvisionSpec;
  /** The app bundle's tar stream, made only when the app must be uploaded. */
  bundle: () => ReturnType<typeof bundleStream>;
}

/** Releases whose directory names are bundle ids; everything but the two newest (current and previous) goes. */
const INSTALL_RELEASE = [
  'set -eu',
  'releases=$1 id=$2 opt=$3',
  'rel="$releases/$id"',
  'mkdir -p -- "$releases"',
  'rm -rf -- "$rel.partial"',
  'mkdir -- "$rel.partial"',
  'tar -xzf - -C "$rel.partial" --no-same-owner',
  'printf "%s\\n" "$id" > "$rel.partial/.bundle-id"',
  'chown -R root:root -- "$rel.partial"',
  'chmod -R go-w -- "$rel.partial"',
  'rm -rf -- "$rel"',
  'mv -- "$rel.partial" "$rel"',
  'ln -sfn -- "releases/$id" "$opt/current.tmp"',
  'mv -Tf -- "$opt/current.tmp" "$opt/current"',
  'cd "$releases"',
  'ls -1t | tail -n +3 | while IFS= read -r old; do',
  '  case $old in "$id") ;; *[!0-9a-f]*) ;; ????????????????) rm -rf -- "$old" ;; esac',
  'done',
].join('\n');

/** The actions that make each plan item hold. */
export function actions(o: ActionOptions, plan: () => ProvisionPlan): Record<PlanItemId, () => Promise<void>> {
  const { shell, spec } = o;
  const l = layout(spec);
  const user = spec.serviceUser;
  const long = 15 * 60_000;
  const invalidate = () => shell.check(['rm', '-f', '--', l.applied], { what: 'invalidate the restart stamp' });
  return {
    packages: async () => {
      const facts = await gatherFacts(shell, spec);
      const missing = spec.packages.filter((p) => !facts.packages[p]);
      await shell.check(['env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', 'update', '-qq'], { timeoutMs: long, what: 'apt-get update' });
      await shell.check(['env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', 'install', '-y', '-qq', '--no-install-recommends', ...missing], {
        timeoutMs: long,
        what: 'apt-get install',
      });
    },
    user: async () => {
      const r = await shell.exec(['useradd', '--system', '--user-group', '--home-dir', spec.dataDir, '--no-create-home', '--shell', '/usr/sbin/nologin', '--comment', 'fleetmon server', user]);
      if (r.code !== 0 && r.code !== 9) throw new FleetmonError('USERADD_FAILED', `useradd ${user}: ${lastLines(r.stderr)}`, { kind: 'ssh' });
    },
    dirs: async () => {
      await shell.check(
        shScript(
          'set -e; install -d -- "$1" "$2" "$3"; chown root:root -- "$1"; chmod 0755 -- "$1"; chown "root:$4" -- "$2"; chmod 0750 -- "$2"; chown "$4:$4" -- "$3"; chmod 0750 -- "$3"',
          spec.optDir,
          spec.configDir,
          spec.dataDir,
          user,
        ),
        { what: 'create directories' },
      );
    },
    node: async () => {
      await invalidate();
      const p = plan();
      if (p.runtime.method === 'upload') {
        await shell.check(['install', '-d', '-m', '0755', '--', posix.dirname(l.runtimeNode)]);
        await shell.upload(l.runtimeNode, createReadStream(spec.controller.execPath), { mode: 0o755, timeoutMs: long });
      } else {
        await shell.check(['sh', '-s'], { stdin: p.files.nodesourceScript!, timeoutMs: long, what: 'installing Node.js from NodeSource' });
      }
    },
    app: async () => {
      await invalidate();
      const { stream, done } = o.bundle();
      const r = await shell.exec(shScript(INSTALL_RELEASE, l.releases, spec.bundle.id, spec.optDir), { stdin: stream, timeoutMs: long });
      await done;
      if (r.code !== 0) throw new FleetmonError('APP_INSTALL_FAILED', `installing the app failed: ${lastLines(r.stderr)}`, { kind: 'ssh' });
      if (plan().rebuildNative) {
        // Native modules were built for the controller's platform: rebuild them for this one (fetches prebuilt
        // binaries or compiles, so it needs network).
        await shell.check(shScript('cd "$1" && npm rebuild --omit=dev', posix.join(l.releases, spec.bundle.id)), { timeoutMs: long, what: 'npm rebuild' });
      }
    },
    cli: async () => {
      await shell.upload(spec.cliPath, plan().files.cli, { mode: 0o755 });
    },
    config: async () => {
      const p = plan();
      const facts = await gatherFacts(shell, spec);
      const rendered = p.files.hostsYml;
      const edited = facts.config.sha !== null && facts.config.sha !== sha256(rendered) && facts.config.stamp !== facts.config.sha;
      if (!edited) {
        if (facts.config.sha !== sha256(rendered)) await invalidate();
        await shell.upload(l.configPath, rendered, { mode: 0o640, owner: 'root', group: user });
        await shell.upload(l.configStamp, `${sha256(rendered)}\n`, { mode: 0o644 });
      } else {
        await shell.check(['sh', '-c', 'chown "root:$1" -- "$2" && chmod 0640 -- "$2"', 'fleetmon', user, l.configPath]);
      }
    },
    'ssh-key': async () => {
      const dir = posix.dirname(l.keyPath);
      await shell.check(
        shScript(
          'set -e; install -d -o "$1" -g "$1" -m 0700 -- "$2"; ' +
            'if [ ! -e "$3" ]; then runuser -u "$1" -- ssh-keygen -q -t ed25519 -N "" -C "$4" -f "$3"; fi; ' +
            'chown "$1:$1" -- "$3"; chmod 0600 -- "$3"; ' +
            'if [ ! -s "$3.pub" ]; then ssh-keygen -y -f "$3" > "$3.pub"; chown "$1:$1" -- "$3.pub"; chmod 0644 -- "$3.pub"; fi',
          user,
          dir,
          l.keyPath,
          `fleetmon@${cleanHostName((await gatherFacts(shell, spec)).hostname, 'fleetmon')}`,
        ),
        { what: 'fleet SSH key' },
      );
    },
    unit: async () => {
      await invalidate();
      await shell.upload(l.unitPath, plan().files.unit, { mode: 0o644 });
    },
    'daemon-reload': async () => {
      await shell.check(['systemctl', 'daemon-reload']);
    },
    enable: async () => {
      await shell.check(['systemctl', 'enable', '--quiet', spec.unitName], { what: `systemctl enable ${spec.unitName}` });
    },
    restart: async () => {
      const stamp = plan().stamp;
      await shell.check(['systemctl', 'restart', spec.unitName], { what: `systemctl restart ${spec.unitName}` });
      await shell.upload(l.applied, `${stamp}\n`, { mode: 0o644 });
    },
  };
}
