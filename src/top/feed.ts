/**
 * Where `fleetmon top` gets its data: the /ws live feed (a hosts_update per poll cycle, alert events as they
 * happen), falling back to polling the REST API while the socket is down, and retrying the socket meanwhile.
 * A server that goes away is reported (connection `lost`, with the error's words) and retried, never fatal.
 */
import type { ApiClient } from '../client/api-client.js';
import type { Alert } from '../core/model.js';
import { applyAlertEvent, thresholdsFrom, type TopState } from './view.js';

export type FeedPatch = Partial<Pick<TopState, 'hosts' | 'summary' | 'alerts' | 'thresholds' | 'connection' | 'connectionDetail' | 'lastUpdate'>>;

export interface FeedOptions {
  /** How often to poll while the socket is down. */
  pollMs: number;
  /** How long to wait before trying the socket again. */
  retryMs: number;
  /** false: REST polling only (--no-live). */
  live: boolean;
}

const why = (err: unknown) => (err instanceof Error ? err.message : String(err));

export function startFeed(client: ApiClient, onPatch: (p: FeedPatch) => void, opts: FeedOptions): { stop: () => void; refresh: () => Promise<void> } {
  let stopped = false;
  let live = false;
  let socket: { close: () => void } | null = null;
  let alerts: Alert[] = [];
  let haveConfig = false;
  let pollTimer: NodeJS.Timeout | null = null;
  let retryTimer: NodeJS.Timeout | null = null;

  const loadConfig = async () => {
    if (haveConfig) return;
    const c = await client.config();
    haveConfig = true;
    onPatch({ thresholds: thresholdsFrom(c.alerts) });
  };

  /** One REST round: hosts, summary and open alerts (also after an action, so the screen shows its effect). */
  const refresh = async () => {
    try {
      await loadConfig();
      const [hosts, summary, open] = await Promise.all([client.hosts(), client.summary(), client.alerts(false)]);
      if (stopped) return;
      alerts = open;
      onPatch({ hosts, summary, alerts, lastUpdate: Date.now(), ...(live ? {} : { connection: 'polling', connectionDetail: null }) });
    } catch (err) {
      if (!stopped) onPatch({ connection: 'lost', connectionDetail: why(err) });
    }
  };

  const schedulePoll = () => {
    if (stopped || live || pollTimer) return;
    pollTimer = setTimeout(() => {
      pollTimer = null;
      void refresh().finally(schedulePoll);
    }, opts.pollMs);
  };

  const connect = () => {
    if (stopped || !opts.live) return;
    socket = client.live({
      onOpen: () => {
        live = true;
        onPatch({ connection: 'live', connectionDetail: null });
        // Alerts that opened before the socket did come from REST; events keep them current from here on.
        void client.alerts(false).then(
          (a) => {
            alerts = a;
            if (!stopped) onPatch({ alerts });
          },
          () => {},
        );
      },
      onEvent: (e) => {
        if (stopped) return;
        if (e.event === 'hosts_update') onPatch({ hosts: e.data, summary: e.summary, lastUpdate: Date.now() });
        else if (e.event !== 'pong') {
          alerts = applyAlertEvent(alerts, e);
          onPatch({ alerts });
        }
      },
      onClose: (reason) => {
        socket = null;
        const wasLive = live;
        live = false;
        if (stopped) return;
        if (wasLive) onPatch({ connection: 'polling', connectionDetail: reason });
        // Poll now (which also says whether the server is there at all), and try the socket again later.
        void refresh().finally(schedulePoll);
        retryTimer = setTimeout(() => {
          retryTimer = null;
          connect();
        }, opts.retryMs);
      },
    });
  };

  void refresh().finally(() => {
    if (opts.live) connect();
    else schedulePoll();
  });

  return {
    refresh,
    stop: () => {
      stopped = true;
      socket?.close();
      if (pollTimer) clearTimeout(pollTimer);
      if (retryTimer) clearTimeout(retryTimer);
    },
  };
}

/** --once: one REST round; a server that cannot be reached is the command's error (scripts want the exit status). */
export async function loadOnce(client: ApiClient): Promise<FeedPatch> {
  const [config, hosts, summary, alerts] = await Promise.all([client.config(), client.hosts(), client.summary(), client.alerts(false)]);
  return { thresholds: thresholdsFrom(config.alerts), hosts, summary, alerts, connection: 'polling', connectionDetail: null, lastUpdate: Date.now() };
}
