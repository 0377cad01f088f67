import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Host } from '../../../src/core/model.js';
import { closeDatabase, openDatabase } from '../../../src/server/store/db.js';
import { migrations } from '../../../src/server/store/migrations.js';
import { SampleRepository } from '../../../src/server/store/repositories.js';
import { FleetmonError } from '../../../src/core/errors.js';
import { pino } from 'pino';
import { parseConfigObject } from '../../../src/core/config.js';
import { Monitor } from '../../../src/server/monitor.js';
import { tempDir } from '../../helpers/common.js';

function host(name: string, cpu: number): Host {
  return {
    hostname: name, address: 'x', last_seen: null, status: 'online',
    cpu_percent: cpu, memory_percent: 50, memory_used_mb: 50, memory_total_mb: 100, load_avg: [1, 1, 1],
    cpu_per_core: [], cpu_count: 1, memory_available_mb: 50, swap_total_mb: 0, swap_used_mb: 0, uptime_seconds: 1, disks: [], network: [],
    gpus: [], sessions: [], has_gpu: false, pending: false, last_poll_at: null, last_error: null,
    consecutive_failures: 0, poll_ms: 1, problems: [], gpu_available: false, gpu_error: null,
    sessions_scope: { scope: 'own-account', reason: 'no all-users helper installed' },
  };
}

test('opens with WAL and migrates to the latest version', () => {
  const dir = tempDir();
  try {
    const { db } = openDatabase(dir.path);
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    assert.equal(db.pragma('user_version', { simple: true }), migrations.at(-1)!.version);
    closeDatabase(db);
    // Re-opening is a no-op.
    const again = openDatabase(dir.path);
    assert.equal(again.movedAside, null);
    closeDatabase(again.db);
  } finally {
    dir.remove();
  }
});

test('refuses a database written by a newer fleetmon', () => {
  const dir = tempDir();
  try {
    const raw = new Database(join(dir.path, 'fleetmon.db'));
    raw.pragma('user_version = 999');
    raw.close();
    assert.throws(() => openDatabase(dir.path), (e: unknown) => e instanceof FleetmonError && e.code === 'DB_TOO_NEW');
  } finally {
    dir.remove();
  }
});

test('a damaged file is moved aside and a new one started', () => {
  const dir = tempDir();
  try {
    writeFileSync(join(dir.path, 'fleetmon.db'), 'this is not a database'.repeat(500));
    const { db, movedAside } = openDatabase(dir.path);
    assert.ok(movedAside && existsSync(movedAside));
    assert.equal(db.pragma('user_version', { simple: true }), migrations.at(-1)!.version);
    closeDatabase(db);
    assert.ok(readdirSync(dir.path).some((f) => f.includes('.corrupt-')));
  } finally {
    dir.remove();
  }
});

test('history downsamples, and retention rolls old samples into hourly rows so the file stays bounded', () => {
  const dir = tempDir();
  try {
    const { db } = openDatabase(dir.path);
    const repo = new SampleRepository(db);
    const t0 = Date.UTC(2026, 10, 1);
    // Two days of 30 s cycles for 2 hosts.
    for (let i = 0; i < 2 * 2880; i++) repo.writeCycle(t0 + i * 30_000, [host('a', i % 100), host('b', 50)]);
    const end = t0 + 2 * 86400_000;
    const day2 = repo.history('a', 'cpu_percent', end - 86400_000, end, 100);
    assert.ok(day2.length <= 101 && day2.length >= 90, `${day2.length} points`);
    const removed = repo.retain(end - 86400_000, end - 30 * 86400_000);
    assert.equal(removed.hostRows, 2 * 2880);
    const rows = db.prepare('SELECT COUNT(*) AS n FROM host_samples').get() as { n: number };
    assert.equal(rows.n, 2 * 2880);
    const hourly = db.prepare('SELECT COUNT(*) AS n FROM host_samples_hourly').get() as { n: number };
    assert.equal(hourly.n, 2 * 24);
    // A two-day window still reaches back into the first day through the hourly rows.
    const both = repo.history('b', 'cpu_percent', t0, end, 200);
    assert.ok(both[0]!.t < end - 86400_000 && both.every((p) => p.v === 50));
    closeDatabase(db);
  } finally {
    dir.remove();
  }
});

test('host snapshots are saved when a cycle asks for it or at shutdown, and come back on the next start', async () => {
  const dir = tempDir();
  try {
    const { db } = openDatabase(dir.path);
    const samples = new SampleRepository(db);
    samples.writeCycle(1000, [host('a', 10)], { states: true });
    samples.writeCycle(2000, [host('a', 20)], { states: false });
    assert.equal(samples.lastStates().get('a')?.cpu_percent, 10, 'a cycle without states keeps the saved one');
    const rows = db.prepare('SELECT COUNT(*) AS n FROM host_samples').get() as { n: number };
    assert.equal(rows.n, 2, 'samples are written every cycle all the same');
    samples.saveStates(3000, [host('a', 30)]);
    assert.equal(samples.lastStates().get('a')?.cpu_percent, 30);
    closeDatabase(db);

    // A monitor saves every host's snapshot when it stops, and a new one starts from them.
    const config = parseConfigObject({ hosts: [{ name: 'here', address: 'localhost', transport: 'local', has_gpu: false }] }, '<test>');
    const log = pino({ level: 'silent' });
    const first = openDatabase(dir.path);
    const monitor = new Monitor({ config, db: first.db, log });
    await monitor.poller.runCycle();
    const polled = monitor.hosts()[0]!;
    assert.equal(polled.status, 'online', polled.last_error ?? '');
    await monitor.stop();
    closeDatabase(first.db);
    const second = openDatabase(dir.path);
    const warnings: string[] = [];
    const captured = pino({ level: 'warn' }, { write: (line: string) => void warnings.push((JSON.parse(line) as { msg: string }).msg) });
    const restarted = new Monitor({ config, db: second.db, log: captured });
    const { memory_total_mb, memory_used_mb, load_avg, disks } = restarted.hosts()[0]!;
    assert.deepEqual({ memory_total_mb, memory_used_mb, load_avg, disks }, { memory_total_mb: polled.memory_total_mb, memory_used_mb: polled.memory_used_mb, load_avg: polled.load_avg, disks: polled.disks }, 'the last polled metrics show before the first poll');
    assert.equal(restarted.hosts()[0]!.pending, true);
    await restarted.poller.runCycle();
    // A store that is gone by shutdown costs the snapshots, not the shutdown: stop() logs and resolves.
    closeDatabase(second.db);
    await restarted.stop();
    assert.deepEqual(warnings, ['could not save host states at shutdown']);
  } finally {
    dir.remove();
  }
});
