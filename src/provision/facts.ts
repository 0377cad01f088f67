/**
 * What the container looks like now, gathered in one round trip: a POSIX script prints key=value lines and
 * parseFacts (pure) reads them.
 */
import type { RemoteShell } from '../ssh/remote-shell.js';
import { layout, type ProvisionSpec } from './spec.js';

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
