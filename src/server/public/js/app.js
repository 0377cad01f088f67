/**
 * The dashboard: state, wiring and rendering. Data arrives from one WebSocket (live.js) or, while it is down,
 * from REST polls; the page is re-rendered from `state` after every change (the UI's own state — a kill being
 * confirmed, an alert being acknowledged — lives in `state` too, so an update never loses it).
 */
/* global URLSearchParams */
import { api } from './api.js';
import { LineChart } from './chart.js';
import {
  applyAlertEvent,
  badgeLevel,
  formatClock,
  formatDateTime,
  formatPercent,
  formatRate,
  formatTemp,
  formatWatts,
  parseTab,
  searchWith,
  sortAlerts,
  tabCounts,
  toSeries,
  viewForTab,
} from './format.js';
import { Live } from './live.js';
import { alertItem, h, hostCard, hostDetails, morphChildren, notificationsView } from './render.js';

const log = (...args) => console.info('[fleetmon]', ...args);
const $ = (id) => document.getElementById(id);

const state = {
  me: null,
  config: null,
  /** null until the first data arrives */
  hosts: null,
  summary: null,
  alerts: [],
  tab: parseTab(location.search),
  lastUpdate: null,
  connection: 'connecting',
  fatal: null,
  pollError: null,
  killState: new Map(),
  ackState: new Map(),
  /** sessions killed from this page, hidden until the server's next cycles stop reporting them */
  killed: new Map(),
  copied: null,
  history: { host: new URLSearchParams(location.search).get('host'), range: '1h', charts: [], timer: null, seq: 0, provisional: false },
  signin: { mode: null, retry: null },
  notified: new Set(),
  /** GET /api/notifications: loaded at start (for the tab's failing count) and every poll interval while its tab is open */
  notify: { data: null, error: null, timer: null, loading: false },
};
let live = null;
let renderQueued = false;

const thresholds = () => state.config?.alerts ?? {};
const pollMs = () => Math.max(2000, (state.config?.polling_interval_seconds ?? 30) * 1000);

// ---------------------------------------------------------------- start-up and sign-in

async function boot() {
  wire();
  await connectOrSignIn();
}

async function connectOrSignIn() {
  try {
    state.me = await api.me();
  } catch (err) {
    state.fatal = `Cannot reach the fleetmon server (${err.message}). Retrying…`;
    render();
    setTimeout(connectOrSignIn, 5000);
    return;
  }
  state.fatal = null;
  updateAuthButtons();
  if (!state.me.signed_in && !state.me.public_read) {
    showSignIn('required', 'This server requires the API token to show the fleet.');
    render();
    return;
  }
  await startDashboard();
}

async function startDashboard() {
  try {
    const [config, alerts] = await Promise.all([api.config(), api.alerts('open')]);
    state.config = config;
    setAlerts(alerts, { notify: false });
  } catch (err) {
    if (err.status === 401) {
      showSignIn('required', 'Your sign-in has expired; sign in again.');
      return;
    }
    state.fatal = `Cannot load the dashboard (${err.message}). Retrying…`;
    render();
    setTimeout(startDashboard, 5000);
    return;
  }
  state.fatal = null;
  live?.stop();
  live = new Live({
    pollMs: pollMs(),
    poll: async () => {
      const [hosts, summary, alerts] = await Promise.all([api.hosts(), api.summary(), api.alerts('open')]);
      return { hosts, summary, alerts };
    },
    onMessage,
    onState: (s) => {
      state.connection = s;
      render();
    },
    onPollError: (err) => {
      if (err.status === 401) {
        live?.stop();
        showSignIn('required', 'Your sign-in has expired; sign in again.');
        return;
      }
      state.pollError = err.message;
      render();
    },
    onOpen: (again) => {
      // Alert events sent while the socket was not open are lost (also those between the page's first load and
      // this first open): take the list afresh. A restarted server has also forgotten its browser sessions: ask
      // again who we are.
      refreshAlerts({ notify: again });
      if (again) {
        api.me().then((me) => {
          state.me = me;
          updateAuthButtons();
          render();
        }, () => {});
      }
    },
    log,
  });
  live.start();
  void loadNotifications();
  watchNotifications();
  log(`dashboard started; ${state.config.hosts.length} host(s) configured, polling every ${state.config.polling_interval_seconds}s`);
  render();
  if (state.history.host) openHistory(state.history.host, { push: false });
}

