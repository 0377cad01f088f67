/** What `fleetmon provision` installs, and where: the spec (defaults plus this run's choices) and the paths it implies. */
import { posix } from 'node:path';
import { SELF_SIGNED_CERT_FILE } from '../core/tls-pin.js';
import type { Bundle } from './bundle.js';
import type { ControllerRuntime } from './runtime.js';

export interface ProvisionSpec {
  /** The address the operator used (for the dashboard URL). */
  address: string;
  serviceUser: string;
  optDir: string;
  configDir: string;
  dataDir: string;
  unitName: string;
  cliPath: string;
  listenHost: string;
  listenPort: number;
  /** `self-signed`: a new hosts.yml sets `server.tls: self-signed`, so the service makes its certificate at first start. */
  tls: 'off' | 'self-signed';
  bundle: Pick<Bundle, 'id' | 'version'>;
  controller: ControllerRuntime;
  nodePreference: 'auto' | 'upload' | 'nodesource';
  packages: string[];
}

export const DEFAULT_SPEC = {
  serviceUser: 'fleetmon',
  optDir: '/opt/fleetmon',
  configDir: '/etc/fleetmon',
  dataDir: '/var/lib/fleetmon',
  unitName: 'fleetmon.service',
  cliPath: '/usr/local/bin/fleetmon',
  listenHost: '0.0.0.0',
  listenPort: 8080,
  tls: 'off' as 'off' | 'self-signed',
  nodePreference: 'auto' as const,
  // ssh-keygen for the fleet key; CA certificates for HTTPS (NodeSource, alert webhooks), which bring openssl for
  // `server.tls: self-signed`.
  packages: ['ca-certificates', 'openssh-client'],
};

/** Paths derived from the spec. */
export function layout(spec: ProvisionSpec) {
  return {
    runtimeNode: posix.join(spec.optDir, 'runtime', 'bin', 'node'),
    releases: posix.join(spec.optDir, 'releases'),
    appDir: posix.join(spec.optDir, 'current'),
    applied: posix.join(spec.optDir, '.applied'),
    configPath: posix.join(spec.configDir, 'hosts.yml'),
    configStamp: posix.join(spec.configDir, '.hosts.yml.rendered-sha256'),
    keyPath: posix.join(spec.dataDir, 'ssh', 'id_ed25519'),
    tokenPath: posix.join(spec.dataDir, 'api-token'),
    tlsCertPath: posix.join(spec.dataDir, SELF_SIGNED_CERT_FILE),
    unitPath: posix.join('/etc/systemd/system', spec.unitName),
  };
}
