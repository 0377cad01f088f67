// The test fleet itself: real sshd's on 127.0.1.K, each with its own tmux server and PATH. Needs root.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { FAKE_GPU_UUID, fleetConfigSection, fleetPids, startFleet, type FakeHost, type Fleet, type FleetUser } from './fleet.js';
import { parseConfigObject } from '../../src/core/config.js';
import { connectSsh, sshExec } from './ssh-exec.js';
import { isAlive, listeningTcp4, pidsWithEnv } from './proc.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/gpu-host-h100/', import.meta.url));
const fixture = (name: string) => readFileSync(`${FIXTURES}${name}`, 'utf8');
const QUERY_GPU = '--query-gpu=index,uuid,name,power.draw,power.limit,memory.used,memory.total,utilization.gpu,temperature.gpu';
const QUERY_APPS = '--query-compute-apps=gpu_uuid,pid,process_name,used_memory';
const SEED_QUERY_GPU = '--query-gpu=index,name,power.draw,power.limit,memory.used,memory.total,utilization.gpu,temperature.gpu';
const SEED_QUERY_APPS = '--query-compute-apps=pid,process_name,used_memory';
const CSV = '--format=csv,noheader,nounits';
const PWNED = '/tmp/pwned';

function tcpProbe(address: string, port: number): Promise<'open' | string> {
  return new Promise((resolve) => {
    const sock = connect({ host: address, port });
    sock.once('connect', () => {
      sock.destroy();
      resolve('open');
    });
    sock.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

describe('test fleet', { timeout: 60_000 }, () => {
  let fleet: Fleet;
  let alpha: FakeHost; // GPU
  let beta: FakeHost;
  let gamma: FakeHost;
  const ssh = (h: FakeHost, cmd: string | string[], timeoutMs?: number) => sshExec(h, fleet, cmd, { timeoutMs });

  before(async () => {
    rmSync(PWNED, { force: true });
    fleet = await startFleet({ hosts: [{ name: 'alpha', gpu: true }, { name: 'beta' }, { name: 'gamma' }] });
    [alpha, beta, gamma] = fleet.hosts as [FakeHost, FakeHost, FakeHost];
  });
  after(async () => {
    await fleet?.stop();
  });

  it('logs in with the fleet key on each address, each presenting its own pinned host key', async () => {
    assert.equal(new Set(fleet.hosts.map((h) => h.address)).size, 3);
    assert.equal(new Set(fleet.hosts.map((h) => h.hostKeyFingerprint)).size, 3);
    const knownHosts = readFileSync(fleet.knownHostsPath, 'utf8');
    for (const h of fleet.hosts) {
      assert.match(h.address, /^127\.0\.\d+\.\d+$/);
      // The in-process key files are what ssh-keygen itself reads and derives.
      const printed = execFileSync('ssh-keygen', ['-lf', h.hostKeyPath], { encoding: 'utf8' }).split(' ')[1];
      assert.equal(h.hostKeyFingerprint, printed);
      const derived = execFileSync('ssh-keygen', ['-y', '-f', h.hostKeyPath], { encoding: 'utf8' }).trim();
      assert.equal(`${derived.split(' ')[0]} ${derived.split(' ')[1]}`, h.hostPublicKey);
      assert.ok(knownHosts.includes(`${h.address} ${h.hostPublicKey}\n`));
      const r = await ssh(h, 'id -un; echo "$SSH_CONNECTION"');
      assert.equal(r.code, 0, r.stderr);
      const [user, connection] = r.stdout.split('\n');
      assert.equal(user, fleet.user);
      assert.equal(connection?.split(' ')[2], h.address); // reached this host's sshd, not another's
    }
    await assert.rejects(sshExec({ ...beta, hostKeyFingerprint: alpha.hostKeyFingerprint }, fleet, 'true'), /host key mismatch/);
  });

  it('describes itself as a valid fleetmon config section', () => {
    const config = parseConfigObject(fleetConfigSection(fleet), '<fleet>');
    assert.equal(config.ssh.key_path, fleet.keyPath);
    assert.deepEqual(
      config.hosts.map((h) => [h.name, h.address, h.has_gpu, h.host_key]),
      fleet.hosts.map((h) => [h.name, h.address, h.gpu, h.hostKeyFingerprint]),
    );
  });

  it("gives sessions the host's own TMUX_TMPDIR and PATH", async () => {
    for (const h of fleet.hosts) {
      const r = await ssh(h, 'echo "$TMUX_TMPDIR"; echo "$PATH"');
      assert.deepEqual(r.stdout.split('\n').slice(0, 2), [h.tmuxTmpdir, h.env.PATH]);
      assert.ok(h.env.PATH?.startsWith(`${h.binDir}:`));
    }
  });

  it('keeps one tmux server per host and passes session names through untouched', async () => {
    await alpha.newSession('eval run #2', ['sleep', '300']);
    await beta.newSession('$(touch /tmp/pwned)', ['sleep', '300']);
    const list = ['tmux', 'list-sessions', '-F', '#{session_name}'];
    assert.equal((await ssh(alpha, list)).stdout, 'eval run #2\n');
    assert.equal((await ssh(beta, list)).stdout, '$(touch /tmp/pwned)\n');
    const none = await ssh(gamma, list);
    assert.notEqual(none.code, 0);
    assert.equal(none.stdout, '');
    // A session made over ssh lands in the same server the helper talks to.
    assert.equal((await ssh(gamma, ['tmux', 'new-session', '-d', '-s', 'via ssh', 'sleep', '300'])).code, 0);
    assert.equal((await gamma.tmux(list.slice(1))).stdout, 'via ssh\n');
    assert.equal(existsSync(PWNED), false);
  });

  it('derives the fleetmon nvidia-smi fixtures from the capture', () => {
    const uuid = /<uuid>([^<]+)<\/uuid>/.exec(fixture('nvidia-smi-q-busy.xml'))?.[1];
    assert.equal(uuid, FAKE_GPU_UUID);
    // query-gpu.csv with the uuid as 2nd field; query-apps.csv with the uuid prepended to every row.
    assert.equal(fixture('query-gpu-fleetmon.csv'), fixture('query-gpu.csv').replace(/^([^,\n]*), /gm, `$1, ${uuid}, `));
    assert.equal(fixture('query-apps-fleetmon.csv'), fixture('query-apps.csv').replace(/^(?=.)/gm, `${uuid}, `));
  });

  it('replays the H100 capture on the GPU host and has no nvidia-smi elsewhere', async () => {
    const smi = async (...args: string[]) => ssh(alpha, ['nvidia-smi', ...args]);
    assert.deepEqual(await smi(QUERY_GPU, CSV), { stdout: fixture('query-gpu-fleetmon.csv'), stderr: '', code: 0 });
    assert.deepEqual(await smi(QUERY_APPS, CSV), { stdout: fixture('query-apps-fleetmon.csv'), stderr: '', code: 0 });
    assert.equal((await smi(SEED_QUERY_GPU, CSV)).stdout, fixture('query-gpu.csv'));
    assert.equal((await smi(SEED_QUERY_APPS, CSV)).stdout, fixture('query-apps.csv'));
    assert.equal((await smi()).stdout, fixture('nvidia-smi.txt'));
    assert.equal((await smi('-q', '-x')).stdout, fixture('nvidia-smi-q-busy.xml'));
    const odd = await smi('-L');
    assert.equal(odd.code, 2);
    assert.match(odd.stderr, /unexpected invocation/);
    assert.equal((await smi(QUERY_GPU, '--format=csv')).code, 2);

    // Real local pids replace the capture's, so session GPU memory can be attributed end to end.
    const pane = await alpha.tmux(['list-panes', '-t', '=eval run #2', '-F', '#{pane_pid}']);
    const pid = Number(pane.stdout.trim());
    assert.ok(isAlive(pid));
    alpha.setGpuApps([{ pid, processName: 'sleep', usedMemoryMiB: 1234 }]);
    assert.equal((await smi(QUERY_APPS, CSV)).stdout, `${FAKE_GPU_UUID}, ${pid}, sleep, 1234\n`);
    assert.equal((await smi(SEED_QUERY_APPS, CSV)).stdout, `${pid}, sleep, 1234\n`);
    alpha.setGpuApps([]);
    assert.deepEqual(await smi(QUERY_APPS, CSV), { stdout: '', stderr: '', code: 0 }); // as on an idle GPU
    alpha.setGpuApps(null);
    assert.equal((await smi(QUERY_APPS, CSV)).stdout, fixture('query-apps-fleetmon.csv'));

    for (const h of [beta, gamma]) {
      const r = await ssh(h, 'command -v nvidia-smi');
      assert.notEqual(r.code, 0);
      assert.equal(r.stdout, '');
    }
  });

  it('switches nvidia-smi modes at run time', async () => {
    const query = ['nvidia-smi', QUERY_GPU, CSV];
    alpha.setGpuMode('fail');
    const failed = await ssh(alpha, query);
    assert.equal(failed.code, 9);
    assert.match(failed.stdout, /^NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver\./);

    alpha.setGpuMode('na');
    const fields = (await ssh(alpha, query)).stdout.trim().split(', ');
    const captured = fixture('query-gpu-fleetmon.csv').trim().split(', ');
    assert.deepEqual(fields, captured.map((v, i) => (i === 3 || i === 8 ? '[N/A]' : i === 4 ? '[Not Supported]' : v)));

    alpha.setGpuMode('hang');
    const started = Date.now();
    assert.equal((await ssh(alpha, ['timeout', '1', ...query])).code, 124);
    assert.ok(Date.now() - started >= 1000);

    alpha.setGpuMode('missing');
    assert.notEqual((await ssh(alpha, 'command -v nvidia-smi')).code, 0);
    alpha.setGpuMode('replay');
    assert.equal((await ssh(alpha, query)).stdout, fixture('query-gpu-fleetmon.csv'));
    assert.equal(alpha.gpuMode, 'replay');
  });

  it('setProbeHang blocks tmux on the host while sshd still answers', async () => {
    beta.setProbeHang(true);
    try {
      assert.equal((await ssh(beta, 'timeout 1 tmux list-sessions')).code, 124);
      assert.equal((await ssh(beta, 'echo up')).stdout, 'up\n');
      assert.equal((await ssh(gamma, 'tmux list-sessions -F "#{session_name}"')).stdout, 'via ssh\n');
    } finally {
      beta.setProbeHang(false);
    }
    assert.equal((await ssh(beta, 'tmux list-sessions -F "#{session_name}"')).stdout, '$(touch /tmp/pwned)\n');
  });

  it('stop() takes one host offline, dropping its connections; start() brings it back with the same key', async () => {
    const held = await connectSsh(beta, fleet);
    const dropped = new Promise<void>((resolve) => held.once('close', () => resolve()));
    const fingerprint = beta.hostKeyFingerprint;
    await beta.stop();
    assert.equal(beta.running, false);
    await dropped;
    assert.equal(await tcpProbe(beta.address, 22), 'ECONNREFUSED');
    await assert.rejects(ssh(beta, 'true', 3000), /ECONNREFUSED/);
    assert.equal((await ssh(alpha, 'echo still here')).stdout, 'still here\n');

    await beta.start();
    assert.equal(beta.hostKeyFingerprint, fingerprint);
    // sshExec pins the fingerprint, so success means the same host key; the tmux session outlived the outage.
    assert.equal((await ssh(beta, 'tmux list-sessions -F "#{session_name}"')).stdout, '$(touch /tmp/pwned)\n');
  });

  it('fleet.stop() leaves no listener, process, file or key behind', async () => {
    const { root, publicKey } = fleet;
    const addresses = fleet.hosts.map((h) => `${h.address}:22`);
    const sshdPids = fleet.hosts.map((h) => h.sshdPid);
    assert.ok(sshdPids.every((p) => p !== undefined && isAlive(p)));
    assert.ok(pidsWithEnv([`TMUX_TMPDIR=${root}/`]).length >= 6); // three tmux servers and their sleeps
    assert.ok(sshdPids.every((p) => fleetPids(root).includes(p as number)));
    await fleet.stop();
    const listening = listeningTcp4();
    assert.deepEqual(addresses.filter((a) => listening.has(a)), []);
    assert.deepEqual(sshdPids.filter((p) => p !== undefined && isAlive(p)), []);
    assert.deepEqual(fleetPids(root), []);
    assert.equal(existsSync(root), false);
    const authorized = readFileSync(fleet.authorizedKeysPath, 'utf8');
    assert.equal(authorized.includes(publicKey), false);
    assert.equal(existsSync(PWNED), false);
  });
});

describe('test fleet with privateTmp: own /tmp and pids per host, real users', { timeout: 60_000 }, () => {
  let fleet: Fleet;
  let one: FakeHost; // GPU
  let two: FakeHost;
  let alice: FleetUser;
  let bob: FleetUser;
  const ssh = (h: FakeHost, cmd: string | string[]) => sshExec(h, fleet, cmd);

  before(async () => {
    fleet = await startFleet({ hosts: [{ name: 'one', gpu: true }, { name: 'two' }], privateTmp: true });
    [one, two] = fleet.hosts as [FakeHost, FakeHost];
    alice = await fleet.addUser('alice');
    bob = await fleet.addUser('bob');
  });
  after(async () => {
    await fleet?.stop();
  });

  it('creates real accounts with unique names per run', async () => {
    assert.match(alice.name, /^fm[0-9a-z]{6}-alice$/);
    assert.notEqual(alice.uid, bob.uid);
    const again = await fleet.addUser('alice');
    assert.notEqual(again.name, alice.name);
    assert.equal(execFileSync('id', ['-u', alice.name], { encoding: 'utf8' }).trim(), String(alice.uid));
  });

  it("runs each user's tmux server in the host's own /tmp, seen over ssh there and nowhere else", async () => {
    await one.newSessionAs(alice, 'work', ['sleep', '300']);
    await one.newSessionAs(bob, 'work', ['sleep', '300']);
    await two.newSessionAs(alice, 'other', ['sleep', '300']);
    // The service account sees the directories (each 0700, its user's), not into them: as on a real host.
    const dir = (u: FleetUser) => `/tmp/tmux-${u.uid}`;
    const here = await ssh(one, ['stat', '-c', '%u %a', dir(alice), dir(bob)]);
    assert.equal(here.stdout, `${alice.uid} 700\n${bob.uid} 700\n`, here.stderr);
    const there = await ssh(two, ['sh', '-c', `test -d ${dir(alice)} && echo alice; test -e ${dir(bob)} || echo no-bob`]);
    assert.equal(there.stdout, 'alice\nno-bob\n');
    const sockets = await one.runAs(alice, ['test', '-S', `${dir(alice)}/default`]);
    assert.equal(sockets.code, 0);
    // Not the machine's: where the machine's /tmp has such a directory at all (a uid reused by another test's
    // account, say), it is another directory than the host's.
    const inHost = await one.runAs(alice, ['stat', '-c', '%d:%i', dir(alice)]);
    assert.equal(inHost.code, 0);
    if (existsSync(dir(alice))) {
      const mine = statSync(dir(alice));
      assert.notEqual(inHost.stdout.trim(), `${mine.dev}:${mine.ino}`, "the machine's own /tmp does not hold the host's directory");
    }
    const list = await one.tmuxAs(alice, ['list-sessions', '-F', '#{session_name}']);
    assert.equal(list.stdout, 'work\n');
    // Other sockets: -L and -S.
    await one.newSessionAs(alice, 'named', ['sleep', '300'], { socketName: 'lab' });
    await one.newSessionAs(bob, 'path', ['sleep', '300'], { socketPath: '/tmp/bob-sock' });
    assert.equal((await one.runAs(alice, ['test', '-S', `${dir(alice)}/lab`])).code, 0);
    assert.equal((await ssh(one, ['test', '-S', '/tmp/bob-sock'])).code, 0);
    assert.equal(existsSync('/tmp/bob-sock'), false);
  });

  it("shows only the host's own processes, owned by the users, and nvidia-smi can name their pids", async () => {
    const pane = await one.tmuxAs(alice, ['list-panes', '-t', '=work', '-F', '#{pane_pid}']);
    const pid = Number(pane.stdout.trim());
    assert.ok(Number.isInteger(pid) && pid > 0, pane.stderr);
    // The pid is the host's own: the probe's /proc over ssh sees it as alice's sleep.
    const seen = await ssh(one, ['sh', '-c', `stat -c %u /proc/${pid} && cat /proc/${pid}/comm`]);
    assert.equal(seen.stdout, `${alice.uid}\nsleep\n`);
    const others = await ssh(two, ['sh', '-c', 'ls /proc | grep -c "^[0-9]"']);
    assert.ok(Number(others.stdout) < 20, `host two sees ${others.stdout.trim()} processes, not the machine's`);
    one.setGpuApps([{ pid, processName: 'python3', usedMemoryMiB: 4096 }]);
    const apps = await ssh(one, ['nvidia-smi', QUERY_APPS, CSV]);
    assert.equal(apps.stdout, `${FAKE_GPU_UUID}, ${pid}, python3, 4096\n`);
  });

  it('stop() removes the accounts with the hosts', async () => {
    const names = fleet.users.map((u) => u.name);
    assert.equal(names.length, 3);
    await fleet.stop();
    for (const name of names) assert.notEqual(spawnSync('id', [name]).status, 0, `${name} still exists`);
  });
});
