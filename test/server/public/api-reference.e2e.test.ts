/**
 * The API reference page (Swagger UI from its npm package, served by fleetmon) in Chromium: it renders the
 * OpenAPI document with no CSP violation and no request leaving the server, while the dashboard keeps its policy.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { tempDir } from '../../helpers/common.js';
import { SKIP_BROWSER, launchChromium, screenshot, startTestServer, watch, type TestServer } from '../../helpers/dashboard.js';

describe('API reference page', { skip: SKIP_BROWSER }, () => {
  let ts: TestServer;
  let data: ReturnType<typeof tempDir>;
  let browser: Browser;
  let page: Page;
  const violations: string[] = [];
  const foreign: string[] = [];

  before(async () => {
    data = tempDir('fleetmon-api-ref-');
    ts = await startTestServer({ hosts: [] }, data.path);
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.setDefaultTimeout(15_000);
    page.on('console', (m) => {
      if (/Content.Security.Policy|Refused to/i.test(m.text())) violations.push(m.text());
    });
    page.on('request', (r) => {
      if (!r.url().startsWith(ts.url) && !r.url().startsWith('data:')) foreign.push(r.url());
    });
  });

  after(async () => {
    await browser?.close().catch(() => {});
    await ts?.server.close().catch(() => {});
    data?.remove();
  });

  test('GET /docs/ renders every API path from the document, with no CSP violation and nothing fetched from elsewhere', async () => {
    const seen = watch(page);
    await page.goto(`${ts.url}/docs/`);
    await page.locator('.opblock-summary-path', { hasText: '/api/hosts' }).first().waitFor();
    const paths = await page.locator('.opblock-summary-path').allInnerTexts();
    const doc = (await (await fetch(`${ts.url}/openapi.json`)).json()) as { paths: Record<string, unknown> };
    for (const p of Object.keys(doc.paths)) assert.ok(paths.some((x) => x.replace(/\u200b/g, '') === p), `${p} is on the page: ${paths.join(', ')}`);
    // Open one operation: its response schema (the specification's Host fields among them) is drawn.
    await page.locator('.opblock-summary-path', { hasText: '/api/hosts/{hostname}' }).first().click();
    await page.locator('.model-box, .highlight-code').first().waitFor();
    await screenshot(page, 'api-reference');
    assert.deepEqual(violations, []);
    assert.deepEqual(foreign, []);
    assert.deepEqual(seen.errors, []);
  });

  test('the reference page needs no loosening: it is served under the dashboard\'s own policy', async () => {
    const dash = (await fetch(`${ts.url}/`)).headers.get('content-security-policy');
    const docs = (await fetch(`${ts.url}/docs/`)).headers.get('content-security-policy');
    assert.match(dash ?? '', /frame-ancestors 'none'/);
    assert.equal(docs, dash);
  });
});
