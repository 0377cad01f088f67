/**
 * The dashboard in Chromium with the fleet's data replaced in the browser (playwright route interception and a
 * mocked WebSocket): GPU panels from the H100 capture, hosts in every state, alerts, browser notifications and the
 * history charts, none of which this machine can produce for real. The page itself is served by a real server
 * (with no hosts, which is also the empty state).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, BrowserContext, Page, WebSocketRoute } from 'playwright-core';
import type { Alert, Gpu, Host } from '../../../src/core/model.js';
import { tempDir } from '../../helpers/common.js';
import { H100, alert, h100Host, offlineHost, summaryOf } from '../../helpers/mock-fleet.js';
import { SKIP_BROWSER, horizontalOverflow, launchChromium, screenshot, startTestServer, watch, type TestServer } from '../../helpers/dashboard.js';

const NOW = Date.now();
const XSS_PROC = '<script>window.__pwned=1</script><img src=x onerror=alert(2)>';
const XSS_USER = '<img src=x onerror=window.__pwned=3>';

const hotGpu: Gpu = { ...H100, index: 1, uuid: 'GPU-1', power_draw_watts: 95.5, memory_used_mb: 4, memory_percent: 0, utilization_percent: 0, temperature_c: 85, processes: [] };
const burningGpu: Gpu = {
  ...H100,
  index: 2,
  uuid: 'GPU-2',
  power_draw_watts: 699,
  memory_used_mb: 80012,
  memory_percent: 98.1,
  temperature_c: 93,
  processes: [{ pid: 777, name: XSS_PROC, memory_mb: 80000, session_id: null, uid: 1002, user: XSS_USER, cmdline: `${XSS_PROC} --epochs 9` }],
  memory_outside_sessions_mb: 80000,
};

function fleet(): Host[] {
  return [h100Host(NOW, { gpus: [H100, hotGpu, burningGpu] }), offlineHost(NOW)];
}

const ALERTS: Alert[] = [
  alert('warn-1', NOW, { gpu_index: 1, message: 'GPU 1 (NVIDIA H100 80GB HBM3) on gpu-h100 at 85 °C (warning at 80 °C)' }),
  alert('crit-2', NOW, {
    type: 'gpu_temp_critical',
    severity: 'critical',
    gpu_index: 2,
    value: 93,
    threshold: 90,
    message: 'GPU 2 (NVIDIA H100 80GB HBM3) on gpu-h100 at 93 °C (critical at 90 °C)',
  }),
  alert('legacy-1', NOW, {
    type: 'legacy_session',
    severity: 'info',
    gpu_index: null,
    session: 'gpu-h100:idle-shell',
    message: "session 'idle-shell' on gpu-h100 detached for 48 h",
  }),
];

const CONFIG = {
  polling_interval_seconds: 30,
  legacy_threshold_hours: 24,
  offline_after_failures: 3,
  alerts: { enabled: true, session_cpu_warning: 80, session_memory_mb_warning: 2048, host_cpu_warning: 90, host_memory_warning: 90, gpu_temp_warning: 80, gpu_temp_critical: 90, gpu_memory_warning: 90, hysteresis_percent: 5 },
  ssh: { user: 'fleetmon', timeout: 10, port: 22, host_key_policy: 'known_hosts' },
  server: { public_read: true, history_retention_days: 7, auth_required_for_changes: true },
  hosts: [
    { name: 'gpu-h100', address: '10.0.0.21', has_gpu: true, pinned: true, gate: false, transport: 'ssh' },
    { name: 'gpu-b', address: '10.0.0.22', has_gpu: true, pinned: true, gate: false, transport: 'ssh' },
  ],
};

const RANGE_MS: Record<string, number> = { '1h': 3600_000, '1d': 86400_000, '7d': 7 * 86400_000 };

/** Synthetic history with a stretch of missing samples in the middle (drawn as a gap). */
function history(host: string, metric: string, since: string, points: number) {
  const span = RANGE_MS[since] ?? 3600_000;
  const n = Math.min(points, 240);
  const shape: Record<string, (f: number) => number> = {
    cpu_percent: (f) => 50 + 30 * Math.sin(f * 12),
    memory_percent: (f) => 20 + 15 * f,
    gpu_temp_max: (f) => 60 + 8 * Math.sin(f * 7),
    gpu_power_w: (f) => 400 + 280 * Math.abs(Math.sin(f * 5)),
    net_rx_bps: (f) => 2e6 + 1e6 * Math.sin(f * 20),
    net_tx_bps: (f) => 3e5 + 2e5 * Math.cos(f * 9),
  };
  const f = shape[metric] ?? (() => 1);
  const out = [];
  for (let i = 0; i < n; i += 1) {
    if (i > n * 0.55 && i < n * 0.62) continue;
    const frac = i / (n - 1);
    out.push({ t: new Date(NOW - span + frac * span).toISOString(), v: i === Math.floor(n * 0.3) ? null : Math.round(f(frac) * 100) / 100 });
  }
  return { host, metric, since: new Date(NOW - span).toISOString(), until: new Date(NOW).toISOString(), points: out };
}

