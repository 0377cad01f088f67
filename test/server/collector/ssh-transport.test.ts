/**
 * The collector's SSH transport over the shared SSH layer, against an in-process SSH server (no sshd): a changed
 * pinned key is the HostKeyMismatchError the poller turns into the critical host_key_changed alert; unpinned keys
 * go to the trust-on-first-use callback; the one-off command path (session kills) returns exec results.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { FleetmonError } from '../../../src/core/errors.js';
import { shQuote } from '../../../src/core/shell-quote.js';
import { HostKeyMismatchError, SshTransport, type SshTarget } from '../../../src/server/collector/transport.js';
import { tempDir } from '../../helpers/common.js';
import { keygen, startSsh2Server, type KeyFiles, type TestSsh2Server } from '../../helpers/ssh2-server.js';

const dir = tempDir('fleetmon-test-transport-');
let hostKey: KeyFiles;
let otherKey: KeyFiles;
let server: TestSsh2Server;
let keyPath: string;

before(async () => {
  hostKey = keygen(dir.path, 'host');
  otherKey = keygen(dir.path, 'other');
  const userKey = keygen(dir.path, 'user');
  keyPath = join(dir.path, 'user');
  writeFileSync(keyPath, userKey.privateKey, { mode: 0o600 });
  server = await startSsh2Server({ hostKey, userKey, password: 'unused' });
});
after(async () => {
  await server?.close();
  dir.remove();
});

const target = (o: Partial<SshTarget> = {}): SshTarget => ({
  host: 'alpha',
  address: '127.0.0.1',
  port: server.port,
  user: 'fleetmon',
  keyPath,
  timeoutMs: 3000,
  gate: false,
  hostKey: { pinned: hostKey.fingerprint, knownHosts: null, onUnpinned: () => false },
  ...o,
});

test('a pinned key connects; one-off commands come back as exec results', async () => {
  const t = new SshTransport(target(), 'true');
  try {
    assert.deepEqual(await t.run(['echo', "it's"], 5000), { stdout: `ran: echo ${shQuote("it's")}\n`, stderr: '', code: 0 });
    assert.equal((await t.run(['exit', '3'], 5000)).code, 3);
  } finally {
    t.close();
  }
});

test('a changed pinned key is a HostKeyMismatchError naming both keys', async () => {
  const t = new SshTransport(target({ hostKey: { pinned: otherKey.fingerprint, knownHosts: null, onUnpinned: () => true } }), 'true');
  const err = await t.run(['true'], 5000).then(
    () => assert.fail('connected'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof HostKeyMismatchError, String(err));
  assert.equal(err.code, 'HOST_KEY_CHANGED');
  assert.equal(err.exit, 6);
  assert.equal(err.host, 'alpha');
  assert.equal(err.expected, otherKey.fingerprint);
  assert.equal(err.presented, hostKey.fingerprint);
  assert.equal(err.message, `host key of alpha changed: expected ${otherKey.fingerprint}, got ${hostKey.fingerprint}; refusing to connect`);
});

test('nothing pinned: the first-use callback gets fingerprint and type; a refusal is SSH_CONNECT', async () => {
  const seen: string[][] = [];
  const accepting = new SshTransport(target({ hostKey: { pinned: null, knownHosts: null, onUnpinned: (fp, type) => (seen.push([fp, type]), true) } }), 'true');
  try {
    assert.equal((await accepting.run(['true'], 5000)).code, 0);
  } finally {
    accepting.close();
  }
  assert.deepEqual(seen, [[hostKey.fingerprint, 'ssh-ed25519']]);
  const refusing = new SshTransport(target({ hostKey: { pinned: null, knownHosts: null, onUnpinned: () => false } }), 'true');
  const err = await refusing.run(['true'], 5000).then(() => assert.fail('connected'), (e: unknown) => e);
  assert.ok(err instanceof FleetmonError && !(err instanceof HostKeyMismatchError), String(err));
  assert.equal(err.code, 'SSH_CONNECT');
  assert.match(err.message, new RegExp(`^ssh to fleetmon@127\\.0\\.0\\.1:${server.port}: `));
});

test('a host that never answers fails within the deadline', async () => {
  const sockets: Socket[] = [];
  const silent = createServer((s) => sockets.push(s));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const port = (silent.address() as AddressInfo).port;
  try {
    const t = new SshTransport(target({ port, timeoutMs: 300 }), 'true');
    const started = Date.now();
    const err = await t.run(['true'], 5000).then(() => assert.fail('connected'), (e: unknown) => e);
    assert.ok(err instanceof FleetmonError, String(err));
    assert.ok(['SSH_CONNECT', 'SSH_TIMEOUT'].includes(err.code), err.message);
    assert.ok(Date.now() - started < 2000);
  } finally {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => silent.close(resolve));
  }
});
