/**
 * The monitor as deploy reaches it for real: provision over SSH as root on the container (a dry run for plan), and
 * its hosts.yml read and written over the same login (root:fleetmon 0640, as provision writes it).
 */
import { ApiClient } from '../client/api-client.js';
import { FleetmonError } from '../core/errors.js';
import type { ProvisionResult } from '../provision/apply.js';
import { provisionHost } from '../provision/provision-host.js';
import { DEFAULT_SPEC, layout, type ProvisionSpec } from '../provision/spec.js';
import { loginOptions, type AdminAuth } from '../ssh/login.js';
import { RemoteShell } from '../ssh/remote-shell.js';
import type { Renderer } from '../steps/progress.js';
import type { MonitorPort } from './facts.js';
import type { FleetFile } from './fleet-file.js';

export interface SshMonitorOptions {
  address: string;
  port: number;
  /** root on the container (the key lxc create put there). */
  auth: AdminAuth;
  fleet: FleetFile;
  renderer: Renderer;
  timeoutMs?: number;
  /** Package root to bundle (tests, development). */
  root?: string;
}

export async function sshMonitor(o: SshMonitorOptions): Promise<MonitorPort> {
  const timeoutMs = o.timeoutMs ?? 20_000;
  const shell = await RemoteShell.connect({
    host: o.address, port: o.port, ...loginOptions(o.auth), readyTimeoutMs: timeoutMs, commandTimeoutMs: timeoutMs * 3,
  });
  const paths = layout({ ...DEFAULT_SPEC } as ProvisionSpec);
  const hostKey = shell.hostKey.fingerprint;
  let last: ProvisionResult | undefined;
  return {
    provision: async (dryRun) => {
      const r = (last = await provisionHost({
        host: o.address, port: o.port, auth: o.auth, hostKey, node: o.fleet.monitor.node_runtime, listenHost: '0.0.0.0',
        listenPort: o.fleet.monitor.port, tls: o.fleet.monitor.tls, dryRun, timeoutMs, renderer: dryRun ? 'silent' : o.renderer,
        ...(o.root ? { root: o.root } : {}),
      }));
      return {
        items: r.steps.map((s) => ({ id: s.id, title: s.title, change: s.status === 'planned' || s.status === 'changed', detail: s.detail ?? s.status })),
        publicKey: r.publicKey,
      };
    },
    readConfig: async () => (await shell.readFile(paths.configPath, { root: true }))?.toString('utf8'),
    writeConfig: async (text) => {
      await shell.upload(paths.configPath, text, { mode: 0o640, owner: 'root', group: DEFAULT_SPEC.serviceUser });
    },
    waitPolled: async (timeoutMs) => {
      if (!last) throw new Error('waitPolled before provision');
      const token = (await shell.readFile(last.tokenPath, { root: true }))?.toString('utf8').trim();
      // Over HTTPS the certificate is pinned to the one provision read back from the service's own file.
      const api = new ApiClient(last.dashboardUrl.replace(/\/$/, ''), token, 5_000, last.tls ? { fingerprint: last.tls.sha256 } : {});
      const deadline = Date.now() + timeoutMs;
      let seen = 'no answer';
      for (;;) {
        try {
          const hosts = await api.hosts();
          // A host not polled yet since the restart reads `offline` with `pending` set: not done until none is pending.
          const report = hosts.map((h) => ({ name: h.hostname, status: h.pending ? 'pending' : h.status, ...(h.last_error ? { detail: h.last_error } : {}) }));
          if (hosts.length > 0 && report.every((h) => h.status === 'online' || h.status === 'degraded')) return report;
          seen = report.filter((h) => h.status !== 'online' && h.status !== 'degraded').map((h) => `${h.name}: ${h.status}${h.detail ? ` (${h.detail})` : ''}`).join(', ');
        } catch (err) {
          seen = (err as Error).message;
        }
        if (Date.now() > deadline) {
          throw new FleetmonError('DEPLOY_POLL_TIMEOUT', `the monitor at ${last.dashboardUrl} has not polled every host: ${seen}`, {
            kind: 'timeout',
            suggestions: [`open ${last.dashboardUrl} to see which host fails and why`, 'run fleetmon apply again once fixed'],
          });
        }
        await new Promise((r) => setTimeout(r, 1_000));
      }
    },
    close: () => shell.close(),
  };
}
