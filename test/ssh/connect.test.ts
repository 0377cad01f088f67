/**
 * The one connection function against an in-process SSH server (no sshd, no root): every trust rule (pin,
 * known_hosts, trust on first use, accept-any), the coded failures (host key, login, refused port, handshake and
 * hard deadlines), and the ssh2 options it builds (keepalive on, deadlines, restricted host key types).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { FleetmonError } from '../../src/core/errors.js';
import { connectSsh, hostKeyVerifier, sshConnectConfig, type SshConnectOptions } from '../../src/ssh/connect.js';
import { knownHostsName, lookupKnownHost } from '../../src/ssh/known-hosts.js';
import type { HostKeyInfo } from '../../src/ssh/fingerprint.js';
import { tempDir } from '../helpers/common.js';
import { keygen, startSsh2Server, type KeyFiles, type TestSsh2Server } from '../helpers/ssh2-server.js';

const dir = tempDir('fleetmon-test-connect-');
const PASSWORD = 'pw $(x) "y"';
let hostKey: KeyFiles;
let otherKey: KeyFiles;
let userKey: KeyFiles;
let server: TestSsh2Server;

before(async () => {
  hostKey = keygen(dir.path, 'host');
  otherKey = keygen(dir.path, 'other');
  userKey = keygen(dir.path, 'user');
  server = await startSsh2Server({ hostKey, userKey, password: PASSWORD });
});
after(async () => {
  await server?.close();
  dir.remove();
});

async function failure(p: Promise<unknown>, code: string): Promise<FleetmonError> {
  try {
    const c = (await p) as { client: { end(): void } };
    c.client.end();
  } catch (err) {
    assert.ok(err instanceof FleetmonError, String(err));
    assert.equal(err.code, code, err.message);
    return err;
  }
  assert.fail(`expected ${code}`);
}

describe('connectSsh', () => {
  const base = (o: Partial<SshConnectOptions> = {}): SshConnectOptions => ({
    host: '127.0.0.1',
    port: server.port,
    username: 'fm',
    privateKey: userKey.privateKey,
    readyTimeoutMs: 5000,
    hostKey: { kind: 'pin', fingerprint: hostKey.fingerprint },
    ...o,
  });
  const ok = async (o: Partial<SshConnectOptions> = {}) => {
    const c = await connectSsh(base(o));
    c.client.end();
    return c;
  };

  test('a matching pin connects, and the presented key is the one ssh-keygen -lf names', async () => {
    const c = await ok({ hostKeyAlgorithms: ['ssh-ed25519'] });
    assert.deepEqual(c.hostKey, { fingerprint: hostKey.fingerprint, type: 'ssh-ed25519' });
  });

  test('another pinned key is refused before login, naming both keys', async () => {
    const err = await failure(connectSsh(base({ hostKey: { kind: 'pin', fingerprint: otherKey.fingerprint } })), 'HOST_KEY_MISMATCH');
    assert.equal(err.exit, 6);
    assert.equal(err.message, `fm@127.0.0.1:${server.port}: host key ssh-ed25519 ${hostKey.fingerprint} does not match the pinned ${otherKey.fingerprint}; not connecting`);
  });

  test('known_hosts: listed connects; other key, revoked, unlisted are refused', async () => {
    const name = knownHostsName('127.0.0.1', server.port);
    await ok({ hostKey: { kind: 'known-hosts', text: `# comment\nelsewhere ${otherKey.publicLine}\n${name} ${hostKey.publicLine}\n` } });
    const changed = await failure(connectSsh(base({ hostKey: { kind: 'known-hosts', text: `${name} ${otherKey.publicLine}\n` } })), 'HOST_KEY_MISMATCH');
    assert.ok(changed.message.includes(otherKey.fingerprint) && changed.message.includes(hostKey.fingerprint), changed.message);
    await failure(connectSsh(base({ hostKey: { kind: 'known-hosts', text: `${name} ${hostKey.publicLine}\n@revoked * ${hostKey.publicLine}\n` } })), 'HOST_KEY_MISMATCH');
    await failure(connectSsh(base({ hostKey: { kind: 'known-hosts', text: `127.0.0.1 ${hostKey.publicLine}\n` } })), 'HOST_KEY_UNKNOWN');
  });

  test('trust on first use: the callback sees the key and decides', async () => {
    const seen: HostKeyInfo[] = [];
    await ok({ hostKey: { kind: 'tofu', accept: (k) => (seen.push(k), true) } });
    assert.deepEqual(seen, [{ fingerprint: hostKey.fingerprint, type: 'ssh-ed25519' }]);
    await failure(connectSsh(base({ hostKey: { kind: 'tofu', accept: () => false } })), 'HOST_KEY_UNKNOWN');
    const c = await ok({ hostKey: { kind: 'accept-any' } });
    assert.equal(c.hostKey.fingerprint, hostKey.fingerprint);
  });

  test('callers word failures themselves when they need to', async () => {
    const err = await failure(
      connectSsh(
        base({
          hostKey: { kind: 'pin', fingerprint: otherKey.fingerprint },
          describeFailure: (f) => new FleetmonError('MINE', f.kind === 'host-key' ? `${f.refusal.reason} ${f.refusal.expected[0]} ${f.refusal.presented.fingerprint}` : f.kind),
        }),
      ),
      'MINE',
    );
    assert.equal(err.message, `mismatch ${otherKey.fingerprint} ${hostKey.fingerprint}`);
  });

  test('password and keyboard-interactive login; a wrong password or key is SSH_AUTH_FAILED', async () => {
    await ok({ privateKey: undefined, password: PASSWORD });
    const err = await failure(connectSsh(base({ privateKey: undefined, password: 'wrong' })), 'SSH_AUTH_FAILED');
    assert.equal(err.exit, 9);
    await failure(connectSsh(base({ privateKey: otherKey.privateKey })), 'SSH_AUTH_FAILED');
  });

  test('the connected client runs commands and survives a later socket error', async () => {
    const { client } = await connectSsh(base());
    const out = await new Promise<string>((resolve, reject) =>
      client.exec('hello', (e, ch) => {
        if (e) return reject(e);
        let s = '';
        ch.on('data', (d: Buffer) => (s += d.toString()));
        ch.on('close', () => resolve(s));
      }),
    );
    assert.equal(out, 'ran: hello\n');
    // Nobody else listens for 'error': it must not become an uncaught exception.
    client.emit('error', new Error('reset'));
    client.end();
  });

  describe('nothing answering', () => {
    let silent: Server;
    let silentPort: number;
    const sockets: Socket[] = [];
    before(async () => {
      silent = createServer((s) => sockets.push(s)); // accepts and never says SSH-2.0
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
      silentPort = (silent.address() as AddressInfo).port;
    });
    after(async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => silent.close(resolve));
    });

    test('a refused port is SSH_CONNECT_FAILED with a hint', async () => {
      const closed = createServer();
      await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
      const port = (closed.address() as AddressInfo).port;
      await new Promise((resolve) => closed.close(resolve));
      const err = await failure(connectSsh(base({ port })), 'SSH_CONNECT_FAILED');
      assert.equal(err.exit, 6);
      assert.deepEqual(err.suggestions, ['nothing listens on that port: is sshd running?']);
    });

    test('no handshake within readyTimeout, or within the hard deadline, is SSH_TIMEOUT', async () => {
      let started = Date.now();
      const err = await failure(connectSsh(base({ port: silentPort, readyTimeoutMs: 300 })), 'SSH_TIMEOUT');
      assert.equal(err.exit, 7);
      assert.ok(Date.now() - started < 3000);
      started = Date.now();
      await failure(connectSsh(base({ port: silentPort, readyTimeoutMs: 60_000, deadlineMs: 300 })), 'SSH_TIMEOUT');
      assert.ok(Date.now() - started < 3000);
    });
  });
});

describe('sshConnectConfig', () => {
  const verify = () => true;
  test('keepalive on, deadlines and the defaults', () => {
    const c = sshConnectConfig({ host: 'h', username: 'u', hostKey: { kind: 'accept-any' } }, verify);
    assert.deepEqual(c, { host: 'h', port: 22, username: 'u', readyTimeout: 15_000, keepaliveInterval: 10_000, keepaliveCountMax: 3, tryKeyboard: false, hostVerifier: verify });
  });
  test('auth and restricted host key types are passed only when given', () => {
    const c = sshConnectConfig(
      { host: 'h', port: 2222, username: 'u', hostKey: { kind: 'accept-any' }, privateKey: 'K', passphrase: 'P', agent: '/a', password: 'pw', hostKeyAlgorithms: ['ssh-ed25519'], readyTimeoutMs: 3000, keepaliveIntervalMs: 1000, keepaliveCountMax: 5 },
      verify,
    );
    assert.deepEqual(c, {
      host: 'h', port: 2222, username: 'u', readyTimeout: 3000, keepaliveInterval: 1000, keepaliveCountMax: 5, tryKeyboard: true, hostVerifier: verify,
      algorithms: { serverHostKey: ['ssh-ed25519'] }, privateKey: 'K', passphrase: 'P', agent: '/a', password: 'pw',
    });
    assert.equal('agent' in sshConnectConfig({ host: 'h', username: 'u', hostKey: { kind: 'accept-any' }, agent: '' }, verify), false);
  });
});

describe('host key rules (pure)', () => {
  test('the verifier records what was presented and why it was refused', () => {
    const v = hostKeyVerifier({ kind: 'pin', fingerprint: otherKey.fingerprint }, { host: 'h', port: 22 });
    assert.equal(v.verify(hostKey.blob), false);
    assert.deepEqual(v.refusal(), { trust: 'pin', reason: 'mismatch', presented: { fingerprint: hostKey.fingerprint, type: 'ssh-ed25519' }, expected: [otherKey.fingerprint] });
    assert.equal(v.verify(otherKey.blob), true);
    assert.equal(v.refusal(), undefined);
    assert.equal(v.presented()?.fingerprint, otherKey.fingerprint);
  });

  test('known_hosts patterns: ports, wildcards, negation, hashed names, markers', () => {
    const line = hostKey.publicLine.split(' ').slice(0, 2).join(' ');
    const look = (text: string, host: string, port = 22) => lookupKnownHost(text, host, port, hostKey.blob).verdict;
    assert.equal(knownHostsName('h', 22), 'h');
    assert.equal(knownHostsName('h', 2222), '[h]:2222');
    assert.equal(look(`a,b,h ${line}`, 'h'), 'known');
    assert.equal(look(`H ${line}`, 'h'), 'known');
    assert.equal(look(`h ${line}`, 'h', 2222), 'unknown');
    assert.equal(look(`[h]:2222 ${line}`, 'h', 2222), 'known');
    assert.equal(look(`10.0.0.* ${line}`, '10.0.0.7'), 'known');
    assert.equal(look(`10.0.0.? ${line}`, '10.0.0.17'), 'unknown');
    assert.equal(look(`10.0.0.*,!10.0.0.7 ${line}`, '10.0.0.7'), 'unknown');
    assert.equal(look(`h.example ${line}`, 'hxexample'), 'unknown');
    const salt = randomBytes(20);
    const hashed = `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update('[h]:2222').digest('base64')}`;
    assert.equal(look(`${hashed} ${line}`, 'h', 2222), 'known');
    assert.equal(look(`${hashed} ${line}`, 'h'), 'unknown');
    assert.equal(look(`@cert-authority * ${line}`, 'h'), 'unknown');
    assert.equal(look(`h ${line}\n@revoked * ${line}`, 'h'), 'revoked');
    assert.deepEqual(lookupKnownHost(`h ${otherKey.publicLine}`, 'h', 22, hostKey.blob), { verdict: 'changed', expected: [otherKey.fingerprint] });
  });
});
