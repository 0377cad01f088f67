/**
 * RemoteShell against a real sshd on 127.0.3.202: argv quoting through the login shell (bash for root, dash for
 * others) and through sudo, atomic uploads, reads, sudo with and without a password, host key pinning, deadlines
 * and output limits. Creates two throwaway users (and their sudoers rules) and removes them afterwards.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { RemoteShell } from '../../src/ssh/remote-shell.js';
import { FleetmonError } from '../../src/core/errors.js';
import { generateKey, makeTestDir, removeDir, sshdAvailable, startSshd, type TestSshd } from '../helpers/sshd.js';

const ADDRESS = '127.0.3.202';
const SUDO_USER = 'fmtsudo'; // sudo with a password
const NOPW_USER = 'fmtnopw'; // sudo without one
const PASSWORD = 'correct horse $(battery) \'staple\'';
const SUDOERS = '/etc/sudoers.d/fleetmon-test-prov';

const skip = sshdAvailable() ?? (existsSync('/usr/bin/sudo') ? null : 'sudo is not installed (apt-get install sudo)');

function sh(cmd: string, args: string[], input?: string) {
  return spawnSync(cmd, args, { encoding: 'utf8', ...(input !== undefined ? { input } : {}) });
}

function removeUsers(): void {
  for (const u of [SUDO_USER, NOPW_USER]) {
    sh('userdel', ['-r', u]);
  }
  rmSync(SUDOERS, { force: true });
}

async function expectCode(p: Promise<unknown>, code: string): Promise<FleetmonError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof FleetmonError, String(err));
    assert.equal(err.code, code, err.message);
    return err;
  }
  assert.fail(`expected ${code}`);
}

describe('RemoteShell against real sshd', { skip: skip ?? false }, () => {
  let dir: string;
  let sshd: TestSshd;
  let admin: { privateKey: string; publicKey: string };
  const shells: RemoteShell[] = [];
  const connect = async (o: Partial<Parameters<typeof RemoteShell.connect>[0]> = {}) => {
    const s = await RemoteShell.connect({ host: ADDRESS, username: 'root', privateKey: admin.privateKey, readyTimeoutMs: 5000, commandTimeoutMs: 10_000, ...o });
    shells.push(s);
    return s;
  };

  before(async () => {
    removeUsers();
    dir = makeTestDir('fleetmon-test-prov-shell');
    admin = generateKey(join(dir, 'admin_key'));
    for (const u of [SUDO_USER, NOPW_USER]) {
      assert.equal(sh('useradd', ['--create-home', '--shell', '/bin/sh', u]).status, 0);
      assert.equal(sh('chpasswd', [], `${u}:${PASSWORD}\n`).status, 0);
    }
    writeFileSync(SUDOERS, `${SUDO_USER} ALL=(ALL:ALL) ALL\n${NOPW_USER} ALL=(ALL:ALL) NOPASSWD: ALL\n`, { mode: 0o440 });
    sshd = await startSshd({ address: ADDRESS, dir, rootAuthorizedKeys: admin.publicKey, allowUsers: ['root', SUDO_USER, NOPW_USER], passwordAuthentication: true });
  });

  after(async () => {
    for (const s of shells) s.close();
    await sshd?.stop();
    removeUsers();
    removeDir(dir);
  });

  const nasty = ['', ' ', "it's", '"dq"', '$(touch /tmp/fleetmon-test-prov-q)', '`id`', 'a;b|c&d', '*', '~', '\\n', 'line\nbreak', 'tab\there', '日本語 🙂', '-n', '--', '$HOME', "'", "''"];

  test('argv arrives exactly, as root through bash, and through sudo and dash', async () => {
    const root = await connect();
    assert.equal(root.privilegeMode, 'root');
    assert.equal(root.hostKey.fingerprint, sshd.hostKeyFingerprint);
    assert.equal(root.hostKey.type, 'ssh-ed25519');
    const r = await root.exec(['printf', '%s\\0', ...nasty]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.split('\0').slice(0, -1), nasty);
    const viaSudo = await connect({ username: NOPW_USER, privateKey: undefined, password: PASSWORD });
    assert.equal(viaSudo.privilegeMode, 'sudo-nopasswd');
    const r2 = await viaSudo.exec(['printf', '%s\\0', ...nasty]);
    assert.deepEqual(r2.stdout.split('\0').slice(0, -1), nasty);
    assert.equal((await viaSudo.exec(['id', '-u'])).stdout.trim(), '0');
    assert.equal((await viaSudo.exec(['id', '-un'], { root: false })).stdout.trim(), NOPW_USER);
    assert.equal(existsSync('/tmp/fleetmon-test-prov-q'), false);
  });

  test('sudo with a password: asked once, never leaked into the command input; uploads work', async () => {
    let asked = 0;
    const s = await connect({
      username: SUDO_USER,
      privateKey: undefined,
      password: PASSWORD,
      sudoPassword: async () => {
        asked++;
        return PASSWORD;
      },
    });
    assert.equal(s.privilegeMode, 'none');
    assert.equal((await s.exec(['id', '-u'])).stdout.trim(), '0');
    assert.equal(s.privilegeMode, 'sudo-password');
    // The command's stdin is exactly what was given: the password line went to sudo.
    const cat = await s.exec(['cat'], { stdin: 'payload\n' });
    assert.equal(cat.stdout, 'payload\n');
    const target = join(dir, 'uploaded.txt');
    await s.upload(target, Readable.from([Buffer.from('streamed '), Buffer.from('content\n')]), { mode: 0o640, owner: 'root', group: NOPW_USER });
    assert.equal(readFileSync(target, 'utf8'), 'streamed content\n');
    const st = statSync(target);
    assert.equal(st.mode & 0o777, 0o640);
    assert.equal(st.uid, 0);
    assert.equal((await s.readFile(target))?.toString(), 'streamed content\n');
    assert.equal(await s.readFile(join(dir, 'missing')), null);
    assert.equal(asked, 1);
    // No temporary files left beside it.
    assert.deepEqual(sh('sh', ['-c', `ls -A ${dir} | grep fleetmon- || true`]).stdout, '');
  });

  test('a wrong sudo password, or no way to become root, is a clear error', async () => {
    const wrong = await connect({ username: SUDO_USER, privateKey: undefined, password: PASSWORD, sudoPassword: 'nope' });
    await expectCode(wrong.exec(['true']), 'SUDO_FAILED');
    const none = await connect({ username: SUDO_USER, privateKey: undefined, password: PASSWORD });
    const err = await expectCode(none.exec(['true']), 'NOT_ROOT');
    assert.equal(err.exit, 9);
    assert.equal((await none.exec(['true'], { root: false })).code, 0);
  });

  test('host key: a pin that matches connects; another is refused before login', async () => {
    await connect({ hostKeyPin: sshd.hostKeyFingerprint, hostKeyAlgorithms: ['ssh-ed25519'] });
    const err = await expectCode(connect({ hostKeyPin: 'SHA256:' + 'x'.repeat(43) }), 'HOST_KEY_MISMATCH');
    assert.ok(err.message.includes(sshd.hostKeyFingerprint));
    // Restricting the algorithm to one the server lacks fails the handshake instead of accepting another key.
    await expectCode(connect({ hostKeyAlgorithms: ['ecdsa-sha2-nistp256'] }), 'SSH_CONNECT_FAILED');
  });

  test('login failures, deadlines and output limits', async () => {
    await expectCode(connect({ username: SUDO_USER, privateKey: undefined, password: 'wrong' }), 'SSH_AUTH_FAILED');
    await expectCode(connect({ port: 2 }), 'SSH_CONNECT_FAILED');
    const s = await connect();
    await expectCode(s.exec(['head', '-c', '70000', '/dev/zero'], { maxOutputBytes: 65536 }), 'SSH_OUTPUT_TOO_LARGE');
    const slow = await connect();
    const started = Date.now();
    await expectCode(slow.exec(['sleep', '30'], { timeoutMs: 500 }), 'SSH_COMMAND_TIMEOUT');
    assert.ok(Date.now() - started < 5000);
    await expectCode(slow.exec(['true']), 'SSH_CLOSED');
    const failed = await s.exec(['sh', '-c', 'echo out; echo err >&2; exit 7']);
    assert.deepEqual(failed, { stdout: 'out\n', stderr: 'err\n', code: 7 });
    await expectCode(s.check(['false']), 'REMOTE_COMMAND_FAILED');
  });
});
