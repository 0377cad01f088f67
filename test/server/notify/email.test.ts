/**
 * Email through a real SMTP server inside the test (smtp-server, from the nodemailer project): STARTTLS with a
 * test certificate made here by openssl and trusted through the channel's ca_file, AUTH with the password from
 * its file; the message's subject, recipients, plain-text and HTML bodies as they arrive.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';
import { tempDir } from '../../helpers/common.js';
import { condition, Harness } from './helpers.js';

const dir = tempDir('fleetmon-smtp-');
interface Mail {
  from: string | undefined;
  to: string[];
  raw: string;
  secured: boolean;
  user: string | undefined;
}
const mails: Mail[] = [];
let server: SMTPServer;
let port = 0;
const cert = join(dir.path, 'cert.pem');
const key = join(dir.path, 'key.pem');
const passwordFile = join(dir.path, 'smtp-password');

before(async () => {
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { stdio: 'ignore' });
  writeFileSync(passwordFile, 'pa55-w0rd-smtp\n', { mode: 0o600 });
  server = new SMTPServer({
    secure: false,
    key: readFileSync(key),
    cert: readFileSync(cert),
    authMethods: ['PLAIN', 'LOGIN'],
    // Refuse AUTH before STARTTLS, as a real submission server does.
    allowInsecureAuth: false,
    onAuth(auth, _session, cb) {
      if (auth.username === 'fleetmon' && auth.password === 'pa55-w0rd-smtp') cb(null, { user: auth.username });
      else cb(new Error('535 bad credentials'));
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        mails.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : undefined,
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks).toString('utf8'),
          secured: session.secure,
          user: session.user as string | undefined,
        });
        cb();
      });
    },
    logger: false,
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  port = (server.server.address() as AddressInfo).port;
});

after(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  dir.remove();
});

/** Q-encoded bytes (`=C2=B0`, `_` for a space) as text. */
const qDecode = (s: string, underscore: boolean) =>
  Buffer.from((underscore ? s.replace(/_/g, ' ') : s).replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1').toString('utf8');

/** A header's value, unfolded, with its RFC 2047 encoded words decoded. */
const header = (raw: string, name: string) =>
  new RegExp(`^${name}: (.*(?:\\r?\\n[ \\t].*)*)`, 'im')
    .exec(raw)?.[1]
    ?.replace(/\r?\n[ \t]+/g, ' ')
    .replace(/\?= =\?UTF-8\?Q\?/g, '')
    .replace(/=\?UTF-8\?Q\?(.*?)\?=/g, (_m, q: string) => qDecode(q, true));

test('an alert arrives by email over STARTTLS with auth: subject, recipients, a readable text part and an HTML part', async () => {
  const h = new Harness({
    channels: [
      {
        name: 'mail',
        type: 'email',
        smtp: { host: '127.0.0.1', port, security: 'starttls', user: 'fleetmon', password_file: passwordFile, ca_file: cert },
        from: 'fleetmon@example.org',
        to: ['oncall@example.org', 'gpu-team@example.org'],
      },
    ],
  });
  try {
    const [a] = h.cycle({ raise: [condition('gpu_temp_critical', 'gpu1', { gpuIndex: 3, message: 'GPU 3 (H100) on gpu1 at 93 °C (critical at 90 °C)' })] });
    await h.run(1000);
    h.cycle({ resolve: [a!.id] });
    await h.run(1000);
    assert.equal(mails.length, 2, JSON.stringify(h.store.outbox.log()));
    const [first, second] = mails;
    assert.equal(first!.secured, true, 'the session was upgraded with STARTTLS');
    assert.equal(first!.user, 'fleetmon');
    assert.equal(first!.from, 'fleetmon@example.org');
    assert.deepEqual(first!.to, ['oncall@example.org', 'gpu-team@example.org']);
    assert.equal(header(first!.raw, 'Subject'), 'fleetmon: [CRITICAL] gpu_temp_critical on gpu1: GPU 3 (H100) on gpu1 at 93 °C (critical at 90 °C)');
    const body = qDecode(first!.raw, false);
    assert.match(body, /^New: GPU 3 \(H100\) on gpu1 at 93 °C \(critical at 90 °C\)$/m);
    assert.match(header(first!.raw, 'Content-Type')!, /multipart\/alternative/);
    assert.match(first!.raw, /Content-Type: text\/plain/);
    assert.match(first!.raw, /Content-Type: text\/html/);
    assert.match(body, /host: gpu1/);
    assert.match(body, /gpu: 3/);
    assert.match(body, new RegExp(`acknowledge: fleetmon alerts ack ${a!.id}`));
    assert.match(body, /<table/);
    assert.equal(header(first!.raw, 'X-Fleetmon-Key'), `${a!.id}|mail|new`);
    assert.match(header(second!.raw, 'Subject')!, /^fleetmon: \[CRITICAL\] gpu_temp_critical on gpu1 \(resolved\)/);
    assert.match(qDecode(second!.raw, false), /^resolved: 2026-12-01T12:00:01\.000Z$/m);
  } finally {
    await h.close();
  }
});

test('a wrong SMTP password fails for good with the server\'s answer, and the password is never shown', async () => {
  const wrong = join(dir.path, 'wrong');
  writeFileSync(wrong, 'not-the-password\n');
  const h = new Harness({
    channels: [{ name: 'mail', type: 'email', smtp: { host: '127.0.0.1', port, user: 'fleetmon', password_file: wrong, ca_file: cert }, from: 'f@example.org', to: ['t@example.org'] }],
  });
  try {
    const before = mails.length;
    h.cycle({ raise: [condition('host_offline', 'gpu9')] });
    await h.run(1000);
    assert.equal(mails.length, before);
    const [row] = h.store.outbox.log();
    assert.equal(row!.state, 'failed');
    assert.match(row!.last_error!, /^SMTP 127\.0\.0\.1:\d+: EAUTH: .*535/);
    assert.ok(!JSON.stringify(row).includes('not-the-password') && !h.logs.join('').includes('not-the-password'));
  } finally {
    await h.close();
  }
});

test('starttls is required: a server that does not offer it gets nothing', async () => {
  const plain = new SMTPServer({ disabledCommands: ['STARTTLS', 'AUTH'], authOptional: true, onData: (s, _x, cb) => { s.resume(); s.on('end', () => cb()); }, logger: false });
  await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', () => resolve()));
  const plainPort = (plain.server.address() as AddressInfo).port;
  const h = new Harness({ channels: [{ name: 'mail', type: 'email', smtp: { host: '127.0.0.1', port: plainPort }, from: 'f@example.org', to: ['t@example.org'] }] });
  try {
    h.cycle({ raise: [condition('host_offline', 'gpu9')] });
    await h.run(1000);
    const [row] = h.store.outbox.log();
    assert.notEqual(row!.state, 'delivered');
    assert.match(row!.last_error!, /STARTTLS/i);
  } finally {
    await h.close();
    await new Promise<void>((resolve) => plain.close(() => resolve()));
  }
});
