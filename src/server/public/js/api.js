/**
 * The REST API as the dashboard uses it. Same-origin fetches carry the session cookie; every POST sends a JSON
 * body, because the server refuses cookie-authenticated changes without a JSON content type (and without the
 * exact Origin, which the browser adds itself).
 */

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.name = 'ApiError';
    /** HTTP status, or 0 when the server could not be reached. */
    this.status = status;
    this.body = body;
  }
}

async function request(method, path, body, { okStatuses = [] } = {}) {
  let res;
  try {
    res = await fetch(path, {
      method,
      credentials: 'same-origin',
      cache: 'no-store',
      headers: method === 'GET' ? { accept: 'application/json' } : { accept: 'application/json', 'content-type': 'application/json' },
      body: method === 'GET' ? undefined : JSON.stringify(body ?? {}),
    });
  } catch (err) {
    throw new ApiError(0, `cannot reach the server (${err instanceof Error ? err.message : String(err)})`, null);
  }
  let data = null;
  try {
    data = await res.json();
  } catch {
    data = null;
  }
  if (!res.ok && !okStatuses.includes(res.status)) {
    const message = data && typeof data.error === 'string' ? data.error : `HTTP ${res.status}`;
    throw new ApiError(res.status, message, data);
  }
  return { status: res.status, data };
}

const get = async (path) => (await request('GET', path)).data;
const enc = encodeURIComponent;

export const api = {
  me: () => get('/api/me'),
  config: () => get('/api/config'),
  hosts: () => get('/api/hosts'),
  summary: () => get('/api/summary'),
  alerts: (state = 'open') => get(`/api/alerts?state=${enc(state)}`),
  notifications: (limit = 100) => get(`/api/notifications?limit=${enc(String(limit))}`),
  history: (host, metric, since, points) =>
    get(`/api/hosts/${enc(host)}/history?metric=${enc(metric)}&since=${enc(since)}&points=${enc(String(points))}`),

  login: async (token) => (await request('POST', '/api/login', { token })).data,
  logout: async () => (await request('POST', '/api/logout', {})).data,
  ack: async (id, note) => (await request('POST', `/api/alerts/${enc(id)}/ack`, note ? { note } : {})).data,

  /**
   * Both HTTP steps of a kill, run after the user confirmed in the page: the first POST answers 428 with a
   * single-use confirm_token bound to the session and its creation time, the second presents it. A session
   * replaced in between (same name, new creation time) is refused by the server, not killed; so is one replaced
   * before the first step, since `createdEpoch` (the session the page showed) goes with both.
   */
  async kill(sessionId, createdEpoch) {
    const path = `/api/sessions/${enc(sessionId)}/kill`;
    const seen = createdEpoch === undefined ? {} : { created_epoch: createdEpoch };
    const first = await request('POST', path, seen, { okStatuses: [428] });
    if (first.status !== 428 || !first.data?.confirm_token) throw new ApiError(first.status, 'the server did not ask for confirmation', first.data);
    const second = await request('POST', path, { ...seen, confirm_token: first.data.confirm_token });
    return second.data;
  },
};
