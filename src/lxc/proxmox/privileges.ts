/**
 * Which privileges a plan needs on which ACL paths (SECURITY.md, Proxmox section; pve-container's create_vm and
 * check_ct_modify_config_perm), and which of them a token lacks, from its effective permissions
 * (`GET /access/permissions?path=…`). Pure, so it is tested as data and the plan can name every gap at once.
 */
export interface PrivilegeNeed {
  path: string;
  /** All of these are needed, unless `any` (then one is enough). */
  privileges: string[];
  any?: boolean;
  /** Other paths where the same privilege also counts (a pool for guest privileges). */
  alsoOn?: string[];
  why: string;
}

export interface MissingPrivilege {
  path: string;
  privilege: string;
  why: string;
}

/** path → privileges held there (inheritance already applied by the server). */
export type EffectivePermissions = Record<string, readonly string[]>;

export function missingPrivileges(needs: PrivilegeNeed[], perms: EffectivePermissions): MissingPrivilege[] {
  const has = (path: string, priv: string) => perms[path]?.includes(priv) ?? false;
  const out: MissingPrivilege[] = [];
  for (const need of needs) {
    const paths = [need.path, ...(need.alsoOn ?? [])];
    const holds = (priv: string) => paths.some((p) => has(p, priv));
    if (need.any) {
      if (!need.privileges.some(holds)) out.push({ path: need.path, privilege: need.privileges.join(' or '), why: need.why });
      continue;
    }
    for (const priv of need.privileges) if (!holds(priv)) out.push({ path: need.path, privilege: priv, why: need.why });
  }
  return out;
}

/** The paths whose effective permissions a set of needs depends on (to ask the server once per path). */
export function pathsOf(needs: PrivilegeNeed[]): string[] {
  return [...new Set(needs.flatMap((n) => [n.path, ...(n.alsoOn ?? [])]))];
}
