/**
 * The dashboard's Notifications tab in Chromium against a real server: this machine through the local transport
 * raises a real disk_full alert (at 1 % any disk is full), which goes to two real webhook channels on loopback, one
 * answering and one whose receiver is down. The page shows both channels with their health, the failing one's
 * error and the delivery log, and follows the delivery once the receiver comes back, without a reload.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { tempDir } from '../../helpers/common.js';
import { SKIP_BROWSER, TmuxSandbox, horizontalOverflow, launchChromium, screenshot, startTestServer, watch, type TestServer } from '../../helpers/dashboard.js';
import { Receiver } from '../notify/helpers.js';

describe('dashboard: notification channels, their health and the delivery log', { skip: SKIP_BROWSER }, () => {
  let tmux: TmuxSandbox;
  let ts: TestServer;
  let data: ReturnType<typeof tempDir>;
  let browser: Browser;
  let page: Page;
  let seen: ReturnType<typeof watch>;
  let ok: Receiver;
  let down: Receiver;

  const channelRow = (name: string, health = '') => page.locator(`table.notify-channels tr[data-channel="${name}"]${health ? `[data-health="${health}"]` : ''}`);
  const logRow = (channel: string, event: string, state = '') =>
    page.locator(`table.notify-log tr[data-channel="${channel}"][data-event="${event}"]${state ? `[data-state="${state}"]` : ''}`);

  before(async () => {
    tmux = new TmuxSandbox();
    ok = await Receiver.start();
    down = await Receiver.start();
    await down.down(); // its port is kept: connections are refused until up()
    data = tempDir('fleetmon-dash-notify-');
    ts = await startTestServer(
      {
        polling_interval_seconds: 1,
        alerts: { disk_full: { percent: 1 } },
        hosts: [{ name: 'local-1', address: 'localhost', transport: 'local' }],
        notifications: {
          retry_initial_seconds: 1,
          retry_max_seconds: 1,
          channels: [
            // Only disk_full: a busy machine may raise high_cpu too, which would make the counts below a guess.
            { name: 'hook', type: 'webhook', url: `${ok.url}/hook`, types: ['disk_full'] },
            { name: 'pager', type: 'webhook', url: `${down.url}/pager`, min_severity: 'warning', types: ['disk_full'] },
          ],
        },
      },
      data.path,
    );
    browser = await launchChromium();
    page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    seen = watch(page);
    page.setDefaultTimeout(15_000);
  });

  after(async () => {
    await browser?.close().catch(() => {});
    await ts?.server.close().catch(() => {});
    await ok?.down().catch(() => {});
    await down?.down().catch(() => {});
    tmux?.cleanup();
    data?.remove();
  });

  test('the tab lists each channel with its health, the failing one with its error, and the log of the real alert', async () => {
    await page.goto(`${ts.url}/?tab=notifications`);
    await channelRow('hook', 'ok').waitFor();
    await channelRow('pager', 'failing').waitFor();
    assert.equal(await page.locator('#grid').isHidden(), true, 'the host cards give way to the notifications');
    const pager = (await channelRow('pager').locator('td').allTextContents()).map((t) => t.trim());
    assert.deepEqual(pager.slice(0, 4), ['pager', 'webhook', 'warning', 'failing']);
    assert.match(pager[7]!, new RegExp(`127\\.0\\.0\\.1:${down.port}`), 'the error names the receiver');
    assert.match(pager[7]!, /ECONNREFUSED|refused/i);
    assert.equal(await page.locator('#notify-tab-health').textContent(), '1 failing');

    // The log: the disk_full alert reached hook (as the receiver saw) and waits for pager; the alert by its message.
    await logRow('hook', 'new', 'delivered').waitFor();
    assert.equal(ok.requests.filter((r) => r.url === '/hook').length, 1);
    const alertText = await logRow('hook', 'new').locator('td.notify-alert').textContent();
    assert.match(alertText ?? '', /^local-1 filesystem \S+ \(.+\) is [\d.]+% full/);
    const waiting = logRow('pager', 'new');
    assert.equal(await waiting.getAttribute('data-state'), 'pending');
    assert.match((await waiting.locator('td.notify-why').textContent()) ?? '', /^retrying \(\d+ attempts?\): .*127\.0\.0\.1/);
    await screenshot(page, 'notifications-failing');

    // The receiver comes back: the page follows the retry's delivery by itself.
    await down.up();
    await channelRow('pager', 'ok').waitFor();
    await logRow('pager', 'new', 'delivered').waitFor();
    assert.equal(down.requests.filter((r) => r.url === '/pager').length, 1);
    assert.equal(await page.locator('#notify-tab-health').isHidden(), true);
    await screenshot(page, 'notifications-recovered');

    await page.locator('.tab[data-tab="hosts"]').click();
    await page.locator('#grid .card, #grid > *').first().waitFor();
    assert.equal(await page.locator('#notifications').isHidden(), true);
    assert.deepEqual(seen, { errors: [], dialogs: [] });
  });

  test('on a phone the tables fit the width', async () => {
    await page.setViewportSize({ width: 375, height: 800 });
    await page.goto(`${ts.url}/?tab=notifications`);
    await channelRow('hook').waitFor();
    assert.ok((await horizontalOverflow(page)) <= 0, 'no horizontal scroll');
    await screenshot(page, 'notifications-phone');
  });
});
