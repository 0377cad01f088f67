/**
 * The root helper (src/protocol/tmux-all-users.sh) on a fake host with its own /tmp and pids, where real users
 * (alice, bob, carol) run tmux servers on every kind of socket. The helper runs as root inside the host's
 * namespaces, as sudo runs it there. Needs root (the test fleet).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startFleet, type FakeHost, type Fleet, type FleetUser } from '../fleet/fleet.js';
import { sshExec } from '../fleet/ssh-exec.js';
import { base64url } from '../../src/protocol/gate-protocol.js';
import { helperScriptPath } from '../../src/paths.js';

interface Server {
  uid: number;
  user: string;
  rc: number;
  socket: string;
  sessions: { id: string; created: number; name: string }[];
}

/** The list verb's output: "T|UID|USER|RC|SOCKET" then that server's S| and P| lines. */
function parseList(text: string): Server[] {
  const servers: Server[] = [];
  for (const line of text.split('\n')) {
    const f = line.split('|');
    if (f[0] === 'T') servers.push({ uid: Number(f[1]), user: f[2]!, rc: Number(f[3]), socket: f.slice(4).join('|'), sessions: [] });
    else if (f[0] === 'S') servers.at(-1)!.sessions.push({ id: f[1]!, created: Number(f[2]), name: f.slice(7).join('|') });
  }
  return servers;
}

const HOSTILE = `$(touch /tmp/pwned) 'q' "d" ;x|y #1`;