function updateAuthButtons() {
  const me = state.me;
  $('signin-btn').hidden = !me || me.signed_in;
  $('signout-btn').hidden = !me || me.kind !== 'browser';
}

/**
 * mode 'required': reads need a sign-in; the form covers the page. mode 'action': reads are public but a change
 * (acknowledge, kill) needs one; the form is a dialog and `retry` runs the change after a successful sign-in.
 */
function showSignIn(mode, reason, retry = null) {
  state.signin = { mode, retry };
  document.body.classList.toggle('needs-signin', mode === 'required');
  $('signin-reason').textContent = reason;
  $('signin-error').textContent = '';
  $('signin-cancel').hidden = mode === 'required';
  $('signin').hidden = false;
  $('signin-token').focus();
  log(`sign-in requested: ${reason}`);
}

function hideSignIn() {
  $('signin').hidden = true;
  document.body.classList.remove('needs-signin');
  state.signin = { mode: null, retry: null };
}

async function submitSignIn(ev) {
  ev.preventDefault();
  const input = $('signin-token');
  const token = input.value.trim();
  if (!token) return;
  $('signin-submit').disabled = true;
  $('signin-error').textContent = '';
  try {
    await api.login(token);
  } catch (err) {
    $('signin-error').textContent = err.status === 401 ? 'Wrong token.' : err.message;
    log(`sign-in failed: ${err.message}`);
    return;
  } finally {
    $('signin-submit').disabled = false;
  }
  input.value = '';
  const { mode, retry } = state.signin;
  hideSignIn();
  state.me = await api.me().catch(() => state.me);
  updateAuthButtons();
  log('signed in');
  toast('Signed in.', 'ok');
  if (mode === 'required' || !live) await startDashboard();
  if (retry) retry();
}

async function signOut() {
  // The server closes this session's WebSocket when it ends; when reads need a sign-in, stop first so that the
  // closing socket is not mistaken for an expired sign-in.
  const readsNeedSignIn = !state.me?.public_read;
  if (readsNeedSignIn) live?.stop();
  try {
    await api.logout();
  } catch (err) {
    toast(`Sign-out failed: ${err.message}`, 'crit');
    if (readsNeedSignIn) live?.start();
    return;
  }
  log('signed out');
  state.me = await api.me().catch(() => ({ signed_in: false, kind: 'anonymous', public_read: false }));
  updateAuthButtons();
  if (!state.me.public_read) {
    live?.stop();
    live = null;
    closeHistory({ push: false });
    state.hosts = null;
    state.alerts = [];
    state.connection = 'connecting';
    render();
    showSignIn('required', 'Signed out. Sign in again to see the fleet.');
  } else toast('Signed out.', 'ok');
}

/** Runs a change; when the server says it needs a sign-in, asks for one and runs it again afterwards. */
function needsSignIn(err, what, retry) {
  if (err.status !== 401) return false;
  showSignIn('action', `Sign in to ${what}.`, retry);
  return true;
}

// ---------------------------------------------------------------- data

function onMessage(msg) {
  switch (msg.event) {
    case 'hosts_update':
      setHosts(msg.data, msg.summary);
      refreshProvisionalHistory();
      break;
    case 'snapshot':
      setHosts(msg.hosts, msg.summary);
      setAlerts(msg.alerts, { notify: true });
      refreshProvisionalHistory();
      break;
    case 'alert_new':
    case 'alert_updated':
    case 'alert_acked':
    case 'alert_cleared':
      if (msg.event !== 'alert_updated') log(`${msg.event.replace('_', ' ')}: ${msg.data?.message ?? msg.data?.id}`);
      state.alerts = applyAlertEvent(state.alerts, msg);
      alertEventsDuringRefresh?.push(msg);
      if (msg.event === 'alert_new') notifyCritical([msg.data]);
      // Each alert event plans deliveries: the log and the tab's failing count are asked for again shortly.
      setTimeout(() => void loadNotifications(), 1000);
      break;
    default:
      return;
  }
  scheduleRender();
}

