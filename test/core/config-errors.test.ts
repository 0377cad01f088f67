/** hosts.yml errors: every problem at once, in words, with file:line:col, the key (and host) and the fix. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkTokenStrength, loadConfig, loadConfigFile, parseConfig, parseConfigText } from '../../src/core/config.js';
import { FleetmonError } from '../../src/core/errors.js';
import { resolveApiToken } from '../../src/core/api-token.js';

function configError(text: string, fileName = 'hosts.yml'): FleetmonError {
  try {
    parseConfigText(text, fileName);
  } catch (err) {
    assert.ok(err instanceof FleetmonError, `expected FleetmonError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected the config to be rejected');
}

const STRONG = 'f3a9c1d7e5b24680a1c3e5f7092b4d6f8a0c2e4f6b8d0f1e3c5a7b9d1f3e5a7c'; // openssl rand -hex 32

test('hosts written as a mapping is refused, not read as 0 hosts (flow style)', () => {
  const err = configError('hosts: {pve1: {address: x}}\n');
  assert.equal(err.code, 'CONFIG_INVALID');
  assert.match(err.message, /^hosts\.yml:1:8: hosts must be a list of hosts, not a mapping \(got a mapping with key pve1\)/);
  assert.match(err.message, /fix: write each host as a list item with its name: `- \{name: pve1, address: …\}`/);
});

test('hosts written as a mapping is refused (block style), naming every key', () => {
  const err = configError('hosts:\n  pve1:\n    address: x\n  pve2:\n    address: y\n');
  assert.match(err.message, /^hosts\.yml:2:3: hosts must be a list of hosts, not a mapping \(got a mapping with keys pve1, pve2\)/);
});

test('an empty file is accepted with every default, and comes with a warning', () => {
  const { config, warnings } = parseConfig('', 'empty.yml');
  assert.deepEqual(config.hosts, []);
  assert.equal(config.server.port, 8080);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /^empty\.yml: the file has no settings: running with every default and no hosts to monitor/);
  for (const text of ['# nothing yet\n\n', '---\n', 'null\n']) {
    assert.match(parseConfig(text, 'c.yml').warnings[0] ?? '', /^c\.yml: the file has no settings/, JSON.stringify(text));
  }
  assert.deepEqual(parseConfig('polling_interval_seconds: 5\n', 'x.yml').warnings, []);
});

test('loadConfig returns the warnings too', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fleetmon-config-'));
  try {
    const file = join(dir, 'hosts.yml');
    writeFileSync(file, '');
    const { warnings } = loadConfig(file);
    assert.match(warnings[0] ?? '', new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: the file has no settings`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('every problem is reported at once, in file order, each with line:col, the host name and the fix', () => {
  const text = [
    'polling_interval_seconds: fast', // 1
    'hosts:', // 2
    '  - {name: gpu1, address: 10.0.0.1}', // 3
    '  - {name: gpu2}', // 4
    '  - {name: gpu3, address: 10.0.0.3, port: 70000}', // 5
    'server: {tokn: x}', // 6
    '',
  ].join('\n');
  const err = configError(text);
  assert.equal(err.code, 'CONFIG_INVALID');
  const lines = err.message.split('\n');
  assert.equal(lines[0], 'hosts.yml: 4 problems:');
  assert.equal(lines.length, 5);
  assert.equal(
    lines[1],
    '  hosts.yml:1:27: polling_interval_seconds must be a number from 0.2 to 86400 (seconds) (got "fast"); fix: write e.g. `polling_interval_seconds: 30`',
  );
  assert.equal(lines[2], '  hosts.yml:4:5: hosts[1] (gpu2).address is required: add `address: <hostname or IP>`');
  assert.equal(
    lines[3],
    '  hosts.yml:5:43: hosts[2] (gpu3).port must be a whole number from 1 to 65535 (got 70000); fix: write e.g. `port: 22`',
  );
  assert.match(lines[4]!, /^ {2}hosts\.yml:6:10: unknown key 'server\.tokn'; expected one of: host, port, .*; fix: did you mean 'token'\?$/);
});

test('only unknown keys: the code stays CONFIG_UNKNOWN_KEY, and all of them are listed', () => {
  const err = configError('alerts: {gpu_temp_warnign: 70}\nhosts:\n  - {name: a, address: x, prot: 22}\n');
  assert.equal(err.code, 'CONFIG_UNKNOWN_KEY');
  const lines = err.message.split('\n');
  assert.equal(lines[0], 'hosts.yml: 2 problems:');
  assert.match(lines[1]!, /^ {2}hosts\.yml:1:10: unknown key 'alerts\.gpu_temp_warnign'; .*did you mean 'gpu_temp_warning'\?/);
  assert.match(lines[2]!, /^ {2}hosts\.yml:3:27: unknown key 'hosts\[0\] \(a\)\.prot'; .*did you mean 'port'\?/);
});

test('messages are words: a string or null, true/false/null, required with the host name, the fingerprint form', () => {
  const text = [
    'ssh: {key_path: 5}',
    'hosts:',
    '  - name: pve1',
    '    address: 10.0.0.1',
    '    has_gpu: "yes"',
    '    host_key: "sha256:abc"',
    '  - name: gpu3',
    '',
  ].join('\n');
  const err = configError(text);
  assert.doesNotMatch(err.message, /expected union value|expected required property|\^sha256/i);
  const lines = err.message.split('\n');
  assert.equal(lines[0], 'hosts.yml: 4 problems:');
  assert.match(lines[1]!, /^ {2}hosts\.yml:1:17: ssh\.key_path must be a string or null \(got 5\); fix: /);
  assert.match(lines[2]!, /^ {2}hosts\.yml:5:14: hosts\[0\] \(pve1\)\.has_gpu must be true, false or null \(got "yes"\); fix: /);
  assert.match(
    lines[3]!,
    /^ {2}hosts\.yml:6:15: hosts\[0\] \(pve1\)\.host_key must look like SHA256:<43 base64 characters> as `ssh-keygen -lf` prints \(got "sha256:abc"\); fix: .*fleetmon keys deploy/,
  );
  assert.equal(lines[4], '  hosts.yml:7:5: hosts[1] (gpu3).address is required: add `address: <hostname or IP>`');
});

test('one problem: the message is that one line, starting with file:line:col', () => {
  const err = configError('hosts:\n  - {name: a, address: x, transport: ftp}\n');
  assert.equal(
    err.message,
    "hosts.yml:2:38: hosts[0] (a).transport must be 'ssh' or 'local' (got \"ftp\"); fix: write e.g. `transport: ssh`",
  );
});

const lol = [
  'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
  'b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]',
  'c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]',
  'd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]',
  'e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]',
  'f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]',
  'g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]',
  'h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]',
  'i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]',
  '',
].join('\n');

test('a billion-laughs file is refused with a clear error, not a ReferenceError', () => {
  const started = Date.now();
  const err = configError(lol);
  assert.ok(Date.now() - started < 2000, 'refused quickly');
  assert.equal(err.code, 'CONFIG_INVALID');
  assert.match(err.message, /^hosts\.yml:2:8: YAML aliases \(\*name\) expand past the limit of 100 uses; an alias expansion bomb \("billion laughs"\) is refused/);
  assert.match(err.message, /fix: write the values out/);
});

test('a few aliases are still fine', () => {
  const c = parseConfigText('alerts: {gpu_temp_warning: &t 80, gpu_temp_critical: *t}\n', 'hosts.yml');
  assert.equal(c.alerts.gpu_temp_critical, 80);
});

test('__proto__, constructor and prototype keys are refused as unknown keys', () => {
  const proto = configError('__proto__: {polling_interval_seconds: 1}\n');
  assert.equal(proto.code, 'CONFIG_UNKNOWN_KEY');
  assert.match(proto.message, /^hosts\.yml:1:1: unknown key '__proto__'; .*fix: remove it/);
  const ctor = configError('hosts:\n  - {name: a, address: x, constructor: 1}\n');
  assert.match(ctor.message, /^hosts\.yml:2:27: unknown key 'hosts\[0\] \(a\)\.constructor'/);
  const prototype = configError('alerts: {prototype: {enabled: false}}\n');
  assert.match(prototype.message, /^hosts\.yml:1:10: unknown key 'alerts\.prototype'/);
  const inherited = configError('toString: 1\n');
  assert.match(inherited.message, /^hosts\.yml:1:1: unknown key 'toString'/);
  assert.equal(({} as Record<string, unknown>).polling_interval_seconds, undefined, 'Object.prototype untouched');
});

test('a file over 1 MiB is refused with a clear message', () => {
  const big = `# ${'x'.repeat(1024 * 1024)}\n`;
  const err = configError(big);
  assert.equal(err.code, 'CONFIG_INVALID');
  assert.match(err.message, /^hosts\.yml: the file is 1048579 bytes; fleetmon refuses config files over 1 MiB \(1048576 bytes\); fix: /);
  const dir = mkdtempSync(join(tmpdir(), 'fleetmon-config-'));
  try {
    const file = join(dir, 'big.yml');
    writeFileSync(file, big);
    assert.throws(() => loadConfigFile(file), (e: unknown) => e instanceof FleetmonError && /refuses config files over 1 MiB/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('server.token must be strong: 16 characters are no longer enough, and the token is never echoed', () => {
  const short = configError('server: {token: "abcdefghij0123456"}\n');
  assert.equal(short.code, 'CONFIG_INVALID');
  assert.match(short.message, /^hosts\.yml:1:17: server\.token is too weak: it is 17 characters long; a token needs at least 32/);
  assert.match(short.message, /fix: generate one with `openssl rand -hex 32`/);
  assert.doesNotMatch(short.message, /abcdefghij0123456/);
  const same = configError(`server: {token: "${'a'.repeat(40)}"}\n`);
  assert.match(same.message, /server\.token is too weak: it uses only 1 different character/);
  const digits = configError(`server: {token: "${'0123456789'.repeat(4)}"}\n`);
  assert.match(digits.message, /server\.token is too weak: it is only digits/);
  assert.equal(parseConfigText(`server: {token: ${STRONG}}\n`, 'h.yml').server.token, STRONG);
});

test('checkTokenStrength: the rule in one place', () => {
  assert.equal(checkTokenStrength(STRONG), undefined);
  assert.equal(checkTokenStrength('fm_dashboard-test-token-0123456789'), undefined);
  assert.match(checkTokenStrength('x'.repeat(31)) ?? '', /31 characters long; a token needs at least 32/);
  assert.match(checkTokenStrength('abcdefghijklmnopqrstuvwxyzabcdefgh') ?? '', /only lowercase letters/);
  assert.match(checkTokenStrength('abababababababababababababababababab') ?? '', /only 2 different characters; a token needs at least 10/);
});

test('FLEETMON_TOKEN is held to the same rule', () => {
  assert.throws(
    () => resolveApiToken(null, '/nonexistent', { FLEETMON_TOKEN: 'short-token-1234' }),
    (e: unknown) =>
      e instanceof FleetmonError &&
      e.code === 'CONFIG_INVALID' &&
      /^FLEETMON_TOKEN is too weak: it is 16 characters long/.test(e.message) &&
      e.suggestions.some((s) => s.includes('openssl rand -hex 32')),
  );
  assert.deepEqual(resolveApiToken(null, '/nonexistent', { FLEETMON_TOKEN: STRONG }), { token: STRONG, source: 'env', path: null });
});

test('server.tls: self-signed, a pair of files or null; anything else is refused with the forms it takes', () => {
  assert.equal(parseConfigText('server: {tls: self-signed}\n', 'a.yml').server.tls, 'self-signed');
  assert.deepEqual(parseConfigText('server: {tls: {cert_file: /c.pem, key_file: /k.pem}}\n', 'a.yml').server.tls, { cert_file: '/c.pem', key_file: '/k.pem' });
  assert.equal(parseConfigText('', 'a.yml').server.tls, null);
  const word = configError('server:\n  tls: selfsigned\n');
  assert.match(word.message, /^hosts\.yml:2:8: server\.tls must be 'self-signed' \(got "selfsigned"\); fix: write 'self-signed'/);
  const number = configError('server:\n  tls: 1\n');
  assert.match(number.message, /server\.tls .*fix: write `tls: self-signed`, or `tls: \{cert_file/);
  const half = configError('server:\n  tls: {cert_file: /c.pem}\n');
  assert.match(half.message, /server\.tls\.key_file is required/);
});

test('server.trusted_proxies: addresses and CIDRs, none by default; a name or a bad prefix is refused', () => {
  assert.deepEqual(parseConfigText('', 'a.yml').server.trusted_proxies, []);
  assert.deepEqual(parseConfigText('server: {trusted_proxies: [127.0.0.1, "::1", 10.0.0.0/8, "fd00::/8"]}\n', 'a.yml').server.trusted_proxies, [
    '127.0.0.1',
    '::1',
    '10.0.0.0/8',
    'fd00::/8',
  ]);
  const err = configError('server:\n  trusted_proxies: [proxy.lan, 10.0.0.0/33]\n');
  assert.match(err.message, /server\.trusted_proxies\[0\]: "proxy\.lan" is not an IP address or CIDR; fix:/);
  assert.match(err.message, /"10\.0\.0\.0\/33" is not an IP address or CIDR/);
});

test('server.public_names: host names and addresses, none by default; a URL or a name with a port is refused at its line:col', () => {
  assert.deepEqual(parseConfigText('', 'a.yml').server.public_names, []);
  assert.deepEqual(parseConfigText('server: {public_names: [fleetmon.example.org, monitor, 192.168.1.5, "fd00::5"]}\n', 'a.yml').server.public_names, [
    'fleetmon.example.org',
    'monitor',
    '192.168.1.5',
    'fd00::5',
  ]);
  const err = configError('server:\n  public_names: [ok.example, "https://fleetmon.example.org", "monitor:8080"]\n');
  assert.match(err.message, /hosts\.yml:2:\d+: server\.public_names\[1\]: "https:\/\/fleetmon\.example\.org" is not a host name or IP address; fix: write the bare name/);
  assert.match(err.message, /server\.public_names\[2\]: "monitor:8080" is not a host name or IP address/);
  assert.doesNotMatch(err.message, /public_names\[0\]/);
  assert.match(configError('server: {public_names: fleetmon.example.org}\n').message, /server\.public_names/);
});
