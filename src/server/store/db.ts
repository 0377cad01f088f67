/**
 * Opens fleetmon's SQLite file: WAL, NORMAL sync, busy timeout, foreign keys; a quick_check at start that moves a
 * damaged file aside (the caller raises an alert) instead of crash-looping, keeping the host keys it can still read; migrations by `user_version`, refusing a
 * file written by a newer fleetmon.
 */
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { FleetmonError } from '../../core/errors.js';
import { migrations, type Migration } from './migrations.js';

export type Db = Database.Database;

export interface OpenResult {
  db: Db;
  path: string;
  movedAside: string | null;
  /** Hosts whose key recorded on first use was read back from the damaged file (see recoverHostKeys). */
  recoveredHostKeys: string[];
}

export function openDatabase(dataDir: string, opts: { fileName?: string; list?: Migration[] } = {}): OpenResult {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const path = join(dataDir, opts.fileName ?? 'fleetmon.db');
  createPrivate(path);
  let movedAside: string | null = null;
  let db = openOrExplain(path);
  if (!healthy(db, path)) {
    db.close();
    movedAside = `${path}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    renameSync(path, movedAside);
    for (const ext of ['-wal', '-shm']) if (existsSync(path + ext)) renameSync(path + ext, movedAside + ext);
    createPrivate(path);
    db = openOrExplain(path);
  }
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('busy_timeout = 5000');
    db.pragma('foreign_keys = ON');
    // A read-only file or directory opens and reads fine and fails on the first write, which would be every
    // cycle's: find out now, before the server says it is healthy.
    db.exec('BEGIN IMMEDIATE; ROLLBACK');
  } catch (err) {
    db.close();
    throw notUsable(path, err);
  }
  migrate(db, opts.list ?? migrations);
  const recoveredHostKeys = movedAside ? recoverHostKeys(db, movedAside) : [];
  return { db, path, movedAside, recoveredHostKeys };
}

const FINGERPRINT = /^SHA256:[A-Za-z0-9+/]{43}$/;

/**
 * The host keys recorded on first use, read back from a damaged file whose host_keys table still reads, so those
 * hosts stay pinned instead of trusting whatever key they show next. Only well-formed rows are taken; a garbled
 * fingerprint fails safe (the host is refused and raises host_key_changed). Nothing readable: nothing recovered.
 */
function recoverHostKeys(db: Db, damaged: string): string[] {
  let old: Db | undefined;
  try {
    old = new Database(damaged, { readonly: true, fileMustExist: true });
    const rows = old.prepare('SELECT host, fingerprint, key_type, first_seen_at FROM host_keys').all() as Array<Record<string, unknown>>;
    const good = rows.filter(
      (r) => typeof r.host === 'string' && typeof r.fingerprint === 'string' && FINGERPRINT.test(r.fingerprint) && typeof r.key_type === 'string' && Number.isInteger(r.first_seen_at),
    );
    const put = db.prepare('INSERT OR IGNORE INTO host_keys (host, fingerprint, key_type, first_seen_at) VALUES (?, ?, ?, ?)');
    db.transaction(() => {
      for (const r of good) put.run(r.host, r.fingerprint, r.key_type, r.first_seen_at);
    })();
    return good.map((r) => r.host as string);
  } catch {
    return [];
  } finally {
    old?.close();
  }
}

/** The database and its -wal/-shm (SQLite gives them the file's mode) are readable by the service account only. */
function createPrivate(path: string): void {
  try {
    if (existsSync(path)) chmodSync(path, 0o600);
    else closeSync(openSync(path, 'a', 0o600));
  } catch {
    /* not ours to change (or not creatable): opening it says what is wrong */
  }
}

/** SQLite's words for a damaged file (SQLITE_CORRUPT and its extended codes, SQLITE_NOTADB), as opposed to a busy,
 * read-only or unreachable one. */
const isCorruption = (err: unknown) => /^SQLITE_(CORRUPT|NOTADB)/.test(String((err as { code?: string }).code ?? ''));

function openOrExplain(path: string): Db {
  try {
    return new Database(path);
  } catch (err) {
    throw notUsable(path, err);
  }
}

/**
 * The database is healthy, or damaged (then it is moved aside and a new one made). Anything else (locked by
 * another process, read-only, unreadable) is not damage: moving it aside would lose history, audit and the
 * pinned host keys, so it is an error naming the file and what to do.
 */
function healthy(db: Db, path: string): boolean {
  let rows: Array<{ quick_check: string }>;
  try {
    rows = db.pragma('quick_check') as Array<{ quick_check: string }>;
  } catch (err) {
    if (isCorruption(err)) return false;
    db.close();
    throw notUsable(path, err);
  }
  return rows.length === 1 && rows[0]?.quick_check === 'ok';
}

function notUsable(path: string, err: unknown): FleetmonError {
  const code = String((err as { code?: string }).code ?? '');
  const message = err instanceof Error ? err.message : String(err);
  const suggestions = code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')
    ? ['another process holds the database: stop the other fleetmon serve using this data dir, or use another --data-dir']
    : code.startsWith('SQLITE_READONLY')
      ? [`make ${path} and its directory writable by the user running fleetmon, or use another --data-dir`]
      : [`check that ${path} is a file the user running fleetmon can read and write, or use another --data-dir`];
  return new FleetmonError('DB_UNUSABLE', `cannot use the database ${path}: ${message}${code ? ` (${code})` : ''}; it was left as it is`, {
    kind: 'config',
    suggestions,
  });
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