function setHosts(hosts, summary) {
  if (!Array.isArray(hosts)) return;
  const now = Date.now();
  for (const [key, until] of state.killed) if (until < now) state.killed.delete(key);
  state.hosts = hosts.map((host) =>
    state.killed.size === 0 ? host : { ...host, sessions: host.sessions.filter((s) => !state.killed.has(`${s.fleetmon_id}@${s.created_epoch}`)) },
  );
  state.summary = summary ?? state.summary;
  state.lastUpdate = summary?.last_cycle_at ? new Date(summary.last_cycle_at) : new Date();
  state.pollError = null;
  // Forget UI state of sessions that are gone.
  const ids = new Set(state.hosts.flatMap((hst) => hst.sessions.map((s) => s.id)));
  for (const [id, st] of state.killState) if (!ids.has(id) && st.step !== 'working') state.killState.delete(id);
}

/** Alert events that arrived while a refresh of the list was in flight: applied again on top of its answer. */
let alertEventsDuringRefresh = null;

function refreshAlerts({ notify }) {
  const pending = [];
  alertEventsDuringRefresh = pending;
  api.alerts('open').then(
    (alerts) => {
      if (alertEventsDuringRefresh === pending) alertEventsDuringRefresh = null;
      setAlerts(alerts, { notify });
      for (const msg of pending) state.alerts = applyAlertEvent(state.alerts, msg);
      render();
    },
    () => {
      if (alertEventsDuringRefresh === pending) alertEventsDuringRefresh = null;
    },
  );
}

function setAlerts(alerts, { notify }) {
  if (!Array.isArray(alerts)) return;
  if (notify) notifyCritical(alerts);
  else for (const a of alerts) state.notified.add(a.id);
  state.alerts = alerts;
}

function notifyCritical(alerts) {
  for (const a of alerts) {
    if (state.notified.has(a.id)) continue;
    state.notified.add(a.id);
    if (a.severity !== 'critical' || a.acknowledged) continue;
    if (!('Notification' in window) || Notification.permission !== 'granted') continue;
    try {
      new Notification(`fleetmon: ${a.host}`, { body: a.message, tag: a.id });
    } catch (err) {
      log('notification failed', err);
    }
  }
}

// ---------------------------------------------------------------- actions

/** The session as the last update has it: a button kept across re-renders may hold an older copy. */
function currentSession(session) {
  for (const host of state.hosts ?? []) for (const s of host.sessions) if (s.fleetmon_id === session.fleetmon_id) return s;
  return session;
}

function onKill(shown, step) {
  const session = currentSession(shown);
  const cur = state.killState.get(session.fleetmon_id);
  if (step === 'cancel') state.killState.delete(session.fleetmon_id);
  else if (step === 'start') state.killState.set(session.fleetmon_id, { step: 'confirm' });
  else if (step === 'confirm') {
    // Legacy sessions: one confirmation. Active ones (someone may be using them): a second one.
    if (cur?.step === 'confirm' && session.status === 'active') state.killState.set(session.fleetmon_id, { step: 'confirm2' });
    else void doKill(session);
  }
  render();
}

async function doKill(session) {
  state.killState.set(session.fleetmon_id, { step: 'working' });
  render();
  try {
    const result = await api.kill(session.fleetmon_id, session.created_epoch);
    state.killState.delete(session.fleetmon_id);
    state.killed.set(`${session.fleetmon_id}@${session.created_epoch}`, Date.now() + Math.max(10_000, 3 * pollMs()));
    if (state.hosts) setHosts(state.hosts, state.summary);
    log(`killed session ${session.fleetmon_id}: ${result?.detail ?? ''}`);
    toast(`Killed session '${session.name}' on ${session.host}.`, 'ok');
  } catch (err) {
    state.killState.delete(session.fleetmon_id);
    if (!needsSignIn(err, 'kill sessions', () => doKill(session))) {
      state.killState.set(session.fleetmon_id, { step: 'error', message: `Not killed: ${err.message}` });
      log(`kill of ${session.id} failed: ${err.status} ${err.message}`);
      toast(`Session '${session.name}' was not killed: ${err.message}`, 'crit');
    }
  }
  render();
}

