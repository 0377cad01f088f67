/**
 * Golden-file tests for every template in templates/: each rendering is compared byte for byte with
 * test/provision/golden/<name>.<variant>. After an intended template change, regenerate them with
 * `FLEETMON_UPDATE_GOLDEN=1 npm test -- provision/render` and review the diff.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderTemplate, templateNames, type TemplateData, type TemplateName } from '../../src/provision/render.js';
import { parseConfigText } from '../../src/core/config.js';
import { FleetmonError } from '../../src/core/errors.js';
import { CLI_NODE_FLAGS, packageRoot, SERVE_NODE_FLAGS, templatesDir } from '../../src/paths.js';
import { NODESOURCE_KEY_FINGERPRINT } from '../../src/provision/runtime.js';

const goldenDir = join(dirname(fileURLToPath(import.meta.url)), 'golden');
const update = process.env.FLEETMON_UPDATE_GOLDEN === '1';

const serviceDefault: TemplateData['fleetmon.service'] = {
  unitName: 'fleetmon.service',
  user: 'fleetmon',
  group: 'fleetmon',
  nodePath: '/opt/fleetmon/runtime/bin/node',
  nodeFlags: SERVE_NODE_FLAGS,
  appDir: '/opt/fleetmon/current',
  configPath: '/etc/fleetmon/hosts.yml',
  stateDirectory: 'fleetmon',
  bindsPrivilegedPort: false,
};

const variants: { [K in TemplateName]: Record<string, TemplateData[K]> } = {
  'fleetmon.service': {
    default: serviceDefault,
    'port-80-nodesource': { ...serviceDefault, nodePath: '/usr/bin/node', bindsPrivilegedPort: true },
  },
  'hosts.yml': {
    default: {
      unitName: 'fleetmon.service',
      sshUser: 'fleetmon',
      keyPath: '/var/lib/fleetmon/ssh/id_ed25519',
      listenHost: '0.0.0.0',
      listenPort: 8080,
      dataDir: '/var/lib/fleetmon',
      localName: 'fleetmon-ct',
      selfSignedTls: false,
    },
    'tls-self-signed': {
      unitName: 'fleetmon.service',
      sshUser: 'fleetmon',
      keyPath: '/var/lib/fleetmon/ssh/id_ed25519',
      listenHost: '0.0.0.0',
      listenPort: 8443,
      dataDir: '/var/lib/fleetmon',
      localName: 'fleetmon-ct',
      selfSignedTls: true,
    },
  },
  'nodesource-install.sh': {
    'node-20': {
      nodeMajor: 20,
      keyArmored: readFileSync(join(templatesDir, 'nodesource-repo.asc'), 'utf8'),
      keyFingerprint: NODESOURCE_KEY_FINGERPRINT,
    },
  },
  'fleetmon-cli.sh': {
    default: { nodePath: '/opt/fleetmon/runtime/bin/node', nodeFlags: CLI_NODE_FLAGS, appDir: '/opt/fleetmon/current' },
  },
};

function golden(file: string, actual: string): void {
  const path = join(goldenDir, file);
  if (update || !existsSync(path)) {
    if (!update) assert.fail(`missing golden file ${path}; run with FLEETMON_UPDATE_GOLDEN=1 to create it`);
    mkdirSync(goldenDir, { recursive: true });
    writeFileSync(path, actual);
  }
  assert.equal(actual, readFileSync(path, 'utf8'), `rendering differs from ${file}`);
}

test('V8 flags: the CLI\'s in bin/run.js and the CLI wrapper, the server\'s (a superset) in the systemd unit', () => {
  const shebang = readFileSync(join(packageRoot, 'bin', 'run.js'), 'utf8').split('\n')[0];
  assert.equal(shebang, `#!/usr/bin/env -S node ${CLI_NODE_FLAGS.join(' ')}`);
  assert.ok(CLI_NODE_FLAGS.every((f) => SERVE_NODE_FLAGS.includes(f as never)));
  const execStart = /^ExecStart=(.*)$/m.exec(renderTemplate('fleetmon.service', serviceDefault))?.[1];
  assert.equal(execStart, `/opt/fleetmon/runtime/bin/node ${SERVE_NODE_FLAGS.join(' ')} /opt/fleetmon/current/bin/run.js serve --config /etc/fleetmon/hosts.yml`);
  const cli = renderTemplate('fleetmon-cli.sh', variants['fleetmon-cli.sh'].default!);
  assert.ok(cli.includes(`exec /opt/fleetmon/runtime/bin/node ${CLI_NODE_FLAGS.join(' ')} /opt/fleetmon/current/bin/run.js "$@"`), cli);
});

test('every template in templates/ has golden variants here', () => {
  const onDisk = readdirSync(templatesDir).filter((f) => f.endsWith('.hbs')).map((f) => f.slice(0, -4)).sort();
  assert.deepEqual(onDisk, [...templateNames].sort());
  assert.deepEqual(Object.keys(variants).sort(), onDisk);
});

for (const name of templateNames) {
  for (const [variant, data] of Object.entries(variants[name])) {
    test(`${name} (${variant}) matches its golden file`, () => {
      golden(`${name}.${variant}`, renderTemplate(name, data as never));
    });
  }
}

test('the unit has the hardening and restart policy, and not MemoryDenyWriteExecute', () => {
  const unit = renderTemplate('fleetmon.service', serviceDefault);
  for (const line of [
    'Restart=always',
    'User=fleetmon',
    'StateDirectory=fleetmon',
    'NoNewPrivileges=yes',
    'ProtectSystem=strict',
    'ProtectHome=yes',
    'PrivateTmp=yes',
    'PrivateDevices=yes',
    'ProtectKernelTunables=yes',
    'ProtectKernelModules=yes',
    'ProtectKernelLogs=yes',
    'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK',
    'CapabilityBoundingSet=',
  ]) {
    assert.ok(unit.split('\n').includes(line), `missing line ${line}`);
  }
  assert.doesNotMatch(unit, /^MemoryDenyWriteExecute/m);
  const privileged = renderTemplate('fleetmon.service', { ...serviceDefault, bindsPrivilegedPort: true });
  assert.match(privileged, /^CapabilityBoundingSet=CAP_NET_BIND_SERVICE$/m);
  assert.doesNotMatch(privileged, /^CapabilityBoundingSet=$/m);
});

test('values that a unit file would interpret are refused', () => {
  for (const nodePath of ['/opt/my node', '/usr/bin/node\nExecStartPre=/bin/rm -rf /', '/bin/%h', '$HOME/node']) {
    assert.throws(
      () => renderTemplate('fleetmon.service', { ...serviceDefault, nodePath }),
      (err) => err instanceof FleetmonError && err.code === 'TEMPLATE_UNSAFE_VALUE',
    );
  }
  // A list is checked word by word: one bad flag among good ones is refused.
  assert.throws(
    () => renderTemplate('fleetmon.service', { ...serviceDefault, nodeFlags: ['--max-semi-space-size=4', '--x %h'] }),
    (err) => err instanceof FleetmonError && err.code === 'TEMPLATE_UNSAFE_VALUE',
  );
});

test('the CLI wrapper quotes each flag on its own', () => {
  const cli = renderTemplate('fleetmon-cli.sh', { nodePath: '/usr/bin/node', nodeFlags: ['--a', "--b=it's"], appDir: '/opt/f' });
  assert.ok(cli.includes(`exec /usr/bin/node --a '--b=it'\\''s' /opt/f/bin/run.js "$@"`), cli);
});

test('strict mode: a missing field is an error, not an empty string', () => {
  const { user: _omit, ...rest } = serviceDefault;
  assert.throws(
    () => renderTemplate('fleetmon.service', rest as TemplateData['fleetmon.service']),
    (err) => err instanceof FleetmonError && err.code === 'TEMPLATE_RENDER' && /user/.test(err.message),
  );
});

test('the rendered hosts.yml is a valid fleetmon config, whatever the strings hold', () => {
  const data = { ...variants['hosts.yml'].default!, localName: 'ct-1', keyPath: '/var/lib/fleet mon/"odd": #key' };
  const config = parseConfigText(renderTemplate('hosts.yml', data), 'hosts.yml');
  assert.equal(config.ssh.user, 'fleetmon');
  assert.equal(config.ssh.key_path, data.keyPath);
  assert.equal(config.ssh.accept_unknown_host_keys, false);
  assert.deepEqual(config.server, { ...config.server, host: '0.0.0.0', port: 8080, data_dir: '/var/lib/fleetmon' });
  assert.deepEqual(config.hosts, [{ name: 'ct-1', address: 'localhost', transport: 'local', has_gpu: null }]);
});

test('provision --tls self-signed: the rendered hosts.yml turns on server.tls; without it there is no tls key at all', () => {
  const withTls = parseConfigText(renderTemplate('hosts.yml', variants['hosts.yml']['tls-self-signed']!), 'hosts.yml');
  assert.equal(withTls.server.tls, 'self-signed');
  assert.equal(withTls.server.port, 8443);
  const plain = renderTemplate('hosts.yml', variants['hosts.yml'].default!);
  assert.doesNotMatch(plain, /tls:/);
  assert.equal(parseConfigText(plain, 'hosts.yml').server.tls, null);
});

test('the NodeSource script is valid POSIX sh and embeds the pinned key', () => {
  const script = renderTemplate('nodesource-install.sh', variants['nodesource-install.sh']['node-20']!);
  const dir = mkdtempSync(join(tmpdir(), 'fleetmon-render-'));
  try {
    const file = join(dir, 'install.sh');
    writeFileSync(file, script);
    for (const sh of ['/bin/dash', '/bin/sh']) {
      if (!existsSync(sh)) continue;
      const r = spawnSync(sh, ['-n', file], { encoding: 'utf8' });
      assert.equal(r.status, 0, `${sh} -n: ${r.stderr}`);
    }
    assert.match(script, /^URIs: https:\/\/deb\.nodesource\.com\/node_20\.x$/m);
    assert.match(script, /^Signed-By: \/etc\/apt\/keyrings\/nodesource\.asc$/m);
    assert.match(script, /^Pin: origin deb\.nodesource\.com$/m);
    const key = script.slice(script.indexOf('-----BEGIN PGP'), script.indexOf('-----END PGP PUBLIC KEY BLOCK-----') + 34);
    const gpg = spawnSync('gpg', ['--show-keys', '--with-colons'], { input: key, encoding: 'utf8' });
    if (gpg.error) return; // no gpg here: the golden file still pins the exact key text
    assert.match(gpg.stdout, new RegExp(`^fpr:+${NODESOURCE_KEY_FINGERPRINT}:`, 'm'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a here-document body that would end the document early is refused', () => {
  assert.throws(
    () => renderTemplate('nodesource-install.sh', { nodeMajor: 20, keyArmored: 'x\nFLEETMON_KEY_END\nrm -rf /', keyFingerprint: 'AB' }),
    (err) => err instanceof FleetmonError && err.code === 'TEMPLATE_UNSAFE_VALUE',
  );
});

test('systemd-analyze verify accepts the unit', (t) => {
  const which = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
  if (which.error || which.status !== 0) {
    t.skip('systemd-analyze is not installed here');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'fleetmon-unit-'));
  try {
    // verify checks that ExecStart's binary exists, so point it at this runtime and a real directory.
    mkdirSync(join(dir, 'app', 'bin'), { recursive: true });
    const unitPath = join(dir, 'fleetmon.service');
    const complaints = (unit: string) => {
      writeFileSync(unitPath, unit);
      const r = spawnSync('systemd-analyze', ['verify', '--man=no', unitPath], { encoding: 'utf8' });
      // Only lines about our unit: this machine may run without systemd as PID 1.
      return `${r.stdout}${r.stderr}`.split('\n').filter((l) => l.includes('fleetmon.service'));
    };
    const unit = renderTemplate('fleetmon.service', { ...serviceDefault, nodePath: process.execPath, appDir: join(dir, 'app') });
    assert.deepEqual(complaints(unit), []);
    // The check is not vacuous: a broken directive in the same unit is reported.
    assert.notDeepEqual(complaints(unit.replace('Restart=always', 'Restart=sometimes')), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
