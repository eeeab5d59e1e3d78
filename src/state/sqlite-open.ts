import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, readSync, rmSync, statSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { Database as Db } from 'better-sqlite3';
import { StateError } from './errors.ts';
import { APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION } from './sqlite-schema.ts';

const SQLITE_HEADER = Buffer.from('SQLite format 3\0', 'latin1');

export interface OpenDatabaseOptions {
  synchronous: 'full' | 'normal';
  busyTimeoutMs: number;
  /** Refuse (STATE_MISSING) instead of creating a missing file: for tools that inspect a daemon's state. */
  mustExist?: boolean;
}

/**
 * Opens (or creates) a state file and returns a ready connection: WAL,
 * foreign keys on, schema migrated to SCHEMA_VERSION.
 *
 * A missing file is built complete under a temporary name and then linked into
 * place, so no reader ever sees an empty or half-made state file (the
 * shotgunEvents field complaint: "a lot of empty eventIdFiles"). An existing
 * file that is empty, not SQLite, not ours, or fails `quick_check` is refused
 * with a coded StateError; it is never overwritten.
 */
export function openStateDatabase(path: string, opts: OpenDatabaseOptions): Db {
  if (opts.mustExist && !exists(path)) {
    throw new StateError('STATE_MISSING', `no state file at ${path} (has the daemon run with this config?)`, { details: { path } });
  }
  mkdirSync(dirname(path), { recursive: true });
  if (!exists(path)) createAtomically(path, opts);
  checkHeader(path);
  let db: Db | undefined;
  try {
    db = new Database(path, { fileMustExist: true, timeout: opts.busyTimeoutMs });
    configure(db, opts);
    verify(db, path);
    migrate(db, path);
    return db;
  } catch (err) {
    db?.close();
    if (err instanceof StateError) throw err;
    const code = (err as { code?: unknown }).code;
    if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') {
      throw new StateError('STATE_CORRUPT', `state file ${path} is damaged (${String(code)}); restore it from a backup or move it away to start fresh`, { cause: err, details: { path, reason: code } });
    }
    throw new StateError('STATE_IO', `cannot open state file ${path}: ${(err as Error).message}`, { cause: err, details: { path } });
  }
}

function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new StateError('STATE_IO', `cannot stat state file ${path}: ${(err as Error).message}`, { cause: err, details: { path } });
  }
}

function createAtomically(path: string, opts: OpenDatabaseOptions): void {
  const tmp = `${path}.new-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    const db = new Database(tmp);
    try {
      configure(db, { ...opts, synchronous: 'full' });
      db.pragma(`application_id = ${APPLICATION_ID}`);
      migrate(db, tmp);
    } finally {
      // Closing the only connection checkpoints the WAL into the main file and removes it.
      db.close();
    }
    const fd = openSync(tmp, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    try {
      // link() fails if another process created the file meanwhile: theirs wins, both are complete.
      linkSync(tmp, path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    fsyncDir(dirname(path));
  } catch (err) {
    if (err instanceof StateError) throw err;
    throw new StateError('STATE_IO', `cannot create state file ${path}: ${(err as Error).message}`, { cause: err, details: { path } });
  } finally {
    for (const suffix of ['', '-wal', '-shm', '-journal']) rmSync(tmp + suffix, { force: true });
  }
}

function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Some filesystems refuse fsync on a directory; the link itself is already done.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function checkHeader(path: string): void {
  const fd = openSync(path, 'r');
  const head = Buffer.alloc(SQLITE_HEADER.length);
  let n: number;
  try {
    n = readSync(fd, head, 0, head.length, 0);
  } finally {
    closeSync(fd);
  }
  if (n === 0) {
    throw new StateError('STATE_CORRUPT', `state file ${path} is empty; sgeventd never writes an empty state file, so something else did: move it away to start fresh`, { details: { path, reason: 'empty' } });
  }
  if (n < head.length || !head.equals(SQLITE_HEADER)) {
    throw new StateError('STATE_CORRUPT', `state file ${path} is not a SQLite database; move it away or point daemon.state elsewhere`, { details: { path, reason: 'not-sqlite' } });
  }
}

function configure(db: Db, opts: OpenDatabaseOptions): void {
  db.pragma(`busy_timeout = ${Math.max(0, Math.floor(opts.busyTimeoutMs))}`);
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${opts.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
  db.pragma('foreign_keys = ON');
}

function verify(db: Db, path: string): void {
  const appId = db.pragma('application_id', { simple: true }) as number;
  if (appId !== APPLICATION_ID) {
    throw new StateError('STATE_FOREIGN', `${path} is a SQLite database but not an sgeventd state file (application_id ${appId}); point daemon.state elsewhere`, { details: { path, applicationId: appId } });
  }
  const check = db.pragma('quick_check', { simple: true }) as string;
  if (check !== 'ok') {
    throw new StateError('STATE_CORRUPT', `state file ${path} fails its integrity check: ${check}`, { details: { path, reason: 'quick_check', check } });
  }
}

function migrate(db: Db, path: string): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > SCHEMA_VERSION) {
    throw new StateError('STATE_TOO_NEW', `state file ${path} has schema version ${version}, newer than this sgeventd understands (${SCHEMA_VERSION}); upgrade sgeventd`, { details: { path, version, supported: SCHEMA_VERSION } });
  }
  if (version === SCHEMA_VERSION) return;
  db.transaction(() => {
    // Read again under the write lock: another process may have migrated meanwhile.
    const current = db.pragma('user_version', { simple: true }) as number;
    for (let v = current; v < SCHEMA_VERSION; v++) MIGRATIONS[v]!(db);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  }).immediate();
}
