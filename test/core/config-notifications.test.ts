/** hosts.yml `notifications:`: the channels' schema, each problem in words with file:line:col, secrets never echoed. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { durationMs, parseConfigText } from '../../src/core/config.js';
import { FleetmonError } from '../../src/core/errors.js';

function problems(text: string): string {
  try {
    parseConfigText(text, 'hosts.yml');
  } catch (err) {
    assert.ok(err instanceof FleetmonError);
    return err.message;
  }
  assert.fail('expected the config to be rejected');
}

test('a channel of each type with its rules parses, with defaults filled in', () => {
  const config = parseConfigText(
    `notifications:
  channels:
    - {name: hook, type: webhook, url: "https://hooks.example.org/x", secret_file: /etc/fleetmon/hook, for: 5m, repeat_every: 3600}
    - {name: phone, type: ntfy, url_env: NTFY_URL, token_file: /etc/fleetmon/ntfy, min_severity: critical, hosts: ["gpu*"]}
    - {name: chat, type: slack, url_file: /etc/fleetmon/slack, types: [host_offline, gpu_temp_critical]}
    - {name: mail, type: email, smtp: {host: smtp.example.org, user: me, password_env: SMTP_PW}, from: f@example.org, to: [a@example.org],
       quiet_hours: {from: "22:00", to: "07:00", tz: Europe/Berlin}}
    - {name: am, type: alertmanager, url: "http://127.0.0.1:9093"}
`,
    'hosts.yml',
  );
  const [hook, phone, chat, mail, am] = config.notifications.channels;
  assert.equal(hook!.for, '5m');
  assert.equal(durationMs(hook!.for), 300_000);
  assert.equal(durationMs(hook!.repeat_every), 3600_000);
  assert.deepEqual(hook!.events, ['new', 'reminder', 'resolved', 'acknowledged']);
  assert.equal(phone!.min_severity, 'critical');
  assert.deepEqual(chat!.types, ['host_offline', 'gpu_temp_critical']);
  assert.equal(mail!.smtp!.port, 587);
  assert.equal(mail!.smtp!.security, 'starttls');
  assert.equal(mail!.quiet_hours!.tz, 'Europe/Berlin');
  assert.equal(am!.repeat_every, null);
  assert.equal(config.notifications.retry_initial_seconds, 10);
  assert.deepEqual(parseConfigText('hosts: []\n', 'h.yml').notifications.channels, []);
});

test('every channel problem at once, each with file:line:col, the channel and the fix; the URL is not echoed', () => {
  const message = problems(`notifications:
  channels:
    - {name: hook, type: webhok, url: "ftp://user:hunter2@example.org"}
    - {name: hook, type: ntfy, url: "https://ntfy.sh/x", url_env: X, for: 5x}
    - name: m
      type: email
      min_severity: high
      quiet_hours: {from: "25:00", to: "07:00", tz: Mars/Base}
    - {name: s, type: slack, secret_file: /x}
`);
  const lines = message.split('\n').map((l) => l.trim());
  const expect = [
    /^hosts\.yml:3:26: notifications\.channels\[0\] \(hook\)\.type must be 'webhook', 'ntfy', 'slack', 'email' or 'alertmanager' \(got "webhok"\); fix: write e\.g\. `type: webhook`$/,
    /^hosts\.yml:3:39: notifications\.channels\[0\] \(hook\)\.url must be an http:\/\/ or https:\/\/ URL \(got 30 characters\)/,
    /^hosts\.yml:4:14: notifications\.channels\[1\] \(hook\)\.name: duplicate channel name 'hook'.*fix: give each channel its own name$/,
    /^hosts\.yml:4:58: notifications\.channels\[1\] \(hook\)\.url_env: an? ntfy channel needs exactly one of url, url_file or url_env \(got url and url_env\)/,
    /^hosts\.yml:4:75: notifications\.channels\[1\] \(hook\)\.for must be a duration such as 30s, 5m, 2h or 1d \(got "5x"\); fix: write e\.g\. `for: 5m`$/,
    /^hosts\.yml:5:7: notifications\.channels\[2\] \(m\)\.smtp is required for an email channel/,
    /^hosts\.yml:7:21: notifications\.channels\[2\] \(m\)\.min_severity must be 'info', 'warning' or 'critical' \(got "high"\)/,
    /^hosts\.yml:8:27: notifications\.channels\[2\] \(m\)\.quiet_hours\.from must be a time of day as HH:MM/,
    /^hosts\.yml:8:53: notifications\.channels\[2\] \(m\)\.quiet_hours\.tz must be an IANA time zone \(got "Mars\/Base"\)/,
    /^hosts\.yml:9:30: notifications\.channels\[3\] \(s\)\.secret_file signs webhook bodies only; fix: remove it/,
  ];
  for (const re of expect) assert.ok(lines.some((l) => re.test(l)), `no line matches ${re}:\n${message}`);
  assert.doesNotMatch(message, /hunter2/);
});

test('unknown channel keys are named with a suggestion', () => {
  const message = problems('notifications:\n  channels:\n    - {name: a, type: webhook, url: "http://x/", secret: abc}\n');
  assert.match(message, /^hosts\.yml:3:50: unknown key 'notifications\.channels\[0\] \(a\)\.secret'; expected one of: .*secret_file.*; fix: remove it$/);
});
