/**
 * The database is moved aside only when it is really damaged. Locked, unopenable or read-only files are errors
 * that name the file, and leave it (history, audit, pinned host keys) where it is. Real SQLite throughout.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdirSync, openSync, readdirSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { FleetmonError } from '../../../src/core/errors.js';
import { closeDatabase, openDatabase } from '../../../src/server/store/db.js';
import { HostKeyRepository } from '../../../src/server/store/repositories.js';
import { tempDir } from '../../helpers/common.js';

const unusable = (path: string) => (err: unknown) => err instanceof FleetmonError && err.code === 'DB_UNUSABLE' && err.message.includes(path);

test('the database file is created 0600 even when the data dir already exists', (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  mkdirSync(join(dir.path, 'data'), { mode: 0o755 });
  const { db, path } = openDatabase(join(dir.path, 'data'));
  closeDatabase(db);
  assert.equal(statSync(path).mode & 0o777, 0o600);
});

test('a database locked by another process is an error naming it, and is not moved aside', (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  const first = openDatabase(dir.path);
  closeDatabase(first.db);
  // A rollback-journal connection holding an exclusive lock: nobody else can even read.
  const holder = new Database(first.path);
  holder.pragma('journal_mode = DELETE');
  holder.exec('BEGIN EXCLUSIVE');
  t.after(() => holder.close());
  assert.throws(() => openDatabase(dir.path), unusable(first.path));
  assert.deepEqual(readdirSync(dir.path).filter((f) => f.includes('corrupt')), [], 'nothing was moved aside');
});

test('a database path that cannot be opened is an error, not a reason to start afresh', (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  mkdirSync(join(dir.path, 'fleetmon.db'));
  assert.throws(() => openDatabase(dir.path), unusable(join(dir.path, 'fleetmon.db')));
  assert.ok(statSync(join(dir.path, 'fleetmon.db')).isDirectory(), 'left as it was');
});

test('a read-only database is found at start, not by every cycle failing to write', (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  const made = openDatabase(join(dir.path, 'data'));
  closeDatabase(made.db);
  // As root, file modes do not stop writes; a read-only bind mount does.
  const ro = spawnSync('mount', ['--bind', '-o', 'ro', join(dir.path, 'data'), join(dir.path, 'data')]);
  if (ro.status !== 0) return t.skip(`cannot make a read-only bind mount here: ${ro.stderr.toString().trim()}`);
  try {
    const remount = spawnSync('mount', ['-o', 'remount,bind,ro', join(dir.path, 'data')]);
    if (remount.status !== 0) return t.skip('cannot remount read-only here');
    assert.throws(
      () => openDatabase(join(dir.path, 'data')),
      (err: unknown) => unusable(made.path)(err) && /writable|read/.test((err as FleetmonError).suggestions.join(' ')),
    );
  } finally {
    spawnSync('umount', [join(dir.path, 'data')]);
  }
});

test('a really damaged file is still moved aside and a fresh database made', (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  writeFileSync(join(dir.path, 'fleetmon.db'), 'this is not an SQLite database, just text long enough to have a header'.repeat(20));
  const { db, movedAside } = openDatabase(dir.path);
  closeDatabase(db);
  assert.ok(movedAside && movedAside.includes('.corrupt-'), String(movedAside));
});

test('host keys recorded on first use are read back from a damaged file whose host_keys table still reads', (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  const fp = 'SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s';
  const made = openDatabase(dir.path);
  new HostKeyRepository(made.db).remember('tofu1', fp, 'ssh-ed25519', 1_700_000_000_000);
  new HostKeyRepository(made.db).remember('garbled', 'not a fingerprint', 'ssh-ed25519', 1_700_000_000_000);
  closeDatabase(made.db);
  // Damage another table's pages (one that spans many), leaving host_keys readable.
  const raw = new Database(made.path);
  raw.pragma('journal_mode = DELETE');
  raw.exec('CREATE TABLE filler (x TEXT)');
  const put = raw.prepare('INSERT INTO filler VALUES (?)');
  raw.transaction(() => {
    for (let i = 0; i < 2000; i++) put.run(`row ${i} `.repeat(20));
  })();
  const pageSize = raw.pragma('page_size', { simple: true }) as number;
  const page = (raw.prepare(`SELECT pageno FROM dbstat WHERE name = 'filler' AND pagetype = 'leaf' ORDER BY pageno LIMIT 1 OFFSET 10`).get() as { pageno: number }).pageno;
  raw.close();
  const fd = openSync(made.path, 'r+');
  writeSync(fd, Buffer.alloc(pageSize - 100, 0xa5), 0, pageSize - 100, (page - 1) * pageSize + 50);
  closeSync(fd);

  const { db, movedAside, recoveredHostKeys } = openDatabase(dir.path);
  t.after(() => closeDatabase(db));
  assert.ok(movedAside, 'the damaged file was moved aside');
  assert.deepEqual(recoveredHostKeys, ['tofu1']);
  assert.deepEqual(new HostKeyRepository(db).find('tofu1'), { fingerprint: fp, keyType: 'ssh-ed25519' });
  assert.equal(new HostKeyRepository(db).find('garbled'), undefined, 'a malformed row is not taken');
});
