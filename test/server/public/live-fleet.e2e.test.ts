/**
 * The dashboard in Chromium against a real fleetmon server monitoring this machine through the local transport,
 * with real tmux sessions on a private socket: cards, tabs, acknowledging a real alert, killing a real legacy
 * session, live WebSocket updates, the offline indicator and recovery, an XSS-named session, and the phone layout.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { tempDir } from '../../helpers/common.js';
import {
  SKIP_BROWSER,
  SKIP_TMUX,
  TEST_TOKEN,
  TmuxSandbox,
  horizontalOverflow,
  launchChromium,
  screenshot,
  startTestServer,
  watch,
  type TestServer,
} from '../../helpers/dashboard.js';

const XSS = '<img src=x onerror=alert(1)>';
const HOST = 'local-1';
const sid = (name: string) => `${HOST}:${name}`;

const fleetConfig = {
  polling_interval_seconds: 1,
  // About 1 s: a detached session turns legacy almost at once; an attached one stays active.
  legacy_threshold_hours: 0.0003,
  // This machine's memory use is surely above 1 %: a real, open host alert to acknowledge.
  alerts: { host_memory_warning: 1 },
  hosts: [{ name: HOST, address: 'localhost', transport: 'local' }],
};

describe('dashboard against a live server', { skip: SKIP_BROWSER || SKIP_TMUX }, () => {
  let tmux: TmuxSandbox;
  let ts: TestServer;
  let data: ReturnType<typeof tempDir>;
  let browser: Browser;
  let page: Page;
  let seen: ReturnType<typeof watch>;

  const conn = () => page.locator('#conn-label').textContent();
  const row = (name: string) => page.locator(`li.session[data-session-id="${sid(name)}"]`);
  const waitConn = (state: string, timeout = 15_000) =>
    page.waitForFunction((s) => document.getElementById('conn-label')?.textContent === s, state, { timeout });

  before(async () => {
    tmux = new TmuxSandbox();
    tmux.newSession('old-job');
    tmux.newSession(XSS);
    tmux.newSession('attached-work');
    tmux.attach('attached-work');
    data = tempDir('fleetmon-dash-data-');
    ts = await startTestServer(fleetConfig, data.path);
    browser = await launchChromium();
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: ts.url });
    page = await context.newPage();
    seen = watch(page);
    page.setDefaultTimeout(10_000);
  });

  after(async () => {
    await browser?.close().catch(() => {});
    await ts?.server.close().catch(() => {});
    tmux?.cleanup();
    data?.remove();
  });

  test('the host card appears with its metrics and sessions, over a live WebSocket', async () => {
    // Chromium can gunzip, so the page asks for compressed updates and gets binary frames.
    const sockets: Array<{ url: string; binaryFrames: number }> = [];
    page.on('websocket', (ws) => {
      const entry = { url: ws.url(), binaryFrames: 0 };
      sockets.push(entry);
      ws.on('framereceived', (f) => {
        if (typeof f.payload !== 'string') entry.binaryFrames += 1;
      });
    });
    await page.goto(`${ts.url}/?tab=hosts`);
    const card = page.locator(`article.host-card[data-host="${HOST}"]`);
    await card.waitFor();
    await waitConn('live');
    await row('old-job').and(page.locator('[data-status="legacy"]')).waitFor();
    await row('attached-work').waitFor();
    const text = await card.innerText();
    assert.match(text, /CPU/);
    assert.match(text, /MEM/);
    assert.match(text, /\d+\.\d\d \d+\.\d\d \d+\.\d\d/, 'load averages');
    assert.match(await row('attached-work').innerText(), /attached/);
    assert.match(await row('old-job').locator('.attach-cmd').innerText(), /tmux attach -t =old-job/);
    // The copy button puts the attach command on the clipboard.
    await row('attached-work').locator('.copy-btn').click();
    await row('attached-work').locator('.copy-btn', { hasText: 'copied' }).waitFor();
    const clip = await page.evaluate(() => navigator.clipboard.readText());
    assert.equal(clip, await row('attached-work').locator('.attach-cmd').textContent());
    assert.match((await page.locator('#updated').textContent()) ?? '', /^updated \d\d:\d\d:\d\d$/);
    assert.equal(await page.locator('.tab[data-tab="hosts"] .tab-count').textContent(), '1');
    assert.ok(sockets.some((w) => w.url.endsWith('/ws?compress=gzip') && w.binaryFrames > 0), JSON.stringify(sockets));
  });

  test('a session named like markup shows as text and runs nothing', async () => {
    const name = page.locator(`li.session[data-session-id="${sid(XSS)}"] .session-name`);
    await name.waitFor();
    assert.equal(await name.textContent(), XSS);
    assert.equal(await page.locator('img[src="x"]').count(), 0, 'no <img> was created from the name');
    // Its legacy alert quotes the name in the banner: text there too.
    await page.locator('.alert-msg', { hasText: XSS }).first().waitFor();
    assert.equal(await page.locator('#alerts img').count(), 0);
    assert.deepEqual(seen.dialogs, [], 'no alert() ran');
  });

  test('the tabs filter sessions and live in the URL', async () => {
    await page.locator('.tab[data-tab="legacy"]').click();
    assert.match(page.url(), /[?&]tab=legacy\b/);
    await row('old-job').waitFor();
    await row('attached-work').waitFor({ state: 'detached' });
    assert.equal(await page.locator('.tab[data-tab="legacy"]').getAttribute('aria-selected'), 'true');

    await page.locator('.tab[data-tab="active"]').click();
    assert.match(page.url(), /[?&]tab=active\b/);
    await row('attached-work').waitFor();
    await row('old-job').waitFor({ state: 'detached' });
    assert.equal(await row(XSS).count(), 0);

    // A link opens its tab.
    await page.goto(`${ts.url}/?tab=legacy`);
    await row('old-job').waitFor();
    assert.equal(await page.locator('.tab[data-tab="legacy"]').getAttribute('aria-selected'), 'true');
    assert.equal(await row('attached-work').count(), 0);
    // Back/forward follow the tabs too.
    await page.locator('.tab[data-tab="hosts"]').click();
    await row('attached-work').waitFor();
    await page.goBack();
    await row('attached-work').waitFor({ state: 'detached' });
    assert.match(page.url(), /tab=legacy/);
  });

  test('Acknowledge on a real alert asks for sign-in, then acknowledges it', async () => {
    const item = page.locator('li.alert', { hasText: `${HOST} memory at` });
    await item.waitFor();
    const id = await item.getAttribute('data-alert-id');
    assert.ok(id);
    await item.locator('.ack-btn').click();
    // Reads are public on loopback, changes are not: the sign-in dialog comes up.
    await page.locator('#signin').waitFor();
    await page.locator('#signin-token').fill('not-the-token');
    await page.locator('#signin-submit').click();
    await page.locator('#signin-error', { hasText: 'Wrong token' }).waitFor();
    await page.locator('#signin-token').fill(TEST_TOKEN);
    await page.locator('#signin-submit').click();
    await page.locator('#signin').waitFor({ state: 'hidden' });
    // The acknowledgement that needed the sign-in runs by itself afterwards.
    await page.locator(`li.alert[data-alert-id="${id}"] .acked`).waitFor();
    const res = await fetch(`${ts.url}/api/alerts?state=open`, { headers: { authorization: `Bearer ${TEST_TOKEN}` } });
    const alerts = (await res.json()) as Array<{ id: string; acknowledged: boolean; acknowledged_by: string | null }>;
    const acked = alerts.find((a) => a.id === id);
    assert.equal(acked?.acknowledged, true);
    assert.match(acked?.acknowledged_by ?? '', /^browser@/);
    assert.equal(await page.locator('#signout-btn').isVisible(), true);
    assert.match((await page.locator('#alerts-title').textContent()) ?? '', /open alert/);
  });

  test('Kill on a legacy session runs the two-step kill and removes it from the host', async () => {
    assert.ok(tmux.has('old-job'));
    await page.locator('.tab[data-tab="legacy"]').click();
    const r = row('old-job');
    await r.locator('.kill-btn').click();
    await r.locator('.kill-question', { hasText: "Kill 'old-job'" }).waitFor();
    await r.locator('.kill-confirm-btn').click();
    await page.locator('.toast', { hasText: "Killed session 'old-job'" }).waitFor();
    await r.waitFor({ state: 'detached' });
    assert.equal(tmux.has('old-job'), false, 'the tmux session is gone from the host');
    assert.equal(tmux.has(XSS), true, 'and only that one');
    // It stays gone through the next poll cycles.
    await page.waitForTimeout(2500);
    assert.equal(await r.count(), 0);
  });

  test('an active session needs a second confirmation before it is killed', async () => {
    await page.locator('.tab[data-tab="active"]').click();
    const r = row('attached-work');
    await r.locator('.kill-btn').click();
    await r.locator('.kill-confirm-btn').click();
    await r.locator('.kill-question', { hasText: 'is active' }).waitFor();
    assert.equal(await r.locator('.kill-confirm-btn').textContent(), 'yes, kill it');
    await r.getByRole('button', { name: 'cancel' }).click();
    await r.locator('.kill-btn').waitFor();
    assert.equal(tmux.has('attached-work'), true);
  });

  test('the WebSocket adds a new session to the card without a reload', async () => {
    await page.locator('.tab[data-tab="hosts"]').click();
    await page.evaluate(() => {
      (window as unknown as { __sameDocument: boolean }).__sameDocument = true;
    });
    tmux.newSession('ws-new');
    await row('ws-new').waitFor({ timeout: 8000 });
    assert.equal(await conn(), 'live');
    assert.equal(await page.evaluate(() => (window as unknown as { __sameDocument?: boolean }).__sameDocument), true, 'no reload happened');
  });

  test('screenshots at desktop and phone width; no horizontal scroll at 360 px', async () => {
    await screenshot(page, 'live-desktop');
    await page.setViewportSize({ width: 360, height: 800 });
    for (const tab of ['active', 'legacy', 'hosts']) {
      await page.locator(`.tab[data-tab="${tab}"]`).click();
      assert.equal(await horizontalOverflow(page), 0, `tab ${tab} scrolls sideways at 360 px`);
    }
    await screenshot(page, 'live-phone');
    await page.locator(`.host-name`, { hasText: HOST }).click();
    await page.locator('#history .chart canvas').first().waitFor();
    assert.match(page.url(), /host=local-1/);
    assert.equal(await page.locator('#history .chart').count(), 3, 'CPU, memory and network (no GPU on this host)');
    assert.equal(await horizontalOverflow(page), 0);
    await screenshot(page, 'live-history-phone', false);
    // A link opens the history too; once the host's data is in, its GPU-less chart set is shown.
    await page.goto(`${ts.url}/?tab=hosts&host=${HOST}`);
    await page.locator('#history .chart canvas').first().waitFor();
    await page.waitForFunction(() => document.querySelectorAll('#history .chart').length === 3);
    await page.keyboard.press('Escape');
    await page.locator('#history').waitFor({ state: 'hidden' });
    assert.doesNotMatch(page.url(), /host=/);
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  test('stopping the server shows offline; the page recovers when it returns', async () => {
    const port = ts.port;
    await page.evaluate(() => {
      (window as unknown as { __sameDocument: boolean }).__sameDocument = true;
    });
    await ts.server.close();
    await waitConn('offline', 10_000);
    await page.locator('#offline-note').waitFor();
    assert.match((await page.locator('#offline-note').textContent()) ?? '', /Offline/);
    await screenshot(page, 'live-offline');
    ts = await startTestServer(fleetConfig, data.path, port);
    await waitConn('live', 20_000);
    await page.locator('#offline-note').waitFor({ state: 'hidden' });
    await row('ws-new').waitFor();
    assert.equal(await page.evaluate(() => (window as unknown as { __sameDocument?: boolean }).__sameDocument), true, 'recovered without a reload');
    // The restarted server forgot the browser session: the page notices and offers sign-in again.
    await page.locator('#signin-btn').waitFor();
    assert.equal(await page.locator('#signout-btn').isVisible(), false);
    assert.deepEqual(seen.errors, []);
    assert.deepEqual(seen.dialogs, []);
  });
});
