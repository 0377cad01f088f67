/**
 * DOM builders. Every string that comes from the fleet (host, session, process and GPU names, alert messages,
 * error texts) goes into the page through textContent or an attribute value, never as HTML: a session named
 * `<img src=x onerror=alert(1)>` shows as those characters.
 */
import {
  DASH,
  ageOf,
  attachState,
  channelLevel,
  deliveryLevel,
  deliveryText,
  displayStatus,
  formatAge,
  formatBytes,
  formatClock,
  formatDateTime,
  formatLoad,
  formatMiB,
  formatMiBPair,
  formatPercent,
  formatPowerPair,
  formatRate,
  formatTemp,
  gpuProcessRows,
  hostLevel,
  percentOf,
  scopeNote,
  secondsSince,
  sessionNameFromId,
  severityIcon,
  tempLevel,
  usageLevel,
} from './format.js';

/**
 * createElement with properties: `class`, `text`, `title`, `hidden`, `dataset`, `attrs` (plain attributes),
 * `on` (event listeners), and any other DOM property (type, disabled, value…). Children: nodes or strings (text).
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  if (props.on) listening.add(el);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'attrs') for (const [a, av] of Object.entries(v)) el.setAttribute(a, String(av));
    else if (k === 'on') for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    else el[k] = v;
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
  return el;
}

/** Elements h() gave listeners: morphChildren reuses them only as they are, never for other content. */
const listening = new WeakSet();

/**
 * Makes `container`'s children look like `next` while keeping every node that is already what it would become.
 * A poll re-renders the whole grid; rebuilt from scratch, a button under the pointer was swapped for a copy between
 * a press and its release, and the click was lost (each poll cycle, every second on a small fleet). Kept nodes stay
 * the same element. An element that differs is updated in place when it has no listeners of its own (a card, a list,
 * a row), and replaced when it has. A button's listener holds only what the button shows or names in its attributes
 * (a host name, a session's or alert's id), so a button kept because it is equal acts on what it shows, in a row
 * whose figures changed too; what a click needs beyond that (the session's current state) is read at click time.
 */
export function morphChildren(container, next) {
  // Keyed children (a host card, a session row, an alert, a button) are matched by key, not by position: sorted by
  // CPU, two sessions at the same figure trade places from one poll to the next, and matched by position each would
  // be rewritten into the other, its buttons replaced. Unkeyed ones are matched by position.
  const byKey = new Map();
  for (const c of container.childNodes) {
    const k = keyOf(c);
    if (k !== null && !byKey.has(k)) byKey.set(k, c);
  }
  next.forEach((node, i) => {
    const at = container.childNodes[i] ?? null;
    const k = keyOf(node);
    const prev = k !== null ? byKey.get(k) : at !== null && keyOf(at) === null ? at : undefined;
    if (k !== null) byKey.delete(k);
    if (!prev) {
      container.insertBefore(node, at);
      return;
    }
    if (prev !== at) container.insertBefore(prev, at);
    if (prev.isEqualNode(node)) return;
    if (prev.nodeType === 1 && node.nodeType === 1 && prev.tagName === node.tagName && !listening.has(prev) && !listening.has(node)) {
      // style through the CSSOM: the page's CSP (style-src 'self') refuses a style attribute written as text.
      if (prev.style.cssText !== node.style.cssText) prev.style.cssText = node.style.cssText;
      for (const a of [...prev.attributes]) if (a.name !== 'style' && !node.hasAttribute(a.name)) prev.removeAttribute(a.name);
      for (const a of node.attributes) if (a.name !== 'style' && prev.getAttribute(a.name) !== a.value) prev.setAttribute(a.name, a.value);
      morphChildren(prev, [...node.childNodes]);
    } else prev.replaceWith(node);
  });
  while (container.childNodes.length > next.length) container.lastChild.remove();
}

/** What identifies a child across renders: its session, host, alert or button key; null for the rest. */
function keyOf(node) {
  if (node.nodeType !== 1) return null;
  const d = node.dataset;
  const k = d.sessionId ?? d.host ?? d.alertId ?? d.key;
  return k === undefined ? null : `${node.tagName}:${k}`;
}

const lvl = (level) => `lvl-${level}`;