describe('tmux-all-users helper', { timeout: 90_000 }, () => {
  let fleet: Fleet;
  let host: FakeHost;
  let alice: FleetUser;
  let bob: FleetUser;
  let carol: FleetUser;
  const HELPER = '/usr/local/lib/fleetmon-test-helper/tmux-all-users';
  const helper = (...args: string[]) => host.runAsRoot(['/bin/sh', HELPER, ...args], { timeoutMs: 20_000 });
  const list = async () => {
    const r = await helper('list');
    assert.equal(r.code, 0, r.stderr);
    return parseList(r.stdout);
  };
  const sessionsOf = (servers: Server[], uid: number) =>
    servers.filter((s) => s.uid === uid).flatMap((s) => s.sessions.map((x) => `${s.socket} ${x.name}`)).sort();

  before(async () => {
    fleet = await startFleet({ hosts: [{ name: 'shared' }], privateTmp: true });
    host = fleet.hosts[0]!;
    [alice, bob, carol] = [await fleet.addUser('alice'), await fleet.addUser('bob'), await fleet.addUser('carol')];
    // Installed root-owned inside the host, as keys deploy would (the host's / is the machine's; its /tmp is not).
    const r = await host.runAsRoot(['sh', '-c', `install -D -o root -g root -m 0755 "$1" "${HELPER}"`, 'sh', helperScriptPath]);
    assert.equal(r.code, 0, r.stderr);
    await host.newSessionAs(alice, 'work', ['sleep', '600']);
    await host.newSessionAs(alice, 'work2', ['sleep', '600']);
    await host.newSessionAs(alice, HOSTILE, ['sleep', '600']);
    await host.newSessionAs(alice, 'lab run', ['sleep', '600'], { socketName: 'lab' });
    // TMUX_TMPDIR must exist: made by alice, as she would.
    assert.equal((await host.runAs(alice, ['mkdir', '-m', '0700', '/tmp/alt-alice'])).code, 0);
    await host.newSessionAs(alice, 'elsewhere', ['sleep', '600'], { tmuxTmpdir: '/tmp/alt-alice' });
    await host.newSessionAs(bob, 'work', ['sleep', '600']);
    await host.newSessionAs(bob, HOSTILE, ['sleep', '600']);
    await host.newSessionAs(bob, 'by path', ['sleep', '600'], { socketPath: '/tmp/bob-sock' });
  });
  after(async () => {
    await fleet?.stop();
  });

  it('answers ping and refuses anything else', async () => {
    assert.deepEqual(await helper('ping'), { stdout: 'tmux-all-users v1\n', stderr: '', code: 0 });
    for (const args of [[], ['ping', 'x'], ['list', '-a'], ['sh'], ['kill'], ['kill', String(alice.uid), base64url('work')],
      ['kill', 'x1', base64url('work'), '1'], ['kill', String(alice.uid), 'a b', '1'], ['kill', String(alice.uid), base64url('a:b'), '1'],
      ['kill', String(alice.uid), base64url('work'), '1; id'], ['--help'], ['LIST']]) {
      const r = await helper(...args);
      assert.equal(r.code, 2, `${JSON.stringify(args)} → ${r.code} ${r.stderr}`);
      assert.match(r.stderr, /refused/);
      assert.equal(r.stdout, '');
    }
  });

  it("lists every user's servers (default, -L, TMUX_TMPDIR, -S) with their owners, hostile names intact", async () => {
    const servers = await list();
    const d = (u: FleetUser) => `/tmp/tmux-${u.uid}`;
    assert.deepEqual(sessionsOf(servers, alice.uid), [
      `${d(alice)}/default ${HOSTILE}`, `${d(alice)}/default work`, `${d(alice)}/default work2`, `${d(alice)}/lab lab run`,
      `/tmp/alt-alice/tmux-${alice.uid}/default elsewhere`,
    ].sort());
    assert.deepEqual(sessionsOf(servers, bob.uid), [`${d(bob)}/default ${HOSTILE}`, `${d(bob)}/default work`, '/tmp/bob-sock by path'].sort());
    for (const s of servers) {
      assert.equal(s.rc, 0, s.socket);
      assert.equal(s.user, s.uid === alice.uid ? alice.name : s.uid === bob.uid ? bob.name : s.user);
    }
    // The service account's own server (TMUX_TMPDIR of the host) is found too, once something started it.
    // Started over ssh, so inside the host's namespaces like everything else the account runs there.
    assert.equal((await sshExec(host, fleet, ['tmux', 'new-session', '-d', '-s', 'svc', 'sleep', '600'])).code, 0);
    assert.deepEqual(sessionsOf(await list(), fleet.uid), [`${host.tmuxTmpdir}/tmux-${fleet.uid}/default svc`]);
    assert.equal((await host.runAsRoot(['test', '-e', '/tmp/pwned'])).code, 1);
  });

  it("kills exactly one user's session by uid, exact name and creation time", async () => {
    const servers = await list();
    const aliceWork = servers.find((s) => s.uid === alice.uid && s.socket.endsWith('/default'))!.sessions.find((x) => x.name === 'work')!;
    // Wrong time, wrong owner, prefix: nothing happens.
    assert.equal((await helper('kill', String(alice.uid), base64url('work'), String(aliceWork.created + 1))).code, 3);
    assert.equal((await helper('kill', String(carol.uid), base64url('work'), String(aliceWork.created))).code, 3);
    assert.equal((await helper('kill', String(alice.uid), base64url('wor'), String(aliceWork.created))).code, 3);
    const r = await helper('kill', String(alice.uid), base64url('work'), String(aliceWork.created));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `killed ${alice.uid} /tmp/tmux-${alice.uid}/default\n`);
    const after = await list();
    assert.equal(sessionsOf(after, alice.uid).includes(`/tmp/tmux-${alice.uid}/default work`), false);
    assert.ok(sessionsOf(after, alice.uid).includes(`/tmp/tmux-${alice.uid}/default work2`));
    assert.ok(sessionsOf(after, bob.uid).includes(`/tmp/tmux-${bob.uid}/default work`));
    // A hostile name is one exact session too.
    const hostile = after.find((s) => s.uid === bob.uid && s.socket.endsWith('/default'))!.sessions.find((x) => x.name === HOSTILE)!;
    assert.equal((await helper('kill', String(bob.uid), base64url(HOSTILE), String(hostile.created))).code, 0);
    assert.ok(sessionsOf(await list(), alice.uid).includes(`/tmp/tmux-${alice.uid}/default ${HOSTILE}`));
  });

  it("a socket replaced by a symlink to another user's socket lists and kills nothing", async () => {
    // bob's own -L server is replaced by a link to alice's default socket.
    await host.newSessionAs(bob, 'decoy', ['sleep', '600'], { socketName: 'evil' });
    const link = `/tmp/tmux-${bob.uid}/evil`;
    assert.equal((await host.runAs(bob, ['ln', '-sf', `/tmp/tmux-${alice.uid}/default`, link])).code, 0);
    const servers = await list();
    assert.equal(servers.some((s) => s.socket === link), false);
    assert.equal(servers.filter((s) => s.uid === bob.uid).flatMap((s) => s.sessions).some((x) => x.name === 'work2'), false);
    const work2 = servers.find((s) => s.uid === alice.uid && s.socket.endsWith('/default'))!.sessions.find((x) => x.name === 'work2')!;
    assert.equal((await helper('kill', String(bob.uid), base64url('work2'), String(work2.created))).code, 3);
    assert.ok(sessionsOf(await list(), alice.uid).includes(`/tmp/tmux-${alice.uid}/default work2`));
  });

  it("a /tmp/tmux-UID directory made by someone else for another uid is not used", async () => {
    // bob makes carol's directory before carol ever runs tmux, and puts his own server in it.
    const dir = `/tmp/tmux-${carol.uid}`;
    assert.equal((await host.runAs(bob, ['mkdir', '-m', '0700', dir])).code, 0);
    await host.newSessionAs(bob, 'as carol', ['sleep', '600'], { socketPath: `${dir}/default` });
    const servers = await list();
    assert.equal(servers.some((s) => s.socket.startsWith(`${dir}/`)), false);
    assert.equal(servers.some((s) => s.sessions.some((x) => x.name === 'as carol')), false);
    assert.equal((await helper('kill', String(carol.uid), base64url('as carol'), String(Math.floor(Date.now() / 1000)))).code, 3);
    assert.equal((await helper('kill', String(bob.uid), base64url('as carol'), '1')).code, 3);
  });

  it('a hung tmux server costs one deadline and hides no other server', async () => {
    const pid = (await host.tmuxAs(alice, ['display-message', '-p', '#{pid}'])).stdout.trim();
    assert.match(pid, /^\d+$/);
    assert.equal((await host.runAsRoot(['kill', '-STOP', pid])).code, 0);
    try {
      const started = Date.now();
      const servers = await list();
      const took = Date.now() - started;
      assert.ok(took < 4000, `list took ${took} ms`);
      const hung = servers.find((s) => s.socket === `/tmp/tmux-${alice.uid}/default`);
      assert.equal(hung?.rc, 124);
      assert.deepEqual(hung?.sessions, []);
      assert.ok(sessionsOf(servers, bob.uid).includes(`/tmp/tmux-${bob.uid}/default work`));
      assert.ok(sessionsOf(servers, alice.uid).includes(`/tmp/tmux-${alice.uid}/lab lab run`));
    } finally {
      await host.runAsRoot(['kill', '-CONT', pid]);
    }
  });
});
