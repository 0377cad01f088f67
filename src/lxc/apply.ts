/**
 * Applying the plan: `lxc create` as listr2 tasks — check (facts → plan, stopping at the first blocker), download the
 * template, create, update (--force), grow the disk, start, then wait for an IPv4 address on eth0 and for SSH. Each
 * step runs only when the plan has it, so a re-run picks up where a failed one stopped.
 */
import type { ListrTask } from 'listr2';
import { FleetmonError } from '../core/errors.js';
import type { SshProbe } from '../ssh/banner.js';
import { runTasks, type Renderer } from '../steps/progress.js';
import type { PveClient } from './proxmox/client.js';
import { ProxmoxApiError, callOnce, toFleetmonError } from './proxmox/errors.js';
import { isTransientReadError, waitForTask, type TaskResult } from './proxmox/tasks.js';
import type { TemplateChoice } from './proxmox/template.js';
import { formatDuration, poll, type Clock } from './proxmox/wait.js';
import { gatherLxcFacts, type LxcFacts } from './facts.js';
import { blockerError, planLxc, type ConfigDifference, type LxcPlan, type StepId } from './plan.js';
import { IPV4_RE, type LxcSpec } from './spec.js';

export interface LxcApplyDeps {
  client: PveClient;
  clock: Clock;
  probeSsh: SshProbe;
  renderer: Renderer;
  timeouts: { taskMs: number; addressMs: number; sshMs: number };
  /** Where warnings go (stderr); the result object carries them too. */
  warn?: (message: string) => void;
  dryRun?: boolean;
}

export interface LxcCreateResult {
  vmid: number;
  node: string;
  hostname: string;
  /** `created`, `existing` (nothing to do), `updated` (--force), `planned` (--dry-run). */
  action: 'created' | 'existing' | 'updated' | 'planned';
  status: string;
  address?: string;
  sshPort: number;
  template?: string;
  templateDownloaded: boolean;
  started: boolean;
  changes: ConfigDifference[];
  warnings: string[];
  tasks: { upid: string; exitstatus: string }[];
  proxmoxVersion: string;
  /** The next command to run. */
  next?: string;
  plan?: { steps: StepId[]; createParams?: Record<string, string | number>; updateParams?: Record<string, string | number> };
}

interface CreateCtx {
  facts?: LxcFacts;
  plan?: LxcPlan;
  address?: string;
  status: string;
  tasks: TaskResult[];
  started: boolean;
  downloaded: boolean;
}

/** One create run: the spec, the ports, and what the tasks find out on the way. */
interface CreateRun {
  spec: LxcSpec;
  deps: LxcApplyDeps;
  ctx: CreateCtx;
}

/** Gather → plan → apply, each a listr2 task, so a terminal shows where a slow create is. */
export async function createLxc(spec: LxcSpec, deps: LxcApplyDeps): Promise<LxcCreateResult> {
  const run: CreateRun = { spec, deps, ctx: { status: 'unknown', tasks: [], started: false, downloaded: false } };
  const tasks = [checkTask, downloadTask, createTask, updateTask, resizeTask, startTask, addressTask, sshTask].map((t) => t(run));
  await runTasks(tasks, deps.renderer, run.ctx);
  return createResult(run);
}

const planOf = (r: CreateRun) => r.ctx.plan as LxcPlan;
/** A step runs when the plan has it, and never on a dry run. */
const wants = (r: CreateRun, id: StepId) => !r.deps.dryRun && (r.ctx.plan?.steps.includes(id) ?? false);
const runningFor = (ms: number) => `running for ${formatDuration(ms)}`;

/** Starts a Proxmox task (the request sent once) and waits for it to succeed; its warnings go to deps.warn. */
async function pveTask(r: CreateRun, what: string, start: () => Promise<string>, onWait?: (ms: number) => void): Promise<TaskResult> {
  const { client, clock, timeouts } = r.deps;
  const upid = await callOnce(what, start);
  const res = await waitForTask(client, upid, { clock, deadlineMs: timeouts.taskMs, what, onWait });
  r.ctx.tasks.push(res);
  for (const w of res.warnings) r.deps.warn?.(`${what}: ${w}`);
  return res;
}

function checkTask(r: CreateRun): ListrTask<CreateCtx> {
  const { ctx, spec, deps } = r;
  return {
    title: 'Check Proxmox VE, node, privileges, storages and bridge',
    task: async (_c, t) => {
      ctx.facts = await gatherLxcFacts(deps.client, spec, (m) => (t.output = m)).catch((err: unknown) => {
        throw toFleetmonError(err, 'checking Proxmox');
      });
      ctx.plan = planLxc(spec, ctx.facts);
      const err = blockerError(ctx.plan);
      if (err) throw err;
      for (const w of ctx.plan.warnings) deps.warn?.(w);
      ctx.status = ctx.facts.existing?.status ?? 'absent';
      t.title = describePlan(ctx.plan, ctx.facts);
    },
  };
}

