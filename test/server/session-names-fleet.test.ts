/**
 * Session names that tmux allows but a shell, a locale or tmux's own target syntax could bend, end to end over a
 * real SSH fleet host (sshd + its own tmux server): listed exactly as tmux holds them, one id each, killed exactly
 * (the look-alike survives), a stale confirmation never kills a re-created session, and the attach command run
 * through a real sh resolves to that very session on that tmux server.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { pino } from 'pino';
import { parseConfigObject } from '../../src/core/config.js';
import type { Session } from '../../src/core/model.js';
import { startServer, type RunningServer } from '../../src/server/start.js';
import { fleetConfigSection, startFleet, type Fleet, type FakeHost } from '../fleet/fleet.js';
import { tempDir, waitFor } from '../helpers/common.js';

/** As typed to `tmux new -s`. */
const TYPED = ['ünï€', 'uc-é', 'uc-_', 'a\\b', "it's", '$(touch /tmp/fleetmon-names-pwned)', '$1', 'a b', '`id`;x', 'é'.repeat(300)];

let fleet: Fleet;
let host: FakeHost;
let server: RunningServer;
const data = tempDir();
const TOKEN = 'names-test-token-0123456789abcdef';

async function api<T>(path: string, init: RequestInit = {}): Promise<{ status: number; body: T }> {
  const res = await fetch(`${server.url}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...(init.headers ?? {}) },
  });
  return { status: res.status, body: (await res.json()) as T };
}
const sessionsPath = (id: string) => `/api/sessions/${encodeURIComponent(id)}`;

/** What tmux itself holds: tmux id → name, read with -u so nothing is replaced by '_'. */
async function tmuxSessions(): Promise<Map<string, string>> {
  const r = await host.tmux(['-u', 'list-sessions', '-F', '#{session_id} #{session_name}']);
  assert.equal(r.code, 0, r.stderr);
  return new Map(r.stdout.split('\n').filter(Boolean).map((l) => [l.slice(0, l.indexOf(' ')), l.slice(l.indexOf(' ') + 1)]));
}

async function apiSessions(): Promise<Session[]> {
  return (await api<Session[]>(`/api/sessions?host=${host.name}`)).body;
}

/** Waits until the API lists exactly the sessions tmux holds (names and creation times). */
async function synced(): Promise<Session[]> {
  return waitFor(async () => {
    const held = [...(await tmuxSessions()).values()].sort();
    const listed = await apiSessions();
    return JSON.stringify(listed.map((s) => s.name).sort()) === JSON.stringify(held) ? listed : undefined;
  }, 15_000, 'the API to list what tmux holds');
}

async function kill(id: string): Promise<{ status: number; body: { error?: string; result?: string } }> {
  const first = await api<{ confirm_token: string }>(`${sessionsPath(id)}/kill`, { method: 'POST', body: '{}' });
  assert.equal(first.status, 428, JSON.stringify(first.body));
  return api(`${sessionsPath(id)}/kill`, { method: 'POST', body: JSON.stringify({ confirm_token: first.body.confirm_token }) });
}

before(async () => {
  fleet = await startFleet({ hosts: [{ name: 'names0' }] });
  host = fleet.host('names0');
  for (const name of TYPED) await host.newSession(name, ['sleep 600']);
  const section = fleetConfigSection(fleet);
  const config = parseConfigObject(
    {
      polling_interval_seconds: 1,
      ssh: { ...section.ssh, timeout: 5, reconnect_max_seconds: 1 },
      server: { port: 0, data_dir: data.path, token: TOKEN },
      hosts: section.hosts,
    },
    'names-test',
  );
  server = await startServer(config, { log: pino({ level: 'silent' }) });
});

after(async () => {
  await server?.close();
  await fleet?.stop();
  data.remove();
});

test('every name is listed exactly as tmux holds it, each under its own id', async () => {
  const listed = await synced();
  const names = listed.map((s) => s.name);
  // tmux keeps UTF-8 as it is and stores a backslash escaped (`a\\b`, what `tmux ls` shows and `-t` matches).
  for (const n of ['ünï€', 'uc-é', 'uc-_', 'a\\\\b', "it's", '$(touch /tmp/fleetmon-names-pwned)', '$1', 'a b', '`id`;x', 'é'.repeat(300)]) {
    assert.ok(names.includes(n), `${JSON.stringify(n)} listed (got ${JSON.stringify(names)})`);
  }
  assert.equal(new Set(listed.map((s) => s.id)).size, TYPED.length, 'ids are unique');
  assert.equal(new Set(listed.map((s) => s.fleetmon_id)).size, TYPED.length, 'fleetmon ids are unique');
  for (const s of listed) {
    assert.equal(s.id, `${host.name}:${s.name}`);
    assert.equal(s.fleetmon_id, `${host.name}:${fleet.user}:${s.name}`);
    for (const id of [s.id, s.fleetmon_id]) {
      const one = await api<Session>(sessionsPath(id));
      assert.equal(one.status, 200, `${id}: ${JSON.stringify(one.body)}`);
      assert.equal(one.body.name, s.name);
    }
  }
});

test('each attach command, run through a real sh, reaches that very session on the host tmux server', async () => {
  const listed = await synced();
  const idOf = new Map([...(await tmuxSessions())].map(([id, name]) => [name, id]));
  for (const s of listed) {
    // The user's shell: ssh gets its arguments; the last is the command the host's login shell runs.
    const local = spawnSync('sh', ['-c', `ssh() { printf '%s\\0' "$@"; }; ${s.attach_command}`], { encoding: 'utf8' });
    assert.equal(local.status, 0, local.stderr);
    const sshArgs = local.stdout.split('\0').slice(0, -1);
    assert.deepEqual(sshArgs.slice(0, -1), [`${fleet.user}@${host.address}`, '-t'], s.attach_command);
    // The host's sh runs it against the same tmux server, `attach` swapped for a command that names the session
    // its target resolves to (attach itself needs a terminal).
    const probe = `tmux() { [ "$1" = attach ] || exit 90; shift; command tmux -u list-windows "$@" -F '#{session_id}'; }; ${sshArgs.at(-1)!}`;
    const remote = await host.runAsUser(['sh', '-c', probe]);
    assert.equal(remote.code, 0, `${s.name}: ${remote.stderr}`);
    assert.equal(remote.stdout.trim(), idOf.get(s.name), `${JSON.stringify(s.name)} → ${remote.stdout.trim()}`);
  }
  assert.equal(existsSync('/tmp/fleetmon-names-pwned'), false);
});

test('killing uc-é leaves uc-_ (and the reverse), and each hostile name dies alone', async () => {
  await synced();
  const id = (name: string) => `${host.name}:${fleet.user}:${name}`;
  for (const name of ['uc-é', 'uc-_', 'ünï€', 'a\\\\b', "it's", '$(touch /tmp/fleetmon-names-pwned)', '$1', 'é'.repeat(300)]) {
    const before = [...(await tmuxSessions()).values()];
    assert.ok(before.includes(name), `${name} is there before`);
    const done = await kill(id(name));
    assert.equal(done.status, 200, `${name}: ${JSON.stringify(done.body)}`);
    const left = [...(await tmuxSessions()).values()].sort();
    assert.deepEqual(left, before.filter((n) => n !== name).sort(), `only ${JSON.stringify(name)} died`);
    await synced();
  }
  assert.equal(existsSync('/tmp/fleetmon-names-pwned'), false);
});

test('a confirmation issued before the session was re-created under the same name kills nothing', async () => {
  const name = 'ünï€-again';
  await host.newSession(name, ['sleep 600']);
  const [old] = (await synced()).filter((s) => s.name === name);
  const first = await api<{ confirm_token: string }>(`${sessionsPath(old!.id)}/kill`, { method: 'POST', body: '{}' });
  assert.equal(first.status, 428);
  // Re-created one second later: same name, same id, another creation time.
  assert.equal((await host.tmux(['kill-session', '-t', `=${name}`])).code, 0);
  await new Promise((r) => setTimeout(r, 1100));
  await host.newSession(name, ['sleep 600']);
  // Once the monitor lists the new one (same id), the old token no longer fits it.
  await waitFor(async () => (await apiSessions()).find((s) => s.name === name && s.created_epoch !== old!.created_epoch), 15_000, 'the new session listed');
  const done = await api<{ error: string }>(`${sessionsPath(old!.id)}/kill`, { method: 'POST', body: JSON.stringify({ confirm_token: first.body.confirm_token }) });
  assert.equal(done.status, 409, JSON.stringify(done.body));
  assert.match(done.body.error, /replaced/);
  // The dashboard sends the creation time it showed: asking anew for the old one is refused before any token.
  const again = await api<{ error: string }>(`${sessionsPath(old!.id)}/kill`, { method: 'POST', body: JSON.stringify({ created_epoch: old!.created_epoch }) });
  assert.equal(again.status, 409, JSON.stringify(again.body));
  assert.match(again.body.error, /re-created since it was listed/);
  const fresh = (await apiSessions()).find((s) => s.name === name)!;
  const ask = await api<{ error: string }>(`${sessionsPath(fresh.id)}/kill`, { method: 'POST', body: JSON.stringify({ created_epoch: fresh.created_epoch }) });
  assert.equal(ask.status, 428, 'the session as listed now can be asked for');
  assert.equal((await host.tmux(['has-session', '-t', `=${name}`])).code, 0, 'the new session lives');
});
