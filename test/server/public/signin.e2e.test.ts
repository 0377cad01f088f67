/** Sign-in and sign-out in Chromium against a server whose reads need the token (server.public_read: false). */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { tempDir } from '../../helpers/common.js';
import { SKIP_BROWSER, TEST_TOKEN, horizontalOverflow, launchChromium, screenshot, startTestServer, watch, type TestServer } from '../../helpers/dashboard.js';

describe('dashboard sign-in', { skip: SKIP_BROWSER }, () => {
  let ts: TestServer;
  let data: ReturnType<typeof tempDir>;
  let browser: Browser;
  let page: Page;
  let seen: ReturnType<typeof watch>;

  before(async () => {
    data = tempDir('fleetmon-dash-signin-');
    ts = await startTestServer({ hosts: [], server: { public_read: false } }, data.path);
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 360, height: 740 } });
    page.setDefaultTimeout(10_000);
    seen = watch(page);
  });

  after(async () => {
    await browser?.close().catch(() => {});
    await ts?.server.close().catch(() => {});
    data?.remove();
  });

  test('the page asks for the token before showing anything', async () => {
    assert.equal((await fetch(`${ts.url}/api/hosts`)).status, 401, 'the server really requires it');
    await page.goto(ts.url);
    await page.locator('#signin').waitFor();
    assert.equal(await page.locator('#signin-cancel').isVisible(), false, 'no way around it');
    assert.equal(await page.locator('article.host-card').count(), 0);
    assert.equal(await horizontalOverflow(page), 0);
    await screenshot(page, 'signin-phone');
  });

  test('a wrong token is refused with a message; the right one opens the dashboard', async () => {
    await page.locator('#signin-token').fill('fm_wrong-token-wrong-token');
    await page.locator('#signin-token').press('Enter');
    await page.locator('#signin-error', { hasText: 'Wrong token.' }).waitFor();
    assert.equal(await page.locator('#signin').isVisible(), true);

    await page.locator('#signin-token').fill(TEST_TOKEN);
    await page.locator('#signin-submit').click();
    await page.locator('#signin').waitFor({ state: 'hidden' });
    await page.locator('#view-state', { hasText: 'No hosts configured' }).waitFor();
    await page.waitForFunction(() => document.getElementById('conn-label')?.textContent === 'live');
    assert.equal(await page.locator('#signout-btn').isVisible(), true);
    assert.equal(await page.locator('#signin-btn').isVisible(), false);
    assert.equal(await page.evaluate(() => document.cookie.includes('fleetmon_session')), false, 'the session cookie is HttpOnly');
    assert.equal(await page.locator('#signin-token').inputValue(), '', 'the token does not linger in the form');
  });

  test('the sign-in survives a reload; signing out returns to the sign-in screen', async () => {
    await page.reload();
    await page.waitForFunction(() => document.getElementById('conn-label')?.textContent === 'live');
    assert.equal(await page.locator('#signin').isVisible(), false);

    await page.locator('#signout-btn').click();
    await page.locator('#signin').waitFor();
    assert.match((await page.locator('#signin-reason').textContent()) ?? '', /Signed out/);
    const status = await page.evaluate(async () => (await fetch('/api/hosts')).status);
    assert.equal(status, 401, 'the browser session is gone on the server too');
    assert.deepEqual(seen.errors.filter((e) => !/401/.test(e)), []);
  });
});
