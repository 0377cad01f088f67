/**
 * `fleetmon provision --host ADDRESS`: turn a Debian 12 machine (the monitor's LXC container) into a running
 * fleetmon server, over SSH as root or a sudo user.
 *
 * Plan then apply. One remote script gathers the facts (gatherFacts); planProvision(spec, facts) is pure and says,
 * item by item, what would change; each item then becomes a checked step (steps/steps.ts): its check re-plans from
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
import { FleetmonError } from '../core/errors.js';
import { fingerprintsOf } from '../core/tls-pin.js';
import type { RemoteShell } from '../ssh/remote-shell.js';
import { runTasks, type Renderer } from '../steps/progress.js';
import { stepTasks, type Step, type StepResult } from '../steps/steps.js';
import { actions } from './actions.js';
import type { bundleStream } from './bundle.js';
import { gatherFacts, type ProvisionFacts } from './facts.js';
import { planProvision, type ProvisionPlan } from './plan.js';
import type { RuntimeChoice } from './runtime.js';
import { layout, type ProvisionSpec } from './spec.js';

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
  /** `scheme`: what the service answered on (it may have TLS from an earlier run or a hand edit). */
  health: { ok: boolean; detail: string; scheme?: 'http' | 'https' } | null;
  dashboardUrl: string;
  tokenPath: string;
  configPath: string;
  publicKey: string | null;
  nextCommand: string | null;
  /** The self-signed certificate the service made (read back from its file), for clients' --fingerprint. */
  tls: { certPath: string; sha256: string; spki: string } | null;
}

/** Plans, applies (unless dry run), waits for /health, and reports. */
export async function provision(o: ProvisionOptions): Promise<ProvisionResult> {
  const { shell, spec } = o;
  const dryRun = o.dryRun ?? false;
  const plans = new Replanner(shell, spec, await gatherFacts(shell, spec));
  if (plans.current.blockers.length > 0) {
    throw new FleetmonError('TARGET_UNSUPPORTED', `${shell.host}: ${plans.current.blockers.join('; ')}`, {
      kind: 'usage',
      suggestions: ['create the container from a Debian 12 template with nesting=1 (`fleetmon lxc create`)'],
    });
  }
  const results: StepResult[] = [];
  let health: ProvisionResult['health'] = null;
  const tasks = [
    ...stepTasks(itemSteps(o, plans), results, dryRun),
    healthTask(o, plans, dryRun, (h) => (health = h)),
  ];
  try {
    await runTasks(tasks, o.renderer ?? 'silent');
  } catch (err) {
    if (err instanceof FleetmonError) (err as FleetmonError & { stepResults?: StepResult[] }).stepResults = results;
    throw err;
  }
  return provisionResult(o, plans.current, results, health, await gatherFacts(shell, spec), await readTlsCert(o, health));
}

/** The certificate `server.tls: self-signed` made at the service's first start, if there is one. */
async function readTlsCert(o: ProvisionOptions, health: ProvisionResult['health']): Promise<ProvisionResult['tls']> {
  if (health?.scheme !== 'https') return null;
  const certPath = layout(o.spec).tlsCertPath;
  const pem = await o.shell.readFile(certPath, { root: true });
  if (!pem) return null;
  const fp = fingerprintsOf(pem);
  return { certPath, sha256: fp.cert, spki: fp.spki };
}

/** The plan as of the last facts; after an action is applied the next look gathers the facts again. */
class Replanner {
  current: ProvisionPlan;
  private facts: ProvisionFacts | null;

  constructor(
    private readonly shell: RemoteShell,
    private readonly spec: ProvisionSpec,
    facts: ProvisionFacts,
  ) {
    this.facts = facts;
    this.current = planProvision(spec, facts);
  }

  async fresh(): Promise<ProvisionPlan> {
    if (!this.facts) {
      this.facts = await gatherFacts(this.shell, this.spec);
      this.current = planProvision(this.spec, this.facts);
    }
    return this.current;
  }

  stale(): void {
    this.facts = null;
  }
}

/** One checked step per plan item: its check re-plans from fresh facts, its apply runs the item's action. */
function itemSteps(o: ProvisionOptions, plans: Replanner): Step[] {
  const act = actions(o, () => plans.current);
  return plans.current.items.map((item) => ({
    id: item.id,
    title: item.title,
    check: async () => {
      const it = (await plans.fresh()).items.find((i) => i.id === item.id)!;
      return { ok: !it.change, detail: it.detail };
    },
    apply: async () => {
      try {
        await act[item.id]();
      } finally {
        plans.stale(); // the next check looks again
      }
    },
  }));
}