/** A labelled bar with its figure: "CPU [■■■□□] 42%". */
export function bar({ label, percent, level, figure, cls = '' }) {
  const fill = h('div', { class: `bar-fill ${lvl(level)}` });
  fill.style.width = `${percent === null ? 0 : Math.max(0, Math.min(100, percent)).toFixed(1)}%`;
  return h(
    'div',
    { class: `metric ${cls}`.trim() },
    h('span', { class: 'metric-label', text: label }),
    h('div', { class: 'bar', attrs: { role: 'meter', 'aria-label': label, 'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': percent === null ? 0 : Math.round(percent) } }, fill),
    h('span', { class: 'metric-figure', text: figure }),
  );
}

function statusText(host, now) {
  if (host.pending) return 'waiting for the first poll';
  switch (host.status) {
    case 'online':
      return `online · polled ${formatAge(secondsSince(host.last_poll_at, now))} ago`;
    case 'degraded':
      return `degraded · ${host.problems.join(', ') || 'partial data'}`;
    case 'offline':
      return host.last_seen ? `offline · last seen ${formatAge(secondsSince(host.last_seen, now))} ago` : 'offline · never reached';
    default:
      return 'waiting for the first poll';
  }
}

export function hostCard(view, ctx) {
  const { host, sessions } = view;
  const m = host;
  const a = ctx.thresholds;
  const status = displayStatus(host);
  const header = h(
    'header',
    { class: 'card-head' },
    h('span', { class: `status-dot ${lvl(hostLevel(status))}`, title: status, attrs: { 'aria-hidden': 'true' } }),
    h('button', {
      class: 'host-name',
      type: 'button',
      text: host.hostname,
      title: `History of ${host.hostname}`,
      dataset: { key: `host:${host.hostname}` },
      on: { click: () => ctx.actions.openHost(host.hostname) },
    }),
    h('span', { class: 'host-status', text: statusText(host, ctx.now) }),
  );
  const body = [];
  if (host.last_error && status !== 'online') body.push(h('p', { class: `host-error ${lvl(status === 'offline' ? 'crit' : 'warn')}`, text: host.last_error }));
  if (m.memory_total_mb !== null) {
    body.push(
      h(
        'div',
        { class: 'metrics' },
        bar({
          label: 'CPU',
          percent: m.cpu_percent,
          level: usageLevel(m.cpu_percent, a.host_cpu_warning),
          figure: `${formatPercent(m.cpu_percent)} · ${m.cpu_count ?? DASH} cores`,
        }),
        bar({
          label: 'MEM',
          percent: m.memory_percent,
          level: usageLevel(m.memory_percent, a.host_memory_warning),
          figure: formatMiBPair(m.memory_used_mb, m.memory_total_mb),
        }),
        h('div', { class: 'metric metric-text' }, h('span', { class: 'metric-label', text: 'LOAD' }), h('span', { class: 'metric-figure', text: formatLoad(...(m.load_avg ?? [null, null, null])) })),
      ),
    );
  } else if (status !== 'offline') {
    body.push(h('p', { class: 'muted', text: 'no metrics yet' }));
  }
  if (host.gpus.length > 0) {
    body.push(h('div', { class: 'gpus' }, host.gpus.map((g) => gpuPanel(g, host, ctx))));
  } else if (host.has_gpu && host.gpu_error) {
    body.push(h('p', { class: 'muted', text: `GPU: ${host.gpu_error}` }));
  }
  body.push(sessionList(host, sessions, ctx));
  return h('article', { class: `host-card status-${status}`, dataset: { host: host.hostname, status } }, header, h('div', { class: 'card-body' }, ...body));
}

