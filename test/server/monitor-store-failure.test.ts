/**
 * A database that stops taking writes (read-only disk, full disk) must not go unnoticed: /health answers 503 with
 * the error while cycles fail to be stored, and ok again once they are. Real probe on this machine, real SQLite.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { parseConfigObject } from '../../src/core/config.js';
import { buildApp } from '../../src/server/app.js';
import { Monitor } from '../../src/server/monitor.js';
import { closeDatabase, openDatabase } from '../../src/server/store/db.js';
import { tempDir } from '../helpers/common.js';

test('/health reports cycles that cannot be stored, and recovers when they can', async (t) => {
  const dir = tempDir();
  const config = parseConfigObject({ hosts: [{ name: 'local', address: 'localhost', transport: 'local' }] }, 'test');
  const { db } = openDatabase(dir.path);
  const monitor = new Monitor({ config, db, log: pino({ level: 'silent' }) });
  const app = await buildApp({ config, monitor, db, token: 'store-failure-token-9d2f61ab37c84e05', logger: pino({ level: 'silent' }) });
  t.after(async () => {
    await app.close();
    await monitor.stop();
    closeDatabase(db);
    dir.remove();
  });
  const health = async () => {
    const res = await app.inject({ url: '/health' });
    return { code: res.statusCode, body: res.json<{ status: string; store: { ok: boolean; consecutive_failures: number; error: string | null } }>() };
  };

  await monitor.poller.runCycle();
  assert.deepEqual((await health()).code, 200);

  db.pragma('query_only = ON'); // every write now fails as on a read-only file
  await monitor.poller.runCycle();
  await monitor.poller.runCycle();
  const failing = await health();
  assert.equal(failing.code, 503);
  assert.equal(failing.body.status, 'failing');
  assert.equal(failing.body.store.consecutive_failures, 2);
  assert.match(String(failing.body.store.error), /readonly|read-only/i);
  assert.equal(monitor.hosts()[0]?.status, 'online', 'the live view still updates');

  db.pragma('query_only = OFF');
  await monitor.poller.runCycle();
  const back = await health();
  assert.equal(back.code, 200);
  assert.equal(back.body.store.ok, true);
});
