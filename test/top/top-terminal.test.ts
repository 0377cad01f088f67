/**
 * `fleetmon top` in a real terminal: tmux runs bin/run.js against a real server polling the fake SSH fleet (a GPU
 * host replaying the H100 capture, and a CPU host); send-keys sorts, filters, acknowledges and kills (the session
 * really dies on its host), capture-pane reads the screen. At 80×24 and, after a resize, 200×50; with NO_COLOR
 * (capture-pane -e shows no SGR escape); after `q` the terminal is back (main screen, cursor shown), and while the
 * server is away top says so, keeps running and comes back live when the server does.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { shQuote } from '../../src/core/shell-quote.js';
import { tempDir, testDir, waitFor } from '../helpers/common.js';
import { SKIP_TMUX, TEST_TOKEN, startTestServer, type TestServer } from '../helpers/dashboard.js';
import { fleetConfigSection, startFleet, type Fleet } from '../fleet/fleet.js';

const bin = join(testDir, '..', 'bin', 'run.js');
/** capture-pane's frames, for the README's picture (test-artifacts/ is not committed). */
const ARTIFACTS = join(testDir, '..', 'test-artifacts', 'top');

/** A terminal: its own tmux server (private socket), one pane running `fleetmon top`, then a marker with its status. */
class Terminal {
  readonly dir = tempDir('fleetmon-top-term-');
  private readonly sock = join(this.dir.path, 'ui.sock');
  constructor(width: number, height: number, url: string, env: Record<string, string> = {}) {
    const cmd = `${[process.execPath, bin, 'top', '--server', url, '--poll', '1'].map(shQuote).join(' ')}; echo "TOP-EXITED $?"; sleep 600`;
    // CI=true as a CI job's shell has it (Ink would draw nothing until exit there): top must draw all the same.
    const vars = Object.entries({ FLEETMON_TOKEN: TEST_TOKEN, CI: 'true', ...env }).flatMap(([k, v]) => ['-e', `${k}=${v}`]);
    this.tmux('new-session', '-d', '-x', String(width), '-y', String(height), ...vars, '-s', 'top', 'sh', '-c', cmd);
  }
  tmux(...args: string[]): string {
    // The pane's environment is the tmux server's: not the caller's tmux, not the caller's colour choice.
    const env = { ...process.env };
    delete env.TMUX;
    delete env.NO_COLOR;
    delete env.FORCE_COLOR;
    const r = spawnSync('tmux', ['-S', this.sock, ...args], { encoding: 'utf8', env, timeout: 10_000 });
    if (r.status !== 0) throw new Error(`tmux ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  }
  screen(escapes = false): string {
    return this.tmux('capture-pane', '-p', ...(escapes ? ['-e'] : []), '-t', 'top');
  }
  keys(...keys: string[]): void {
    this.tmux('send-keys', '-t', 'top', ...keys);
  }
  /** Types literal text (each character a key). */
  type(text: string): void {
    this.tmux('send-keys', '-t', 'top', '-l', text);
  }
  async see(re: RegExp, what = String(re), timeoutMs = 15_000): Promise<string> {
    let last = '';
    try {
      return await waitFor(() => {
        last = this.screen();
        return re.test(last) ? last : null;
      }, timeoutMs, what);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n--- screen ---\n${last}`);
    }
  }
  info(format: string): string {
    return this.tmux('display-message', '-p', '-t', 'top', format).trim();
  }
  close(): void {
    try {
      this.tmux('kill-server');
    } catch {
      /* already gone */
    }
    this.dir.remove();
  }
}

