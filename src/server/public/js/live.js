/**
 * Live data: one WebSocket to /ws. While it is down the REST API is polled instead, and the socket is retried
 * with exponential backoff (reset as soon as a poll shows the server is back). The state it reports:
 *   live     — the WebSocket is open
 *   polling  — no WebSocket, but REST polls succeed
 *   offline  — the server cannot be reached at all
 */
import { backoffDelay } from './format.js';

/** @param {ArrayBuffer} data a gzip member @returns {Promise<string>} */
function gunzipText(data) {
  return new Response(new Blob([data]).stream().pipeThrough(new DecompressionStream('gzip'))).text();
}

export class Live {
  /**
   * @param {object} o
   * @param {(msg: any) => void} o.onMessage   every WebSocket message and every polled snapshot ({event:'hosts_update'…})
   * @param {(state: string) => void} o.onState
   * @param {() => Promise<any>} o.poll          one REST snapshot: {hosts, summary, alerts}
   * @param {(err: any) => void} o.onPollError
   * @param {(again: boolean) => void} o.onOpen the socket opened (again: after a gap): reload what events may have been
   *                                            missed before it, the first time too (the page's first load raced it)
   * @param {number} o.pollMs
   * @param {(...a: any[]) => void} [o.log]
   */
  constructor(o) {
    this.o = o;
    this.ws = null;
    this.state = 'connecting';
    this.attempt = 0;
    this.stopped = true;
    this.reconnectTimer = null;
    this.pollTimer = null;
    this.watchdog = null;
    this.polling = false;
    this.hadSocket = false;
    this.log = o.log ?? (() => {});
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.pollTimer);
    clearTimeout(this.watchdog);
    this.polling = false;
    if (this.ws) {
      this.ws.onclose = null;
      this.ws.close();
      this.ws = null;
    }
  }

  /** Try the socket again now (the page became visible, the network came back, a poll succeeded). */
  reconnectNow() {
    if (this.stopped || this.ws) return;
    clearTimeout(this.reconnectTimer);
    this.attempt = 0;
    this.connect();
  }

  setState(state) {
    if (state === this.state) return;
    this.state = state;
    this.log(`connection: ${state}`);
    this.o.onState(state);
  }

  connect() {
    if (this.stopped) return;
    // Where the browser can gunzip, ask for compressed updates: a large fleet's update shrinks about tenfold.
    const gzip = typeof DecompressionStream === 'function';
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws${gzip ? '?compress=gzip' : ''}`;
    let ws;
    try {
      ws = new WebSocket(url);
    } catch (err) {
      this.log('websocket failed to open', err);
      this.onSocketGone();
      return;
    }
    this.ws = ws;
    ws.binaryType = 'arraybuffer';
    // Binary frames are decompressed asynchronously: a chain keeps messages in the order they arrived.
    let order = Promise.resolve();
    ws.onopen = () => {
      this.attempt = 0;
      this.stopPolling();
      this.setState('live');
      this.o.onOpen(this.hadSocket);
      this.hadSocket = true;
      this.feedWatchdog();
    };
    ws.onmessage = (ev) => {
      this.feedWatchdog();
      const text = typeof ev.data === 'string' ? Promise.resolve(ev.data) : gunzipText(ev.data);
      order = order
        .then(() => text)
        .then((t) => {
          let msg;
          try {
            msg = JSON.parse(t);
          } catch {
            this.log('ignored a WebSocket message that is not JSON');
            return;
          }
          if (this.ws === ws && msg && typeof msg.event === 'string') this.o.onMessage(msg);
        })
        .catch((err) => this.log('could not decompress a WebSocket message', err));
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.log(`websocket closed (code ${ev.code})`);
      this.ws = null;
      this.onSocketGone();
    };
    // 'error' is always followed by 'close'; nothing to do here but keep the console quiet.
    ws.onerror = () => {};
  }

  onSocketGone() {
    clearTimeout(this.watchdog);
    if (this.stopped) return;
    this.startPolling();
    const delay = backoffDelay(this.attempt, 1000, 30000);
    this.attempt += 1;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }

  /**
   * The server sends hosts_update after every poll cycle; a socket silent for several cycles is dead (a phone
   * that slept, a proxy that dropped it) and is closed so that the normal reconnect path takes over.
   */
  feedWatchdog() {
    clearTimeout(this.watchdog);
    const limit = Math.max(45_000, this.o.pollMs * 4);
    this.watchdog = setTimeout(() => {
      if (this.ws) {
        this.log('websocket silent too long; reconnecting');
        this.ws.close();
      }
    }, limit);
  }

  startPolling() {
    if (this.polling) return;
    this.polling = true;
    const tick = async () => {
      if (!this.polling || this.stopped) return;
      try {
        const snap = await this.o.poll();
        if (!this.polling || this.stopped) return;
        const wasOffline = this.state === 'offline';
        this.setState('polling');
        this.o.onMessage({ event: 'snapshot', ...snap });
        // The server answers again: do not wait out the backoff to get the socket back.
        if (wasOffline) this.reconnectNow();
      } catch (err) {
        if (!this.polling || this.stopped) return;
        if (err && err.status > 0) {
          // Reachable but refusing (401, 5xx): not "offline"; the app decides what to show.
          this.setState('polling');
          this.o.onPollError(err);
        } else this.setState('offline');
      }
      if (this.polling && !this.stopped) this.pollTimer = setTimeout(tick, this.o.pollMs);
    };
    void tick();
  }

  stopPolling() {
    this.polling = false;
    clearTimeout(this.pollTimer);
  }
}
