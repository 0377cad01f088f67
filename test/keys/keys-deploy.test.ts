/**
 * `keys deploy` / `keys revoke` against real OpenSSH servers on 127.0.3.200 and 127.0.3.201 (this machine, so both
 * "hosts" share one account database, like the fleet helper's fake hosts). Uses its own account and gate directory
 * so it cannot disturb anything else, and removes them afterwards. Checks the restrictions through the deployed
 * key itself: no shell, no PTY, no forwarding, no sftp, no `tmux kill-server`, no injected commands.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chownSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'ssh2';
import { keysDeploy, type KeysDeployOptions, type KeysDeployResult } from '../../src/keys/deploy.js';
import { keysRevoke } from '../../src/keys/revoke.js';
import { parsePublicKey, BLOCK_BEGIN } from '../../src/keys/authorized-keys.js';
import { parseConfigObject, parseConfigText } from '../../src/core/config.js';
import { gateKillCommand, gatePingCommand, gateProbeCommand, GATE_EXIT } from '../../src/protocol/gate-protocol.js';
import { gateScriptPath, probeScriptPath } from '../../src/paths.js';
import { runCommand } from '../helpers/run-command.js';
import { generateKey, makeTestDir, removeDir, sshdAvailable, startSshd, type TestSshd } from '../helpers/sshd.js';
import { removeServiceAccount, sh } from '../helpers/accounts.js';
import { pino } from 'pino';
import { killOnHost } from '../../src/server/kill.js';
import { Monitor } from '../../src/server/monitor.js';
import { closeDatabase, openDatabase } from '../../src/server/store/db.js';

const ACCOUNT = 'fmtprov';
const LIB_DIR = '/usr/local/lib/fleetmon-test-prov';
const ADDRESSES = ['127.0.3.200', '127.0.3.201'];
const probeScript = readFileSync(join(import.meta.dirname, 'fixtures', 'probe.sh'), 'utf8');

const skip = sshdAvailable();

function asAccount(args: string[]): { code: number | null; stdout: string; stderr: string } {
  return sh('runuser', ['-u', ACCOUNT, '--', ...args]);
}

const removeAccount = () => removeServiceAccount(ACCOUNT, LIB_DIR);

type Raw = { code: number | null; stdout: string; stderr: string; error?: string };

/** Runs one raw command line on an open connection (a new exec channel), returns what came back. */
function execOn(c: Client, line: string, opts: { stdin?: string } = {}): Promise<Raw> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ code: null, stdout: '', stderr: '', error: 'timeout' }), 8000);
    c.exec(line, (err, ch) => {
      if (err) {
        clearTimeout(timer);
        return resolve({ code: null, stdout: '', stderr: '', error: err.message });
      }
      let stdout = '';
      let stderr = '';
      let code: number | null = null;
      ch.on('data', (d: Buffer) => (stdout += d.toString()));
      ch.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      ch.on('exit', (c2: number | null) => (code = c2));
      ch.on('close', () => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
      if (opts.stdin !== undefined) ch.end(opts.stdin);
      else ch.end();
    });
  });
}

/** Connects with the fleet key as the account and runs one raw command line; a failed login comes back as error. */
async function rawExec(sshd: TestSshd, privateKey: string, line: string, opts: { stdin?: string } = {}): Promise<Raw> {
  try {
    return await withClient(sshd, privateKey, (c) => execOn(c, line, opts));
  } catch (err) {
    return { code: null, stdout: '', stderr: '', error: (err as Error).message };
  }
}

/** Opens a connection with the fleet key and hands the client to `fn` (for shell, forwarding, sftp attempts). */
function withClient<T>(sshd: TestSshd, privateKey: string, fn: (c: Client) => Promise<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    const c = new Client();
    c.on('ready', () => {
      fn(c).then(
        (v) => {
          c.end();
          resolve(v);
        },
        (e) => {
          c.end();
          reject(e);
        },
      );
    });
    c.on('error', reject);
    c.connect({ host: sshd.address, port: sshd.port, username: ACCOUNT, privateKey, hostVerifier: () => true, readyTimeout: 5000 });
  });
}

