/**
 * `fleetmon provision --host ADDRESS`: turn a Debian 12 machine (the monitor's LXC container) into a running
 * fleetmon server, over SSH as root or a sudo user.
 *
 * Plan then apply. One remote script gathers the facts (gatherFacts); planProvision(spec, facts) is pure and says,
 * item by item, what would change; each item then becomes a checked step (steps.ts): its check re-plans from
 * fresh facts, so a step is applied only when needed and verified right after. A second run finds nothing to do
 * and says so; a run after a fleetmon upgrade installs the new release and restarts the service.
 *
 * Layout in the container:
 *   /opt/fleetmon/releases/<bundle id>/   the app (root-owned), /opt/fleetmon/current → the active release
 *   /opt/fleetmon/runtime/bin/node        the copied Node.js runtime (when copied; else NodeSource's /usr/bin/node)
 *   /etc/fleetmon/hosts.yml               rendered once; never overwritten once the user edited it
 *   /var/lib/fleetmon/                    data (StateDirectory), owned by the service user; ssh/id_ed25519 the fleet key
 *   /etc/systemd/system/fleetmon.service  rendered unit; /usr/local/bin/fleetmon a CLI wrapper
 *   /opt/fleetmon/.applied                what the running service was last (re)started with, so a change to the
 *                                         unit, app, runtime or config triggers exactly one restart, even after a
 *                                         failed run
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { posix } from 'node:path';
import { FleetmonError } from '../core/errors.js';
import { cleanHostName } from '../core/names.js';
import { CLI_NODE_FLAGS, SERVE_NODE_FLAGS } from '../paths.js';
import { bundleStream, type Bundle } from './bundle.js';
import { readTemplateAsset, renderTemplate } from './render.js';
import { chooseRuntime, nodeMajor, NODESOURCE_KEY_FINGERPRINT, type ControllerRuntime, type RuntimeChoice } from './runtime.js';
import { RemoteShell, lastLines, shScript } from '../ssh/remote-shell.js';
import { runTasks, type Renderer } from '../steps/progress.js';
import { stepTasks, type Step, type StepResult } from '../steps/steps.js';

export interface ProvisionSpec {
  /** The address the operator used (for the dashboard URL). */
  address: string;
  serviceUser: string;
  optDir: string;
  configDir: string;
  dataDir: string;
  unitName: string;
  cliPath: string;
  listenHost: string;
  listenPort: number;
  bundle: Pick<Bundle, 'id' | 'version'>;
  controller: ControllerRuntime;
  nodePreference: 'auto' | 'upload' | 'nodesource';
  packages: string[];
}

export const DEFAULT_SPEC = {
  serviceUser: 'fleetmon',
  optDir: '/opt/fleetmon',
  configDir: '/etc/fleetmon',
  dataDir: '/var/lib/fleetmon',
  unitName: 'fleetmon.service',
  cliPath: '/usr/local/bin/fleetmon',
  listenHost: '0.0.0.0',
  listenPort: 8080,
  nodePreference: 'auto' as const,
  // ssh-keygen for the fleet key; CA certificates for HTTPS (NodeSource, alert webhooks).
  packages: ['ca-certificates', 'openssh-client'],
};

export interface ProvisionFacts {
  os: { id: string; version: string; pretty: string };
  machine: string;
  glibc: string | null;
  systemd: boolean;
  hostname: string;
  packages: Record<string, boolean>;
  nodeRuntime: string | null;
  nodeSystem: string | null;
  nodesourceRepo: boolean;
  userExists: boolean;
  /** owner:group:mode, or 'missing'. */
  dirs: { opt: string; etc: string; data: string };
  release: string | null;
  config: { sha: string | null; stamp: string | null; stat: string };
  key: { stat: string; pub: string | null };
  unitSha: string | null;
  cliSha: string | null;
  service: { needReload: boolean; enabled: string; active: string } | null;
  applied: string | null;
}

