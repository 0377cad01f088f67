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
  };

  protected client(flags: { server: string; token?: string | undefined }): ApiClient {
    return new ApiClient(parseServerUrl(flags.server), findToken(flags.token));
  }
}