async function onAck(alert) {
  state.ackState.set(alert.id, { step: 'working' });
  render();
  try {
    const updated = await api.ack(alert.id);
    state.ackState.delete(alert.id);
    state.alerts = applyAlertEvent(state.alerts, { event: 'alert_acked', data: updated });
    log(`acknowledged alert ${alert.id}`);
  } catch (err) {
    state.ackState.delete(alert.id);
    if (err.status === 404) state.alerts = state.alerts.filter((a) => a.id !== alert.id);
    else if (!needsSignIn(err, 'acknowledge alerts', () => onAck(alert))) {
      state.ackState.set(alert.id, { step: 'error', message: err.message });
      log(`acknowledging ${alert.id} failed: ${err.message}`);
    }
  }
  render();
}

async function onCopy(session, key) {
  const text = currentSession(session).attach_command;
  let ok = false;
  try {
    await navigator.clipboard.writeText(text);
    ok = true;
  } catch {
    // navigator.clipboard exists only in secure contexts (https or localhost): fall back to a selection.
    const area = h('textarea', { value: text, class: 'offscreen', attrs: { readonly: '' } });
    area.style.position = 'fixed';
    area.style.opacity = '0';
    document.body.append(area);
    area.select();
    try {
      ok = document.execCommand('copy');
    } catch {
      ok = false;
    }
    area.remove();
  }
  if (!ok) {
    toast('Could not copy: select the command and copy it by hand.', 'warn');
    return;
  }
  state.copied = key;
  render();
  setTimeout(() => {
    if (state.copied === key) {
      state.copied = null;
      render();
    }
  }, 1500);
}

function setTab(tab, { push = true } = {}) {
  state.tab = tab;
  if (push) history.pushState(null, '', `${location.pathname}${searchWith(location.search, { tab })}`);
  watchNotifications();
  render();
}

// ---------------------------------------------------------------- notifications

async function loadNotifications() {
  if (state.notify.loading) return;
  state.notify.loading = true;
  try {
    state.notify.data = await api.notifications();
    state.notify.error = null;
  } catch (err) {
    state.notify.error = err.status === 401 ? 'sign in to see them' : err.message;
  } finally {
    state.notify.loading = false;
  }
  scheduleRender();
}

/** Channels' health and the log change with every delivery, which no event announces: asked for while shown. */
function watchNotifications() {
  const shown = state.tab === 'notifications';
  if (shown && state.notify.timer === null) {
    void loadNotifications();
    state.notify.timer = setInterval(() => void loadNotifications(), pollMs());
  } else if (!shown && state.notify.timer !== null) {
    clearInterval(state.notify.timer);
    state.notify.timer = null;
  }
}

function toast(text, level = 'info') {
  const el = h('div', { class: `toast lvl-${level}`, text });
  $('toasts').append(el);
  setTimeout(() => el.remove(), level === 'crit' ? 8000 : 4000);
}

// ---------------------------------------------------------------- history panel

const CHARTS = [
  { id: 'cpu', title: 'CPU', series: [{ metric: 'cpu_percent', label: 'cpu %', color: '#3fb950' }], unit: '%', yMin: 0, yMax: 100, format: (v) => formatPercent(v, 1) },
  { id: 'mem', title: 'Memory', series: [{ metric: 'memory_percent', label: 'used %', color: '#388bfd' }], unit: '%', yMin: 0, yMax: 100, format: (v) => formatPercent(v, 1) },
  { id: 'gpu-temp', title: 'GPU temperature (hottest)', gpu: true, series: [{ metric: 'gpu_temp_max', label: '°C', color: '#d29922' }], unit: '°C', yMin: 0, format: formatTemp },
  { id: 'gpu-power', title: 'GPU power (total)', gpu: true, series: [{ metric: 'gpu_power_w', label: 'W', color: '#db6d28' }], unit: 'W', yMin: 0, format: formatWatts },
  {
    id: 'net',
    title: 'Network',
    series: [
      { metric: 'net_rx_bps', label: 'rx', color: '#388bfd' },
      { metric: 'net_tx_bps', label: 'tx', color: '#a371f7' },
    ],
    unit: 'B/s',
    yMin: 0,
    format: formatRate,
  },
];

