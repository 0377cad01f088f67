import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfigText, embeddedConfig, withServerOverrides } from '../../src/core/config.js';
import { FleetmonError } from '../../src/core/errors.js';

const seed = `polling_interval_seconds: 30
legacy_threshold_hours: 72
alerts: {enabled: true, session_cpu_warning: 80, session_memory_mb_warning: 2048, host_cpu_warning: 90,
         host_memory_warning: 90, gpu_temp_warning: 80, gpu_temp_critical: 90, gpu_memory_warning: 90}
ssh: {user: tmux-dash, key_path: /opt/tmux-dashboard/.ssh/id_ed25519, timeout: 10, known_hosts: null}
hosts:
  - {name: pve1, address: 192.168.1.10, has_gpu: true}
`;

function configError(text: string): FleetmonError {
  try {
    parseConfigText(text, 'hosts.yml');
  } catch (err) {
    assert.ok(err instanceof FleetmonError, `expected FleetmonError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected the config to be rejected');
}

test('accepts the seed file exactly and fills defaults', () => {
  const c = parseConfigText(seed, 'hosts.yml');
  assert.equal(c.polling_interval_seconds, 30);
  assert.equal(c.ssh.user, 'tmux-dash');
  assert.equal(c.ssh.known_hosts, null);
  assert.equal(c.hosts[0]?.has_gpu, true);
  assert.equal(c.server.port, 8080);
  assert.equal(c.offline_after_failures, 3);
  assert.equal(c.alerts.gpu_temp_critical, 90);
});

test('an empty file is a valid config with every default', () => {
  const c = parseConfigText('', 'empty.yml');
  assert.deepEqual(c.hosts, []);
  assert.equal(c.polling_interval_seconds, 30);
});

test('fractional numbers are allowed for the interval', () => {
  assert.equal(parseConfigText('polling_interval_seconds: 1.5\n', 'x.yml').polling_interval_seconds, 1.5);
});

test('unknown keys are reported with file, line, column and the allowed keys', () => {
  const err = configError('polling_interval_seconds: 5\nalerts:\n  enabled: true\n  gpu_temp_warnign: 70\n');
  assert.equal(err.code, 'CONFIG_UNKNOWN_KEY');
  assert.match(err.message, /^hosts\.yml:4:\d+: unknown key 'alerts\.gpu_temp_warnign'; expected one of: .*gpu_temp_warning/);
});

test('a wrong type names the key, its position and what was expected', () => {
  const err = configError('hosts:\n  - name: a\n    address: 10.0.0.1\n    port: "twenty-two"\n');
  assert.equal(err.code, 'CONFIG_INVALID');
  assert.match(err.message, /^hosts\.yml:4:11: hosts\[0\] \(a\)\.port must be a whole number from 1 to 65535 \(got "twenty-two"\); fix: /);
});

test('a missing required key is reported', () => {
  const err = configError('hosts:\n  - name: a\n');
  assert.match(err.message, /^hosts\.yml:2:5: hosts\[0\] \(a\)\.address is required: add `address: /);
});

test('YAML syntax errors carry the position', () => {
  const err = configError('hosts: [\n  {name: a,\n');
  assert.equal(err.code, 'CONFIG_SYNTAX');
  // Every error yaml finds is listed, each with its position.
  assert.match(err.message, /^hosts\.yml: 2 problems:\n {2}hosts\.yml:3:1: invalid YAML: Flow map .*\n {2}hosts\.yml:3:1: invalid YAML: Flow sequence /);
});

test('duplicate host names are refused', () => {
  const err = configError('hosts:\n  - {name: a, address: x}\n  - {name: a, address: y}\n');
  assert.match(err.message, /duplicate host name 'a'/);
});

test('the embedded default monitors this machine locally', () => {
  const c = embeddedConfig();
  assert.equal(c.hosts.length, 1);
  assert.equal(c.hosts[0]?.transport, 'local');
  assert.equal(c.server.port, 8080);
});

test('flags override the file', () => {
  const c = withServerOverrides(parseConfigText(seed, 'h.yml'), { port: 9999, host: '0.0.0.0', dataDir: '/tmp/x' });
  assert.equal(c.server.port, 9999);
  assert.equal(c.server.host, '0.0.0.0');
  assert.equal(c.server.data_dir, '/tmp/x');
});

test('alerts.disk_full, gpu_idle_holder and session_finished: defaults, overrides, enabled: false, and a misspelt key reported with its place', () => {
  const defaults = parseConfigText('', 'hosts.yml').alerts;
  assert.deepEqual(
    [defaults.disk_full, defaults.gpu_idle_holder, defaults.session_finished],
    [
      { enabled: true, percent: 90 },
      { enabled: true, memory_gib: 4, utilization_percent: 5, minutes: 30 },
      { enabled: true, busy_cpu_percent: 50, busy_gpu_percent: 20, busy_minutes: 10, quiet_minutes: 5 },
    ],
  );
  const set = parseConfigText('alerts:\n  disk_full: {enabled: false}\n  gpu_idle_holder: {minutes: 5}\n', 'hosts.yml').alerts;
  assert.deepEqual([set.disk_full, set.gpu_idle_holder.minutes, set.gpu_idle_holder.memory_gib], [{ enabled: false, percent: 90 }, 5, 4]);
  const err = configError('alerts:\n  session_finished: {quiet_minute: 5}\n');
  assert.match(err.message, /hosts\.yml:2:\d+: unknown key 'alerts\.session_finished\.quiet_minute'.*did you mean 'quiet_minutes'/);
  assert.match(configError('alerts:\n  disk_full: {percent: 150}\n').message, /alerts\.disk_full\.percent/);
});