// eslint-disable-next-line no-control-regex -- the SGR escapes tmux shows for colour and attributes
const SGR = /\u001b\[[0-9;]*m/;

function withoutColourVars(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NO_COLOR;
  delete env.FORCE_COLOR;
  return env;
}

describe('fleetmon top in tmux against the SSH test fleet', { skip: SKIP_TMUX }, () => {
  let fleet: Fleet;
  let ts: TestServer;
  let data: ReturnType<typeof tempDir>;
  let config: Record<string, unknown>;

  before(async () => {
    fleet = await startFleet({ hosts: [{ name: 'h100', gpu: true }, { name: 'cpu' }] });
    const gpu = fleet.host('h100');
    await gpu.newSession('train-llama', ['sleep 600']);
    const panes = await gpu.tmux(['list-panes', '-a', '-F', '#{pane_pid}']);
    gpu.setGpuApps([{ pid: Number(panes.stdout.trim()), processName: 'python3', usedMemoryMiB: 21130 }]);
    await new Promise((r) => setTimeout(r, 1100)); // distinct creation seconds, for the age order
    await fleet.host('cpu').newSession('victim', ['sleep 600']);
    await new Promise((r) => setTimeout(r, 1100));
    await fleet.host('cpu').newSession('keeper', ['sleep 600']);
    const section = fleetConfigSection(fleet);
    data = tempDir('fleetmon-top-data-');
    config = {
      polling_interval_seconds: 1,
      legacy_threshold_hours: 1, // every session here is active: a kill needs the second confirmation
      // 62 °C replayed: over a 60 °C warning, under the 70 °C critical → one gpu_temp_warning alert, in yellow.
      alerts: { gpu_temp_warning: 60, gpu_temp_critical: 70 },
      ssh: { ...section.ssh, timeout: 3, reconnect_max_seconds: 1 },
      hosts: section.hosts,
    };
    ts = await startTestServer(config, data.path);
    await waitFor(() => ts.server.monitor.hosts().every((h) => h.status === 'online' && h.sessions.length > 0), 30_000, 'both hosts polled');
  });

  after(async () => {
    await ts?.server.close().catch(() => {});
    await fleet?.stop();
    data?.remove();
  });

  test('80×24 in colour: sort, filter, kill (two confirmations), acknowledge, host detail, keys, resize to 200×50, server away and back, q', async (t) => {
    const term = new Terminal(80, 24, ts.url);
    t.after(() => term.close());
    const first = await term.see(/● live[\s\S]*62°C[\s\S]*train-llama[\s\S]*h100: GPU 0 /, 'the first live frame', 45_000);
    // (host CPU alerts may be open too: on a busy test machine the hosts' CPU, which is this machine's, crosses 90 %.)
    assert.match(first, /^hosts 2 online 0 degraded 0 offline {2}sessions 3 active 0 legacy {2}alerts \d+ open$/m);
    assert.match(first, /^ h100 +online .* 0 100% 31\/80G 62°C 686W/m);
    for (const line of first.split('\n')) assert.ok([...line].length <= 80, line);
    mkdirSync(ARTIFACTS, { recursive: true });
    writeFileSync(join(ARTIFACTS, 'frame-80x24.txt'), first);
    // The temperature is yellow: over the configured warning (60 °C), under the critical (70 °C).
    assert.ok(term.screen(true).includes('\u001b[33m62°C'), `yellow 62°C:\n${JSON.stringify(term.screen(true))}`);

    // What crosses the wire while nothing is typed: the clock ticks and every poll brings new CPU figures, yet only
    // the rows that changed are sent: over 3 s (about six updates, each a whole frame with Ink's own writer) less
    // than three whole frames.
    const wire = join(term.dir.path, 'wire.bin');
    term.tmux('pipe-pane', '-o', '-t', 'top', `cat > ${shQuote(wire)}`);
    await new Promise((r) => setTimeout(r, 3000));
    term.tmux('pipe-pane', '-t', 'top');
    const sent = statSync(wire).size;
    const wholeFrame = Buffer.byteLength(term.screen(true));
    t.diagnostic(`idle 3 s at 80×24: ${sent} B sent; one whole frame is ${wholeFrame} B`);
    assert.ok(sent > 0 && sent < 3 * wholeFrame, `${sent} B in 3 s vs a ${wholeFrame} B frame`);

    const rowNames = (screen: string) => [...screen.matchAll(/^[> ](h100|cpu) +fmtest +(\S+)/gm)].map((m) => m[2]);
    term.keys('g');
    assert.deepEqual(rowNames(await term.see(/GPU▼/)).slice(0, 1), ['train-llama'], 'GPU memory: the H100 job first');
    term.keys('t');
    assert.deepEqual(rowNames(await term.see(/AGE▼/)), ['train-llama', 'victim', 'keeper'], 'age: oldest first');
    term.keys('m');
    await term.see(/RSS▼/);

    term.keys('/');
    term.type('vict');
    term.keys('Enter');
    const filtered = await term.see(/SESSIONS 1\/3 \/vict +by memory/);
    assert.deepEqual(rowNames(filtered), ['victim']);

    // The kill: the server's view of the session, y; it is active, so a second question; n keeps it.
    term.keys('k');
    await term.see(/^Kill cpu:fmtest:victim \(active; 1 window, \d+ process(es)?\)\? \[y\/N\]$/m);
    term.keys('y');
    await term.see(/^cpu:fmtest:victim is ACTIVE: never attached, created .*\.\nReally kill it\? \[y\/N\]$/m);
    term.keys('n');
    await term.see(/^not killed: cpu:fmtest:victim$/m);
    assert.equal((await fleet.host('cpu').tmux(['has-session', '-t', '=victim'])).code, 0, 'n kept the session');
    term.keys('k');
    await term.see(/\[y\/N\]$/m);
    term.keys('y');
    await term.see(/Really kill it\? \[y\/N\]$/m);
    term.keys('y');
    await term.see(/^killed cpu:fmtest:victim$/m);
    assert.notEqual((await fleet.host('cpu').tmux(['has-session', '-t', '=victim'])).code, 0, 'the session is gone on its host');
    assert.equal((await fleet.host('cpu').tmux(['has-session', '-t', '=keeper'])).code, 0, 'only it');
    await term.see(/no session matches \/vict/);

    // Acknowledge the alert with a note.
    // Acknowledge the GPU temperature alert with a note: Tab to the alerts pane, ↓ to it.
    // (Escape and Tab in one send would arrive as one Meta-Tab: a key at a time, as a person types.)
    term.keys('Escape');
    await term.see(/^SESSIONS \(2\)/m, 'the filter cleared');
    term.keys('Tab');
    await term.see(/^>(warning|critical)/m, 'an alert selected');
    for (let i = 0; i < 5 && !/^>warning +h100: GPU 0/m.test(term.screen()); i++) {
      term.keys('Down');
      await new Promise((r) => setTimeout(r, 300));
    }
    await term.see(/^>warning +h100: GPU 0/m, 'the GPU alert selected');
    term.keys('a');
    await term.see(/^Acknowledge h100: GPU 0 \(NVIDIA H100 80GB HBM3\) on h100/m);
    term.type('on it');
    term.keys('Enter');
    await term.see(/^acknowledged \(note: on it\): h100: GPU 0 /m);
    await term.see(/^.warning +acked h100: GPU 0/m);
    const alerts = (await (await fetch(`${ts.url}/api/alerts`, { headers: { authorization: `Bearer ${TEST_TOKEN}` } })).json()) as Array<{ type: string; acknowledged: boolean; ack_note: string | null }>;
    assert.deepEqual(alerts.filter((a) => a.type === 'gpu_temp_warning').map((a) => [a.acknowledged, a.ack_note]), [[true, 'on it']]);

    // Enter on a host: its GPU with the process in its session, its sessions, its disks.
    term.keys('Tab');
    term.keys('Enter');
    const detail = await term.see(/^HOST h100 online/m);
    // The GPU job's owner, its session (by the unique fleetmon_id) and its command line, as the probe read them.
    assert.match(detail, new RegExp(`^ {6}pid \\d+ python3 ${fleet.user} 21G {2}in h100:${fleet.user}:train-llama {2}sh -c sleep 600$`, 'm'));
    assert.match(detail, /^ {2}sessions: the service account's only \(no all-users helper installed/m, 'what this host can see');
    assert.match(detail, /^SESSIONS \(1\)$/m);
    assert.match(detail, /^DISKS$/m);
    term.keys('Escape');
    await term.see(/^HOSTS \(2\)/m);

    term.keys('?');
    await term.see(/^KEYS$/m);
    term.keys('x');
    await term.see(/^HOSTS \(2\)/m);

    // Resized to 200×50: the frame follows.
    term.tmux('resize-window', '-t', 'top', '-x', '200', '-y', '50');
    const wide = await term.see(/^fleetmon top .{150,}\?:keys {2}q:quit$/m);
    assert.equal(wide.split('\n').length >= 49, true);
    assert.match(wide, /alerts \d+ open \(\d+ unacknowledged\)/);
    writeFileSync(join(ARTIFACTS, 'frame-200x50.txt'), wide);

    // The server goes away: top says so and keeps running; when it is back, top is live again.
    const port = ts.port;
    await ts.server.close();
    const away = await term.see(/✕ server unreachable[\s\S]*cannot reach the fleetmon server at .*; retrying/, 'the lost connection', 20_000);
    assert.match(away, /^HOSTS \(2\)/m, 'the last data stays on the screen');
    assert.equal(term.info('#{alternate_on}'), '1', 'still running full screen');
    ts = await startTestServer(config, data.path, port);
    await term.see(/● live/, 'live again', 30_000);

    term.keys('q');
    await term.see(/^TOP-EXITED 0$/m);
    assert.equal(term.info('#{alternate_on}'), '0', 'the alternate screen is left');
    assert.equal(term.info('#{cursor_flag}'), '1', 'the cursor is shown');
  });

  test('NO_COLOR at 200×50: not one SGR escape on the screen; SIGINT from outside gives the terminal back', async (t) => {
    const term = new Terminal(200, 50, ts.url, { NO_COLOR: '1' });
    t.after(() => term.close());
    const screen = await term.see(/● live[\s\S]*62°C[\s\S]*train-llama/, 'the first live frame', 45_000);
    assert.match(screen, /^ h100 +online/m);
    assert.doesNotMatch(term.screen(true), SGR);
    // Ended by a signal from outside (kill -INT, as a supervisor or a closing terminal sends): the terminal is
    // given back all the same.
    const shell = Number(term.info('#{pane_pid}'));
    const top = spawnSync('pgrep', ['-P', String(shell)], { encoding: 'utf8' }).stdout.trim().split('\n').map(Number).filter(Boolean);
    assert.equal(top.length, 1, `one process under the pane's shell: ${top.join(' ')}`);
    process.kill(top[0]!, 'SIGINT');
    await term.see(/^TOP-EXITED 0$/m);
    assert.equal(term.info('#{alternate_on}'), '0', 'the alternate screen is left');
    assert.equal(term.info('#{cursor_flag}'), '1', 'the cursor is shown');
  });

  test('--once prints one 80×24 frame and exits; NO_COLOR and TERM=dumb mean no escapes', async () => {
    for (const env of [{ NO_COLOR: '1', TERM: 'xterm-256color' }, { TERM: 'dumb' }]) {
      // Not spawnSync: the server answering it runs in this process.
      const r = await promisify(execFile)(process.execPath, [bin, 'top', '--once', '--width', '80', '--height', '24', '--server', ts.url], {
        encoding: 'utf8',
        env: { ...withoutColourVars(), ...env, FLEETMON_TOKEN: TEST_TOKEN },
        timeout: 60_000,
      });
      assert.ok(!r.stdout.includes('\u001b'), JSON.stringify(r.stdout));
      const lines = r.stdout.replace(/\n$/, '').split('\n');
      assert.equal(lines.length, 23, r.stdout);
      assert.match(r.stdout, /^ h100 +online .* 62°C/m);
      assert.match(r.stdout, /^[> ]cpu +fmtest +keeper/m);
    }
  });
});