function downloadTask(r: CreateRun): ListrTask<CreateCtx> {
  return {
    title: 'Download the Debian 12 template',
    enabled: () => wants(r, 'download-template'),
    task: async (_c, t) => {
      const p = planOf(r);
      const tpl = p.template as TemplateChoice;
      t.title = `Download ${tpl.template} to ${r.spec.templateStorage}`;
      await pveTask(r, `download of ${tpl.template}`, () => r.deps.client.downloadTemplate(p.node, r.spec.templateStorage, tpl.template), (ms) => (t.output = runningFor(ms)));
      r.ctx.downloaded = true;
    },
  };
}

function createTask(r: CreateRun): ListrTask<CreateCtx> {
  return {
    title: 'Create the container',
    enabled: () => wants(r, 'create'),
    task: async (_c, t) => {
      const p = planOf(r);
      t.title = `Create CT ${p.vmid} '${p.hostname}' on ${p.node}`;
      await pveTask(r, `creating CT ${p.vmid}`, () => r.deps.client.createLxc(p.node, p.createParams ?? {}), (ms) => (t.output = runningFor(ms)));
      r.ctx.status = 'stopped';
    },
  };
}

function updateTask(r: CreateRun): ListrTask<CreateCtx> {
  return {
    title: 'Update the configuration',
    enabled: () => wants(r, 'update-config'),
    task: async (_c, t) => {
      const p = planOf(r);
      t.title = `Update CT ${p.vmid}: ${Object.keys(p.updateParams ?? {}).filter((k) => k !== 'digest').join(', ')}`;
      await callOnce(`updating CT ${p.vmid}`, () => r.deps.client.updateLxcConfig(p.node, p.vmid, p.updateParams ?? {}));
    },
  };
}

function resizeTask(r: CreateRun): ListrTask<CreateCtx> {
  return {
    title: 'Grow the root disk',
    enabled: () => wants(r, 'resize-disk'),
    task: async (_c, t) => {
      const p = planOf(r);
      t.title = `Grow the root disk of CT ${p.vmid} to ${p.resize?.size ?? ''}`;
      await pveTask(r, `resizing CT ${p.vmid}`, () => r.deps.client.resizeLxcDisk(p.node, p.vmid, 'rootfs', p.resize?.size ?? ''));
    },
  };
}

function startTask(r: CreateRun): ListrTask<CreateCtx> {
  return {
    title: 'Start the container',
    enabled: () => wants(r, 'start'),
    task: async (_c, t) => {
      const p = planOf(r);
      t.title = `Start CT ${p.vmid}`;
      await pveTask(r, `starting CT ${p.vmid}`, () => r.deps.client.startLxc(p.node, p.vmid));
      r.ctx.status = 'running';
      r.ctx.started = true;
    },
  };
}

function addressTask(r: CreateRun): ListrTask<CreateCtx> {
  return {
    title: 'Wait for an IPv4 address on eth0',
    enabled: () => wants(r, 'wait-address'),
    task: async (_c, t) => {
      const p = planOf(r);
      const { client, clock, timeouts } = r.deps;
      r.ctx.address = await waitForAddress(client, p, r.spec, { clock, deadlineMs: timeouts.addressMs, onWait: (ms) => (t.output = `no address yet after ${formatDuration(ms)}`) });
      t.title = `CT ${p.vmid} has address ${r.ctx.address}`;
    },
  };
}

function sshTask(r: CreateRun): ListrTask<CreateCtx> {
  return {
    title: 'Wait for SSH',
    enabled: () => wants(r, 'wait-ssh'),
    task: async (_c, t) => {
      const p = planOf(r);
      const { spec, deps } = r;
      const address = r.ctx.address ?? p.staticAddress;
      if (!address) throw new FleetmonError('LXC_NO_ADDRESS', `CT ${p.vmid} has no known address`, { kind: 'proxmox' });
      r.ctx.address = address;
      t.title = `Wait for SSH on ${address}:${spec.sshPort}`;
      await waitForSsh(deps.probeSsh, address, spec.sshPort, p.vmid, { clock: deps.clock, deadlineMs: deps.timeouts.sshMs, onWait: (ms) => (t.output = `not answering after ${formatDuration(ms)}`) });
      t.title = `SSH answers on ${address}:${spec.sshPort}`;
    },
  };
}

