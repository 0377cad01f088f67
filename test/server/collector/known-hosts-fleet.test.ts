/**
 * ssh.known_hosts from hosts.yml, against the real sshd's of the fake fleet: a host whose key the file lists is
 * polled; a host listed with another key, or not listed, is not polled, says why in its error (and the changed key
 * raises host_key_changed), and nothing is trusted on first use instead.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { parseConfigObject } from '../../../src/core/config.js';
import { FleetmonError } from '../../../src/core/errors.js';
import { startServer, type RunningServer } from '../../../src/server/start.js';
import { HostKeyRepository } from '../../../src/server/store/repositories.js';
import { fleetConfigSection, startFleet, type Fleet } from '../../fleet/fleet.js';
import { tempDir, waitFor } from '../../helpers/common.js';

let fleet: Fleet;
let server: RunningServer;
const data = tempDir();
const knownHostsPath = join(data.path, 'known_hosts');

before(async () => {
  fleet = await startFleet({ hosts: [{ name: 'listed' }, { name: 'changed' }, { name: 'absent' }] });
  const [listed, changed] = [fleet.host('listed'), fleet.host('changed')];
  // `changed` is listed with listed's key (a reinstalled host, say); `absent` is not in the file at all.
  writeFileSync(knownHostsPath, `# fleet\n${listed.address} ${listed.hostPublicKey}\n${changed.address} ${listed.hostPublicKey}\n`);
  const section = fleetConfigSection(fleet);
  const config = parseConfigObject(
    {
      polling_interval_seconds: 1,
      offline_after_failures: 1,
      ssh: { ...section.ssh, known_hosts: knownHostsPath, timeout: 3, reconnect_max_seconds: 1 },
      server: { port: 0, data_dir: join(data.path, 'data') },
      // No host_key: known_hosts is what pins them.
      hosts: section.hosts.map(({ host_key: _pin, ...h }) => h),
    },
    'known-hosts-test',
  );
  server = await startServer(config, { log: pino({ level: 'silent' }) });
  await waitFor(() => server.monitor.hosts().every((h) => !h.pending), 20_000, 'a first poll of every host');
});

after(async () => {
  await server?.close();
  await fleet?.stop();
  data.remove();
});

const host = (name: string) => server.monitor.host(name)!;

test('a host whose key known_hosts lists is polled', () => {
  const h = host('listed');
  assert.equal(h.status, 'online', String(h.last_error));
  assert.ok((h.cpu_count ?? 0) > 0);
});

test('a host listed with another key is not polled, and raises host_key_changed naming both keys', async () => {
  const h = host('changed');
  assert.equal(h.status, 'offline');
  assert.equal(h.cpu_percent, null);
  assert.match(String(h.last_error), new RegExp(`host key of changed changed: expected ${fleet.host('listed').hostKeyFingerprint.replace(/[+/]/g, '\\$&')}, got ${fleet.host('changed').hostKeyFingerprint.replace(/[+/]/g, '\\$&')}`));
  const alert = await waitFor(() => server.monitor.alerts.list({ state: 'open' }).find((a) => a.type === 'host_key_changed' && a.host === 'changed'), 5000, 'the alert');
  assert.equal(alert.severity, 'critical');
});

test('a host known_hosts does not list is not polled and not trusted on first use', () => {
  const h = host('absent');
  assert.equal(h.status, 'offline');
  assert.equal(h.cpu_percent, null);
  const a = fleet.host('absent');
  assert.equal(h.last_error, `host key of absent (ssh-ed25519 ${a.hostKeyFingerprint}) is not listed for ${a.address} in ${knownHostsPath}; not connecting`);
  const recorded = new HostKeyRepository(server.db);
  for (const name of ['absent', 'changed', 'listed']) assert.equal(recorded.find(name), undefined, `${name} was recorded on first use`);
});

test('a known_hosts file that cannot be read stops the start with the path and the fix', async () => {
  const config = parseConfigObject(
    { ssh: { known_hosts: join(data.path, 'missing') }, server: { port: 0, data_dir: join(data.path, 'data2') }, hosts: [{ name: 'x', address: '127.0.0.1' }] },
    'known-hosts-test',
  );
  await assert.rejects(startServer(config, { log: pino({ level: 'silent' }) }), (err: unknown) => err instanceof FleetmonError && err.code === 'KNOWN_HOSTS_UNREADABLE' && err.message.includes(join(data.path, 'missing')));
});
