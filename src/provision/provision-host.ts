/**
 * Wires `fleetmon provision` together: connects with the login the command resolved (pinning the host key when one
 * is given), builds the spec from this machine's bundle and runtime, and runs provision(). Kept apart from apply.ts
 * so that module stays free of connection concerns and easy to test.
 */
import { collectBundle, bundleStream } from './bundle.js';
import { provision, type ProvisionResult } from './apply.js';
import { currentControllerRuntime } from './runtime.js';
import { DEFAULT_SPEC, type ProvisionSpec } from './spec.js';
import { loginOptions, type AdminAuth } from '../ssh/login.js';
import { RemoteShell } from '../ssh/remote-shell.js';
import type { Renderer } from '../steps/progress.js';

export interface ProvisionHostOptions {
  host: string;
  port: number;
  /** The login, already resolved (cli/ssh-login.ts asks for what is missing). */
  auth: AdminAuth;
  hostKey?: string | undefined;
  node: 'auto' | 'upload' | 'nodesource';
  listenHost: string;
  listenPort: number;
  /** `self-signed`: the new hosts.yml turns on HTTPS with a certificate the service makes (default off). */
  tls?: 'off' | 'self-signed';
  dryRun: boolean;
  timeoutMs: number;
  renderer: Renderer;
  /** Package root to bundle (tests). */
  root?: string;
}

export async function provisionHost(o: ProvisionHostOptions): Promise<ProvisionResult> {
  const bundle = collectBundle(o.root);
  const shell = await RemoteShell.connect({
    host: o.host,
    port: o.port,
    ...loginOptions(o.auth),
    ...(o.hostKey ? { hostKeyPin: o.hostKey } : {}),
    readyTimeoutMs: o.timeoutMs,
    commandTimeoutMs: o.timeoutMs * 3,
  });
  try {
    const spec: ProvisionSpec = {
      ...DEFAULT_SPEC,
      address: o.host,
      listenHost: o.listenHost,
      listenPort: o.listenPort,
      tls: o.tls ?? 'off',
      nodePreference: o.node,
      bundle: { id: bundle.id, version: bundle.version },
      controller: currentControllerRuntime(),
    };
    return await provision({ shell, spec, bundle: () => bundleStream(bundle), dryRun: o.dryRun, renderer: o.renderer });
  } finally {
    shell.close();
  }
}
