/**
 * `fleetmon up`: from a Proxmox token and a host list to a running dashboard. Each stage is the idempotent command
 * it stands for — `lxc create`, `provision`, `keys deploy` — so a re-run skips what already holds. What `up` adds is
 * the glue: the fleet key comes from the provisioned container, the host key pins are recorded in the container's
 * own hosts.yml (comments and user edits kept), the service is restarted only when that file changed, and the
 * command ends when the monitor has polled every host.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import { FleetmonError } from './core/errors.js';
import type { Host } from './core/model.js';
import type { KeysDeployResult } from './keys/deploy.js';
import type { LxcCreateResult } from './lxc/apply.js';
import type { ProvisionResult } from './provision/apply.js';
import type { RemoteShell } from './ssh/remote-shell.js';

export interface UpOptions {
  /** Fleet hosts to deploy the key to (`[user@]host[:port]`). */
  hosts: string[];
  /** The service account on fleet hosts (keys deploy's --account). */
  account: string;
  /** How long to wait for every host to be polled. */
  pollTimeoutMs: number;
}

export interface UpDeps {
  createContainer(): Promise<LxcCreateResult>;
  provision(address: string): Promise<ProvisionResult>;
  /** A root shell on the container (for its hosts.yml, the service and the API token). */
  connect(address: string, hostKey: string): Promise<RemoteShell>;
  /** keys deploy to the hosts, recording pins in the given local copy of hosts.yml. */
  deployKeys(publicKey: string, configFile: string): Promise<KeysDeployResult>;
  fetch?: typeof fetch;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
  note?: (message: string) => void;
}

export interface UpResult {
  container: { vmid: number; hostname: string; node: string; address: string; action: LxcCreateResult['action'] };
  provision: { changed: boolean; bundle: string; dashboardUrl: string; tokenPath: string };
  keys: Array<{ host: string; ok: boolean; detail: string }>;
  configChanged: boolean;
  hosts: Array<{ hostname: string; status: string; sessions: number }>;
  dashboardUrl: string;
}

/** Sets the fleet account in the config when it is not the default, so the monitor logs in as it. */
export function withAccount(text: string, account: string): string {
  const doc = parseDocument(text);
  const current = doc.getIn(['ssh', 'user']);
  if (current === account) return text;
  doc.setIn(['ssh', 'user'], account);
  return doc.toString();
}

export async function up(o: UpOptions, deps: UpDeps): Promise<UpResult> {
  const note = deps.note ?? (() => undefined);
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const now = deps.now ?? Date.now;
  const doFetch = deps.fetch ?? fetch;
  const unit = 'fleetmon.service';

  note('1/4 container (lxc create)');
  const ct = await deps.createContainer();
  if (!ct.address) {
    throw new FleetmonError('UP_NO_ADDRESS', `CT ${ct.vmid} has no address yet`, {
      kind: 'timeout',
      suggestions: ['re-run fleetmon up: it continues with the existing container'],
    });
  }
  note(`2/4 provision ${ct.address}`);
  const prov = await deps.provision(ct.address);
  if (!prov.publicKey) throw new FleetmonError('UP_NO_KEY', `provision of ${ct.address} reported no fleet public key`, { kind: 'ssh' });

  const shell = await deps.connect(ct.address, prov.hostKey.fingerprint);
  const work = mkdtempSync(join(tmpdir(), 'fleetmon-up-'));
  try {
    let keys: UpResult['keys'] = [];
    let configChanged = false;
    if (o.hosts.length > 0) {
      note(`3/4 keys deploy to ${o.hosts.length} host(s)`);
      const original = (await shell.readFile(prov.configPath))?.toString('utf8');
      if (original === undefined) throw new FleetmonError('UP_NO_CONFIG', `${prov.configPath} is missing on ${ct.address}`, { kind: 'ssh' });
      const local = join(work, 'hosts.yml');
      writeFileSync(local, withAccount(original, o.account), { mode: 0o600 });
      const deployed = await deps.deployKeys(prov.publicKey, local);
      keys = deployed.hosts.map((h) => ({
        host: `${h.host}:${h.port}`,
        ok: h.ok,
        detail: h.ok ? (h.verify?.detail ?? 'deployed') : (h.error?.message ?? h.verify?.detail ?? 'failed'),
      }));
      const updated = readFileSync(local, 'utf8');
      if (updated !== original) {
        await shell.upload(prov.configPath, updated, { mode: 0o640, owner: 'root', group: 'fleetmon' });
        // Provision again rather than restarting by hand: it notices the changed config, restarts the service
        // once, records that it did (so the next run has nothing to do) and waits for /health.
        note(`restarting ${unit} with the new hosts`);
        await deps.provision(ct.address);
        configChanged = true;
      }
      if (!deployed.ok) {
        const failed = keys.filter((k) => !k.ok);
        throw new FleetmonError('UP_KEYS_FAILED', `keys deploy failed on ${failed.map((k) => `${k.host} (${k.detail})`).join(', ')}`, {
          kind: 'ssh',
          suggestions: ['fix the host, then re-run fleetmon up: finished stages are skipped'],
        });
      }
    } else {
      note('3/4 no fleet hosts given: skipping keys deploy');
    }

    note('4/4 waiting until the monitor has polled every host');
    const token = (await shell.readFile(prov.tokenPath))?.toString('utf8').trim();
    const base = prov.dashboardUrl.replace(/\/$/, '');
    const deadline = now() + o.pollTimeoutMs;
    let last: Host[] = [];
    let lastError = '';
    for (;;) {
      try {
        const res = await doFetch(`${base}/api/hosts`, {
          headers: token ? { authorization: `Bearer ${token}` } : {},
          signal: AbortSignal.timeout(5_000),
        });
        if (res.ok) {
          last = (await res.json()) as Host[];
          // After a restart every host starts as pending: done when none is pending and all answered.
          if (last.length > 0 && last.every((h) => h.status === 'online' || h.status === 'degraded')) break;
          lastError = last.filter((h) => h.status !== 'online' && h.status !== 'degraded').map((h) => `${h.hostname}: ${h.pending ? 'pending' : h.status}${h.last_error ? ` (${h.last_error})` : ''}`).join(', ');
        } else lastError = `HTTP ${res.status}`;
      } catch (err) {
        lastError = (err as Error).message;
      }
      if (now() > deadline) {
        throw new FleetmonError('UP_POLL_TIMEOUT', `the monitor at ${base} has not polled every host: ${lastError}`, {
          kind: 'timeout',
          suggestions: [`open ${base}/ to see which host fails and why`, 're-run fleetmon up once fixed'],
        });
      }
      await sleep(1_000);
    }
    return {
      container: { vmid: ct.vmid, hostname: ct.hostname, node: ct.node, address: ct.address, action: ct.action },
      provision: { changed: prov.changed, bundle: prov.bundle.id, dashboardUrl: prov.dashboardUrl, tokenPath: prov.tokenPath },
      keys,
      configChanged,
      hosts: last.map((h) => ({ hostname: h.hostname, status: h.status, sessions: h.sessions.length })),
      dashboardUrl: prov.dashboardUrl,
    };
  } finally {
    shell.close();
    rmSync(work, { recursive: true, force: true });
  }
}
