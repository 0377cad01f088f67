/**
 * A real Prometheus Alertmanager (Debian's prometheus-alertmanager), started here on loopback with its own
 * storage: fleetmon's alert appears in its API v2 with the documented labels and annotations, is re-posted while
 * open, and ends when fleetmon resolves it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, tempDir, waitFor } from '../../helpers/common.js';
import { condition, Harness } from './helpers.js';

const BINARY = '/usr/bin/prometheus-alertmanager';
const dir = tempDir('fleetmon-am-');
let am: ChildProcess | undefined;
let url = '';
let output = '';

interface AmAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  updatedAt: string;
  status: { state: string };
}

async function amAlerts(): Promise<AmAlert[]> {
  const res = await fetch(`${url}/api/v2/alerts`);
  assert.equal(res.status, 200);
  return (await res.json()) as AmAlert[];
}

before(async () => {
  if (!existsSync(BINARY)) throw new Error(`${BINARY} is missing: apt-get install prometheus-alertmanager`);
  const config = join(dir.path, 'alertmanager.yml');
  writeFileSync(config, 'route:\n  receiver: blackhole\n  group_wait: 1s\nreceivers:\n  - name: blackhole\n');
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  // --cluster.listen-address= turns the HA gossip off: a lone instance that binds nothing but its API.
  am = spawn(BINARY, [`--config.file=${config}`, `--storage.path=${join(dir.path, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--cluster.listen-address=', '--log.level=warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
  am.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  am.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  await waitFor(async () => (await fetch(`${url}/-/ready`).catch(() => null))?.ok, 20_000, `alertmanager ready (${output})`);
});

after(async () => {
  if (am && am.exitCode === null) {
    am.kill('SIGTERM');
    await new Promise((resolve) => am!.once('exit', resolve));
  }
  dir.remove();
});

test('an alert appears in Alertmanager with its labels, is re-posted while open, and ends when fleetmon resolves it', async () => {
  const h = new Harness({ alertmanager_resend_seconds: 60, channels: [{ name: 'am', type: 'alertmanager', url }] });
  // Alertmanager judges startsAt and endsAt by its own clock: the fake clock starts at the real time.
  h.clock = Date.now();
  try {
    const [hot, legacy] = h.cycle({
      raise: [
        condition('gpu_temp_critical', 'gpu1', { gpuIndex: 0, message: 'GPU 0 on gpu1 at 93 °C (critical at 90 °C)' }),
        condition('legacy_session', 'gpu1', { session: 'gpu1:alice:train', message: "session 'train' on gpu1 detached for 80 h" }),
      ],
    });
    await h.run(1000);
    const firing = await waitFor(async () => {
      const list = await amAlerts();
      return list.length === 2 ? list : null;
    }, 10_000, 'both alerts in Alertmanager');
    const gpu = firing.find((a) => a.labels.alertname === 'gpu_temp_critical')!;
    assert.deepEqual(gpu.labels, { alertname: 'gpu_temp_critical', host: 'gpu1', gpu: '0', severity: 'critical' });
    assert.equal(gpu.annotations.summary, 'GPU 0 on gpu1 at 93 °C (critical at 90 °C)');
    assert.equal(gpu.annotations.fleetmon_id, hot!.id);
    assert.equal(gpu.status.state, 'active');
    assert.equal(Date.parse(gpu.startsAt), Date.parse(hot!.created));
    const session = firing.find((a) => a.labels.alertname === 'legacy_session')!;
    assert.deepEqual(session.labels, { alertname: 'legacy_session', host: 'gpu1', session: 'gpu1:alice:train', severity: 'info' });
    assert.equal(session.annotations.fleetmon_id, legacy!.id);

    // A resend interval later fleetmon posts the open alerts again, pushing endsAt ahead.
    const endsBefore = Date.parse(gpu.endsAt);
    await new Promise((r) => setTimeout(r, 1100));
    h.clock = Date.now();
    await h.run(61_000, 61_000);
    const reposted = await waitFor(async () => {
      const a = (await amAlerts()).find((x) => x.labels.alertname === 'gpu_temp_critical');
      return a && Date.parse(a.endsAt) > endsBefore ? a : null;
    }, 10_000, 'the re-post');
    assert.equal(reposted.status.state, 'active');

    h.clock = Date.now();
    h.cycle({ resolve: [hot!.id] });
    await h.run(1000);
    await waitFor(async () => !(await amAlerts()).some((a) => a.labels.alertname === 'gpu_temp_critical'), 10_000, 'the GPU alert to end');
    const rest = await amAlerts();
    assert.deepEqual(rest.map((a) => a.labels.alertname), ['legacy_session'], 'the other alert is still open');
    const resolvedRow = h.store.outbox.log().find((r) => r.event === 'resolved')!;
    assert.equal(resolvedRow.state, 'delivered');
  } finally {
    await h.close();
  }
});
