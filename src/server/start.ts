/** Listens and shuts down gracefully: the poller stops, the last cycle is written, the WAL is checkpointed. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import closeWithGrace from 'close-with-grace';
import { pino, type Logger } from 'pino';
import pinoPretty from 'pino-pretty';
import type { FastifyInstance } from 'fastify';
import { defaultDataDir, type FleetConfig } from '../core/config.js';
import { FleetmonError } from '../core/errors.js';
import { packageRoot } from '../paths.js';
import { databaseMovedAside, pinsAfterLosingRecordedKeys } from './alerts/server-alerts.js';
import { buildApp } from './app.js';
import { resolveApiToken, type TokenSource } from '../core/api-token.js';
import { Monitor } from './monitor.js';
import { resolveServerTls, type ServerTls } from './tls.js';
import { closeDatabase, openDatabase, type Db } from './store/db.js';

export interface RunningServer {
  app: FastifyInstance;
  monitor: Monitor;
  db: Db;
  url: string;
  token: TokenSource;
  dataDir: string;
  /** The certificate served, when server.tls is set. */
  tls: ServerTls | undefined;
  close(): Promise<void>;
}

export function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}

export const LOG_FORMATS = ['auto', 'json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/**
 * The server's logger. JSON lines (journald and log shippers read them) unless stdout is a terminal, where a person
 * reads them: then one readable line per event (pino-pretty, in-process and synchronous, so nothing is lost at
 * exit). `format` overrides the choice. Secrets are redacted before either is written.
 */
export function makeLogger(opts: { level?: string; format?: LogFormat; stream?: NodeJS.WritableStream & { isTTY?: boolean } } = {}): Logger {
  const level = opts.level ?? process.env.FLEETMON_LOG_LEVEL ?? 'info';
  const out = opts.stream ?? process.stdout;
  const format = opts.format ?? 'auto';
  const options = { level, redact: ['req.headers.authorization', 'req.headers.cookie', 'token'] };
  const pretty = format === 'pretty' || (format === 'auto' && out.isTTY === true);
  if (!pretty) return opts.stream ? pino(options, opts.stream) : pino(options);
  return pino(
    options,
    pinoPretty({
      destination: out,
      sync: true,
      singleLine: true,
      colorize: out.isTTY === true,
      translateTime: 'SYS:HH:MM:ss',
      ignore: 'pid,hostname',
    }),
  );
}

/** How long requests in flight get to finish at shutdown before every remaining connection is dropped. */
export const SHUTDOWN_GRACE_MS = 500;

/**
 * Stops listening and closes the connections. Fastify drops idle keep-alive connections and answers 503 on the
 * others, but a client that sent half a request (or never finishes a body) would hold close() until its request
 * timeout and the process would be killed by close-with-grace's deadline: after a short grace, every remaining
 * connection is destroyed.
 */
async function closeHttp(app: FastifyInstance): Promise<void> {
  const force = setTimeout(() => app.server.closeAllConnections(), SHUTDOWN_GRACE_MS);
  try {
    await app.close();
  } finally {
    clearTimeout(force);
  }
}

/**
 * A damaged database was moved aside: that is loud in the log, a critical alert (kept open until acknowledged, so
 * it is seen on the dashboard and in `fleetmon alerts`) and a field of /health, because the host keys recorded on
 * first use went with it.
 */
function raiseMovedAside(
  monitor: Monitor,
  log: Logger,
  { path, movedTo, recovered }: { path: string; movedTo: string; recovered: string[] },
  config: FleetConfig,
): { at: string; alertId: string } {
  const condition = databaseMovedAside(path, movedTo, config, recovered);
  const at = Date.now();
  const [event] = monitor.alerts.apply({ raise: [condition], update: [], resolve: [] }, at);
  log.error({ db: path, movedAside: movedTo, ...pinsAfterLosingRecordedKeys(config, recovered) }, condition.message);
  return { at: new Date(at).toISOString(), alertId: event && event.event === 'alert_new' ? event.data.id : '' };
}

export async function startServer(
  config: FleetConfig,
  opts: { log?: Logger; installSignalHandlers?: boolean; localAllUsers?: boolean } = {},
): Promise<RunningServer> {
  const log = opts.log ?? makeLogger();
  const dataDir = config.server.data_dir ?? defaultDataDir();
  const { db, path, movedAside, recoveredHostKeys } = openDatabase(dataDir);
  let token: TokenSource;
  let monitor: Monitor;
  let tls: ServerTls | undefined;
  try {
    token = resolveApiToken(config.server.token, dataDir);
    tls = await resolveServerTls(config.server, dataDir);
    monitor = new Monitor({ config, db, log: log.child({ component: 'monitor' }), localAllUsers: opts.localAllUsers === true });
  } catch (err) {
    // A configuration error found here (an unreadable ssh.known_hosts, TLS file or notification secret file, say)
    // leaves no open database behind.
    closeDatabase(db);
    throw err;
  }
  const moved = movedAside ? raiseMovedAside(monitor, log, { path, movedTo: movedAside, recovered: recoveredHostKeys }, config) : null;
  const app = await buildApp({
    config,
    monitor,
    db,
    token: token.token,
    logger: log.child({ component: 'http' }),
    version: packageVersion(),
    databaseMovedAside: moved,
    ...(tls ? { https: { cert: tls.cert, key: tls.key } } : {}),
  });
  try {
    await app.listen({ host: config.server.host, port: config.server.port });
  } catch (err) {
    await app.close();
    await monitor.stop();
    closeDatabase(db);
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EADDRINUSE') {
      throw new FleetmonError('PORT_IN_USE', `port ${config.server.port} on ${config.server.host} is already in use`, {
        kind: 'server',
        suggestions: ['stop the other fleetmon (or program) on that port, or pass --port'],
      });
    }
    throw err;
  }
  monitor.start();
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.server.port;
  const shownHost = config.server.host === '0.0.0.0' || config.server.host === '::' ? '127.0.0.1' : config.server.host;
  const url = `${tls ? 'https' : 'http'}://${shownHost.includes(':') ? `[${shownHost}]` : shownHost}:${port}`;
  log.info({ url, db: path, hosts: config.hosts.length, tls_sha256: tls?.fingerprints.cert }, 'fleetmon serving');
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await Promise.all([monitor.stop(), closeHttp(app)]);
    closeDatabase(db);
  };
  if (opts.installSignalHandlers) {
    closeWithGrace({ delay: 10_000 }, async ({ err, signal }) => {
      if (err) log.error({ err }, 'fatal error, shutting down');
      else log.info({ signal }, 'shutting down');
      await close();
    });
  }
  return { app, monitor, db, url, token, dataDir, tls, close };
}
