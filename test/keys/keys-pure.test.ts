/** The pure parts of keys deploy: key parsing, the managed block, pins in hosts.yml, targets, the gate protocol. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  applyManagedBlock,
  BLOCK_BEGIN,
  BLOCK_END,
  managedKeyLine,
  parsePublicKey,
  removeManagedBlock,
  restrictedKeyLine,
} from '../../src/keys/authorized-keys.js';
import { findPin, recordPins } from '../../src/keys/config-pins.js';
import { adminConnectOptions, parseTarget } from '../../src/keys/target.js';
import { fetchServerKey, loadKeyFile, publicKeyUrl } from '../../src/keys/key-source.js';
import { parseConfigText } from '../../src/core/config.js';
import { FleetmonError } from '../../src/core/errors.js';
import { base64url, gateKillCommand } from '../../src/protocol/gate-protocol.js';

const dir = mkdtempSync(join(tmpdir(), 'fleetmon-keys-pure-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'fleetmon@ct1', '-f', join(dir, 'k')]);
const pubText = readFileSync(join(dir, 'k.pub'), 'utf8');
const key = parsePublicKey(pubText);

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof FleetmonError, String(err));
    return err.code;
  }
  return 'no error';
}

test('parsePublicKey reads a .pub file and computes the ssh-keygen fingerprint', () => {
  assert.equal(key.type, 'ssh-ed25519');
  assert.equal(key.comment, 'fleetmon@ct1');
  const fp = spawnSync('ssh-keygen', ['-lf', join(dir, 'k.pub')], { encoding: 'utf8' }).stdout.split(' ')[1];
  assert.equal(key.fingerprint, fp);
  assert.equal(code(() => parsePublicKey('')), 'BAD_PUBLIC_KEY');
  assert.equal(code(() => parsePublicKey(`${pubText}\n${pubText}`)), 'BAD_PUBLIC_KEY');
  assert.equal(code(() => parsePublicKey('ssh-dss AAAA x')), 'BAD_PUBLIC_KEY');
  // A blob of another type under an ed25519 label.
  const rsaLabel = pubText.replace('ssh-ed25519', 'ssh-rsa');
  assert.equal(code(() => parsePublicKey(rsaLabel)), 'BAD_PUBLIC_KEY');
  assert.equal(code(() => parsePublicKey('command="sh" ' + pubText)), 'BAD_PUBLIC_KEY');
});

test('the key line is restricted to the gate; unsafe comment, libDir or from are refused or replaced', () => {
  const line = restrictedKeyLine(key, { libDir: '/usr/local/lib/fleetmon', defaultComment: 'fleetmon@server' });
  assert.equal(line, `restrict,command="/usr/local/lib/fleetmon/gate" ssh-ed25519 ${key.data} fleetmon@ct1`);
  const odd = restrictedKeyLine({ ...key, comment: 'a" b' }, { libDir: '/x/', from: '10.0.0.0/8,192.168.1.5', defaultComment: 'fleetmon@server' });
  assert.equal(odd, `restrict,command="/x/gate",from="10.0.0.0/8,192.168.1.5" ssh-ed25519 ${key.data} fleetmon@server`);
  assert.equal(code(() => restrictedKeyLine(key, { libDir: '/x" y', defaultComment: 'c' })), 'BAD_LIB_DIR');
  assert.equal(code(() => restrictedKeyLine(key, { libDir: '/x', from: '1.2.3.4" ,command="sh', defaultComment: 'c' })), 'BAD_FROM');
});

test('the managed block is added once, replaced in place, keeps other keys, drops other copies of the key', () => {
  const line = restrictedKeyLine(key, { libDir: '/l', defaultComment: 'c' });
  const other = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOtherOtherOtherOtherOtherOtherOtherOther alice@laptop';
  const first = applyManagedBlock(`${other}\n${pubText}`, line, key);
  assert.equal(first.text, `${other}\n${BLOCK_BEGIN}\n${line}\n${BLOCK_END}\n`);
  assert.equal(first.removedDuplicates, 1);
  assert.equal(first.otherKeys, 1);
  const again = applyManagedBlock(first.text, line, key);
  assert.equal(again.changed, false);
  assert.equal(again.text, first.text);
  // A new key replaces the block where it is.
  const line2 = line.replace('/l/gate', '/m/gate');
  const replaced = applyManagedBlock(`# top\n${first.text}# bottom\n`, line2, key);
  assert.equal(replaced.text, `# top\n${other}\n${BLOCK_BEGIN}\n${line2}\n${BLOCK_END}\n# bottom\n`);
  assert.equal(managedKeyLine(replaced.text), line2);
  // Missing trailing newline, empty file.
  assert.equal(applyManagedBlock('', line, key).text, `${BLOCK_BEGIN}\n${line}\n${BLOCK_END}\n`);
  const removed = removeManagedBlock(replaced.text);
  assert.equal(removed.removed, true);
  assert.equal(removed.text, `# top\n${other}\n# bottom\n`);
  assert.deepEqual(removeManagedBlock(removed.text), { text: removed.text, removed: false });
  assert.deepEqual(removeManagedBlock(`${BLOCK_BEGIN}\n${line}\n${BLOCK_END}\n`), { text: '', removed: true });
});

const seed = `# fleet
ssh: {user: fleetmon, port: 22}
hosts:
  - {name: pve1, address: 192.168.1.10, has_gpu: true} # the big one
  - name: gpu2
    address: 192.168.1.11
    port: 2222
`;
const fpA = 'SHA256:' + 'A'.repeat(43);
const fpB = 'SHA256:' + 'B'.repeat(43);

test('pins update matching entries in place, add new ones in the same style, keep comments', () => {
  const { text, changes } = recordPins(
    seed,
    [
      { address: '192.168.1.10', port: 22, fingerprint: fpA },
      { address: '192.168.1.11', port: 2222, fingerprint: fpB },
      { address: '192.168.1.12', port: 22, fingerprint: fpA },
      { address: 'pve1', port: 2200, fingerprint: fpB },
    ],
  );
  assert.deepEqual(changes.map((c) => [c.name, c.action]), [
    ['pve1', 'updated'],
    ['gpu2', 'updated'],
    ['192.168.1.12', 'added'],
    ['pve1-2', 'added'],
  ]);
  assert.match(text, /^# fleet$/m);
  assert.match(text, /# the big one/);
  assert.match(text, /- \{ name: pve1, address: 192\.168\.1\.10, has_gpu: true, host_key: "?SHA256:A+"?, gate: true \}/);
  const c = parseConfigText(text, 'hosts.yml');
  assert.equal(c.hosts.find((h) => h.name === 'gpu2')?.host_key, fpB);
  assert.equal(c.hosts.find((h) => h.name === '192.168.1.12')?.gate, true);
  assert.equal(c.hosts.find((h) => h.name === 'pve1-2')?.port, 2200);
  assert.equal(findPin(text, '192.168.1.11', 2222), fpB);
  assert.equal(findPin(text, '192.168.1.11', 22), undefined);
  // Recording the same pins again changes nothing, byte for byte.
  const again = recordPins(text, [{ address: '192.168.1.10', port: 22, fingerprint: fpA }]);
  assert.equal(again.text, text);
  assert.deepEqual(again.changes.map((x) => x.action), ['unchanged']);
});

test('pins go into an empty file or one without hosts', () => {
  for (const start of ['', 'polling_interval_seconds: 10\n', 'hosts:\n']) {
    const { text } = recordPins(start, [{ address: 'h1.example', port: 22, fingerprint: fpA }]);
    const c = parseConfigText(text, 'x.yml');
    assert.deepEqual(c.hosts.map((h) => [h.name, h.address, h.host_key, h.gate]), [['h1.example', 'h1.example', fpA, true]]);
  }
});

test('targets: host, user@host, host:port, [v6]:port; anything else is refused', () => {
  assert.deepEqual(parseTarget('gpu1', 22), { address: 'gpu1', port: 22 });
  assert.deepEqual(parseTarget('10.0.0.1:2222', 22), { address: '10.0.0.1', port: 2222 });
  assert.deepEqual(parseTarget('[fd00::1]:2200', 22), { address: 'fd00::1', port: 2200 });
  assert.deepEqual(parseTarget('fd00::1', 22), { address: 'fd00::1', port: 22 });
  // The README's `root@build:2222` (ssh's own USER@HOST form) was refused.
  assert.deepEqual(parseTarget('root@build:2222', 22), { address: 'build', port: 2222, user: 'root' });
  assert.deepEqual(parseTarget('alice@[fd00::1]', 22), { address: 'fd00::1', port: 22, user: 'alice' });
  for (const bad of ['-oProxyCommand=x', 'a b', 'h:0', 'h:99999', '', '@host', '-o@host', 'a b@host', 'user@', 'x@y@-oProxy']) {
    assert.equal(code(() => parseTarget(bad, 22)), 'BAD_HOST', bad);
  }
  // The account in the argument is the one logged in as; --admin-user stays the default for the others.
  assert.equal(adminConnectOptions(parseTarget('root@build:2222', 22), { auth: { username: 'alice' } }).username, 'root');
  assert.equal(adminConnectOptions(parseTarget('build', 22), { auth: { username: 'alice' } }).username, 'alice');
});

test('gate kill command: base64url name, digits, tmux-impossible names refused', () => {
  assert.equal(gateKillCommand('a b', 1700000000), 'fleetmon-kill v1 YSBi 1700000000');
  assert.equal(base64url('??>'), 'Pz8-');
  assert.match(gateKillCommand('$(rm -rf /)', 1), /^fleetmon-kill v1 [A-Za-z0-9_-]+ 1$/);
  for (const bad of ['', 'a:b', 'a.b', 'a\0b']) assert.equal(code(() => gateKillCommand(bad, 1)), 'BAD_SESSION_NAME');
  assert.equal(code(() => gateKillCommand('x', -1)), 'BAD_SESSION_CREATED');
  assert.equal(code(() => gateKillCommand('x', 1.5)), 'BAD_SESSION_CREATED');
  assert.equal(code(() => gateKillCommand('🙂'.repeat(400), 1)), 'BAD_SESSION_NAME');
});

test('key files: a .pub with its private key next to it, a private key alone', () => {
  const fromPub = loadKeyFile(join(dir, 'k.pub'));
  assert.equal(fromPub.publicKey.data, key.data);
  assert.ok(fromPub.privateKey, 'the private sibling was found');
  const fromPrivate = loadKeyFile(join(dir, 'k'));
  assert.equal(fromPrivate.publicKey.data, key.data);
  assert.equal(fromPrivate.publicKey.comment, 'fleetmon@ct1');
  assert.equal(code(() => loadKeyFile(join(dir, 'missing'))), 'KEY_UNREADABLE');
});

test('--from-server: URL, auth header, errors', async () => {
  assert.equal(publicKeyUrl('http://10.0.0.5:8080'), 'http://10.0.0.5:8080/api/public-key');
  assert.equal(publicKeyUrl('https://mon.example/custom/key'), 'https://mon.example/custom/key');
  assert.equal(code(() => publicKeyUrl('ftp://x')), 'BAD_URL');
  let seen: { url: string; auth: string | null } | undefined;
  const fake = (async (url: string, init: RequestInit) => {
    seen = { url, auth: new Headers(init.headers).get('authorization') };
    return new Response(pubText, { status: 200 });
  }) as unknown as typeof fetch;
  const k = await fetchServerKey('http://mon:8080/', { token: 't0k', fetchImpl: fake });
  assert.equal(k.publicKey.fingerprint, key.fingerprint);
  assert.deepEqual(seen, { url: 'http://mon:8080/api/public-key', auth: 'Bearer t0k' });
  const denied = (async () => new Response('no', { status: 401 })) as unknown as typeof fetch;
  await assert.rejects(fetchServerKey('http://mon:8080', { fetchImpl: denied }), (e) => e instanceof FleetmonError && e.code === 'SERVER_KEY_FAILED' && e.exit === 9);
});

test('keysDeploy: all_users per host must name every target, before any host is reached', async () => {
  const { keysDeploy } = await import('../../src/keys/deploy.js');
  let connected = 0;
  const err = await keysDeploy({
    targets: ['10.0.0.1', '10.0.0.2'], publicKey: key, auth: { username: 'root' }, allUsers: [true],
    connect: async () => {
      connected += 1;
      throw new Error('not reached');
    },
  }).then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof FleetmonError);
  assert.equal(err.code, 'BAD_ALL_USERS');
  assert.match(err.message, /allUsers names 1 host\(s\) for 2 target\(s\)/);
  assert.equal(connected, 0);
});
