/**
 * What the notification tests share: a real HTTP receiver on loopback that can go down and come back on the same
 * port, a real SQLite store with alerts raised and resolved through the cycle's transaction, and a dispatcher on
 * a fake clock (the HTTP, SMTP and database are real; only time is the test's).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { pino } from 'pino';
import { parseConfigObject, type FleetConfig } from '../../../src/core/config.js';
import type { Alert } from '../../../src/core/model.js';
import { conditionKey, type Condition } from '../../../src/server/alerts/evaluate.js';
import { Dispatcher } from '../../../src/server/notify/dispatcher.js';
import { closeDatabase, openDatabase, type Db } from '../../../src/server/store/db.js';
import { Store } from '../../../src/server/store/store.js';
import { tempDir } from '../../helpers/common.js';

export interface Received {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

/** An HTTP receiver: records every request, answers with `respond` (200 by default), can stop and restart. */
export class Receiver {
  readonly requests: Received[] = [];
  respond: (r: Received, res: ServerResponse) => void = (_r, res) => res.end('ok');
  private server: Server;
  private readonly sockets = new Set<Socket>();
  port = 0;

  private constructor() {
    this.server = this.make();
  }

  static async start(): Promise<Receiver> {
    const r = new Receiver();
    await r.up();
    return r;
  }

  private make(): Server {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const r = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
        this.requests.push(r);
        this.respond(r, res);
      });
    });
    server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    return server;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Listens (again, on the same port after `down`). */
  async up(): Promise<void> {
    this.server = this.make();
    await new Promise<void>((resolve) => this.server.listen(this.port, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  /** Stops listening: connections are refused until `up`. */
  async down(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Requests with a JSON body, parsed. */
  json<T = Record<string, unknown>>(): T[] {
    return this.requests.map((r) => JSON.parse(r.body) as T);
  }
}

export const T0 = Date.parse('2026-12-01T12:00:00Z');

export function condition(type: Condition['type'], host: string, extra: Partial<Condition> = {}): Condition {
  const severity = type === 'host_offline' || type === 'gpu_temp_critical' ? 'critical' : type === 'legacy_session' ? 'info' : 'warning';
  return { conditionKey: conditionKey(type, host, extra.gpuIndex != null ? `gpu${extra.gpuIndex}` : extra.session ?? undefined), type, severity, host, session: null, gpuIndex: null, message: `${type} on ${host}`, value: null, threshold: null, ...extra };
}

/** A store in a temp dir, a fake clock, and a dispatcher built from `notifications:` settings. */
export class Harness {
  clock = T0;
  db: Db;
  store: Store;
  dispatcher: Dispatcher;
  config: FleetConfig;
  readonly dir = tempDir('fleetmon-notify-');
  readonly logs: string[] = [];

  constructor(
    notifications: Record<string, unknown>,
    private readonly env: NodeJS.ProcessEnv = {},
  ) {
    this.config = parseConfigObject({ notifications }, 'test');
    this.db = openDatabase(this.dir.path).db;
    this.store = new Store(this.db);
    this.dispatcher = this.makeDispatcher();
  }

  private makeDispatcher(): Dispatcher {
    const log = pino({ level: 'debug' }, { write: (line: string) => void this.logs.push(line) });
    return new Dispatcher({ config: this.config.notifications, outbox: this.store.outbox, alerts: this.store.alerts, log, now: () => this.clock, env: this.env });
  }

  /** One cycle's alert changes, written as the monitor writes them: with their outbox rows in the same transaction. */
  cycle(changes: { raise?: Condition[]; resolve?: string[] }): Alert[] {
    const open = this.store.alerts.open();
    const at = this.clock;
    const events = this.store.writeCycle({
      ts: at,
      hosts: [],
      alertsAt: at,
      states: false,
      alertChanges: { raise: changes.raise ?? [], update: [], resolve: open.filter((a) => changes.resolve?.includes(a.id) || changes.resolve?.includes(a.conditionKey)) },
      planNotifications: (ev, get) => this.dispatcher.plan(ev, get, at),
    });
    return events.flatMap((e) => ('type' in e.data ? [e.data] : []));
  }

  /** Acknowledges as the monitor does: the ack and its outbox rows in one transaction. */
  ack(id: string): void {
    const at = this.clock;
    this.store.acknowledge(id, 'tester', null, at, (a) => this.dispatcher.plan([{ event: 'alert_acked', data: a }], () => a, at));
  }

  /** Advances the fake clock in steps, ticking the dispatcher at each. */
  async run(ms: number, step = 1000): Promise<void> {
    for (let t = 0; t < ms; t += step) {
      this.clock += step;
      await this.dispatcher.tick();
    }
  }

  /** A server restart: the dispatcher and database closed, the same file opened again. */
  async restart(): Promise<void> {
    await this.dispatcher.stop();
    closeDatabase(this.db);
    this.db = openDatabase(this.dir.path).db;
    this.store = new Store(this.db);
    this.dispatcher = this.makeDispatcher();
  }

  async close(): Promise<void> {
    await this.dispatcher.stop();
    closeDatabase(this.db);
    this.dir.remove();
  }
}
