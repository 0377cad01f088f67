/**
 * The dashboard against a server polling the real SSH test fleet: a GPU host replaying the H100 capture (its GPU
 * panel with the processes mapped to their tmux sessions) and a CPU host; a legacy session killed from the page
 * over SSH; a host whose sshd stops turning offline on the page.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { tempDir } from '../../helpers/common.js';
import { fleetConfigSection, startFleet, type Fleet } from '../../fleet/fleet.js';
import { SKIP_BROWSER, SKIP_TMUX, TEST_TOKEN, launchChromium, screenshot, startTestServer, watch, type TestServer } from '../../helpers/dashboard.js';

describe('dashboard against the SSH test fleet', { skip: SKIP_BROWSER || SKIP_TMUX }, () => {
  let fleet: Fleet;
  let ts: TestServer;
  let data: ReturnType<typeof tempDir>;
  let browser: Browser;
  let page: Page;
  let seen: ReturnType<typeof watch>;

  before(async () => {
    fleet = await startFleet({ hosts: [{ name: 'h100', gpu: true }, { name: 'cpu' }] });
    const gpu = fleet.host('h100');
    await gpu.newSession('train-llama', ['sleep 600']);
    // A non-ASCII name and the look-alike the probe once listed it as (every non-ASCII character as '_').
    await fleet.host('cpu').newSession('stale-ünï€', ['sleep 600']);
    await fleet.host('cpu').newSession('stale-_n__', ['sleep 600']);
    const panes = await gpu.tmux(['list-panes', '-a', '-F', '#{pane_pid}']);
    gpu.setGpuApps([{ pid: Number(panes.stdout.trim()), processName: 'python3', usedMemoryMiB: 21130 }]);
    const section = fleetConfigSection(fleet);
    data = tempDir('fleetmon-dash-ssh-');
    ts = await startTestServer(
      {
        polling_interval_seconds: 1,
        legacy_threshold_hours: 0.0005,
        offline_after_failures: 2,
        ssh: { ...section.ssh, timeout: 3, reconnect_max_seconds: 1 },
        hosts: section.hosts,
      },
      data.path,
    );
    browser = await launchChromium();
    page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    seen = watch(page);
    page.setDefaultTimeout(15_000);
    // Sign in up front so the kill needs no dialog.
    const res = await page.request.post(`${ts.url}/api/login`, { data: { token: TEST_TOKEN } });
    assert.equal(res.status(), 200);
  });

  after(async () => {
    await browser?.close().catch(() => {});
    await ts?.server.close().catch(() => {});
    await fleet?.stop();
    data?.remove();
  });

  test('host cards and the H100 panel, with the GPU job under its session', async () => {
    await page.goto(`${ts.url}/?tab=hosts`);
    const card = page.locator('article.host-card[data-host="h100"]');
    await card.waitFor();
    await card.locator('text=NVIDIA H100 80GB HBM3').first().waitFor();
    const text = await card.innerText();
    assert.match(text, /686 \/ 700 W/);
    assert.match(text, /62 °C/);
    assert.match(text, /train-llama/);
    // The job's owner (the fleet's service account) beside its session and in the GPU table, real through SSH.
    const owner = await card.locator('li.session[data-session-id="h100:train-llama"] .session-owner').textContent();
    assert.ok(owner && owner.length > 0);
    assert.deepEqual(await card.locator('.gpu-procs tbody td.proc-user').allTextContents(), [owner]);
    assert.equal(await card.locator('.gpu-procs tbody td.proc-name').getAttribute('title'), 'sh -c sleep 600');
    // No all-users helper on this fleet: the card says whose sessions it lists, and why.
    assert.match((await card.locator('.scope-note').textContent()) ?? '', /^own account only: no all-users helper installed/);
    await page.locator('article.host-card[data-host="cpu"]').waitFor();
    await screenshot(page, 'ssh-fleet-desktop');
  });

  test('Kill on a legacy session on an SSH host removes exactly it there, its look-alike stays', async () => {
    await page.locator('.tab[data-tab="legacy"]').click();
    const id = 'cpu:stale-ünï€';
    const r = page.locator(`li.session[data-session-id="${id}"]`);
    await r.waitFor();
    // The page shows the server's attach command verbatim: the name as tmux holds it.
    const shown = await r.locator('.attach-cmd').innerText();
    const api = await page.request.get(`${ts.url}/api/sessions/${encodeURIComponent(id)}`);
    assert.equal(shown, ((await api.json()) as { attach_command: string }).attach_command);
    assert.equal(shown, `ssh ${fleet.user}@${fleet.host('cpu').address} -t 'tmux attach -t '\\''=stale-ünï€'\\'''`);
    await r.locator('.kill-btn').click();
    await r.locator('.kill-confirm-btn').click();
    await page.locator('.toast', { hasText: "Killed session 'stale-ünï€'" }).waitFor();
    const left = await fleet.host('cpu').tmux(['-u', 'list-sessions', '-F', '#{session_name}']);
    assert.equal(left.stdout.trim(), 'stale-_n__', 'only that session is gone from the host');
  });

  test('a host whose sshd stops shows as offline', async () => {
    await page.goto(`${ts.url}/?tab=hosts`);
    await fleet.host('cpu').stop();
    await page.locator('article.host-card[data-host="cpu"]', { hasText: 'offline' }).waitFor({ timeout: 20_000 });
    await fleet.host('cpu').start();
    assert.deepEqual(seen.errors, []);
  });
});
