/**
 * Flags every Proxmox command shares (connection, TLS, task deadline), each with its FLEETMON_* twin, and the
 * glue from parsed flags to a connected client. Kept out of src/commands so oclif does not take it for a command.
 */
import { Flags } from '@oclif/core';
import { connectPve, type PveClient } from '../lxc/proxmox/client.js';
import { parseDuration } from '../lxc/proxmox/wait.js';

/** A duration flag: `90s`, `5m`, `1h`, or a bare number of seconds. */
export const durationFlag = Flags.custom<number>({
  parse: async (input) => {
    const ms = parseDuration(input);
    if (ms === undefined || ms <= 0) throw new Error(`expected a duration like 90s, 5m or 1h, got ${JSON.stringify(input)}`);
    return ms;
  },
});

export const proxmoxFlags = {
  proxmox: Flags.string({
    summary: 'Proxmox VE API address, e.g. https://pve1:8006 (port 8006 by default).',
    env: 'FLEETMON_PVE_URL',
    required: true,
    helpGroup: 'PROXMOX',
  }),
  token: Flags.string({
    summary: "API token 'USER@REALM!TOKENID=SECRET' (prefer the env var: flags show in the process list).",
    env: 'FLEETMON_PVE_TOKEN',
    required: true,
    helpGroup: 'PROXMOX',
  }),
  'ca-file': Flags.string({
    summary: "Trust this CA (the cluster's /etc/pve/pve-root-ca.pem) instead of the system store.",
    env: 'FLEETMON_PVE_CA_FILE',
    helpGroup: 'PROXMOX',
  }),
  fingerprint: Flags.string({
    summary: "Pin the node's key: sha256//BASE64 of its public key, or the certificate's SHA-256 as AA:BB:….",
    env: 'FLEETMON_PVE_FINGERPRINT',
    helpGroup: 'PROXMOX',
  }),
  insecure: Flags.boolean({
    summary: "Do not verify the server's certificate (prints a warning; use --fingerprint instead).",
    env: 'FLEETMON_PVE_INSECURE',
    default: false,
    helpGroup: 'PROXMOX',
  }),
  'task-timeout': durationFlag({
    summary: 'Deadline for each Proxmox task (template download, create, start, stop, destroy).',
    env: 'FLEETMON_PVE_TASK_TIMEOUT',
    default: 30 * 60_000,
    defaultHelp: async () => '30m',
    helpGroup: 'PROXMOX',
  }),
};

export interface ProxmoxFlagValues {
  proxmox: string;
  token: string;
  'ca-file'?: string;
  fingerprint?: string;
  insecure: boolean;
}

export function connectFromFlags(flags: ProxmoxFlagValues, warn: (message: string) => void): PveClient {
  return connectPve({
    url: flags.proxmox,
    token: flags.token,
    caFile: flags['ca-file'],
    fingerprint: flags.fingerprint,
    insecure: flags.insecure,
    warn,
    onRequest: process.env.FLEETMON_DEBUG
      ? (r) => process.stderr.write(`[pve] ${r.method} ${r.path} → ${r.status} (${r.ms} ms)\n`)
      : undefined,
  });
}