function healthTask(o: ProvisionOptions, plans: Replanner, dryRun: boolean, onHealth: (h: NonNullable<ProvisionResult['health']>) => void) {
  const { shell, spec } = o;
  return {
    title: `waiting for ${spec.unitName} to answer /health`,
    skip: () => dryRun,
    task: async () => {
      const health = await waitHealthy(shell, spec, (await plans.fresh()).nodePath, o.healthTimeoutMs ?? 90_000);
      onHealth(health);
      if (!health.ok) throw new FleetmonError('HEALTH_TIMEOUT', `${spec.unitName} did not become healthy: ${health.detail}`, {
        kind: 'timeout',
        suggestions: [`look at the service log: journalctl -u ${spec.unitName}`, 're-run provision once fixed; it resumes where it stopped'],
      });
    },
  };
}

/** The command's result (its --json output), from the run and the facts after it. */
function provisionResult(
  o: ProvisionOptions,
  plan: ProvisionPlan,
  results: StepResult[],
  health: ProvisionResult['health'],
  final: ProvisionFacts,
  tls: ProvisionResult['tls'],
): ProvisionResult {
  const { shell, spec } = o;
  const l = layout(spec);
  const changed = results.some((r) => r.status === 'changed' || r.status === 'planned');
  const dashboardUrl = `${health?.scheme ?? (spec.tls === 'self-signed' ? 'https' : 'http')}://${spec.address.includes(':') ? `[${spec.address}]` : spec.address}:${spec.listenPort}/`;
  const publicKey = final.key.pub;
  return {
    host: shell.host,
    hostKey: shell.hostKey,
    dryRun: o.dryRun ?? false,
    changed,
    runtime: plan.runtime,
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
    tls,
  };
}

/** Run with the container's node: polls /health until it answers ok or the time is up. */
// The service may speak HTTP or HTTPS (server.tls, perhaps edited in by hand since), so both are tried. Over HTTPS the
// certificate is not checked: this is a liveness probe of 127.0.0.1 on the container itself that sends no secret,
// and the certificate's fingerprint is reported from its file, not from this connection.
export const HEALTH_SCRIPT = `const [url, ms] = process.argv.slice(1);
const https = require('node:https');
const until = Date.now() + Number(ms);
let last = 'no answer';
const viaHttps = (u) => new Promise((resolve, reject) => {
  const req = https.get(u, { rejectUnauthorized: false, timeout: 3000 }, (res) => {
    let t = '';
    res.on('data', (d) => (t += d));
    res.on('end', () => resolve({ ok: res.statusCode === 200, status: res.statusCode, text: t }));
  });
  req.on('timeout', () => req.destroy(new Error('timeout')));
  req.on('error', reject);
});
const viaHttp = async (u) => {
  const r = await fetch(u, { signal: AbortSignal.timeout(3000) });
  return { ok: r.ok, status: r.status, text: await r.text() };
};
(async () => {
  while (Date.now() < until) {
    for (const [get, u] of [[viaHttp, url], [viaHttps, url.replace(/^http:/, 'https:')]]) {
      try {
        const r = await get(u);
        if (r.ok && JSON.parse(r.text).status === 'ok') { console.log(u + ' ' + r.text); return; }
        last = u + ': ' + r.status + ' ' + r.text.slice(0, 200);
      } catch (e) { last = u + ': ' + String(e && e.message); }
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  console.error(last);
  process.exit(1);
})();`;

async function waitHealthy(shell: RemoteShell, spec: ProvisionSpec, nodePath: string, timeoutMs: number): Promise<NonNullable<ProvisionResult['health']>> {
  const host = spec.listenHost === '0.0.0.0' || spec.listenHost === '::' ? '127.0.0.1' : spec.listenHost;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${spec.listenPort}/health`;
  const r = await shell.exec([nodePath, '-e', HEALTH_SCRIPT, url, String(timeoutMs)], { timeoutMs: timeoutMs + 15_000 });
  if (r.code === 0) {
    const out = r.stdout.trim();
    return { ok: true, detail: `answered: ${out.slice(0, 240)}`, scheme: out.startsWith('https:') ? 'https' : 'http' };
  }
  const log = await shell.exec(['journalctl', '-u', spec.unitName, '-n', '15', '--no-pager', '-o', 'cat']);
  return { ok: false, detail: `${url}: ${r.stderr.trim() || 'no answer'}${log.stdout.trim() ? `\n${log.stdout.trim()}` : ''}` };
}
