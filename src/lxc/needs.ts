/**
 * Which Proxmox privileges, on which ACL paths, a plan needs: all of the create path's (facts reads each of those
 * paths' permissions up front), or the subset that reconciling an existing container takes.
 */
import type { PrivilegeNeed } from './proxmox/privileges.js';
import type { LxcSpec } from './spec.js';

/** Privileges the create path needs (SECURITY.md; pve-container create_vm). */
export function createNeedsFor(spec: LxcSpec, vmid: number, major: number, download: boolean): PrivilegeNeed[] {
  const vm = `/vms/${vmid}`;
  const alsoOn = spec.pool ? [`/pool/${spec.pool}`] : undefined;
  const needs: PrivilegeNeed[] = [
    { path: vm, alsoOn, privileges: ['VM.Allocate'], why: 'to create the container' },
    { path: vm, alsoOn, privileges: ['VM.Config.Disk', 'VM.Config.CPU', 'VM.Config.Memory', 'VM.Config.Network', 'VM.Config.Options'], why: 'to configure it' },
    { path: vm, alsoOn, privileges: ['VM.PowerMgmt'], why: 'to start it' },
    { path: vm, alsoOn, privileges: ['VM.Audit'], why: 'to read its status and address' },
    { path: `/storage/${spec.storage}`, privileges: ['Datastore.AllocateSpace'], why: 'to allocate its root disk' },
    { path: `/storage/${spec.templateStorage}`, privileges: ['Datastore.Audit', 'Datastore.AllocateSpace'], any: true, why: 'to use the template' },
  ];
  if (major >= 8) needs.push({ path: `/sdn/zones/localnetwork/${spec.bridge}`, privileges: ['SDN.Use'], why: `to attach eth0 to ${spec.bridge}` });
  if (download) needs.push({ path: `/storage/${spec.templateStorage}`, privileges: ['Datastore.AllocateTemplate'], why: 'to download the Debian 12 template' });
  if (!spec.unprivileged) needs.push({ path: '/', privileges: ['Sys.Modify'], why: 'to create a privileged container' });
  return needs;
}

/** Privileges for the path the plan takes: create, or reconcile an existing container. */
export function privilegeNeeds(
  spec: LxcSpec,
  ctx: { vmid: number; major: number; download: boolean; existing?: boolean; updateKeys?: string[]; resize?: boolean; start?: boolean },
): PrivilegeNeed[] {
  if (!ctx.existing) return createNeedsFor(spec, ctx.vmid, ctx.major, ctx.download);
  const vm = `/vms/${ctx.vmid}`;
  const needs: PrivilegeNeed[] = [{ path: vm, privileges: ['VM.Audit'], why: 'to read its status and address' }];
  if (ctx.start) needs.push({ path: vm, privileges: ['VM.PowerMgmt'], why: 'to start it' });
  const byKey: Record<string, string> = {
    cores: 'VM.Config.CPU', memory: 'VM.Config.Memory', swap: 'VM.Config.Memory', net0: 'VM.Config.Network',
    hostname: 'VM.Config.Options', onboot: 'VM.Config.Options', tags: 'VM.Config.Options', features: 'VM.Allocate',
  };
  for (const key of ctx.updateKeys ?? []) {
    const priv = byKey[key];
    if (priv) needs.push({ path: vm, privileges: [priv], why: `to change ${key}` });
    if (key === 'net0' && ctx.major >= 8) needs.push({ path: `/sdn/zones/localnetwork/${spec.bridge}`, privileges: ['SDN.Use'], why: `to attach eth0 to ${spec.bridge}` });
  }
  if (ctx.resize) needs.push({ path: vm, privileges: ['VM.Config.Disk'], why: 'to grow the root disk' });
  return needs;
}