/** Paths derived from the spec. */
export function layout(spec: ProvisionSpec) {
  return {
    runtimeNode: posix.join(spec.optDir, 'runtime', 'bin', 'node'),
    releases: posix.join(spec.optDir, 'releases'),
    appDir: posix.join(spec.optDir, 'current'),
    applied: posix.join(spec.optDir, '.applied'),
    configPath: posix.join(spec.configDir, 'hosts.yml'),
    configStamp: posix.join(spec.configDir, '.hosts.yml.rendered-sha256'),
    keyPath: posix.join(spec.dataDir, 'ssh', 'id_ed25519'),
    tokenPath: posix.join(spec.dataDir, 'api-token'),
    unitPath: posix.join('/etc/systemd/system', spec.unitName),
  };
}

/**
 * Gathers every fact in one round trip. Arguments: unit opt etc data user cli node-path packages…
 * Output: key=value lines (values are single-line by construction).
 */
export const FACTS_SCRIPT = [
  'unit=$1 opt=$2 etc=$3 data=$4 user=$5 cli=$6 node_path=$7',
  '[ "$#" -ge 7 ] || exit 2',
  'shift 7',
  'st() { if [ -e "$1" ]; then stat -c "%U:%G:%a" -- "$1"; else echo missing; fi; }',
  'sha() { if [ -f "$1" ]; then sha256sum -- "$1" | cut -d" " -f1; else echo missing; fi; }',
  '( . /etc/os-release 2>/dev/null; printf "os.id=%s\\nos.version=%s\\nos.pretty=%s\\n" "${ID:-}" "${VERSION_ID:-}" "${PRETTY_NAME:-}" )',
  'printf "machine=%s\\n" "$(uname -m)"',
  'printf "glibc=%s\\n" "$(getconf GNU_LIBC_VERSION 2>/dev/null | sed "s/^glibc //")"',
  'if [ -d /run/systemd/system ]; then echo systemd=yes; else echo systemd=no; fi',
  'printf "hostname=%s\\n" "$(hostname 2>/dev/null || cat /etc/hostname)"',
  'for p in "$@"; do s=$(dpkg-query -W -f="\\${db:Status-Abbrev}" "$p" 2>/dev/null); case $s in ii*) v=yes ;; *) v=no ;; esac; printf "pkg.%s=%s\\n" "$p" "$v"; done',
  'printf "node.runtime=%s\\n" "$([ -x "$node_path" ] && "$node_path" --version 2>/dev/null)"',
  'printf "node.system=%s\\n" "$([ -x /usr/bin/node ] && /usr/bin/node --version 2>/dev/null)"',
  'if [ -f /etc/apt/sources.list.d/nodesource.sources ]; then echo node.nodesource=yes; else echo node.nodesource=no; fi',
  'if getent passwd "$user" >/dev/null; then echo user=yes; else echo user=no; fi',
  'printf "dir.opt=%s\\ndir.etc=%s\\ndir.data=%s\\n" "$(st "$opt")" "$(st "$etc")" "$(st "$data")"',
  'printf "release=%s\\n" "$(head -n1 "$opt/current/.bundle-id" 2>/dev/null)"',
  'printf "config.sha=%s\\nconfig.stamp=%s\\nconfig.stat=%s\\n" "$(sha "$etc/hosts.yml")" "$(head -n1 "$etc/.hosts.yml.rendered-sha256" 2>/dev/null)" "$(st "$etc/hosts.yml")"',
  'printf "key.stat=%s\\nkey.pub=%s\\n" "$(st "$data/ssh/id_ed25519")" "$(head -n1 "$data/ssh/id_ed25519.pub" 2>/dev/null)"',
  'printf "unit.sha=%s\\ncli.sha=%s\\n" "$(sha "/etc/systemd/system/$unit")" "$(sha "$cli")"',
  'if [ -d /run/systemd/system ]; then',
  '  printf "service.reload=%s\\n" "$(systemctl show -p NeedDaemonReload --value "$unit" 2>/dev/null)"',
  '  printf "service.enabled=%s\\n" "$(systemctl is-enabled "$unit" 2>/dev/null)"',
  '  printf "service.active=%s\\n" "$(systemctl is-active "$unit" 2>/dev/null)"',
  'fi',
  'printf "applied=%s\\n" "$(head -n1 "$opt/.applied" 2>/dev/null)"',
].join('\n');

