/**
 * Shared pieces of the dashboard's browser tests: Debian's Chromium driven by playwright-core (never a downloaded
 * browser), an in-process fleetmon server, a tmux server on its own socket directory (the user's sessions are
 * never touched), and screenshots into test-artifacts/dashboard/.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { chromium, type Browser, type Page } from 'playwright-core';
import { parseConfigObject } from '../../src/core/config.js';
import { shJoin } from '../../src/core/shell-quote.js';
import { packageRoot } from '../../src/paths.js';
import { startServer, type RunningServer } from '../../src/server/start.js';

export const CHROMIUM_PATH = process.env.FLEETMON_CHROMIUM ?? '/usr/bin/chromium';
/** `false` when the browser tests can run, else why they are skipped (node:test prints it). */
export const SKIP_BROWSER: string | false = existsSync(CHROMIUM_PATH)
  ? false
  : `browser tests skipped: no Chromium at ${CHROMIUM_PATH} (apt-get install chromium, or set FLEETMON_CHROMIUM)`;
export const SKIP_TMUX: string | false = spawnSync('tmux', ['-V']).status === 0 ? false : 'tmux is not installed';

/**
 * Headless, no sandbox (containers), and nothing that phones home. playwright gives every launch a fresh
 * temporary --user-data-dir of its own and removes it on close (it refuses one passed in `args`).
 */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-gpu',
  '--disable-quic',
  '--disable-dev-shm-usage',
];

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS, timeout: 30_000 });
}

export const ARTIFACTS = join(packageRoot, 'test-artifacts', 'dashboard');

/** The whole page, or only the viewport (`fullPage: false`) when a fixed dialog is what matters. */
export async function screenshot(page: Page, name: string, fullPage = true): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage });
  return path;
}

/** Page errors, console errors and dialogs (an `alert()` from injected markup would show up here). */
export function watch(page: Page): { errors: string[]; dialogs: string[] } {
  const seen = { errors: [] as string[], dialogs: [] as string[] };
  page.on('pageerror', (e) => seen.errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    // Failed fetches while the server is deliberately down are expected; everything else is a bug.
    if (m.type() === 'error' && !/Failed to load resource|ERR_CONNECTION_REFUSED|WebSocket connection/.test(m.text())) seen.errors.push(`console: ${m.text()}`);
  });
  page.on('dialog', (d) => {
    seen.dialogs.push(d.message());
    void d.dismiss();
  });
  return seen;
}

/** Width the page scrolls to beyond the viewport (0 = no horizontal scroll). */
export function horizontalOverflow(page: Page): Promise<number> {
  return page.evaluate(() => Math.max(document.documentElement.scrollWidth, document.body.scrollWidth) - window.innerWidth);
}

export const TEST_TOKEN = 'fm_dashboard-test-token-0123456789';

export interface TestServer {
  server: RunningServer;
  dataDir: string;
  port: number;
  url: string;
}

/** A fleetmon server in this process on 127.0.0.1; `port` 0 picks a free one (pass the old one to restart). */
export async function startTestServer(raw: Record<string, unknown>, dataDir: string, port = 0): Promise<TestServer> {
  const { server: serverRaw, ...rest } = raw as { server?: Record<string, unknown> };
  const config = parseConfigObject(
    { ...rest, server: { host: '127.0.0.1', port, data_dir: dataDir, token: TEST_TOKEN, ...serverRaw } },
    'dashboard-test',
  );
  const server = await startServer(config, { log: pino({ level: 'silent' }) });
  const actual = new URL(server.url).port;
  return { server, dataDir, port: Number(actual), url: server.url };
}

/**
 * tmux on a private socket directory. The local transport runs `tmux` with the server process's environment, so
 * the test sets TMUX_TMPDIR in process.env (and drops TMUX, which would point at the user's server) before the
 * fleetmon server starts; restore() puts both back.
 */
export class TmuxSandbox {
  readonly dir = mkdtempSync(join(tmpdir(), 'fleetmon-dash-tmux-'));
  readonly env: NodeJS.ProcessEnv;
  private readonly clients: ChildProcess[] = [];
  private readonly saved = { TMUX_TMPDIR: process.env.TMUX_TMPDIR, TMUX: process.env.TMUX };

  constructor() {
    process.env.TMUX_TMPDIR = this.dir;
    delete process.env.TMUX;
    this.env = { ...process.env };
  }

  tmux(...args: string[]): { status: number | null; stdout: string; stderr: string } {
    const r = spawnSync('tmux', args, { env: this.env, encoding: 'utf8', timeout: 5000 });
    return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  }

  newSession(name: string): void {
    const r = this.tmux('new-session', '-d', '-s', name, '-x', '80', '-y', '24', 'sleep 600');
    if (r.status !== 0) throw new Error(`tmux new-session ${name} failed: ${r.stderr}`);
  }

  has(name: string): boolean {
    return this.tmux('has-session', '-t', `=${name}`).status === 0;
  }

  /** A client attached through `script` (it gives tmux the terminal it needs): the session counts as attached. */
  attach(name: string): void {
    const child = spawn('script', ['-qfc', shJoin(['tmux', 'attach-session', '-t', `=${name}`]), '/dev/null'], {
      env: { ...this.env, TERM: 'xterm' },
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    this.clients.push(child);
  }

  cleanup(): void {
    for (const c of this.clients) c.kill('SIGKILL');
    this.tmux('kill-server');
    rmSync(this.dir, { recursive: true, force: true });
    for (const [k, v] of Object.entries(this.saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}
