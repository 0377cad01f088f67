/**
 * Opens fleetmon's SQLite file: WAL, NORMAL sync, busy timeout, foreign keys; a quick_check at start that moves a
 * damaged file aside (with a clear log line) instead of crash-looping; migrations by `user_version`, refusing a
 * file written by a newer fleetmon.
 */
import { mkdirSync, renameSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { FleetmonError } from '../../core/errors.js';
import { migrations, type Migration } from './migrations.js';

export type Db = Database.Database;

export interface OpenResult {
  db: Db;
  path: string;
  movedAside: string | null;
}

export function openDatabase(dataDir: string, opts: { fileName?: string; list?: Migration[] } = {}): OpenResult {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const path = join(dataDir, opts.fileName ?? 'fleetmon.db');
  let movedAside: string | null = null;
  let db = new Database(path);
  if (!healthy(db)) {
    db.close();
    movedAside = `${path}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    renameSync(path, movedAside);
    for (const ext of ['-wal', '-shm']) if (existsSync(path + ext)) renameSync(path + ext, movedAside + ext);
    db = new Database(path);
  }
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  db.pragma('foreign_keys = ON');
  migrate(db, opts.list ?? migrations);
  return { db, path, movedAside };
}

function healthy(db: Db): boolean {
  try {
    const rows = db.pragma('quick_check') as Array<{ quick_check: string }>;
    return rows.length === 1 && rows[0]?.quick_check === 'ok';
  } catch {
    return false;
  }
}

export function migrate(db: Db, list: Migration[]): number {
  const current = db.pragma('user_version', { simple: true }) as number;
  const latest = list.reduce((m, x) => Math.max(m, x.version), 0);
  if (current > latest) {
    throw new FleetmonError(
      'DB_TOO_NEW',
      `the database was written by a newer fleetmon (schema ${current}, this one knows ${latest})`,
      { kind: 'config', suggestions: ['upgrade fleetmon, or point --data-dir at another directory'] },
    );
  }
  for (const m of [...list].sort((a, b) => a.version - b.version)) {
    if (m.version <= current) continue;
    db.transaction(() => {
      db.exec(m.sql);
      db.pragma(`user_version = ${m.version}`);
    })();
  }
  return latest;
}

export function closeDatabase(db: Db): void {
  if (!db.open) return;
  try {
    db.pragma('wal_checkpoint(TRUNCATE)');
  } finally {
    db.close();
  }
}