function openHistory(name, { push = true } = {}) {
  const hs = state.history;
  hs.host = name;
  if (push) history.pushState(null, '', `${location.pathname}${searchWith(location.search, { host: name })}`);
  $('history-title').textContent = name;
  $('history').hidden = false;
  document.body.classList.add('modal-open');
  const host = state.hosts?.find((x) => x.hostname === name);
  // Opened from a link before the first data: show every chart, and rebuild once the host is known.
  hs.provisional = !host;
  const hasGpu = host ? host.has_gpu || host.gpus.length > 0 : true;
  for (const c of hs.charts) c.chart.destroy();
  const box = $('history-charts');
  box.replaceChildren();
  hs.charts = CHARTS.filter((c) => !c.gpu || hasGpu).map((def) => {
    const body = h('div', { class: 'chart-body' });
    const err = h('p', { class: 'chart-error', hidden: true });
    const legend = def.series.map((s) => {
      const sw = h('span', { class: 'legend-swatch' });
      sw.style.background = s.color;
      return h('span', { class: 'legend' }, sw, s.label);
    });
    box.append(h('section', { class: 'chart', dataset: { chart: def.id } }, h('h3', {}, def.title, ...legend), body, err));
    return { def, err, chart: new LineChart(body, { series: def.series, unit: def.unit, yMin: def.yMin, yMax: def.yMax, format: def.format }) };
  });
  renderHistoryDetails();
  setRange(hs.range);
  $('history-close').focus();
  log(`history of ${name} opened`);
}

function refreshProvisionalHistory() {
  const hs = state.history;
  if (hs.host && hs.provisional && state.hosts?.some((x) => x.hostname === hs.host)) openHistory(hs.host, { push: false });
}

function setRange(range) {
  const hs = state.history;
  hs.range = range;
  for (const b of document.querySelectorAll('#history .range')) b.setAttribute('aria-pressed', String(b.dataset.range === range));
  void loadHistory();
  clearInterval(hs.timer);
  hs.timer = setInterval(() => void loadHistory(), range === '1h' ? 30_000 : 300_000);
}

async function loadHistory() {
  const hs = state.history;
  if (!hs.host) return;
  const seq = ++hs.seq;
  const points = Math.min(600, Math.max(120, Math.round($('history-charts').clientWidth / 2)));
  await Promise.all(
    hs.charts.map(async (c) => {
      try {
        const results = await Promise.all(c.def.series.map((s) => api.history(hs.host, s.metric, hs.range, points)));
        if (seq !== hs.seq) return;
        const first = results[0];
        c.err.hidden = true;
        c.chart.setData({ from: Date.parse(first.since), to: Date.parse(first.until), series: results.map((r) => toSeries(r.points)) });
      } catch (err) {
        if (seq !== hs.seq) return;
        c.err.textContent = `Cannot load the history: ${err.message}`;
        c.err.hidden = false;
      }
    }),
  );
}

function renderHistoryDetails() {
  const host = state.hosts?.find((x) => x.hostname === state.history.host);
  $('history-details').replaceChildren(host ? hostDetails(host) : h('p', { class: 'muted', text: state.hosts ? 'This host is not in the fleet.' : 'Loading…' }));
}

function closeHistory({ push = true } = {}) {
  const hs = state.history;
  if (!hs.host) return;
  clearInterval(hs.timer);
  for (const c of hs.charts) c.chart.destroy();
  hs.charts = [];
  hs.seq += 1;
  const name = hs.host;
  hs.host = null;
  $('history').hidden = true;
  document.body.classList.remove('modal-open');
  if (push) history.pushState(null, '', `${location.pathname}${searchWith(location.search, { host: null })}`);
  for (const el of document.querySelectorAll('.host-name')) if (el.dataset.key === `host:${name}`) el.focus();
}

