/** Base for commands that query a running server: --server and --token with their env twins. */
import { Flags } from '@oclif/core';
import { ApiClient, findToken } from '../client/api-client.js';
import { parseServerUrl } from '../client/server-url.js';
import { BaseCommand } from './base.js';

export abstract class ServerCommand extends BaseCommand {
  static override baseFlags = {
    server: Flags.string({
      summary: 'URL of the fleetmon server (http://HOST:PORT, https://… or HOST:PORT)',
      env: 'FLEETMON_SERVER',
      default: 'http://127.0.0.1:8080',
      helpGroup: 'SERVER',
    }),
    token: Flags.string({ summary: 'API token (default: the token file of a server on this machine)', env: 'FLEETMON_TOKEN', helpGroup: 'SERVER' }),
    // The same two flags, in the same words, as the Proxmox commands' (src/cli/proxmox-flags.ts).
    'ca-file': Flags.string({
      summary: "Trust this CA (PEM) instead of the system store, for an https:// --server.",
      env: 'FLEETMON_CA_FILE',
      helpGroup: 'SERVER',
    }),
    fingerprint: Flags.string({
      summary: "Pin the server's key: sha256//BASE64 of its public key, or the certificate's SHA-256 as AA:BB:… (fleetmon serve prints it).",
      env: 'FLEETMON_FINGERPRINT',
      helpGroup: 'SERVER',
    }),
  };

  protected client(flags: { server: string; token?: string | undefined; 'ca-file'?: string | undefined; fingerprint?: string | undefined }): ApiClient {
    return new ApiClient(parseServerUrl(flags.server), findToken(flags.token), undefined, { caFile: flags['ca-file'], fingerprint: flags.fingerprint });
  }
}
