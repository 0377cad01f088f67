/**
 * Which Debian 12 template to use: the newest `debian-12-standard` the node's appliance index (`aplinfo`) offers,
 * downloaded to the template storage when it is not there yet. When the index has none (a node without internet
 * access, or `pveam update` never run) the newest Debian 12 template already on the storage will do.
 */
export interface AplEntry {
  template: string;
  package?: string;
  version?: string;
  os?: string;
  type?: string;
  architecture?: string;
}

export interface TemplateChoice {
  /** File name, e.g. debian-12-standard_12.7-1_amd64.tar.zst */
  template: string;
  /** Volume id on the template storage, e.g. local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst */
  volid: string;
  version: string;
  download: boolean;
}

const DEBIAN12 = /^debian-12-standard_(12\.[0-9][0-9.]*-\d+)_amd64\.tar\.(?:zst|xz|gz)$/;

/** Numeric, segment by segment: 12.12-1 > 12.7-1 > 12.2-1. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.\-_]/).map((x) => Number.parseInt(x, 10) || 0);
  const pb = b.split(/[.\-_]/).map((x) => Number.parseInt(x, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d) return d;
  }
  return 0;
}

export function debian12Version(template: string): string | undefined {
  return DEBIAN12.exec(template)?.[1];
}

export function chooseDebian12Template(aplinfo: AplEntry[], presentVolids: string[], storage: string): TemplateChoice | undefined {
  const newest = (names: string[]) =>
    names
      .map((t) => ({ t, v: debian12Version(t) }))
      .filter((x): x is { t: string; v: string } => x.v !== undefined)
      .sort((a, b) => compareVersions(b.v, a.v))[0];
  const present = presentVolids
    .filter((v) => v.startsWith(`${storage}:vztmpl/`))
    .map((v) => v.slice(`${storage}:vztmpl/`.length));
  const offered = newest(aplinfo.filter((e) => (e.type ?? 'lxc') === 'lxc').map((e) => e.template));
  if (offered) {
    return { template: offered.t, volid: `${storage}:vztmpl/${offered.t}`, version: offered.v, download: !present.includes(offered.t) };
  }
  const local = newest(present);
  if (local) return { template: local.t, volid: `${storage}:vztmpl/${local.t}`, version: local.v, download: false };
  return undefined;
}
