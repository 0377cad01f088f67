/**
 * One WebSocket per dashboard: `hosts_update` after every poll cycle and alert events as they happen. The
 * upgrade checks the session (or token) and the Origin like any other request.
 *
 * `/ws?compress=gzip` gets each hosts_update as one gzip'd binary frame (a tenth of the size for a large fleet),
 * compressed once per cycle and shared by every such client; small events stay text frames.
 */
import { promisify } from 'node:util';
import { gzip as gzipCb } from 'node:zlib';
import type { FastifyPluginAsync } from 'fastify';
import type { WebSocket } from 'ws';
import { originAllowed } from '../http/origin.js';
import type { AlertEvent } from '../alerts/events.js';

export const wsRoutes: FastifyPluginAsync = async (app) => {
  const clients = new Set<WebSocket>();
  const gzipClients = new WeakSet<WebSocket>();
  const sessionOf = new Map<WebSocket, string>();
  const { monitor, sessions, bodies } = app.deps;
  // Signing out closes that browser session's sockets too.
  const onSessionEnded = (id: string) => {
    for (const [ws, sid] of sessionOf) if (sid === id) ws.close(4001, 'signed out');
  };
  sessions.on('ended', onSessionEnded);

  // gzip on libuv's thread pool: a 200-host frame took ~10 ms to compress on the main thread.
  const gzip = promisify(gzipCb);
  // Encoded once and the same bytes handed to every client (ws.send of a string would encode it per client).
  const broadcast = (payload: Buffer, compressed?: Buffer) => {
    for (const ws of clients) {
      // A client that cannot keep up (over 8 MiB queued) is dropped rather than allowed to grow our memory.
      if (ws.bufferedAmount > 8 * 1024 * 1024) ws.terminate();
      else if (compressed && gzipClients.has(ws)) ws.send(compressed, { binary: true });
      else ws.send(payload, { binary: false });
    }
  };
  /** The hosts_update frame: the hosts list the REST API serves for this cycle, wrapped without re-serializing. */
  const hostsUpdate = () =>
    Buffer.concat([
      Buffer.from('{"event":"hosts_update","data":'),
      bodies.json('hosts', () => monitor.hosts()),
      Buffer.from(`,"summary":${JSON.stringify(monitor.summary())}}`),
    ]);
  // The update goes out on the next turn of the event loop, not in the one that stored the cycle, so requests that
  // arrived meanwhile are answered between the two pauses instead of after both. Alert events raised by that cycle
  // wait for it, so that clients still see them after the update, in the order they happened.
  let deferred: Array<() => void> | null = null;
  let closing = false;
  const onCycle = () => {
    if (clients.size === 0 || deferred) return;
    deferred = [];
    setImmediate(() => {
      void (async () => {
        if (closing) return; // the store may be closed by now
        if (clients.size > 0) {
          const frame = hostsUpdate();
          let compressed: Buffer | undefined;
          for (const ws of clients) if (gzipClients.has(ws)) compressed ??= await gzip(frame, { level: 4 });
          if (!closing) broadcast(frame, compressed);
        }
        const after = deferred ?? [];
        deferred = null;
        if (!closing) for (const send of after) send();
      })().catch((err: unknown) => app.log.warn({ err }, 'could not send the hosts update'));
    });
  };
  const onAlert = (e: AlertEvent) => {
    if (clients.size === 0) return;
    const send = () => broadcast(Buffer.from(JSON.stringify(e)));
    if (deferred) deferred.push(send);
    else send();
  };
  monitor.on('cycle', onCycle);
  monitor.on('alert', onAlert);
  app.addHook('onClose', async () => {
    closing = true;
    monitor.off('cycle', onCycle);
    monitor.off('alert', onAlert);
    sessions.off('ended', onSessionEnded);
    for (const ws of clients) ws.close(1001, 'server shutting down');
  });

  app.get(
    '/ws',
    {
      websocket: true,
      preValidation: async (req, reply) => {
        if (req.headers.origin && !originAllowed(req)) return reply.code(403).send({ error: 'cross-origin WebSocket refused' });
        if (req.caller.kind === 'anonymous' && !app.deps.publicRead) return reply.code(401).send({ error: 'sign in first' });
      },
    },
    (socket, req) => {
      clients.add(socket);
      const wantsGzip = (req.query as { compress?: unknown } | undefined)?.compress === 'gzip';
      if (wantsGzip) gzipClients.add(socket);
      if (req.caller.sessionId) sessionOf.set(socket, req.caller.sessionId);
      const forget = () => {
        clients.delete(socket);
        sessionOf.delete(socket);
      };
      socket.on('close', forget);
      socket.on('error', forget);
      socket.on('message', (raw: Buffer) => {
        if (raw.toString() === 'ping') socket.send(JSON.stringify({ event: 'pong' }));
      });
      const first = hostsUpdate();
      if (wantsGzip) {
        void gzip(first, { level: 4 }).then(
          (b) => socket.readyState === socket.OPEN && socket.send(b, { binary: true }),
          (err: unknown) => app.log.warn({ err }, 'could not compress the first hosts update'),
        );
      } else socket.send(first, { binary: false });
    },
  );
};