/** Parses FACTS_SCRIPT's output (pure). */
export function parseFacts(output: string, packages: string[]): ProvisionFacts {
  const kv = new Map<string, string>();
  for (const line of output.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) kv.set(line.slice(0, i), line.slice(i + 1));
  }
  const get = (k: string) => kv.get(k) ?? '';
  const orNull = (k: string) => {
    const v = get(k);
    return v === '' || v === 'missing' ? null : v;
  };
  return {
    os: { id: get('os.id'), version: get('os.version'), pretty: get('os.pretty') },
    machine: get('machine'),
    glibc: orNull('glibc'),
    systemd: get('systemd') === 'yes',
    hostname: get('hostname'),
    packages: Object.fromEntries(packages.map((p) => [p, get(`pkg.${p}`) === 'yes'])),
    nodeRuntime: orNull('node.runtime'),
    nodeSystem: orNull('node.system'),
    nodesourceRepo: get('node.nodesource') === 'yes',
    userExists: get('user') === 'yes',
    dirs: { opt: get('dir.opt') || 'missing', etc: get('dir.etc') || 'missing', data: get('dir.data') || 'missing' },
    release: orNull('release'),
    config: { sha: orNull('config.sha'), stamp: orNull('config.stamp'), stat: get('config.stat') || 'missing' },
    key: { stat: get('key.stat') || 'missing', pub: orNull('key.pub') },
    unitSha: orNull('unit.sha'),
    cliSha: orNull('cli.sha'),
    service: kv.has('service.active')
      ? { needReload: get('service.reload') === 'yes', enabled: get('service.enabled'), active: get('service.active') }
      : null,
    applied: orNull('applied'),
  };
}

export async function gatherFacts(shell: RemoteShell, spec: ProvisionSpec): Promise<ProvisionFacts> {
  const l = layout(spec);
  const out = await shell.check(
    ['sh', '-c', FACTS_SCRIPT, 'fleetmon-facts', spec.unitName, spec.optDir, spec.configDir, spec.dataDir, spec.serviceUser, spec.cliPath, l.runtimeNode, ...spec.packages],
    { what: 'gathering facts' },
  );
  return parseFacts(out, spec.packages);
}

export type PlanItemId =
  | 'packages'
  | 'user'
  | 'dirs'
  | 'node'
  | 'app'
  | 'cli'
  | 'config'
  | 'ssh-key'
  | 'unit'
  | 'daemon-reload'
  | 'enable'
  | 'restart';

export interface PlanItem {
  id: PlanItemId;
  title: string;
  change: boolean;
  /** What was found / what would be done. */
  detail: string;
}

