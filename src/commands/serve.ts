import { Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base.js';
import { embeddedConfig, loadConfig, withServerOverrides } from '../core/config.js';
import { LOG_FORMATS, makeLogger, startServer, type LogFormat } from '../server/start.js';

export default class Serve extends BaseCommand {
  static override summary = 'Run the monitor: poll the fleet, keep history, serve the API, WebSocket and dashboard.';
  static override description =
    'Without --config, fleetmon monitors the machine it runs on (no SSH needed) and serves on 127.0.0.1:8080.';
  static override enableJsonFlag = false;
  static override examples = [
    '<%= config.bin %> serve',
    '<%= config.bin %> serve --config /etc/fleetmon/hosts.yml',
    '<%= config.bin %> serve --config hosts.yml --host 0.0.0.0 --port 8080 --data-dir /var/lib/fleetmon',
  ];
  static override flags = {
    config: Flags.string({ char: 'c', summary: 'hosts.yml to load (default: monitor this machine)', env: 'FLEETMON_CONFIG' }),
    host: Flags.string({ summary: 'address to listen on', env: 'FLEETMON_HOST' }),
    port: Flags.integer({ summary: 'port to listen on', env: 'FLEETMON_PORT', min: 0, max: 65535 }),
    'data-dir': Flags.string({ summary: 'directory for the database and the API token', env: 'FLEETMON_DATA_DIR' }),
    'log-format': Flags.string({
      summary: 'log lines as JSON or readable (default: readable on a terminal, JSON otherwise)',
      options: [...LOG_FORMATS],
      default: 'auto',
      env: 'FLEETMON_LOG_FORMAT',
    }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Serve);
    const { config: base, warnings } = flags.config ? loadConfig(flags.config) : { config: embeddedConfig(), warnings: [] };
    for (const w of warnings) this.logToStderr(`fleetmon: warning: ${w}`);
    const config = withServerOverrides(base, { host: flags.host, port: flags.port, dataDir: flags['data-dir'] });
    // Without a configuration this machine is the whole fleet: as root it shows every user's tmux sessions.
    const server = await startServer(config, {
      installSignalHandlers: true,
      log: makeLogger({ format: flags['log-format'] as LogFormat }),
      localAllUsers: !flags.config,
    });
    this.logToStderr(`fleetmon: dashboard and API on ${server.url} (${config.hosts.length} host(s), every ${config.polling_interval_seconds}s)`);
    if (server.tls) {
      const { tls } = server;
      const where = tls.source === 'files' ? tls.certFile : `${tls.certFile} (self-signed, ${tls.source === 'created' ? 'made now' : 'made at an earlier start'})`;
      this.logToStderr(`fleetmon: TLS certificate ${where}, SHA-256 ${tls.fingerprints.cert}`);
      if (tls.source !== 'files') this.logToStderr(`fleetmon: clients pin it with --fingerprint ${tls.fingerprints.cert}`);
    }
    if (server.token.source === 'generated') {
      this.logToStderr(`fleetmon: generated the API token into ${server.token.path} (mode 0600). Token: ${server.token.token}`);
    } else if (server.token.path) {
      this.logToStderr(`fleetmon: API token in ${server.token.path}`);
    }
    await new Promise<void>(() => {
      /* runs until a signal; close-with-grace shuts down */
    });
  }
}