// ---------------------------------------------------------------- rendering

function scheduleRender() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    render();
  });
}

function render() {
  renderHeader();
  renderAlerts();
  renderTabs();
  renderGrid();
  renderNotifications();
  if (state.history.host) renderHistoryDetails();
}

function renderNotifications() {
  const section = $('notifications');
  const failing = state.notify.data?.channels.filter((c) => c.health === 'failing').length ?? 0;
  const badge = $('notify-tab-health');
  badge.hidden = failing === 0;
  badge.className = `tab-count ${failing > 0 ? 'lvl-crit health' : ''}`;
  badge.textContent = failing > 0 ? `${failing} failing` : '';
  section.hidden = state.tab !== 'notifications';
  if (section.hidden) return;
  const byId = new Map(state.alerts.map((a) => [a.id, a]));
  const ctx = { now: Date.now(), alertLabel: (id) => byId.get(id)?.message ?? id };
  section.replaceChildren(...notificationsView(state.notify.data, state.notify.error, ctx));
}

function renderHeader() {
  const open = state.alerts.length;
  const pending = state.alerts.filter((a) => !a.acknowledged).length;
  const badge = $('alert-badge');
  badge.className = `badge lvl-${badgeLevel(state.alerts)}`;
  $('alert-count').textContent = String(open);
  badge.title = `${open} open alert(s), ${pending} not acknowledged`;
  badge.setAttribute('aria-label', badge.title);
  const conn = $('conn');
  conn.dataset.state = state.connection;
  $('conn-label').textContent = state.connection;
  conn.title = {
    live: 'live: updates arrive over the WebSocket',
    polling: 'polling: no WebSocket, the page asks the server every few seconds',
    offline: 'offline: the server does not answer; retrying',
    connecting: 'connecting…',
  }[state.connection];
  const upd = $('updated');
  upd.textContent = state.lastUpdate ? `updated ${formatClock(state.lastUpdate)}` : '—';
  upd.title = state.lastUpdate ? `last poll cycle ${formatDateTime(state.lastUpdate)} (local time)` : 'no data yet';
  document.title = pending > 0 ? `(${pending}) fleetmon` : 'fleetmon';
  $('notify-btn').hidden = !('Notification' in window) || Notification.permission !== 'default';
}

function renderAlerts() {
  const section = $('alerts');
  const alerts = sortAlerts(state.alerts);
  section.hidden = alerts.length === 0;
  if (alerts.length === 0) return;
  const level = badgeLevel(alerts);
  section.className = `alerts lvl-${level === 'ok' ? 'unknown' : level}`;
  const pending = alerts.filter((a) => !a.acknowledged).length;
  $('alerts-title').textContent = `${alerts.length} open alert${alerts.length === 1 ? '' : 's'}${pending ? ` · ${pending} not acknowledged` : ''}`;
  const collapsed = localStorage.getItem('fleetmon.alertsCollapsed') === '1';
  $('alerts-toggle').setAttribute('aria-expanded', String(!collapsed));
  const list = $('alerts-list');
  list.hidden = collapsed;
  const ctx = { now: Date.now(), ackState: state.ackState, actions: { ack: onAck } };
  withFocusKept(list, () => morphChildren(list, alerts.map((a) => alertItem(a, ctx))));
}

function renderTabs() {
  const counts = state.hosts ? tabCounts(state.hosts) : null;
  for (const tab of document.querySelectorAll('.tab')) {
    const on = tab.dataset.tab === state.tab;
    tab.setAttribute('aria-selected', String(on));
    tab.tabIndex = on ? 0 : -1;
  }
  for (const c of document.querySelectorAll('.tab-count[data-count]')) c.textContent = counts ? String(counts[c.dataset.count]) : '';
}