export interface ProvisionPlan {
  /** Reasons provisioning cannot go on (wrong OS, no systemd…); empty when it can. */
  blockers: string[];
  runtime: RuntimeChoice;
  nodePath: string;
  /** The controller and container differ in platform: native modules must be rebuilt there (needs network). */
  rebuildNative: boolean;
  items: PlanItem[];
  files: { unit: string; hostsYml: string; cli: string; nodesourceScript: string | null };
  /** What the service runs with once every item is applied (written to .applied after a restart). */
  stamp: string;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/** Pure: what must change on the container for it to match the spec. `render` is injectable for tests. */
export function planProvision(spec: ProvisionSpec, facts: ProvisionFacts, render = renderTemplate): ProvisionPlan {
  const l = layout(spec);
  const blockers: string[] = [];
  if (facts.os.id !== 'debian' || facts.os.version !== '12') {
    blockers.push(`the target runs ${facts.os.pretty || `${facts.os.id || 'an unknown OS'} ${facts.os.version}`.trim()}; fleetmon provision supports Debian 12 (bookworm) only`);
  }
  if (!facts.systemd) blockers.push('systemd is not running on the target (PID 1 is not systemd), so there is no service to install');

  const runtime = chooseRuntime(spec.controller, { machine: facts.machine, glibc: facts.glibc }, spec.nodePreference);
  const nodePath = runtime.method === 'upload' ? l.runtimeNode : '/usr/bin/node';
  const rebuildNative = !(spec.controller.platform === 'linux' && machineMatches(spec.controller.arch, facts.machine));
  const user = spec.serviceUser;
  const unit = render('fleetmon.service', {
    unitName: spec.unitName,
    user,
    group: user,
    nodePath,
    nodeFlags: SERVE_NODE_FLAGS,
    appDir: l.appDir,
    configPath: l.configPath,
    stateDirectory: posix.basename(spec.dataDir),
    bindsPrivilegedPort: spec.listenPort > 0 && spec.listenPort < 1024,
  });
  const hostsYml = render('hosts.yml', {
    unitName: spec.unitName,
    sshUser: 'fleetmon',
    keyPath: l.keyPath,
    listenHost: spec.listenHost,
    listenPort: spec.listenPort,
    dataDir: spec.dataDir,
    localName: cleanHostName(facts.hostname, 'fleetmon'),
  });
  const cli = render('fleetmon-cli.sh', { nodePath, nodeFlags: CLI_NODE_FLAGS, appDir: l.appDir });
  const nodesourceScript =
    runtime.method === 'nodesource'
      ? render('nodesource-install.sh', { nodeMajor: runtime.major, keyArmored: readTemplateAsset('nodesource-repo.asc'), keyFingerprint: NODESOURCE_KEY_FINGERPRINT })
      : null;

  const items: PlanItem[] = [];
  const add = (id: PlanItemId, title: string, change: boolean, detail: string) => items.push({ id, title, change, detail });

  const missing = spec.packages.filter((p) => !facts.packages[p]);
  add('packages', 'apt packages', missing.length > 0, missing.length ? `install ${missing.join(', ')}` : `${spec.packages.join(', ')} present`);
  add('user', `system user ${user}`, !facts.userExists, facts.userExists ? 'exists' : 'create');
  const wantDirs = { opt: 'root:root:755', etc: `root:${user}:750`, data: `${user}:${user}:750` };
  const wrongDirs = (Object.keys(wantDirs) as Array<keyof typeof wantDirs>).filter((k) => facts.dirs[k] !== wantDirs[k]);
  add(
    'dirs',
    `${spec.optDir}, ${spec.configDir}, ${spec.dataDir}`,
    wrongDirs.length > 0,
    wrongDirs.length ? wrongDirs.map((k) => `${k}: ${facts.dirs[k]} → ${wantDirs[k]}`).join('; ') : 'present',
  );
  if (runtime.method === 'upload') {
    const ok = facts.nodeRuntime === runtime.version;
    add('node', `Node.js ${runtime.version} (copied from this machine)`, !ok, ok ? `${l.runtimeNode} is ${runtime.version}` : `${facts.nodeRuntime ?? 'none'} → ${runtime.version}: ${runtime.reason}`);
  } else {
    const ok = facts.nodesourceRepo && nodeMajor(facts.nodeSystem ?? '') === runtime.major;
    add('node', `Node.js ${runtime.major}.x (NodeSource)`, !ok, ok ? `/usr/bin/node is ${facts.nodeSystem}` : `${facts.nodeSystem ?? 'none'} → ${runtime.major}.x: ${runtime.reason}`);
  }
  add('app', `fleetmon ${spec.bundle.version} (${spec.bundle.id})`, facts.release !== spec.bundle.id, facts.release === spec.bundle.id ? 'installed' : `${facts.release ?? 'none'} → ${spec.bundle.id}`);
  add('cli', `${spec.cliPath}`, facts.cliSha !== sha256(cli), facts.cliSha === null ? 'create' : facts.cliSha === sha256(cli) ? 'up to date' : 'update');

  const wantConfigStat = `root:${user}:640`;
  let configChange = false;
  let configDetail: string;
  let configShaAfter = facts.config.sha;
  if (facts.config.sha === null) {
    configChange = true;
    configDetail = 'create';
    configShaAfter = sha256(hostsYml);
  } else if (facts.config.sha === sha256(hostsYml)) {
    configChange = facts.config.stat !== wantConfigStat || facts.config.stamp !== facts.config.sha;
    configDetail = configChange ? `fix ${facts.config.stat} → ${wantConfigStat}` : 'up to date';
  } else if (facts.config.stamp === facts.config.sha) {
    configChange = true;
    configDetail = 'update (not edited since fleetmon wrote it)';
    configShaAfter = sha256(hostsYml);
  } else {
    configChange = facts.config.stat !== wantConfigStat;
    configDetail = configChange ? `edited by you: content kept; fix ${facts.config.stat} → ${wantConfigStat}` : 'edited by you: kept as it is';
  }
  add('config', l.configPath, configChange, configDetail);

  const wantKey = `${user}:${user}:600`;
  const keyOk = facts.key.stat === wantKey && facts.key.pub !== null;
  add('ssh-key', `fleet SSH key ${l.keyPath}`, !keyOk, keyOk ? 'present (kept)' : facts.key.stat === 'missing' ? 'create (ed25519)' : `fix ${facts.key.stat}${facts.key.pub ? '' : ', public half missing'}`);

  const unitChange = facts.unitSha !== sha256(unit);
  add('unit', l.unitPath, unitChange, facts.unitSha === null ? 'create' : unitChange ? 'update' : 'up to date');
  const svc = facts.service;
  const reload = unitChange || (svc?.needReload ?? false);
  add('daemon-reload', 'systemctl daemon-reload', reload, reload ? 'unit file changed' : 'not needed');
  const enabled = svc?.enabled === 'enabled';
  add('enable', `enable ${spec.unitName}`, !enabled, enabled ? 'enabled' : `${svc?.enabled || 'not enabled'} → enabled`);

  const stamp = sha256([sha256(unit), spec.bundle.id, runtime.method === 'upload' ? runtime.version : `nodesource-${runtime.major}`, configShaAfter ?? ''].join('\n'));
  const active = svc?.active === 'active';
  // Anything the service reads being rewritten now means a restart, even if the result equals what it was last
  // started with (someone edited the unit and restarted it by hand). Applying such an item also deletes the
  // .applied stamp, so the restart still happens when this run fails before reaching it.
  const rewrites = items.some((i) => i.change && ['node', 'app', 'unit'].includes(i.id)) || (configChange && configShaAfter !== facts.config.sha);
  const restart = !active || facts.applied !== stamp || rewrites;
  add('restart', `${active ? 'restart' : 'start'} ${spec.unitName}`, restart, !active ? `${svc?.active || 'not running'} → start` : restart ? 'running an older app, unit, runtime or config' : 'running the current release');

  return { blockers, runtime, nodePath, rebuildNative, items, files: { unit, hostsYml, cli, nodesourceScript }, stamp };
}

function machineMatches(arch: string, machine: string): boolean {
  return (arch === 'x64' && machine === 'x86_64') || (arch === 'arm64' && (machine === 'aarch64' || machine === 'arm64'));
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

const HEALTH_SCRIPT = `const [url, ms] = process.argv.slice(1);
const until = Date.now() + Number(ms);
let last = 'no answer';
(async () => {
  while (Date.now() < until) {
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(3000) });
      const t = await r.text();
      if (r.ok && JSON.parse(t).status === 'ok') { console.log(t); return; }
      last = r.status + ' ' + t.slice(0, 200);
    } catch (e) { last = String(e && e.message); }
    await new Promise((r) => setTimeout(r, 500));
  }
  console.error(last);
  process.exit(1);
})();`;

export interface ProvisionOptions {
  shell: RemoteShell;
  spec: ProvisionSpec;
  /** The app bundle's tar stream, made only when the app must be uploaded. */
  bundle: () => ReturnType<typeof bundleStream>;
  dryRun?: boolean;
  renderer?: Renderer;
  healthTimeoutMs?: number;
}

export interface ProvisionResult {
  host: string;
  hostKey: { type: string; fingerprint: string };
  dryRun: boolean;
  /** Something was (or, on a dry run, would be) changed. */
  changed: boolean;
  runtime: RuntimeChoice;
  bundle: { id: string; version: string };
  steps: StepResult[];
  health: { ok: boolean; detail: string } | null;
  dashboardUrl: string;
  tokenPath: string;
  configPath: string;
  publicKey: string | null;
  nextCommand: string | null;
}

/** The actions that make each plan item hold. */
function actions(o: ProvisionOptions, plan: () => ProvisionPlan): Record<PlanItemId, () => Promise<void>> {
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

/** Plans, applies (unless dry run), waits for /health, and reports. */
export async function provision(o: ProvisionOptions): Promise<ProvisionResult> {
  const { shell, spec } = o;
  const l = layout(spec);
  const dryRun = o.dryRun ?? false;
  let facts: ProvisionFacts | null = await gatherFacts(shell, spec);
  let current = planProvision(spec, facts);
  if (current.blockers.length > 0) {
    throw new FleetmonError('TARGET_UNSUPPORTED', `${shell.host}: ${current.blockers.join('; ')}`, {
      kind: 'usage',
      suggestions: ['create the container from a Debian 12 template with nesting=1 (`fleetmon lxc create`)'],
    });
  }
  const fresh = async (): Promise<ProvisionPlan> => {
    if (!facts) {
      facts = await gatherFacts(shell, spec);
      current = planProvision(spec, facts);
    }
    return current;
  };
  const act = actions(o, () => current);
  const steps: Step[] = current.items.map((item) => ({
    id: item.id,
    title: item.title,
    check: async () => {
      const it = (await fresh()).items.find((i) => i.id === item.id)!;
      return { ok: !it.change, detail: it.detail };
    },
    apply: async () => {
      try {
        await act[item.id]();
      } finally {
        facts = null; // the next check looks again
      }
    },
  }));
  const results: StepResult[] = [];
  let health: ProvisionResult['health'] = null;
  const tasks = [
    ...stepTasks(steps, results, dryRun),
    {
      title: `waiting for ${spec.unitName} to answer /health`,
      skip: () => dryRun,
      task: async () => {
        health = await waitHealthy(shell, spec, (await fresh()).nodePath, o.healthTimeoutMs ?? 90_000);
        if (!health.ok) throw new FleetmonError('HEALTH_TIMEOUT', `${spec.unitName} did not become healthy: ${health.detail}`, {
          kind: 'timeout',
          suggestions: [`look at the service log: journalctl -u ${spec.unitName}`, 're-run provision once fixed; it resumes where it stopped'],
        });
      },
    },
  ];
  try {
    await runTasks(tasks, o.renderer ?? 'silent');
  } catch (err) {
    if (err instanceof FleetmonError) (err as FleetmonError & { stepResults?: StepResult[] }).stepResults = results;
    throw err;
  }
  const final = await gatherFacts(shell, spec);
  const changed = results.some((r) => r.status === 'changed' || r.status === 'planned');
  const dashboardUrl = `http://${spec.address.includes(':') ? `[${spec.address}]` : spec.address}:${spec.listenPort}/`;
  const publicKey = final.key.pub;
  return {
    host: shell.host,
    hostKey: shell.hostKey,
    dryRun,
    changed,
    runtime: current.runtime,
    bundle: { id: spec.bundle.id, version: spec.bundle.version },
    steps: results,
    health,
    dashboardUrl,
    tokenPath: l.tokenPath,
    configPath: l.configPath,
    publicKey,
    // Run on the container itself: the pins land in the live hosts.yml, and the private key there verifies the login.
    nextCommand: publicKey
      ? `ssh -t ${shell.username}@${spec.address} fleetmon keys deploy --config ${l.configPath} --key ${l.keyPath}.pub HOST…`
      : null,
  };
}

async function waitHealthy(shell: RemoteShell, spec: ProvisionSpec, nodePath: string, timeoutMs: number): Promise<{ ok: boolean; detail: string }> {
  const host = spec.listenHost === '0.0.0.0' || spec.listenHost === '::' ? '127.0.0.1' : spec.listenHost;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${spec.listenPort}/health`;
  const r = await shell.exec([nodePath, '-e', HEALTH_SCRIPT, url, String(timeoutMs)], { timeoutMs: timeoutMs + 15_000 });
  if (r.code === 0) return { ok: true, detail: `${url} answered ${r.stdout.trim().slice(0, 200)}` };
  const log = await shell.exec(['journalctl', '-u', spec.unitName, '-n', '15', '--no-pager', '-o', 'cat']);
  return { ok: false, detail: `${url}: ${r.stderr.trim() || 'no answer'}${log.stdout.trim() ? `\n${log.stdout.trim()}` : ''}` };
}