describe('keys deploy against real sshd', { skip: skip ?? false }, () => {
  let dir: string;
  const servers: TestSshd[] = [];
  let admin: { privateKey: string; publicKey: string };
  let fleet: { privateKey: string; publicKey: string };
  let configFile: string;
  let baseOptions: KeysDeployOptions;

  before(async () => {
    removeAccount();
    dir = makeTestDir('fleetmon-test-prov');
    admin = generateKey(join(dir, 'admin_key'), 'admin@test');
    fleet = generateKey(join(dir, 'fleet_key'), 'fleetmon@test-server');
    for (const address of ADDRESSES) {
      servers.push(await startSshd({ address, dir, rootAuthorizedKeys: admin.publicKey, allowUsers: ['root', ACCOUNT] }));
    }
    configFile = join(dir, 'hosts.yml');
    writeFileSync(
      configFile,
      [
        '# my fleet (comments must survive)',
        'polling_interval_seconds: 30',
        'hosts:',
        '  - {name: first, address: 127.0.3.200, has_gpu: false} # the first host',
        '',
      ].join('\n'),
      { mode: 0o640 },
    );
    chownSync(configFile, 0, 65534); // like /etc/fleetmon/hosts.yml: root:<service group> 0640
    baseOptions = {
      targets: ADDRESSES,
      publicKey: parsePublicKey(fleet.publicKey),
      verifyKey: fleet.privateKey,
      auth: { username: 'root', privateKey: admin.privateKey },
      account: ACCOUNT,
      libDir: LIB_DIR,
      probeScript,
      configFile,
      concurrency: 2,
      connectTimeoutMs: 5000,
      commandTimeoutMs: 15000,
    };
  });

  after(async () => {
    for (const s of servers) await s.stop();
    removeAccount();
    removeDir(dir);
  });

  test('deploys to two hosts in parallel: account, gate, restricted key, pins', async () => {
    const result = await keysDeploy(baseOptions);
    assert.equal(result.ok, true, JSON.stringify(result.hosts.map((h) => h.error ?? h.verify), null, 1));
    for (const [i, h] of result.hosts.entries()) {
      assert.equal(h.hostKey?.fingerprint, servers[i]!.hostKeyFingerprint);
      assert.equal(h.verify?.method, 'ssh');
      assert.equal(h.verify?.ok, true);
    }
    // The account: no password ("*", not "!"), a real shell.
    const shadow = sh('getent', ['shadow', ACCOUNT]).stdout.split(':');
    assert.equal(shadow[1], '*');
    const passwd = sh('getent', ['passwd', ACCOUNT]).stdout.trim().split(':');
    assert.equal(passwd[6], '/bin/sh');
    // Root owns everything the account could otherwise loosen.
    const home = passwd[5]!;
    for (const [path, mode] of [
      [home, 0o755],
      [join(home, '.ssh'), 0o755],
      [join(home, '.ssh', 'authorized_keys'), 0o644],
      [LIB_DIR, 0o755],
      [join(LIB_DIR, 'gate'), 0o755],
      [join(LIB_DIR, 'probe.sh'), 0o755],
    ] as const) {
      const st = statSync(path);
      assert.equal(st.uid, 0, `${path} owner`);
      assert.equal(st.mode & 0o777, mode, `${path} mode`);
    }
    assert.equal(readFileSync(join(LIB_DIR, 'gate'), 'utf8'), readFileSync(gateScriptPath, 'utf8'));
    const keys = readFileSync(join(home, '.ssh', 'authorized_keys'), 'utf8');
    const keyData = fleet.publicKey.split(' ')[1]!;
    assert.equal(keys.split('\n').filter((l) => l.includes(keyData)).length, 1);
    assert.match(keys, new RegExp(`^restrict,command="${LIB_DIR}/gate" ssh-ed25519 ${keyData.replace(/[+/]/g, '\\$&')} fleetmon@test-server$`, 'm'));

    // Pins: the existing entry updated in place, the second host added, comments kept, still a valid config.
    const text = readFileSync(configFile, 'utf8');
    assert.match(text, /^# my fleet \(comments must survive\)$/m);
    assert.match(text, /# the first host/);
    const config = parseConfigText(text, configFile);
    const first = config.hosts.find((h) => h.address === '127.0.3.200');
    const second = config.hosts.find((h) => h.address === '127.0.3.201');
    assert.equal(first?.name, 'first');
    assert.equal(first?.has_gpu, false);
    assert.equal(first?.host_key, servers[0]!.hostKeyFingerprint);
    assert.equal(first?.gate, true);
    assert.equal(second?.host_key, servers[1]!.hostKeyFingerprint);
    assert.deepEqual(result.config?.changes.map((c) => c.action), ['updated', 'added']);
  });

  test('a re-run changes nothing', async () => {
    const home = sh('getent', ['passwd', ACCOUNT]).stdout.trim().split(':')[5]!;
    const keysBefore = readFileSync(join(home, '.ssh', 'authorized_keys'), 'utf8');
    const configBefore = readFileSync(configFile, 'utf8');
    assert.equal(statSync(configFile).mode & 0o777, 0o640, 'the pinned file keeps its mode');
    assert.equal(statSync(configFile).gid, 65534, 'and its group');
    const result = await keysDeploy(baseOptions);
    assert.equal(result.ok, true);
    for (const h of result.hosts) {
      assert.deepEqual(
        h.steps.map((s) => s.status),
        h.steps.map(() => 'unchanged'),
        JSON.stringify(h.steps),
      );
    }
    assert.equal(readFileSync(join(home, '.ssh', 'authorized_keys'), 'utf8'), keysBefore);
    assert.equal(readFileSync(configFile, 'utf8'), configBefore);
    assert.equal(result.config?.written, false);
  });

  test('the deployed key runs the gate verbs: ping and the probe stream', async () => {
    const ping = await rawExec(servers[0]!, fleet.privateKey, gatePingCommand());
    assert.equal(ping.code, 0);
    assert.equal(ping.stdout, 'pong v1\n');
    const probe = await rawExec(servers[1]!, fleet.privateKey, gateProbeCommand(), { stdin: 'poll n1\npoll n2\n' });
    assert.equal(probe.code, 0, probe.stderr);
    assert.equal(
      probe.stdout,
      `==fleetmon:begin n1==\nuser=${ACCOUNT}\n==fleetmon:end n1==\n==fleetmon:begin n2==\nuser=${ACCOUNT}\n==fleetmon:end n2==\n`,
    );
  });

  test('the key refuses a shell, a PTY, port forwarding, sftp and any other command', async () => {
    const s = servers[0]!;
    // A shell request runs the forced command with no SSH_ORIGINAL_COMMAND: refused, no prompt.
    const shell = await withClient(s, fleet.privateKey, (c) =>
      new Promise<{ out: string; code: number | null }>((resolve, reject) => {
        c.shell(false, (err, ch) => {
          if (err) return reject(err);
          let out = '';
          let code: number | null = null;
          ch.on('data', (d: Buffer) => (out += d.toString()));
          ch.stderr.on('data', (d: Buffer) => (out += d.toString()));
          ch.on('exit', (c2: number | null) => (code = c2));
          ch.on('close', () => resolve({ out, code }));
          ch.end('id\n');
        });
      }),
    );
    assert.equal(shell.code, GATE_EXIT.badRequest);
    assert.match(shell.out, /refused: no command/);
    assert.doesNotMatch(shell.out, /uid=/);

    // PTY: `restrict` makes sshd refuse the pty-req, so the request fails.
    const ptyAllowed = await withClient(s, fleet.privateKey, (c) =>
      new Promise<boolean>((resolve) => {
        c.exec('fleetmon-ping v1', { pty: true }, (err, ch) => {
          if (err) return resolve(false);
          ch.on('close', () => resolve(true));
          ch.end();
        });
      }),
    );
    assert.equal(ptyAllowed, false, 'a PTY was granted');

    // Port forwarding (to this very sshd) is administratively prohibited.
    const forward = await withClient(s, fleet.privateKey, (c) =>
      new Promise<string>((resolve) => {
        c.forwardOut('127.0.0.1', 12345, s.address, s.port, (err, ch) => {
          if (err) return resolve(err.message);
          ch.close();
          resolve('opened');
        });
      }),
    );
    assert.notEqual(forward, 'opened');
    assert.match(forward, /prohibited|denied|fail/i);

    // sftp goes through the forced command too, and the gate does not speak it.
    const sftp = await withClient(s, fleet.privateKey, (c) =>
      new Promise<string>((resolve) => {
        c.sftp((err, client) => {
          if (err) return resolve(err.message);
          client.readdir('/', (e2) => resolve(e2 ? e2.message : 'listed'));
        });
      }),
    );
    assert.notEqual(sftp, 'listed');
  });

  test('tmux kill-server and injected text are refused and run nothing', async () => {
    const s = servers[0]!;
    assert.equal(asAccount(['tmux', 'new-session', '-d', '-s', 'survivor']).code, 0);
    const marker = join(dir, 'injected');
    const attempts = [
      'tmux kill-server',
      `fleetmon-kill v1 $(touch ${marker}) 1`,
      `fleetmon-kill v1 \`touch ${marker}\` 1`,
      `fleetmon-ping v1; touch ${marker}`,
      `fleetmon-ping v1 && touch ${marker}`,
      `fleetmon-ping v1 | touch ${marker}`,
      `fleetmon-ping v1\ntouch ${marker}`,
      `fleetmon-ping v1 > ${marker}`,
      'fleetmon-ping v1 *',
      'fleetmon-ping v2',
      'fleetmon-probe v1 extra',
      'fleetmon-kill v1',
      'fleetmon-kill v1 c3Vydml2b3I 1 extra',
      'fleetmon-kill v1 c3Vydml2b3I 12e3',
      `fleetmon-kill v1 ${'A'.repeat(1701)} 1`,
      `fleetmon-ping v1 ${'x'.repeat(3000)}`,
      'sh -c id',
      'id',
      '/bin/sh',
    ];
    await withClient(s, fleet.privateKey, async (c) => {
      for (const line of attempts) {
        const r = await execOn(c, line);
        assert.equal(r.code, GATE_EXIT.badRequest, `${JSON.stringify(line)} → exit ${r.code} ${r.stdout} ${r.stderr} ${r.error ?? ''}`);
        assert.doesNotMatch(r.stdout, /pong|uid=/, line);
      }
    });
    assert.equal(existsSync(marker), false, 'an injected command ran');
    assert.equal(asAccount(['tmux', 'has-session', '-t', '=survivor']).code, 0, 'tmux kill-server got through');
  });

  test('kill: exact names of any shape, creation time checked, never a prefix', async () => {
    const s = servers[1]!;
    const names = [
      'work',
      'work2',
      'a b',
      "it's \"quoted\"",
      '$(touch /tmp/fleetmon-test-prov-pwn);x',
      '$1',
      '`id` & | > <',
      '日本語-сессия-🙂',
      '-t',
      '=eq',
      'x'.repeat(300),
    ];
    for (const n of names) assert.equal(asAccount(['tmux', 'new-session', '-d', '-s', n]).code, 0, `create ${n}`);
    // Read from the list, not with `-t =NAME`: tmux cannot target a name starting with "$" that way.
    const sessions = () =>
      new Map(
        asAccount(['tmux', 'list-sessions', '-F', '#{session_created} #{session_name}'])
          .stdout.split('\n')
          .filter(Boolean)
          .map((l) => [l.slice(l.indexOf(' ') + 1), Number(l.slice(0, l.indexOf(' ')))] as const),
      );
    const created = (n: string) => sessions().get(n) ?? assert.fail(`no session ${n}`);
    const exists = (n: string) => sessions().has(n);

    await withClient(s, fleet.privateKey, async (c) => {
      // Wrong creation time: not killed, "changed".
      const wrong = await execOn(c, gateKillCommand('work', created('work') + 1));
      assert.equal(wrong.code, GATE_EXIT.notFound);
      assert.equal(exists('work'), true);
      // A name that is only a prefix of an existing session: not found, and work2 survives.
      const prefix = await execOn(c, gateKillCommand('wor', created('work2')));
      assert.equal(prefix.code, GATE_EXIT.notFound);
      assert.equal(exists('work2'), true);
      const before = sessions();
      for (const n of names) {
        const r = await execOn(c, gateKillCommand(n, before.get(n)!));
        assert.equal(r.code, GATE_EXIT.ok, `kill ${JSON.stringify(n)}: ${r.stderr}`);
      }
    });
    const left = sessions();
    for (const n of names) assert.equal(left.has(n), false, `${n} still exists`);
    assert.equal(existsSync('/tmp/fleetmon-test-prov-pwn'), false);
    assert.equal(left.has('survivor'), true, 'another session was killed');
    // Already gone: "not found".
    const again = await rawExec(s, fleet.privateKey, gateKillCommand('work', 1));
    assert.equal(again.code, GATE_EXIT.notFound);
  });

  test('a host presenting another key than its pin is refused; the others still deploy', async () => {
    const text = readFileSync(configFile, 'utf8');
    const wrong = 'SHA256:' + 'A'.repeat(43);
    const pinned = text.replace(servers[0]!.hostKeyFingerprint, wrong);
    writeFileSync(configFile, pinned);
    try {
      const result = await keysDeploy(baseOptions);
      assert.equal(result.ok, false);
      assert.equal(result.hosts[0]!.error?.code, 'HOST_KEY_MISMATCH');
      assert.match(result.hosts[0]!.error!.message, new RegExp(servers[0]!.hostKeyFingerprint.replace(/[+/]/g, '\\$&')));
      assert.equal(result.hosts[1]!.ok, true);
      // The refused host's pin is not overwritten.
      assert.match(readFileSync(configFile, 'utf8'), new RegExp(wrong));
    } finally {
      writeFileSync(configFile, text);
    }
  });

  test('a locked account ("!") and a duplicate unrestricted key are repaired', async () => {
    assert.equal(sh('usermod', ['-p', '!', ACCOUNT]).code, 0);
    const home = sh('getent', ['passwd', ACCOUNT]).stdout.trim().split(':')[5]!;
    const keysPath = join(home, '.ssh', 'authorized_keys');
    writeFileSync(keysPath, `${readFileSync(keysPath, 'utf8')}${fleet.publicKey}`);
    const result = await keysDeploy({ ...baseOptions, targets: [ADDRESSES[0]!] });
    assert.equal(result.ok, true, JSON.stringify(result.hosts[0]));
    const statuses = Object.fromEntries(result.hosts[0]!.steps.map((s) => [s.id, s.status]));
    assert.equal(statuses.account, 'changed');
    assert.equal(statuses['authorized-key'], 'changed');
    assert.equal(sh('getent', ['shadow', ACCOUNT]).stdout.split(':')[1], '*');
    const keyData = fleet.publicKey.split(' ')[1]!;
    assert.equal(readFileSync(keysPath, 'utf8').split('\n').filter((l) => l.includes(keyData)).length, 1);
  });

  test('dry run reports what would change and changes nothing', async () => {
    const home = sh('getent', ['passwd', ACCOUNT]).stdout.trim().split(':')[5]!;
    const gatePath = join(LIB_DIR, 'gate');
    writeFileSync(gatePath, '#!/bin/sh\necho tampered\n');
    const result = await keysDeploy({ ...baseOptions, targets: [ADDRESSES[0]!], dryRun: true });
    assert.equal(result.ok, true);
    const gate = result.hosts[0]!.steps.find((s) => s.id === 'gate');
    assert.equal(gate?.status, 'planned');
    assert.equal(gate?.detail, 'content differs');
    assert.equal(readFileSync(gatePath, 'utf8'), '#!/bin/sh\necho tampered\n');
    assert.ok(existsSync(join(home, '.ssh', 'authorized_keys')));
    // And the real run puts it right; without the private key it verifies by running the gate as the account.
    const { verifyKey: _private, ...withoutPrivateKey } = baseOptions;
    const fixed = await keysDeploy({ ...withoutPrivateKey, targets: [ADDRESSES[0]!] });
    assert.equal(fixed.ok, true, JSON.stringify(fixed.hosts[0]));
    assert.equal(fixed.hosts[0]!.verify?.method, 'local');
    assert.equal(readFileSync(gatePath, 'utf8'), readFileSync(gateScriptPath, 'utf8'));
  });

  test('the command: --json result, human summary, exit status', async () => {
    const env = { SSH_AUTH_SOCK: '', FLEETMON_ACCOUNT: ACCOUNT, FLEETMON_LIB_DIR: LIB_DIR, FLEETMON_PROBE_SCRIPT: join(import.meta.dirname, 'fixtures', 'probe.sh') };
    const common = ['--key', join(dir, 'fleet_key.pub'), '--identity', join(dir, 'admin_key'), '--timeout', '5'];
    const json = await runCommand('src/commands/keys/deploy.ts', [...common, '--json', ADDRESSES[0]!], { env });
    assert.equal(json.code, 0, json.stderr);
    const r = JSON.parse(json.stdout) as KeysDeployResult;
    assert.equal(r.ok, true);
    assert.equal(r.account, ACCOUNT);
    assert.equal(r.hosts[0]!.hostKey?.fingerprint, servers[0]!.hostKeyFingerprint);
    assert.equal(r.hosts[0]!.verify?.method, 'ssh');
    assert.ok(r.hosts[0]!.steps.every((s) => s.status === 'unchanged'));
    const human = await runCommand('src/commands/keys/deploy.ts', [...common, ADDRESSES[0]!], { env });
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /✔ 127\.0\.3\.200:22 {2}nothing to change/);
    assert.ok(human.stdout.includes(`127.0.3.200:22  ssh-ed25519  ${servers[0]!.hostKeyFingerprint}`), human.stdout);
    const unreachable = await runCommand('src/commands/keys/revoke.ts', ['--identity', join(dir, 'admin_key'), '--timeout', '2', '--account', ACCOUNT, '127.0.3.209'], { env });
    assert.equal(unreachable.code, 6, unreachable.stderr);
    assert.match(unreachable.stdout, /✖ 127\.0\.3\.209:22 {2}FAILED: .*(refused|ECONNREFUSED)/);
    const noKey = await runCommand('src/commands/keys/deploy.ts', ['--json', ADDRESSES[0]!], { env: { ...env, FLEETMON_KEY: '', FLEETMON_SERVER: '' } });
    assert.equal(noKey.code, 2);
    assert.equal((JSON.parse(noKey.stdout) as { error: { code: string } }).error.code, 'NO_KEY');
  });

  test('the monitor polls through the deployed gate with the real probe, and kills through it', async () => {
    const real = { ...baseOptions, targets: [ADDRESSES[0]!], probeScript: readFileSync(probeScriptPath, 'utf8') };
    const deployed = await keysDeploy(real);
    assert.ok(deployed.hosts.every((h) => h.ok), JSON.stringify(deployed.hosts));
    assert.equal(asAccount(['tmux', 'new-session', '-d', '-s', 'gated job #1', 'sleep 600']).code, 0);
    const config = parseConfigObject(
      {
        polling_interval_seconds: 1,
        ssh: { user: ACCOUNT, key_path: join(dir, 'fleet_key'), timeout: 5 },
        hosts: [{ name: 'gated', address: ADDRESSES[0], gate: true, host_key: servers[0]!.hostKeyFingerprint }],
        server: { data_dir: join(dir, 'data') },
      },
      'gate-test',
    );
    const { db } = openDatabase(join(dir, 'data'));
    const monitor = new Monitor({ config, db, log: pino({ level: 'silent' }) });
    try {
      await monitor.poller.runCycle();
      const h = monitor.host('gated')!;
      assert.equal(h.status, 'online', `${h.last_error} ${h.problems.join('; ')}`);
      assert.ok((h.memory_total_mb ?? 0) > 0);
      const s = h.sessions.find((x) => x.name === 'gated job #1');
      assert.ok(s, JSON.stringify(h.sessions.map((x) => x.name)));
      assert.equal(s.user, ACCOUNT);
      const runtime = monitor.poller.runtime('gated')!;
      const outcome = await killOnHost(runtime.transport, s, true, 5000);
      assert.equal(outcome.result, 'killed', outcome.detail);
      assert.notEqual(asAccount(['tmux', 'has-session', '-t', '=gated job #1']).code, 0);
      const again = await killOnHost(runtime.transport, s, true, 5000);
      assert.equal(again.result, 'gone');
    } finally {
      await monitor.stop();
      closeDatabase(db);
      asAccount(['tmux', 'kill-server']);
    }
  });

  test('revoke removes the block, the key stops working, and a second revoke is fine', async () => {
    const home = sh('getent', ['passwd', ACCOUNT]).stdout.trim().split(':')[5]!;
    const keysPath = join(home, '.ssh', 'authorized_keys');
    writeFileSync(keysPath, `# someone else's key stays\n${readFileSync(keysPath, 'utf8')}`);
    const auth = { username: 'root', privateKey: admin.privateKey };
    const first = await keysRevoke({ targets: ADDRESSES, auth, account: ACCOUNT, configFile, connectTimeoutMs: 5000 });
    assert.equal(first.ok, true, JSON.stringify(first));
    // Both "hosts" share this machine's file: whichever ran first removed the block.
    assert.equal(first.hosts.filter((h) => h.removed).length >= 1, true);
    const text = readFileSync(keysPath, 'utf8');
    assert.doesNotMatch(text, new RegExp(BLOCK_BEGIN.slice(0, 20)));
    assert.match(text, /someone else's key stays/);
    const login = await rawExec(servers[0]!, fleet.privateKey, gatePingCommand());
    assert.match(login.error ?? '', /authentication/i);
    const second = await keysRevoke({ targets: [ADDRESSES[0]!], auth, account: ACCOUNT, connectTimeoutMs: 5000 });
    assert.deepEqual(second.hosts.map((h) => [h.ok, h.removed]), [[true, false]]);
  });
});
