/**
 * The parse pool: answers parsed on worker threads give exactly what parsing on the main thread gives (the
 * snapshot crosses the thread boundary intact), a bad answer comes back as an error, and a closed pool refuses.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ParsePool, parseInline, type ParseInput } from '../../../src/server/collector/parse-pool.js';
import { asGrepOutput, testDir } from '../../helpers/common.js';

const read = (dir: string, name: string) => readFileSync(join(testDir, 'fixtures', dir, name), 'utf8');

function input(nonce: string): ParseInput {
  const m = `@@fm-${nonce}`;
  const text = [
    `${m} begin v1 4096 100`,
    `${m} proc`,
    asGrepOutput('/proc/stat', read('gpu-host-h100', 'proc-stat-1.txt')),
    asGrepOutput('/proc/meminfo', read('gpu-host-h100', 'proc-meminfo.txt')),
    asGrepOutput('/proc/loadavg', read('gpu-host-h100', 'proc-loadavg.txt')),
    `/proc/uptime:${read('gpu-host-h100', 'proc-uptime.txt').trim()}`,
    asGrepOutput('/proc/net/dev', read('gpu-host-h100', 'proc-net-dev.txt')),
    `${m} rc proc 0`,
    `${m} end`,
  ].join('\n');
  return { text, nonce, hostName: 'h100', address: '10.0.0.9', sshUser: 'fleetmon', sshPort: 22, hasGpu: false, legacyThresholdHours: 72, previous: null, nowMs: 1_700_000_000_000 };
}

test('answers parsed on a worker thread equal the main thread parse, counters included', async () => {
  const pool = new ParsePool(2);
  try {
    assert.equal(pool.threaded, true, 'a source checkout under tsx must still parse on workers');
    const jobs = Array.from({ length: 6 }, (_, i) => input(`n${i}`));
    const threaded = await Promise.all(jobs.map((j) => pool.parse(j)));
    const inline = jobs.map((j) => parseInline(j));
    assert.deepEqual(threaded, inline);
    assert.ok(threaded[0]!.metrics, 'the fixture answer has host metrics');
    assert.ok(pool.workers >= 1 && pool.workers <= 2, `${pool.workers} workers`);
  } finally {
    await pool.close();
  }
});

test('a worker that dies fails its jobs with a message and is replaced for the next answer', async () => {
  const pool = new ParsePool(1);
  try {
    await pool.parse(input('a'));
    // An answer that takes the worker a while (a section of 4 million lines to split): it cannot be done before the
    // worker is killed, however idle the machine.
    const slow = input('b');
    slow.text = slow.text.replace('@@fm-b end', `@@fm-b padding\n${'x\n'.repeat(4_000_000)}@@fm-b end`);
    const pending = pool.parse(slow);
    await pool.terminateWorkersForTest();
    await assert.rejects(pending, /the parse worker (exited|failed)/);
    const again = await pool.parse(input('c'));
    assert.deepEqual(again, parseInline(input('c')));
  } finally {
    await pool.close();
  }
});

test('size 0 parses inline; a closed pool still answers, inline', async () => {
  const zero = new ParsePool(0);
  assert.equal(zero.threaded, false);
  assert.deepEqual(await zero.parse(input('z')), parseInline(input('z')));
  const pool = new ParsePool(1);
  await pool.close();
  assert.equal(pool.threaded, false);
  assert.deepEqual(await pool.parse(input('y')), parseInline(input('y')));
});
