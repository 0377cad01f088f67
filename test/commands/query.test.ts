/** The query commands run as a user runs them (bin/run.js) against a real server monitoring this machine. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pino } from 'pino';
import { parseConfigObject } from '../../src/core/config.js';
import type { Alert, FleetSummary, Host, Session } from '../../src/core/model.js';
import { startServer, type RunningServer } from '../../src/server/start.js';
import { tempDir, testDir, waitFor } from '../helpers/common.js';

const bin = join(testDir, '..', 'bin', 'run.js');
const data = tempDir();
const tmuxDir = tempDir('fleetmon-tmux-');
let server: RunningServer;

function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], { env: { ...process.env, FLEETMON_DATA_DIR: data.path, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

before(async () => {
  process.env.TMUX_TMPDIR = tmuxDir.path;
  spawnSync('tmux', ['new-session', '-d', '-s', 'cli run #1', 'sleep 600'], { env: { ...process.env, TMUX_TMPDIR: tmuxDir.path } });
  const config = parseConfigObject(
    {
      polling_interval_seconds: 1,
      // Any machine uses more than 1 % of its memory: a real alert for the alerts commands.
      alerts: { host_memory_warning: 1 },
      hosts: [{ name: 'here', address: 'localhost', transport: 'local' }],
      server: { port: 0, data_dir: data.path, public_read: false },
    },
    'test',
  );
  server = await startServer(config, { log: pino({ level: 'silent' }) });
  await waitFor(() => server.monitor.hosts()[0]?.status === 'online', 10_000, 'first poll');
});

after(async () => {
  await server.close();
  spawnSync('tmux', ['kill-server'], { env: { ...process.env, TMUX_TMPDIR: tmuxDir.path } });
  data.remove();
  tmuxDir.remove();
});

test('status --json gives the fleet summary, finding the token file of the local server', async () => {
  const r = await cli(['status', '--json', '--server', server.url]);
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout) as FleetSummary;
  assert.equal(s.hosts_total, 1);
  assert.equal(s.hosts_online, 1);
  assert.equal(s.sessions_active, 1);
  assert.ok(s.alerts_open >= 1);
});

test('sessions lists the real session, as a table and as JSON', async () => {
  const table = await cli(['sessions', '--server', server.url]);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /^ID\s+OWNER\s+STATUS/m);
  const owner = server.monitor.hosts()[0]!.sessions[0]!.user;
  assert.match(table.stdout, new RegExp(`here:cli run #1\\s+${owner}\\s+active`));
  // A configured local host sees its own account only, and the list says so (it is not "nobody else works here").
  assert.match(table.stdout, /^here: only the service account's sessions are shown \(no all-users helper installed/m);
  const json = await cli(['sessions', '--json', '--status', 'active', '--server', server.url]);
  const sessions = JSON.parse(json.stdout) as Session[];
  assert.deepEqual(sessions.map((s) => s.name), ['cli run #1']);
  const legacy = await cli(['sessions', '--json', '--status', 'legacy', '--server', server.url]);
  assert.deepEqual(JSON.parse(legacy.stdout), []);
  const none = await cli(['sessions', '--status', 'legacy', '--server', server.url]);
  assert.match(none.stdout, /^no legacy sessions\nhere: only the service account's sessions are shown \(/);
});

test('alerts lists the open alert; alerts ack acknowledges it with a note; --all includes it still', async () => {
  const list = await cli(['alerts', '--json', '--server', server.url]);
  assert.equal(list.code, 0, list.stderr);
  const alerts = JSON.parse(list.stdout) as Alert[];
  const mem = alerts.find((a) => a.type === 'high_memory' && a.host === 'here');
  assert.ok(mem, list.stdout);
  const table = await cli(['alerts', '--server', server.url]);
  assert.match(table.stdout, new RegExp(`^${mem.id}\\s+warning\\s+high_memory\\s+here`, 'm'));
  const ack = await cli(['alerts', 'ack', mem.id, '--note', 'looking into it', '--json', '--server', server.url]);
  assert.equal(ack.code, 0, ack.stderr);
  const acked = JSON.parse(ack.stdout) as Alert;
  assert.equal(acked.acknowledged, true);
  assert.equal(acked.ack_note, 'looking into it');
  const unknown = await cli(['alerts', 'ack', 'nope', '--server', server.url]);
  assert.equal(unknown.code, 10);
  assert.match(unknown.stderr, /no alert 'nope'/);
  const all = JSON.parse((await cli(['alerts', '--all', '--json', '--server', server.url])).stdout) as Alert[];
  assert.ok(all.some((a) => a.id === mem.id && a.acknowledged));
});

test('hosts --json carries each host\'s sessions_scope; the table shows it and why a host sees its own account only', async () => {
  const r = await cli(['hosts', '--json', '--server', server.url]);
  const hosts = JSON.parse(r.stdout) as Host[];
  assert.equal(hosts[0]?.hostname, 'here');
  assert.ok((hosts[0]?.memory_total_mb ?? 0) > 0);
  assert.equal(hosts[0]?.sessions_scope.scope, 'own-account');
  assert.match(hosts[0]?.sessions_scope.reason ?? '', /no all-users helper installed/);
  const table = await cli(['hosts', '--server', server.url]);
  assert.match(table.stdout, /^HOST\s+STATUS.*\bSCOPE\s+NOTE$/m);
  assert.match(table.stdout, /^here\s+online\s.*\sown-account\b/m);
  assert.match(table.stdout, /^here: only the service account's sessions are shown \(no all-users helper installed/m);
});

test('a wrong token is a one-line error with the auth exit status', async () => {
  const r = await cli(['status', '--server', server.url, '--token', 'wrong-token-123456'], { FLEETMON_DATA_DIR: '/nonexistent' });
  assert.equal(r.code, 9);
  assert.match(r.stderr, /^Error: the server at .* refused the request/m);
  assert.doesNotMatch(r.stderr, /\bat .*\.ts:\d+/, 'no stack trace');
});

test('a wrong token on a write (sessions kill, alerts ack) says "wrong API token", with the exit status of reads', async () => {
  const wrong = ['--server', server.url, '--token', 'Wrong-Token-For-Writes-0123456789abcdef'];
  const read = await cli(['status', ...wrong], { FLEETMON_DATA_DIR: '/nonexistent' });
  for (const argv of [['sessions', 'kill', 'here:cli run #1', '--yes', '--force'], ['alerts', 'ack', '1', '--note', 'x']]) {
    const r = await cli([...argv, ...wrong], { FLEETMON_DATA_DIR: '/nonexistent' });
    assert.equal(r.code, read.code, `${argv.join(' ')}: ${r.stderr}`);
    assert.equal(r.code, 9);
    assert.match(r.stderr, /wrong API token/, argv.join(' '));
    assert.doesNotMatch(r.stderr, /no token/i, argv.join(' '));
    assert.doesNotMatch(r.stderr, /\bat .*\.ts:\d+/, 'no stack trace');
  }
  // Nothing was killed: the session is still listed.
  const still = await cli(['sessions', '--json', '--server', server.url]);
  assert.ok((JSON.parse(still.stdout) as Session[]).some((x) => x.name === 'cli run #1'), still.stdout);
});

test('an unreachable server is one line naming the URL, non-zero exit, also under --json', async () => {
  const r = await cli(['status', '--server', 'http://127.0.0.1:9']);
  assert.equal(r.code, 4);
  assert.match(r.stderr, /cannot reach the fleetmon server at http:\/\/127\.0\.0\.1:9/);
  assert.ok(r.stderr.trim().split('\n').length <= 2, r.stderr);
  const j = await cli(['hosts', '--json', '--server', 'http://127.0.0.1:9']);
  assert.equal(j.code, 4);
  assert.equal((JSON.parse(j.stdout) as { error: { code: string } }).error.code, 'SERVER_UNREACHABLE');
});

test('sessions kill asks for --yes under --json and refuses an active session without --force', async () => {
  const id = 'here:cli run #1';
  const noYes = await cli(['sessions', 'kill', id, '--json', '--server', server.url]);
  assert.notEqual(noYes.code, 0);
  assert.match(noYes.stdout + noYes.stderr, /--force|--yes/);
  const noForce = await cli(['sessions', 'kill', id, '--yes', '--server', server.url]);
  assert.equal(noForce.code, 8);
  assert.match(noForce.stderr, /active/);
  const forced = await cli(['sessions', 'kill', id, '--yes', '--force', '--json', '--server', server.url]);
  assert.equal(forced.code, 0, forced.stderr + forced.stdout);
  assert.equal((JSON.parse(forced.stdout) as { result: string }).result, 'killed');
});
