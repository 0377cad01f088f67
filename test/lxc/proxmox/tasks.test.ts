import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EXIT, FleetmonError } from '../../../src/core/errors.js';
import { ProxmoxApiError, ProxmoxConnectionError } from '../../../src/lxc/proxmox/errors.js';
import { parseUpid, waitForTask, type TaskApi, type TaskStatus } from '../../../src/lxc/proxmox/tasks.js';
import { parseDuration, formatDuration } from '../../../src/lxc/proxmox/wait.js';
import { fakeClock } from '../../pve/helpers.js';

const UPID = 'UPID:pve2:0001A2B3:00A35576:6B03FC7A:vzcreate:200:fleetmon@pve!ci:';

function fakeTasks(statuses: (TaskStatus | Error)[], log: string[] = []): TaskApi & { nodes: string[]; statusCalls: number } {
  const api = {
    nodes: [] as string[],
    statusCalls: 0,
    async taskStatus(node: string) {
      api.nodes.push(node);
      const s = statuses[Math.min(api.statusCalls++, statuses.length - 1)];
      if (s instanceof Error) throw s;
      return s as TaskStatus;
    },
    async taskLog(_node: string, _upid: string, start: number, limit: number) {
      return { lines: log.slice(start, start + limit), total: log.length };
    },
  };
  return api;
}

const running: TaskStatus = { status: 'running' };

async function failure(p: Promise<unknown>): Promise<FleetmonError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof FleetmonError, String(err));
    return err;
  }
  assert.fail('expected a failure');
}

test('parseUpid reads the node and the task fields', () => {
  assert.deepEqual(parseUpid(UPID), {
    upid: UPID, node: 'pve2', pid: 0x1a2b3, pstart: 0xa35576, starttime: 0x6b03fc7a, type: 'vzcreate', id: '200', user: 'fleetmon@pve!ci',
  });
  assert.throws(() => parseUpid('UPID:pve:bad'), (e: unknown) => e instanceof FleetmonError && e.code === 'PVE_BAD_UPID');
});

test('polls the node named in the UPID until stopped; OK is success', async () => {
  const api = fakeTasks([running, running, { status: 'stopped', exitstatus: 'OK' }]);
  const clock = fakeClock();
  const r = await waitForTask(api, UPID, { clock, deadlineMs: 60_000, what: 'creating CT 200' });
  assert.equal(r.exitstatus, 'OK');
  assert.deepEqual(r.warnings, []);
  assert.deepEqual(api.nodes, ['pve2', 'pve2', 'pve2']);
  assert.equal(clock.elapsed(), 500 + 750, 'backs off between polls');
});

test('WARNINGS: N is success, with the warning lines from the log', async () => {
  const log = ['extracting archive', 'WARN: old systemd, consider nesting', 'TASK WARNINGS: 1'];
  const r = await waitForTask(fakeTasks([{ status: 'stopped', exitstatus: 'WARNINGS: 1' }], log), UPID, { clock: fakeClock(), deadlineMs: 1000, what: 'x' });
  assert.equal(r.exitstatus, 'WARNINGS: 1');
  assert.deepEqual(r.warnings, ['WARN: old systemd, consider nesting']);
});

test('any other exit status fails with the tail of the task log', async () => {
  const log = Array.from({ length: 30 }, (_, i) => `line ${i + 1}`).concat(['TASK ERROR: unable to create CT 200 - no space']);
  const err = await failure(
    waitForTask(fakeTasks([{ status: 'stopped', exitstatus: 'unable to create CT 200 - no space' }], log), UPID, { clock: fakeClock(), deadlineMs: 1000, what: 'creating CT 200' }),
  );
  assert.equal(err.code, 'PVE_TASK_FAILED');
  assert.equal(err.exit, EXIT.proxmox);
  assert.match(err.message, /^creating CT 200 failed: unable to create CT 200 - no space/);
  assert.match(err.message, /TASK ERROR: unable to create CT 200 - no space$/);
  assert.doesNotMatch(err.message, /line 11\n/, 'only the tail');
  assert.match(err.message, /line 12/);
});

test('a task that never stops hits the deadline: minutes of virtual time, milliseconds of real time', async () => {
  const clock = fakeClock();
  const started = Date.now();
  const err = await failure(waitForTask(fakeTasks([running]), UPID, { clock, deadlineMs: 30 * 60_000, what: 'download of debian-12' }));
  assert.equal(err.code, 'PVE_TASK_TIMEOUT');
  assert.equal(err.exit, EXIT.timeout);
  assert.match(err.message, /did not finish within 30m/);
  assert.ok(err.suggestions.some((s) => s.includes('--task-timeout')));
  assert.equal(clock.elapsed(), 30 * 60_000);
  assert.ok(Date.now() - started < 5_000);
});

test('a connection blip while polling is ridden out; a 403 is not', async () => {
  const blip = new ProxmoxConnectionError({ message: 'reset', code: 'ECONNRESET', method: 'GET', path: '/x', mayHaveReachedServer: true });
  const ok = await waitForTask(fakeTasks([blip, new ProxmoxApiError({ status: 595, message: 'no route', method: 'GET', path: '/x' }), { status: 'stopped', exitstatus: 'OK' }]), UPID, { clock: fakeClock(), deadlineMs: 60_000, what: 'x' });
  assert.equal(ok.exitstatus, 'OK');
  const forbidden = new ProxmoxApiError({ status: 403, message: 'Permission check failed (/nodes/pve, Sys.Audit)', method: 'GET', path: '/x' });
  await assert.rejects(waitForTask(fakeTasks([forbidden]), UPID, { clock: fakeClock(), deadlineMs: 60_000, what: 'x' }), ProxmoxApiError);
});

test('durations for the timeout flags', () => {
  assert.equal(parseDuration('90s'), 90_000);
  assert.equal(parseDuration('5m'), 300_000);
  assert.equal(parseDuration('1h'), 3_600_000);
  assert.equal(parseDuration('250ms'), 250);
  assert.equal(parseDuration('20'), 20_000);
  assert.equal(parseDuration('soon'), undefined);
  assert.equal(formatDuration(90_000), '1m30s');
  assert.equal(formatDuration(1_500), '1.5s');
});