export function gpuPanel(gpu, host, ctx) {
  const a = ctx.thresholds;
  const memPct = gpu.memory_percent ?? percentOf(gpu.memory_used_mb, gpu.memory_total_mb);
  const powerPct = percentOf(gpu.power_draw_watts, gpu.power_limit_watts);
  const rows = gpuProcessRows(gpu, host.sessions);
  return h(
    'section',
    { class: 'gpu', dataset: { gpuIndex: String(gpu.index) } },
    h('header', { class: 'gpu-head' }, h('span', { class: 'gpu-index', text: `GPU ${gpu.index}` }), h('span', { class: 'gpu-name', text: gpu.name })),
    h(
      'div',
      { class: 'metrics' },
      bar({ label: 'PWR', percent: powerPct, level: 'info', figure: formatPowerPair(gpu.power_draw_watts, gpu.power_limit_watts), cls: 'gpu-power' }),
      bar({ label: 'VRAM', percent: memPct, level: usageLevel(memPct, a.gpu_memory_warning), figure: formatMiBPair(gpu.memory_used_mb, gpu.memory_total_mb), cls: 'gpu-vram' }),
      bar({ label: 'UTIL', percent: gpu.utilization_percent, level: 'info', figure: formatPercent(gpu.utilization_percent), cls: 'gpu-util' }),
      h(
        'div',
        { class: 'metric metric-text' },
        h('span', { class: 'metric-label', text: 'TEMP' }),
        h('span', { class: `gpu-temp metric-figure ${lvl(tempLevel(gpu.temperature_c, a))}`, text: formatTemp(gpu.temperature_c) }),
      ),
    ),
    typeof gpu.memory_outside_sessions_mb === 'number' && gpu.memory_outside_sessions_mb > 0
      ? h('p', { class: 'gpu-outside', text: `${formatMiB(gpu.memory_outside_sessions_mb)} held outside tmux sessions` })
      : null,
    rows.length === 0
      ? h('p', { class: 'muted gpu-idle', text: 'no processes' })
      : h(
          'table',
          { class: 'gpu-procs' },
          h('thead', {}, h('tr', {}, h('th', { text: 'PID' }), h('th', { text: 'process' }), h('th', { text: 'user' }), h('th', { text: 'VRAM' }), h('th', { text: 'session' }))),
          h(
            'tbody',
            {},
            rows.map((r) =>
              h(
                'tr',
                { dataset: { pid: String(r.pid) } },
                h('td', { class: 'num', text: String(r.pid) }),
                h('td', { class: 'proc-name', text: r.name, title: r.cmdline ?? undefined }),
                h('td', { class: r.user === null ? 'proc-user muted' : 'proc-user', text: r.user ?? DASH }),
                h('td', { class: 'num', text: r.memory }),
                h('td', { class: r.session === null ? 'proc-session muted' : 'proc-session', text: r.session ?? 'outside tmux' }),
              ),
            ),
          ),
        ),
  );
}

function sessionList(host, sessions, ctx) {
  const title = ctx.tab === 'hosts' ? 'sessions' : `${ctx.tab} sessions`;
  return h(
    'section',
    { class: 'sessions' },
    h('h3', { class: 'section-title', text: `${title} (${sessions.length})` }, scopeBadge(host)),
    scopeNote(host) === null ? null : h('p', { class: 'scope-note', text: scopeNote(host) }),
    sessions.length === 0
      ? h('p', { class: 'muted', text: host.status === 'offline' ? 'unknown while the host is offline' : 'no tmux sessions' })
      : h('ul', { class: 'session-list' }, sessions.map((s) => sessionRow(s, ctx))),
  );
}

export function sessionRow(s, ctx) {
  const gpuText = s.gpu_memory_mb > 0 ? formatMiB(s.gpu_memory_mb) : '0';
  const copyKey = `copy:${s.fleetmon_id}`;
  return h(
    'li',
    { class: `session status-${s.status}`, dataset: { sessionId: s.id, status: s.status } },
    h(
      'div',
      { class: 'session-line' },
      h('span', { class: 'session-name', text: s.name, title: `${s.user}@${s.host}` }),
      h('span', { class: 'session-owner', text: s.user, title: s.owner_uid === undefined ? 'owner' : `owner, uid ${s.owner_uid}` }),
      h('span', { class: `chip chip-${s.status}`, text: s.status }),
      h('span', { class: `session-attach ${s.attached ? 'is-attached' : ''}`.trim(), text: attachState(s, ctx.now) }),
    ),
    h(
      'div',
      { class: 'session-stats' },
      stat('win', String(s.window_count)),
      stat('age', ageOf(s.created, ctx.now), formatDateTime(s.created)),
      stat('cpu', formatPercent(s.cpu_percent, 1)),
      stat('rss', formatMiB(s.memory_mb)),
      stat('gpu', gpuText),
    ),
    h(
      'div',
      { class: 'session-actions' },
      h('code', { class: 'attach-cmd', text: s.attach_command, title: 'attach command' }),
      h('button', {
        class: 'btn btn-small copy-btn',
        type: 'button',
        text: ctx.copied === copyKey ? 'copied' : 'copy',
        title: 'Copy the attach command',
        dataset: { key: copyKey },
        on: { click: () => ctx.actions.copy(s, copyKey) },
      }),
      killControl(s, ctx),
    ),
  );
}