function renderGrid() {
  const grid = $('grid');
  const stateBox = $('view-state');
  const note = $('offline-note');
  const stale = state.connection === 'offline' && state.hosts !== null;
  note.hidden = !stale && !state.pollError;
  note.textContent = stale
    ? `Offline: the server does not answer. Showing data from ${state.lastUpdate ? formatClock(state.lastUpdate) : 'earlier'}; retrying.`
    : state.pollError
      ? `The server answered with an error: ${state.pollError}`
      : '';
  grid.classList.toggle('stale', stale);
  grid.hidden = state.tab === 'notifications';
  if (grid.hidden) {
    stateBox.hidden = true;
    return;
  }

  let message = null;
  if (state.fatal) message = state.fatal;
  else if (state.hosts === null) message = state.signin.mode === 'required' ? '' : 'Loading the fleet…';
  else if (state.hosts.length === 0) message = 'No hosts configured — see the README to add hosts to hosts.yml.';
  const views = state.hosts && message === null ? viewForTab(state.hosts, state.tab) : [];
  if (message === null && state.hosts && views.length === 0) {
    message =
      state.tab === 'active'
        ? `No active sessions on the ${state.hosts.length} host(s).`
        : state.tab === 'legacy'
          ? 'No legacy sessions: nothing has been left detached too long.'
          : 'No hosts.';
  }
  stateBox.hidden = message === null;
  stateBox.textContent = message ?? '';
  const ctx = {
    now: Date.now(),
    tab: state.tab,
    thresholds: thresholds(),
    killState: state.killState,
    copied: state.copied,
    actions: { openHost: (name) => openHistory(name), kill: onKill, copy: onCopy },
  };
  withFocusKept(grid, () => morphChildren(grid, views.map((v) => hostCard(v, ctx))));
}

/** Rebuilding a list replaces its buttons; give focus back to the one with the same data-key. */
function withFocusKept(container, rebuild) {
  const active = document.activeElement;
  const key = active && container.contains(active) ? active.dataset?.key : undefined;
  rebuild();
  if (!key) return;
  for (const el of container.querySelectorAll('[data-key]')) {
    if (el.dataset.key === key) {
      el.focus();
      break;
    }
  }
}

// ---------------------------------------------------------------- wiring

function wire() {
  for (const tab of document.querySelectorAll('.tab')) {
    tab.addEventListener('click', (ev) => {
      if (ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.button !== 0) return;
      ev.preventDefault();
      setTab(tab.dataset.tab);
    });
  }
  window.addEventListener('popstate', () => {
    state.tab = parseTab(location.search);
    watchNotifications();
    const host = new URLSearchParams(location.search).get('host');
    if (host && host !== state.history.host) openHistory(host, { push: false });
    else if (!host) closeHistory({ push: false });
    render();
  });
  $('alert-badge').addEventListener('click', () => {
    localStorage.setItem('fleetmon.alertsCollapsed', '0');
    render();
    $('alerts').scrollIntoView({ behavior: 'smooth', block: 'start' });
  });
  $('alerts-toggle').addEventListener('click', () => {
    const collapsed = localStorage.getItem('fleetmon.alertsCollapsed') === '1';
    localStorage.setItem('fleetmon.alertsCollapsed', collapsed ? '0' : '1');
    render();
  });
  $('signin-form').addEventListener('submit', submitSignIn);
  $('signin-cancel').addEventListener('click', () => hideSignIn());
  $('signin-btn').addEventListener('click', () => showSignIn('action', 'Sign in to acknowledge alerts and kill sessions.'));
  $('signout-btn').addEventListener('click', () => void signOut());
  $('notify-btn').addEventListener('click', async () => {
    const answer = await Notification.requestPermission();
    log(`notifications: ${answer}`);
    render();
  });
  $('history-close').addEventListener('click', () => closeHistory());
  $('history').addEventListener('click', (ev) => {
    if (ev.target === $('history')) closeHistory();
  });
  for (const b of document.querySelectorAll('#history .range')) b.addEventListener('click', () => setRange(b.dataset.range));
  document.addEventListener('keydown', (ev) => {
    if (ev.key !== 'Escape') return;
    if (!$('signin').hidden && state.signin.mode === 'action') hideSignIn();
    else if (state.history.host) closeHistory();
  });
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') live?.reconnectNow();
  });
  window.addEventListener('online', () => live?.reconnectNow());
  // Ages ("3m") move on between updates.
  setInterval(scheduleRender, 10_000);
}

void boot();
