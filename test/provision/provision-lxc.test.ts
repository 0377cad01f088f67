/**
 * `fleetmon provision` against a real Debian 12 system container (LXC, systemd as PID 1): the unit is really
 * installed, enabled and started with its sandbox, /health really answers from inside, a re-run changes nothing,
 * the user's hosts.yml edits survive, and an upgrade installs the new release and restarts the service.
 *
 * The first install is this checkout, built (`npm run build`) and bundled, so the container really runs fleetmon's
 * server; the upgrade then installs a small stand-in release (fixtures/fake-app, which reports its own version on
 * /health). FLEETMON_LXC_REAL_APP=0 installs the stand-in from the start (faster, no build). Skips, saying why,
 * where LXC cannot run. The first run debootstraps the root filesystem
 * (a few minutes, cached in /var/cache/fleetmon-test/).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { provisionHost, type ProvisionHostOptions } from '../../src/provision/provision-host.js';
import type { ProvisionResult } from '../../src/provision/apply.js';
import { resolveAuth } from '../../src/cli/ssh-login.js';
import { packageRoot } from '../../src/paths.js';
import { generateKey, makeTestDir, removeDir } from '../helpers/sshd.js';
import { runCommand } from '../helpers/run-command.js';
import { LxcUnavailable, lxcSkipReason, removeBridge, startContainer, type TestContainer } from '../helpers/lxc-container.js';

const skip = lxcSkipReason();
const realApp = process.env.FLEETMON_LXC_REAL_APP !== '0';

describe('provision against a real Debian 12 LXC container', { skip: skip ?? false, timeout: 30 * 60_000 }, () => {
  let dir: string;
  let appRoot: string;
  let ct: TestContainer;
  let options: ProvisionHostOptions;
  /** Set when this machine turned out unable to run a container: every test then skips with this reason. */
  let unavailable: string | undefined;
  const cannotRun = (t: { skip(message?: string): void }) => {
    if (unavailable) t.skip(unavailable);
    return unavailable !== undefined;
  };

  /** A copy of the stand-in app at `version`, as a package root provision can bundle. */
  function fakeApp(version: string): string {
    const root = join(dir, `app-${version}`);
    cpSync(join(import.meta.dirname, 'fixtures', 'fake-app'), root, { recursive: true });
    mkdirSync(join(root, 'dist', 'commands'), { recursive: true });
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(root, 'package.json'), JSON.stringify({ ...pkg, version }));
    return root;
  }

  const inside = (args: string[]) => {
    const r = ct.attach(args);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    return r.stdout.trim();
  };
  const changed = (r: ProvisionResult) => r.steps.filter((s) => s.status === 'changed').map((s) => s.id);

  before(async () => {
    dir = makeTestDir('fleetmon-test-prov-lxc');
    const admin = generateKey(join(dir, 'admin_key'));
    try {
      ct = await startContainer('fmtprov-ct1', 2, admin.publicKey);
    } catch (err) {
      if (!(err instanceof LxcUnavailable)) throw err;
      unavailable = err.message;
      return;
    }
    if (realApp) {
      const build = spawnSync('npm', ['run', 'build'], { cwd: packageRoot, encoding: 'utf8' });
      assert.equal(build.status, 0, `npm run build failed:\n${build.stdout}${build.stderr}`);
    }
    appRoot = realApp ? packageRoot : fakeApp('0.0.1');
    options = {
      host: ct.address,
      port: 22,
      auth: await resolveAuth({ user: 'root', identity: join(dir, 'admin_key'), target: ct.address }),
      node: 'auto',
      listenHost: '0.0.0.0',
      listenPort: 8080,
      dryRun: false,
      timeoutMs: 20_000,
      renderer: 'silent',
      root: appRoot,
    };
  });

  after(() => {
    ct?.destroy();
    removeBridge();
    removeDir(dir);
  });

  test('a dry run on the fresh container plans everything and changes nothing', async (t) => {
    if (cannotRun(t)) return;
    const r = await provisionHost({ ...options, dryRun: true });
    assert.equal(r.dryRun, true);
    assert.ok(r.steps.filter((s) => s.status === 'planned').length >= 10, JSON.stringify(r.steps));
    assert.equal(ct.attach(['test', '-e', '/etc/fleetmon']).code, 1);
  });

  test('first run: installs, enables and starts the hardened service; /health answers', async (t) => {
    if (cannotRun(t)) return;
    const r = await provisionHost(options);
    assert.equal(r.health?.ok, true, r.health?.detail);
    assert.equal(r.runtime.method, 'upload');
    assert.ok(changed(r).includes('restart'));
    assert.equal(inside(['systemctl', 'is-enabled', 'fleetmon.service']), 'enabled');
    assert.equal(inside(['systemctl', 'is-active', 'fleetmon.service']), 'active');
    const props = inside(['systemctl', 'show', 'fleetmon.service', '-p', 'User,NoNewPrivileges,ProtectSystem,ProtectHome,PrivateTmp,PrivateDevices,Restart,CapabilityBoundingSet,StateDirectory']);
    for (const line of ['User=fleetmon', 'NoNewPrivileges=yes', 'ProtectSystem=strict', 'ProtectHome=yes', 'PrivateTmp=yes', 'PrivateDevices=yes', 'Restart=always', 'CapabilityBoundingSet=', 'StateDirectory=fleetmon']) {
      assert.ok(props.split('\n').includes(line), `${line} in\n${props}`);
    }
    // The service answers from inside the container, as the service user.
    const health = JSON.parse(inside(['/opt/fleetmon/runtime/bin/node', '-e', "fetch('http://127.0.0.1:8080/health').then(r => r.text()).then(t => console.log(t))"])) as { status: string };
    assert.equal(health.status, 'ok');
    const mainPid = inside(['systemctl', 'show', '-p', 'MainPID', '--value', 'fleetmon.service']);
    assert.equal(inside(['stat', '-c', '%U', `/proc/${mainPid}`]), 'fleetmon', 'the server runs as the service user');
    assert.equal(inside(['stat', '-c', '%U:%G %a', '/etc/fleetmon/hosts.yml']), 'root:fleetmon 640');
    assert.equal(inside(['stat', '-c', '%U:%G %a', '/var/lib/fleetmon/ssh/id_ed25519']), 'fleetmon:fleetmon 600');
    assert.equal(inside(['stat', '-c', '%U:%G %a', '/opt/fleetmon']), 'root:root 755');
    assert.equal(inside(['stat', '-c', '%U:%G', '/opt/fleetmon/current/bin/run.js']), 'root:root');
    assert.equal(r.publicKey, inside(['cat', '/var/lib/fleetmon/ssh/id_ed25519.pub']));
    assert.equal(r.nextCommand, 'ssh -t root@10.231.47.2 fleetmon keys deploy --config /etc/fleetmon/hosts.yml --key /var/lib/fleetmon/ssh/id_ed25519.pub HOST…');
    assert.equal(r.tokenPath, '/var/lib/fleetmon/api-token');
    assert.equal(inside(['stat', '-c', '%U %a', r.tokenPath]), 'fleetmon 600');
    assert.match(inside(['/usr/local/bin/fleetmon', '--version']), /fleetmon/);
  });

  test('second run: nothing changes, and it says so; the key is kept', async (t) => {
    if (cannotRun(t)) return;
    const keyBefore = inside(['cat', '/var/lib/fleetmon/ssh/id_ed25519.pub']);
    const pid = inside(['systemctl', 'show', '-p', 'MainPID', '--value', 'fleetmon.service']);
    const r = await provisionHost(options);
    assert.equal(r.changed, false, JSON.stringify(r.steps));
    assert.deepEqual(changed(r), []);
    assert.equal(r.health?.ok, true);
    assert.equal(inside(['cat', '/var/lib/fleetmon/ssh/id_ed25519.pub']), keyBefore);
    assert.equal(inside(['systemctl', 'show', '-p', 'MainPID', '--value', 'fleetmon.service']), pid, 'the service was restarted');
  });

  test('an edited hosts.yml is kept; the edit is applied by one restart', async (t) => {
    if (cannotRun(t)) return;
    const edited = `${inside(['cat', '/etc/fleetmon/hosts.yml'])}\n# my own note\n`;
    assert.equal(ct.attach(['sh', '-c', `printf '%s' "$1" > /etc/fleetmon/hosts.yml`, 'sh', edited]).code, 0);
    const r = await provisionHost(options);
    assert.deepEqual(changed(r), ['restart']);
    assert.equal(r.steps.find((s) => s.id === 'config')?.detail, 'edited by you: kept as it is');
    assert.equal(inside(['cat', '/etc/fleetmon/hosts.yml']), edited.trim());
    assert.deepEqual(changed(await provisionHost(options)), []);
  });

  test('after an upgrade: the new release is installed and the service restarted', async (t) => {
    if (cannotRun(t)) return;
    const r = await provisionHost({ ...options, root: fakeApp('0.0.2') });
    assert.deepEqual(changed(r), ['app', 'restart']);
    const health = JSON.parse(inside(['/opt/fleetmon/runtime/bin/node', '-e', "fetch('http://127.0.0.1:8080/health').then(r => r.text()).then(t => console.log(t))"])) as { version: string };
    assert.equal(health.version, '0.0.2');
    assert.equal(inside(['sh', '-c', 'ls /opt/fleetmon/releases | wc -l']), '2', 'current and previous release kept');
  });

  test('the command: --json result and exit status', async (t) => {
    if (cannotRun(t)) return;
    const r = await runCommand(
      'src/commands/provision.ts',
      ['--host', ct.address, '--identity', join(dir, 'admin_key'), '--json'],
      // The release installed last (by the upgrade test) is the stand-in 0.0.2: nothing to change.
      { env: { SSH_AUTH_SOCK: '', FLEETMON_APP_ROOT: join(dir, 'app-0.0.2') }, timeoutMs: 120_000 },
    );
    assert.equal(r.code, 0, r.stderr);
    const json = JSON.parse(r.stdout) as ProvisionResult;
    assert.equal(json.changed, false);
    assert.equal(json.health?.ok, true);
    assert.equal(json.dashboardUrl, `http://${ct.address}:8080/`);
  });
});