/** Whose sessions the list holds, beside its title: every user's, or the service account's own. */
function scopeBadge(host) {
  const scope = host.sessions_scope?.scope;
  if (!scope) return null;
  return h('span', { class: `chip scope-badge scope-${scope}`, text: scope === 'all-users' ? 'all users' : 'own account', title: scopeNote(host) ?? "every user's tmux sessions" });
}

function stat(label, value, title) {
  return h('span', { class: 'stat', title }, h('span', { class: 'stat-label', text: label }), h('span', { class: 'stat-value', text: value }));
}

function killControl(s, ctx) {
  const st = ctx.killState.get(s.fleetmon_id);
  const key = (k) => `kill:${k}:${s.fleetmon_id}`;
  const cancel = h('button', { class: 'btn btn-small', type: 'button', text: 'cancel', dataset: { key: key('cancel') }, on: { click: () => ctx.actions.kill(s, 'cancel') } });
  if (!st) {
    return h('button', {
      class: `btn btn-small btn-danger kill-btn ${s.status === 'active' ? 'btn-quiet' : ''}`.trim(),
      type: 'button',
      text: 'kill',
      title: s.status === 'active' ? 'Kill this active session (asks twice)' : 'Kill this legacy session',
      dataset: { key: key('start') },
      on: { click: () => ctx.actions.kill(s, 'start') },
    });
  }
  if (st.step === 'confirm' || st.step === 'confirm2') {
    const text =
      st.step === 'confirm'
        ? `Kill '${s.name}' on ${s.host}? Its processes end.`
        : `'${s.name}' is active (${attachState(s, ctx.now)}). Really kill it?`;
    return h(
      'div',
      { class: 'kill-confirm', attrs: { role: 'group', 'aria-label': 'confirm kill' } },
      h('span', { class: 'kill-question', text }),
      h('button', {
        class: 'btn btn-small btn-danger kill-confirm-btn',
        type: 'button',
        text: st.step === 'confirm' ? 'kill session' : 'yes, kill it',
        dataset: { key: key(st.step) },
        on: { click: () => ctx.actions.kill(s, 'confirm') },
      }),
      cancel,
    );
  }
  if (st.step === 'working') return h('span', { class: 'kill-working muted', text: 'killing…' });
  return h('div', { class: 'kill-confirm' }, h('span', { class: 'kill-error lvl-crit', attrs: { role: 'alert' }, text: st.message }), cancel);
}

export function alertItem(alert, ctx) {
  const st = ctx.ackState.get(alert.id);
  const who = alert.session ? `${alert.host} / ${sessionNameFromId(alert.session)}` : alert.gpu_index !== null ? `${alert.host} / GPU ${alert.gpu_index}` : alert.host;
  let action;
  if (alert.acknowledged) {
    action = h('span', {
      class: 'acked muted',
      text: `acknowledged${alert.acknowledged_by ? ` by ${alert.acknowledged_by}` : ''}`,
      title: alert.acknowledged_at ? formatDateTime(alert.acknowledged_at) : undefined,
    });
  } else if (st?.step === 'working') {
    action = h('span', { class: 'muted', text: 'acknowledging…' });
  } else {
    action = h('button', {
      class: 'btn btn-small ack-btn',
      type: 'button',
      text: 'Acknowledge',
      dataset: { key: `ack:${alert.id}` },
      on: { click: () => ctx.actions.ack(alert) },
    });
  }
  return h(
    'li',
    { class: `alert sev-${alert.severity} ${alert.acknowledged ? 'is-acked' : ''}`.trim(), dataset: { alertId: alert.id, severity: alert.severity } },
    h('span', { class: 'alert-icon', text: severityIcon(alert.severity), title: alert.severity, attrs: { 'aria-label': alert.severity } }),
    h('span', { class: 'alert-who', text: who }),
    h('span', { class: 'alert-msg', text: alert.message }),
    h('span', { class: 'alert-age muted', text: ageOf(alert.created, ctx.now), title: `since ${formatDateTime(alert.created)}` }),
    h('span', { class: 'alert-action' }, action, st?.step === 'error' ? h('span', { class: 'lvl-crit ack-error', text: ` ${st.message}` }) : null),
  );
}

