/**
 * `lxc destroy`: stop and remove a container fleetmon created (it carries the fleetmon tag); anything else is refused,
 * and a container that is already gone is success.
 */
import type { ListrTask } from 'listr2';
import { FleetmonError } from '../core/errors.js';
import { runTasks, type Renderer } from '../steps/progress.js';
import type { PveClient, PveResource } from './proxmox/client.js';
import { ProxmoxApiError, callOnce, toFleetmonError } from './proxmox/errors.js';
import { waitForTask } from './proxmox/tasks.js';
import type { Clock } from './proxmox/wait.js';
import { FLEETMON_TAG, checkVmid, splitTags } from './spec.js';

export interface LxcDestroyResult {
  vmid: number;
  node?: string;
  hostname?: string;
  /** False when there was nothing to remove. */
  destroyed: boolean;
  alreadyGone: boolean;
  stopped: boolean;
  /** The user said no at the confirmation: nothing was changed. */
  declined?: boolean;
  tasks: { upid: string; exitstatus: string }[];
}

export interface LxcDestroyDeps {
  client: PveClient;
  clock: Clock;
  renderer: Renderer;
  taskTimeoutMs: number;
  warn?: (message: string) => void;
  /** Refuse a container found on another node (the --node a user gave, as for create). */
  node?: string;
  /**
   * Asked once the container is found and known to be ours, before anything changes: false stops with nothing
   * done (`declined`). Runs outside the progress display, so it may prompt on the terminal.
   */
  confirm?: (ct: { vmid: number; hostname: string; node: string; status: string }) => Promise<boolean>;
}

/** Stops and removes a container fleetmon created (it carries the tag); a container already gone is success. */
export async function destroyLxc(vmid: number, deps: LxcDestroyDeps): Promise<LxcDestroyResult> {
  checkVmid(vmid);
  const { client, clock } = deps;
  const result: LxcDestroyResult = { vmid, destroyed: false, alreadyGone: false, stopped: false, tasks: [] };
  let found: PveResource | undefined;
  const wait = async (what: string, run: () => Promise<string>) => {
    const upid = await callOnce(what, run);
    const res = await waitForTask(client, upid, { clock, deadlineMs: deps.taskTimeoutMs, what });
    result.tasks.push({ upid: res.upid, exitstatus: res.exitstatus });
    for (const w of res.warnings) deps.warn?.(`${what}: ${w}`);
  };
  const gone = (err: unknown) => err instanceof ProxmoxApiError && /does not exist/.test(err.message);
  const find = async () => {
    try {
      found = (await client.resources('vm')).find((r) => r.vmid === vmid);
    } catch (err) {
      throw toFleetmonError(err, 'listing guests');
    }
    if (!found?.node) {
      result.alreadyGone = true;
      return `CT ${vmid} does not exist (nothing to do)`;
    }
    result.node = found.node;
    result.hostname = found.name;
    refuseUnlessOurs(vmid, found);
    if (deps.node && found.node !== deps.node) {
      throw new FleetmonError('PVE_WRONG_NODE', `CT ${vmid} is on node ${found.node}, not ${deps.node}; nothing was removed`, {
        kind: 'conflict',
        suggestions: [`check the VMID, or pass --node ${found.node}`],
      });
    }
    return `Found CT ${vmid} '${found.name ?? ''}' on ${found.node} (${found.status ?? '?'})`;
  };
  const tasks: ListrTask<object>[] = [];
  if (deps.confirm) {
    // Found first, outside the progress display, so that the question can be asked on the terminal.
    await find();
    if (result.alreadyGone) return result;
    const yes = await deps.confirm({ vmid, hostname: found?.name ?? '', node: found?.node ?? '', status: found?.status ?? 'unknown' });
    if (!yes) return { ...result, declined: true };
  } else {
    tasks.push({ title: `Find CT ${vmid}`, task: async (_c, t) => void (t.title = await find()) });
  }
  tasks.push(
    {
      title: `Stop CT ${vmid}`,
      enabled: () => found?.status === 'running',
      task: async () => {
        try {
          await wait(`stopping CT ${vmid}`, () => client.stopLxc(found?.node ?? '', vmid));
          result.stopped = true;
        } catch (err) {
          if (!gone((err as { cause?: unknown }).cause)) throw err;
        }
      },
    },
    {
      title: `Destroy CT ${vmid}`,
      enabled: () => !result.alreadyGone,
      task: async () => {
        try {
          await wait(`destroying CT ${vmid}`, () => client.deleteLxc(found?.node ?? '', vmid));
          result.destroyed = true;
        } catch (err) {
          if (!gone((err as { cause?: unknown }).cause)) throw err;
          result.alreadyGone = true; // removed by someone else in the meantime: the goal holds
        }
      },
    },
  );
  await runTasks(tasks, deps.renderer);
  return result;
}

/** Only a container fleetmon made (it carries the tag), and not while a task holds its lock. */
function refuseUnlessOurs(vmid: number, ct: PveResource): void {
  if (ct.type !== 'lxc') {
    throw new FleetmonError('PVE_VMID_IS_VM', `VMID ${vmid} is a QEMU virtual machine ('${ct.name ?? ''}'), not a container; fleetmon will not remove it`, { kind: 'conflict' });
  }
  if (!splitTags(ct.tags).includes(FLEETMON_TAG)) {
    throw new FleetmonError('LXC_NOT_FLEETMON', `CT ${vmid} '${ct.name ?? ''}' does not carry the '${FLEETMON_TAG}' tag, so fleetmon did not create it and will not remove it`, {
      kind: 'conflict',
      suggestions: ['remove it in the Proxmox web UI if you really mean to'],
    });
  }
  if (ct.lock) throw new FleetmonError('LXC_LOCKED', `CT ${vmid} is locked (${ct.lock})`, { kind: 'conflict', suggestions: ['wait for its task to finish and run the command again'] });
}