/** The command's result (its --json output) from what the run planned and did. */
function createResult({ spec, deps, ctx }: CreateRun): LxcCreateResult {
  const p = ctx.plan as LxcPlan;
  const facts = ctx.facts as LxcFacts;
  const warnings = [...p.warnings, ...ctx.tasks.flatMap((r) => r.warnings)];
  const action = deps.dryRun ? 'planned' : p.action === 'create' ? 'created' : p.action === 'update' ? 'updated' : 'existing';
  return {
    vmid: p.vmid,
    node: p.node,
    hostname: p.hostname,
    action,
    status: ctx.status,
    ...(ctx.address ? { address: ctx.address } : {}),
    sshPort: spec.sshPort,
    ...(p.template ? { template: p.template.volid } : {}),
    templateDownloaded: ctx.downloaded,
    started: ctx.started,
    changes: p.differences,
    warnings,
    tasks: ctx.tasks.map((r) => ({ upid: r.upid, exitstatus: r.exitstatus })),
    proxmoxVersion: facts.version.version,
    ...(ctx.address ? { next: `fleetmon provision --host ${ctx.address}` } : {}),
    ...(deps.dryRun ? { plan: { steps: p.steps, createParams: p.createParams, updateParams: p.updateParams } } : {}),
  };
}

function describePlan(p: LxcPlan, f: LxcFacts): string {
  const where = `Proxmox VE ${f.version.version}, node ${p.node}`;
  if (p.action === 'create') return `${where}: will create CT ${p.vmid} '${p.hostname}'${p.template ? ` from ${p.template.template}` : ''}`;
  if (p.action === 'update') return `${where}: CT ${p.vmid} '${p.hostname}' exists; will change ${p.differences.map((d) => d.key).join(', ')}`;
  return `${where}: CT ${p.vmid} '${p.hostname}' exists (${f.existing?.status ?? '?'})`;
}

/** First IPv4 on eth0 that is not link-local; undefined while DHCP has not answered. */
export function eth0Ipv4(ifaces: { name: string; inet?: string; 'ip-addresses'?: { 'ip-address'?: string; 'ip-address-type'?: string }[] }[] | null): string | undefined {
  const eth0 = ifaces?.find((i) => i.name === 'eth0');
  if (!eth0) return undefined;
  const candidates = [
    ...(eth0.inet ? [eth0.inet.split('/')[0] ?? ''] : []),
    ...(eth0['ip-addresses'] ?? []).filter((a) => a['ip-address-type'] === 'inet').map((a) => a['ip-address'] ?? ''),
  ];
  return candidates.find((a) => IPV4_RE.test(a) && !a.startsWith('169.254.'));
}

async function waitForAddress(
  client: PveClient,
  p: LxcPlan,
  spec: LxcSpec,
  opts: { clock: Clock; deadlineMs: number; onWait?: (ms: number) => void },
): Promise<string> {
  return poll({
    clock: opts.clock,
    deadlineMs: opts.deadlineMs,
    initialDelayMs: 1_000,
    maxDelayMs: 5_000,
    check: async () => {
      try {
        return eth0Ipv4(await client.lxcInterfaces(p.node, p.vmid));
      } catch (err) {
        if (err instanceof ProxmoxApiError && err.status === 501) {
          throw new FleetmonError('PVE_NO_INTERFACES_API', `this Proxmox VE cannot report container addresses (${err.message}); it came in PVE 8.1`, {
            kind: 'proxmox',
            suggestions: ['pass a static address: --ip CIDR --gateway IP', 'or upgrade the node to Proxmox VE 8.1 or newer'],
          });
        }
        if (isTransientReadError(err)) throw err;
        throw toFleetmonError(err, `reading the addresses of CT ${p.vmid}`);
      }
    },
    isTransient: isTransientReadError,
    onWait: (ms) => opts.onWait?.(ms),
    onTimeout: (elapsed) =>
      new FleetmonError('LXC_NO_ADDRESS', `CT ${p.vmid} got no IPv4 address on eth0 within ${formatDuration(elapsed)}`, {
        kind: 'timeout',
        suggestions: [
          `check that bridge ${spec.bridge} on ${p.node} reaches a network with a DHCP server (or use --ip CIDR --gateway IP)`,
          `look inside: on ${p.node} run  pct exec ${p.vmid} -- ip -4 addr show eth0`,
          'wait longer with --address-timeout; the container keeps running, and a re-run continues from here',
        ],
      }),
  });
}

async function waitForSsh(
  probe: SshProbe,
  address: string,
  port: number,
  vmid: number,
  opts: { clock: Clock; deadlineMs: number; onWait?: (ms: number) => void },
): Promise<void> {
  await poll({
    clock: opts.clock,
    deadlineMs: opts.deadlineMs,
    initialDelayMs: 1_000,
    maxDelayMs: 5_000,
    check: async () => ((await probe(address, port, 5_000)) ? true : undefined),
    onWait: (ms) => opts.onWait?.(ms),
    onTimeout: (elapsed) =>
      new FleetmonError('LXC_NO_SSH', `SSH on ${address}:${port} did not answer within ${formatDuration(elapsed)}`, {
        kind: 'timeout',
        suggestions: [
          `check that this machine can reach ${address} (routing, firewalls, the Proxmox firewall on CT ${vmid})`,
          `check sshd inside: pct exec ${vmid} -- systemctl status ssh`,
          'wait longer with --ssh-timeout; a re-run continues from here',
        ],
      }),
  });
}