/** Disks and interfaces for the history panel (the cards leave them out to stay glanceable). */
export function hostDetails(host) {
  const m = host;
  if (m.memory_total_mb === null) return h('p', { class: 'muted', text: 'no metrics yet' });
  const disks = m.disks.map((d) =>
    bar({ label: d.mount, percent: d.percent, level: usageLevel(d.percent, 85), figure: `${formatBytes(d.used_bytes)} / ${formatBytes(d.total_bytes)}` }),
  );
  const nets = m.network
    .filter((n) => n.rx_bytes > 0 || n.tx_bytes > 0)
    .map((n) => h('div', { class: 'metric metric-text' }, h('span', { class: 'metric-label', text: n.iface }), h('span', { class: 'metric-figure', text: `↓ ${formatRate(n.rx_bytes_per_s)}  ↑ ${formatRate(n.tx_bytes_per_s)}` })));
  return h(
    'div',
    { class: 'details' },
    h('p', { class: 'muted', text: `${host.address} · up ${formatAge(m.uptime_seconds)} · ${m.cpu_count ?? DASH} cores · last poll ${host.last_poll_at ? formatClock(host.last_poll_at) : '—'}` }),
    h('div', { class: 'metrics' }, disks, nets),
  );
}

/**
 * The notifications view (GET /api/notifications): each channel with its health, queue and last error, then the
 * delivery log, newest first. `data` null: not loaded yet; `error`: why it could not be.
 */
export function notificationsView(data, error, ctx) {
  if (error) return [h('p', { class: 'lvl-crit notify-error', text: `Cannot load the notifications: ${error}` })];
  if (!data) return [h('p', { class: 'muted', text: 'Loading the notification channels…' })];
  const when = (iso) => (iso ? h('span', { text: ageOf(iso, ctx.now), title: formatDateTime(iso) }) : DASH);
  const channels =
    data.channels.length === 0
      ? h('p', { class: 'muted', text: 'No notification channels: add them under notifications.channels in hosts.yml (see the README).' })
      : h(
          'table',
          { class: 'notify-table notify-channels' },
          h('thead', {}, h('tr', {}, ...['channel', 'type', 'min severity', 'health', 'pending', 'failed', 'last delivery', 'last error'].map((t) => h('th', { text: t, attrs: { scope: 'col' } })))),
          h(
            'tbody',
            {},
            ...data.channels.map((c) =>
              h(
                'tr',
                { dataset: { channel: c.name, health: c.health } },
                h('td', { class: 'notify-name', text: c.name }),
                h('td', { text: c.type }),
                h('td', { text: c.min_severity }),
                h('td', {}, h('span', { class: `health lvl-${channelLevel(c.health)}`, text: c.health })),
                h('td', { class: 'num', text: String(c.pending) }),
                h('td', { class: 'num', text: String(c.failed) }),
                h('td', {}, when(c.last_delivered_at)),
                h('td', { class: 'notify-why', text: c.last_error ?? DASH, title: c.last_error_at ? `at ${formatDateTime(c.last_error_at)}` : undefined }),
              ),
            ),
          ),
        );
  const log =
    data.log.length === 0
      ? h('p', { class: 'muted', text: 'Nothing sent yet.' })
      : h(
          'table',
          { class: 'notify-table notify-log' },
          h('thead', {}, h('tr', {}, ...['when', 'channel', 'alert', 'event', 'outcome'].map((t) => h('th', { text: t, attrs: { scope: 'col' } })))),
          h(
            'tbody',
            {},
            ...data.log.map((r) =>
              h(
                'tr',
                { dataset: { id: String(r.id), state: r.state, channel: r.channel, event: r.event } },
                h('td', {}, when(r.delivered_at ?? r.last_attempt_at ?? r.created_at)),
                h('td', { text: r.channel }),
                h('td', { class: 'notify-alert', text: ctx.alertLabel(r.alert_id), title: r.alert_id }),
                h('td', { text: r.event }),
                h('td', { class: 'notify-why' }, h('span', { class: `health lvl-${deliveryLevel(r)}`, text: deliveryText(r) })),
              ),
            ),
          ),
        );
  return [h('h2', { class: 'section-title', text: 'Channels' }), channels, h('h2', { class: 'section-title', text: 'Delivery log' }), log];
}