describe('dashboard with a mocked GPU fleet', { skip: SKIP_BROWSER }, () => {
  let ts: TestServer;
  let data: ReturnType<typeof tempDir>;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let seen: ReturnType<typeof watch>;
  let socket: WebSocketRoute | null = null;
  const historyRequests: string[] = [];

  const send = (msg: unknown) => {
    assert.ok(socket, 'the page opened its WebSocket');
    socket.send(JSON.stringify(msg));
  };
  const gpu = (i: number) => page.locator(`article[data-host="gpu-h100"] section.gpu[data-gpu-index="${i}"]`);

  before(async () => {
    data = tempDir('fleetmon-dash-mock-');
    ts = await startTestServer({ hosts: [] }, data.path);
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close().catch(() => {});
    await ts?.server.close().catch(() => {});
    data?.remove();
  });

  test('no hosts configured: the empty state points to the README', async () => {
    const p = await browser.newPage();
    await p.goto(ts.url);
    await p.locator('#view-state', { hasText: 'No hosts configured — see the README' }).waitFor();
    await p.waitForFunction(() => document.getElementById('conn-label')?.textContent === 'live');
    assert.equal(await p.locator('article.host-card').count(), 0);
    await screenshot(p, 'empty-desktop');
    await p.close();
  });

  test('a server that cannot be reached shows an error state, not a blank page', async () => {
    const p = await browser.newPage();
    await p.route('**/api/me', (r) => r.abort('connectionrefused'));
    await p.goto(ts.url);
    await p.locator('#view-state', { hasText: 'Cannot reach the fleetmon server' }).waitFor();
    await p.close();
  });

  test('without a WebSocket the page polls the REST API and says so', async () => {
    const ctx = await browser.newContext();
    const p = await ctx.newPage();
    const polled: string[] = [];
    await p.route(/\/api\/(config|alerts|hosts|summary)(\?.*)?$/, (route) => {
      const path = new URL(route.request().url()).pathname;
      polled.push(path);
      const body = path === '/api/config' ? { ...CONFIG, polling_interval_seconds: 1 } : path === '/api/alerts' ? ALERTS : path === '/api/hosts' ? fleet() : summaryOf(fleet(), ALERTS, NOW);
      return route.fulfill({ json: body });
    });
    // A proxy that refuses WebSockets: every attempt is closed at once.
    let attempts = 0;
    await p.routeWebSocket(/\/ws(\?|$)/, (ws) => {
      attempts += 1;
      void ws.close({ code: 1011, reason: 'no websockets here' });
    });
    await p.goto(`${ts.url}/?tab=hosts`);
    await p.waitForFunction(() => document.getElementById('conn-label')?.textContent === 'polling');
    await p.locator('article[data-host="gpu-h100"] section.gpu[data-gpu-index="0"]').waitFor();
    const before = polled.filter((x) => x === '/api/hosts').length;
    await p.waitForTimeout(2300);
    assert.ok(polled.filter((x) => x === '/api/hosts').length > before, 'it keeps polling');
    assert.ok(attempts >= 2, `and keeps trying the WebSocket (${attempts} attempts)`);
    await ctx.close();
  });

  test('loading, then the fleet from the WebSocket: host cards with GPU panels', async () => {
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    // Notifications recorded instead of shown; permission as if the user had allowed them.
    // A string, not a function: tsx would compile a function with helpers that do not exist in the page.
    await context.addInitScript(`
      window.__notes = [];
      window.Notification = class FakeNotification {
        static permission = 'granted';
        static requestPermission() { return Promise.resolve('granted'); }
        constructor(title, opts) { window.__notes.push({ title, body: opts.body }); }
      };
    `);
    page = await context.newPage();
    seen = watch(page);
    page.setDefaultTimeout(10_000);
    await page.route(/\/api\/(config|alerts|hosts|summary)(\?.*)?$/, (route) => {
      const path = new URL(route.request().url()).pathname;
      const body = path === '/api/config' ? CONFIG : path === '/api/alerts' ? ALERTS : path === '/api/hosts' ? fleet() : summaryOf(fleet(), ALERTS, NOW);
      return route.fulfill({ json: body });
    });
    await page.route(/\/api\/hosts\/[^/]+\/history\?/, (route) => {
      const u = new URL(route.request().url());
      historyRequests.push(u.search);
      const host = decodeURIComponent(u.pathname.split('/')[3] ?? '');
      return route.fulfill({ json: history(host, u.searchParams.get('metric') ?? '', u.searchParams.get('since') ?? '1h', Number(u.searchParams.get('points'))) });
    });
    await page.routeWebSocket(/\/ws(\?|$)/, (ws) => {
      socket = ws;
    });
    await page.goto(`${ts.url}/?tab=hosts`);
    await page.locator('#view-state', { hasText: 'Loading the fleet' }).waitFor();
    await page.waitForFunction(() => document.getElementById('conn-label')?.textContent === 'live');
    send({ event: 'hosts_update', data: fleet(), summary: summaryOf(fleet(), ALERTS, NOW) });
    await gpu(0).waitFor();

    const text = await gpu(0).innerText();
    assert.match(text, /GPU 0/);
    assert.match(text, /NVIDIA H100 80GB HBM3/);
    assert.match(text, /686 \/ 700 W/);
    assert.match(text, /30\.8 \/ 79\.6 GiB/);
    assert.match(text, /100%/);
    assert.equal(await gpu(0).locator('.gpu-temp').textContent(), '62 °C');
    assert.match((await gpu(0).locator('.gpu-temp').getAttribute('class')) ?? '', /lvl-ok/);
    assert.match((await gpu(1).locator('.gpu-temp').getAttribute('class')) ?? '', /lvl-warn/, '85 °C is past the 80 °C warning');
    assert.match((await gpu(2).locator('.gpu-temp').getAttribute('class')) ?? '', /lvl-crit/, '93 °C is past the 90 °C critical');
    assert.match((await gpu(2).locator('.gpu-vram .bar-fill').getAttribute('class')) ?? '', /lvl-crit/);
    // Processes with their tmux sessions, largest first.
    const rows = await gpu(0).locator('tbody tr').evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)));
    assert.deepEqual(rows, [
      ['407', 'python3', 'root', '20.6 GiB', 'train-llama'],
      ['418', 'python3', 'root', '6.6 GiB', 'eval run #2'],
      ['411', 'python3', 'root', '3.6 GiB', 'train-llama'],
    ]);
    assert.equal(await gpu(0).locator('.proc-name').first().getAttribute('title'), 'python3 train.py --model llama', 'the command line on hover');
    assert.equal(await gpu(0).locator('.gpu-outside').count(), 0, 'nothing outside sessions on GPU 0');
    assert.equal(await gpu(1).locator('.gpu-idle').textContent(), 'no processes');
    // A process outside tmux: its owner, "outside tmux", and the GPU's memory held outside sessions.
    assert.deepEqual(await gpu(2).locator('tbody tr td').evaluateAll((tds) => tds.map((td) => td.textContent)), ['777', XSS_PROC, XSS_USER, '78.1 GiB', 'outside tmux']);
    assert.equal(await gpu(2).locator('.gpu-outside').textContent(), '78.1 GiB held outside tmux sessions');
    // A hostile process name, owner and command line are text.
    assert.equal(await gpu(2).locator('.proc-name').textContent(), XSS_PROC);
    assert.equal(await gpu(2).locator('.proc-name').getAttribute('title'), `${XSS_PROC} --epochs 9`);
    assert.equal(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned), undefined);
    assert.equal(await page.locator('main img, main script').count(), 0);

    const offline = page.locator('article[data-host="gpu-b"]');
    assert.match(await offline.innerText(), /offline · last seen 3h ago/);
    assert.match(await offline.innerText(), /connect ETIMEDOUT 10\.0\.0\.22:22/);
    assert.match((await offline.locator('.status-dot').getAttribute('class')) ?? '', /lvl-crit/);
    const h100 = page.locator('article[data-host="gpu-h100"]');
    assert.match(await h100.innerText(), /25\.7|26%/);
    assert.match(await h100.innerText(), /26\.4 \/ 126 GiB/);
    assert.match(await h100.innerText(), /1\.92 0\.46 0\.15/);
    const train = h100.locator('li.session[data-session-id="gpu-h100:train-llama"]');
    // The owner beside each session; this host lists every user's (a badge), the offline one says why not.
    assert.equal(await train.locator('.session-owner').textContent(), 'root');
    assert.equal(await h100.locator('.scope-badge').textContent(), 'all users');
    assert.equal(await h100.locator('.scope-note').count(), 0);
    assert.equal(await offline.locator('.scope-note').textContent(), 'own account only: host offline');
    assert.equal(await offline.locator('.scope-badge').textContent(), 'own account');
    assert.match(await train.innerText(), /win\s*2/);
    assert.match(await train.innerText(), /age\s*3h/);
    assert.match(await train.innerText(), /rss\s*5\.1 GiB/);
    assert.match(await train.innerText(), /gpu\s*24\.2 GiB/);
    assert.match(await train.innerText(), /detached 3h/);
  });

  test('a host that sees its own account only says so with the reason, hostile text shown as text; owners are text too', async () => {
    const reason = `the all-users helper failed (exit 1): <img src=x onerror=window.__pwned=4>`;
    const h100 = h100Host(NOW, { gpus: [H100, hotGpu, burningGpu] });
    const hostileOwner = '<b onmouseover=window.__pwned=5>eve</b>';
    const own: Host = { ...h100, sessions_scope: { scope: 'own-account', reason }, sessions: h100.sessions.map((x, i) => (i === 0 ? { ...x, user: hostileOwner } : x)) };
    send({ event: 'hosts_update', data: [own, offlineHost(NOW)], summary: summaryOf([own, offlineHost(NOW)], ALERTS, NOW) });
    const card = page.locator('article[data-host="gpu-h100"]');
    await card.locator('.scope-note').waitFor();
    assert.equal(await card.locator('.scope-note').textContent(), `own account only: ${reason}`);
    assert.equal(await card.locator('.scope-badge').textContent(), 'own account');
    assert.ok(await card.locator('.session-owner', { hasText: hostileOwner }).count() === 1, 'the hostile owner is shown as its characters');
    assert.equal(await page.locator('main img, main script, main b').count(), 0);
    assert.equal(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned), undefined);
    // Back to the fleet the other tests expect.
    send({ event: 'hosts_update', data: fleet(), summary: summaryOf(fleet(), ALERTS, NOW) });
    await card.locator('.scope-badge', { hasText: 'all users' }).waitFor();
  });

  test('sessions are listed by use (CPU, then GPU memory, then memory), not by name', async () => {
    // (The page is on the hosts tab since the test above.)
    const ids = await page.locator('article[data-host="gpu-h100"] li.session').evaluateAll((els) => els.map((e) => (e as HTMLElement).dataset.sessionId));
    // train-llama 198.4 %, eval run #2 99.1 %, then jupyter and idle-shell at 0 % and 4.2 MiB each (name order).
    assert.deepEqual(ids, ['gpu-h100:train-llama', 'gpu-h100:eval run #2', 'gpu-h100:idle-shell', 'gpu-h100:jupyter']);
  });

  test('an update changes only what changed: unchanged elements stay the same elements (a button under the pointer survives a poll), changed figures update', async () => {
    const rowOf = (name: string) => page.locator(`article[data-host="gpu-h100"] li.session[data-session-id="gpu-h100:${name}"]`);
    // Marks on the live elements: a rebuilt grid would drop them (the click that was under the pointer with them).
    await rowOf('jupyter').locator('.kill-btn').evaluate((el) => ((el as HTMLElement & { mark?: number }).mark = 1));
    await rowOf('eval run #2').locator('.kill-btn').evaluate((el) => ((el as HTMLElement & { mark?: number }).mark = 2));
    const next = fleet();
    next[0]!.cpu_percent = 77.7; // the card's own figure
    next[0]!.sessions = next[0]!.sessions.map((x) => (x.name === 'eval run #2' ? { ...x, cpu_percent: 42.4, attach_command: `${x.attach_command} ` } : x));
    send({ event: 'hosts_update', data: next, summary: summaryOf(next, ALERTS, NOW) });
    await rowOf('eval run #2').locator('.stat-value', { hasText: '42.4%' }).waitFor();
    assert.equal(await rowOf('jupyter').locator('.kill-btn').evaluate((el) => (el as HTMLElement & { mark?: number }).mark), 1, 'the same button element');
    // In a row whose figures changed, what did not change stays too (the kill button names the same session).
    assert.equal(await rowOf('eval run #2').locator('.kill-btn').evaluate((el) => (el as HTMLElement & { mark?: number }).mark), 2);
    assert.match((await rowOf('eval run #2').locator('.attach-cmd').textContent()) ?? '', / $/, 'the new attach command');
    assert.match((await page.locator('article[data-host="gpu-h100"]').innerText()), /77\.7|78%/);
    // Killing through a kept button asks about the session as it is now.
    await rowOf('jupyter').locator('.kill-btn').click();
    await rowOf('jupyter').locator('.kill-question', { hasText: "Kill 'jupyter' on gpu-h100?" }).waitFor();
    await rowOf('jupyter').getByRole('button', { name: 'cancel' }).click();
    await rowOf('jupyter').locator('.kill-btn').waitFor();
    // A session that moves up the list (sorted by CPU) is moved, not rewritten into the row below it. (Its kill
    // button is a new one since the cancel above: marked again.)
    await rowOf('jupyter').locator('.kill-btn').evaluate((el) => ((el as HTMLElement & { mark?: number }).mark = 1));
    const busier = fleet();
    busier[0]!.sessions = busier[0]!.sessions.map((x) => (x.name === 'jupyter' ? { ...x, cpu_percent: 150 } : x));
    send({ event: 'hosts_update', data: busier, summary: summaryOf(busier, ALERTS, NOW) });
    await rowOf('jupyter').locator('.stat-value', { hasText: '150.0%' }).waitFor();
    const order = await page.locator('article[data-host="gpu-h100"] li.session').evaluateAll((els) => els.map((e) => (e as HTMLElement).dataset.sessionId));
    assert.deepEqual(order.slice(0, 2), ['gpu-h100:train-llama', 'gpu-h100:jupyter']);
    assert.equal(await rowOf('jupyter').locator('.kill-btn').evaluate((el) => (el as HTMLElement & { mark?: number }).mark), 1, 'moved, the same button');
    assert.equal(await rowOf('eval run #2').locator('.kill-btn').evaluate((el) => (el as HTMLElement & { mark?: number }).mark), 2);
    send({ event: 'hosts_update', data: fleet(), summary: summaryOf(fleet(), ALERTS, NOW) });
    await rowOf('eval run #2').locator('.stat-value', { hasText: '99.1%' }).waitFor();
  });

  test('two hosts on a wide screen fill its width, each card with its sessions beside its figures', async () => {
    await page.setViewportSize({ width: 1920, height: 1000 });
    await page.locator('article[data-host="gpu-h100"]').waitFor();
    const box = await page.evaluate(() => {
      const grid = document.querySelector('article.host-card')!.parentElement!.getBoundingClientRect();
      const cards = [...document.querySelectorAll('article.host-card')].map((c) => c.getBoundingClientRect());
      const card = document.querySelector('article[data-host="gpu-h100"]')!;
      const figures = card.querySelector('.card-body > .metrics')!.getBoundingClientRect();
      const sessions = card.querySelector('.card-body > .sessions')!.getBoundingClientRect();
      return { grid: grid.width, cards: cards.map((c) => c.width), beside: sessions.left >= figures.right, sameTop: Math.abs(sessions.top - figures.top) < 40 };
    });
    assert.equal(box.cards.length, 2);
    const used = box.cards.reduce((a, b) => a + b, 0);
    assert.ok(used > box.grid * 0.95, `the cards use ${Math.round(used)} of ${Math.round(box.grid)} px`);
    assert.ok(box.beside && box.sameTop, 'sessions sit beside the figures in a wide card');
    await screenshot(page, 'two-hosts-wide', false);
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  test('one host on a wide screen fills its width too, its sessions beside its figures', async () => {
    await page.setViewportSize({ width: 1920, height: 1000 });
    const one = [h100Host(NOW, { gpus: [H100, hotGpu, burningGpu] })];
    send({ event: 'hosts_update', data: one, summary: summaryOf(one, ALERTS, NOW) });
    await page.waitForFunction(() => document.querySelectorAll('article.host-card').length === 1);
    const box = await page.evaluate(() => {
      const grid = document.querySelector('article.host-card')!.parentElement!.getBoundingClientRect();
      const card = document.querySelector('article[data-host="gpu-h100"]')!;
      const figures = card.querySelector('.card-body > .metrics')!.getBoundingClientRect();
      const sessions = card.querySelector('.card-body > .sessions')!.getBoundingClientRect();
      return { grid: grid.width, card: card.getBoundingClientRect().width, beside: sessions.left >= figures.right, sameTop: Math.abs(sessions.top - figures.top) < 40 };
    });
    assert.ok(box.card > box.grid * 0.95, `the one card uses ${Math.round(box.card)} of ${Math.round(box.grid)} px`);
    assert.ok(box.beside && box.sameTop, 'sessions sit beside the figures in the wide card');
    assert.equal(await horizontalOverflow(page), 0, 'no horizontal scroll');
    await screenshot(page, 'one-host-wide', false);
    // Back to the whole fleet for the tests below.
    send({ event: 'hosts_update', data: fleet(), summary: summaryOf(fleet(), ALERTS, NOW) });
    await page.waitForFunction(() => document.querySelectorAll('article.host-card').length === 2);
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  test('the alert banner lists open alerts, most severe first, and collapses', async () => {
    const ids = await page.locator('#alerts-list li.alert').evaluateAll((lis) => lis.map((li) => (li as HTMLElement).dataset.alertId));
    assert.deepEqual(ids, ['crit-2', 'warn-1', 'legacy-1']);
    assert.equal(await page.locator('#alert-count').textContent(), '3');
    assert.match((await page.locator('#alert-badge').getAttribute('class')) ?? '', /lvl-crit/);
    assert.equal(await page.title(), '(3) fleetmon');
    assert.equal(await page.locator('li.alert[data-alert-id="legacy-1"] .alert-who').textContent(), 'gpu-h100 / idle-shell');
    assert.equal(await page.locator('li.alert[data-alert-id="crit-2"] .alert-who').textContent(), 'gpu-h100 / GPU 2');
    assert.equal(await page.locator('li.alert[data-alert-id="crit-2"] .alert-age').textContent(), '10m');
    await screenshot(page, 'gpu-fleet-desktop');

    await page.locator('#alerts-toggle').click();
    await page.locator('#alerts-list').waitFor({ state: 'hidden' });
    assert.equal(await page.locator('#alerts-toggle').getAttribute('aria-expanded'), 'false');
    await page.locator('#alerts-toggle').click();
    await page.locator('#alerts-list').waitFor();
  });

  test('alert events arrive live; a new critical one raises a browser notification', async () => {
    const fresh = alert('crit-new', NOW, { severity: 'critical', type: 'host_offline', host: 'gpu-b', gpu_index: null, message: 'gpu-b is offline: connect ETIMEDOUT (12 failed polls)', created: new Date().toISOString() });
    send({ event: 'alert_new', data: fresh });
    await page.locator('li.alert[data-alert-id="crit-new"]').waitFor();
    // The notification may be raised just after the banner is drawn: wait for it rather than race it.
    await page.waitForFunction(() => ((window as unknown as { __notes?: unknown[] }).__notes ?? []).length >= 1);
    const notes = await page.evaluate(() => (window as unknown as { __notes: unknown[] }).__notes);
    assert.deepEqual(notes, [{ title: 'fleetmon: gpu-b', body: 'gpu-b is offline: connect ETIMEDOUT (12 failed polls)' }]);
    send({ event: 'alert_new', data: alert('warn-new', NOW, { message: 'just a warning' }) });
    await page.locator('li.alert[data-alert-id="warn-new"]').waitFor();
    assert.equal(await page.evaluate(() => (window as unknown as { __notes: unknown[] }).__notes.length), 1, 'warnings do not notify');
    send({ event: 'alert_acked', data: { ...fresh, acknowledged: true, acknowledged_by: 'api-token' } });
    await page.locator('li.alert[data-alert-id="crit-new"] .acked', { hasText: 'acknowledged by api-token' }).waitFor();
    send({ event: 'alert_cleared', data: { id: 'crit-new' } });
    send({ event: 'alert_cleared', data: { id: 'warn-new' } });
    await page.locator('li.alert[data-alert-id="crit-new"]').waitFor({ state: 'detached' });
    await page.locator('li.alert[data-alert-id="warn-new"]').waitFor({ state: 'detached' });
    await page.waitForFunction(() => document.querySelector('#alert-count')?.textContent === '3');
    assert.equal(await page.locator('#alert-count').textContent(), '3');
  });

  test('clicking a host opens its history charts; the period can change', async () => {
    await page.locator('article[data-host="gpu-h100"] .host-name').click();
    await page.locator('#history').waitFor();
    assert.match(page.url(), /host=gpu-h100/);
    const charts = await page.locator('#history .chart').evaluateAll((els) => els.map((e) => (e as HTMLElement).dataset.chart));
    assert.deepEqual(charts, ['cpu', 'mem', 'gpu-temp', 'gpu-power', 'net']);
    await page.waitForFunction(() => document.querySelectorAll('#history canvas[aria-label*="points"]').length === 5);
    // Each chart's axes say their units (drawn in the canvas's top band, and told to screen readers).
    const labels = await page.locator('#history .chart canvas').evaluateAll((els) => els.map((e) => e.getAttribute('aria-label') ?? ''));
    for (const [label, unit] of labels.map((l, i) => [l, ['%', '%', '°C', 'W', 'B/s'][i]!])) {
      assert.match(label!, new RegExp(`values in ${unit}, time in local time`), label);
    }
    const topBandInk = await page.locator('#history .chart[data-chart="cpu"] canvas').evaluate((c: HTMLCanvasElement) => {
      const d = c.getContext('2d')!.getImageData(0, 0, Math.min(40, c.width), Math.round(c.height * 0.08)).data;
      let n = 0;
      for (let i = 3; i < d.length; i += 4) if (d[i]! > 0) n += 1;
      return n;
    });
    assert.ok(topBandInk > 10, `the unit is drawn above the value axis (${topBandInk} px)`);
    // The CPU line is drawn in its colour (#3fb950).
    const green = await page.locator('#history .chart[data-chart="cpu"] canvas').evaluate((c: HTMLCanvasElement) => {
      const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 0; i < d.length; i += 4) if (Math.abs(d[i]! - 63) < 30 && Math.abs(d[i + 1]! - 185) < 30 && Math.abs(d[i + 2]! - 80) < 30) n += 1;
      return n;
    });
    assert.ok(green > 200, `the CPU series is drawn (${green} px)`);
    assert.ok(historyRequests.some((q) => q.includes('metric=gpu_temp_max') && q.includes('since=1h')));
    await screenshot(page, 'history-desktop', false);
    historyRequests.length = 0;
    await page.locator('#history .range[data-range="7d"]').click();
    await page.waitForFunction(() => document.querySelector('#history .range[data-range="7d"]')?.getAttribute('aria-pressed') === 'true');
    await page.waitForTimeout(300);
    assert.equal(historyRequests.filter((q) => q.includes('since=7d')).length, 6, 'six metrics for the five charts');
    await page.setViewportSize({ width: 360, height: 800 });
    await page.waitForTimeout(200);
    assert.equal(await horizontalOverflow(page), 0);
    await screenshot(page, 'history-phone', false);
    await page.locator('#history-close').click();
    await page.locator('#history').waitFor({ state: 'hidden' });
    assert.doesNotMatch(page.url(), /host=/);
  });

  test('phone width: one column, no horizontal scroll, GPU panels readable', async () => {
    await page.setViewportSize({ width: 360, height: 800 });
    for (const tab of ['active', 'legacy', 'hosts']) {
      await page.locator(`.tab[data-tab="${tab}"]`).click();
      assert.equal(await horizontalOverflow(page), 0, `tab ${tab} scrolls sideways at 360 px`);
    }
    const box = await gpu(0).boundingBox();
    assert.ok(box && box.x >= 0 && box.x + box.width <= 360, 'the GPU panel fits the screen');
    await screenshot(page, 'gpu-fleet-phone');
    assert.deepEqual(seen.errors, []);
    assert.deepEqual(seen.dialogs, []);
    await context.close();
  });
});
