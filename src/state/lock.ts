import { mkdirSync, readFileSync, statfsSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import type { Database as Db } from 'better-sqlite3';
import { StateError } from './errors.ts';

/** Who holds a state file, as the holder wrote it into the sidecar lock file. */
export interface StateLockHolder {
  pid: number | null;
  host: string | null;
  since: string | null;
}

/** The lock a daemon holds on its state file while it runs. */
export interface StateLock {
  /** The sidecar file naming the holder: `<state>.lock` (the lock itself is on `<state>.lock.db`). */
  readonly path: string;
  /** The network filesystem the state file lives on (`nfs`, `cifs`...), or null for a local one. */
  readonly networkFilesystem: string | null;
  /** Drops the lock; idempotent. */
  release(): Promise<void>;
}

/**
 * Takes a kernel lock that only one daemon may hold on a state file;
 * `status`, `dlq` and other readers never take it, so they keep working
 * beside a running daemon. Fails with STATE_LOCKED (the holder's pid and host
 * in `details`) when another daemon holds it.
 *
 * Node has no flock/fcntl-lock API; SQLite has: the lock is an SQLite file of
 * its own beside the state, `<state>.lock.db`, opened in exclusive locking
 * mode and written once, so its connection holds SQLite's exclusive (fcntl)
 * lock until it closes. When the daemon ends in any way (SIGKILL included)
 * the kernel drops it. A second daemon's write is refused at once (no busy
 * wait), in this process too: SQLite keeps its connections' locks per file.
 * The state file itself stays in WAL mode for its readers; a pid file check
 * could not tell a live holder from a recycled pid. The holder's pid, host
 * and start go in `<state>.lock`, a plain file read for STATE_LOCKED.
 *
 * @example
 * const lock = await lockStateFile(config.daemon.state);
 * if (lock.networkFilesystem) logger.warn({ fs: lock.networkFilesystem }, 'state file on a network filesystem');
 * ...
 * await lock.release();
 */
export function lockStateFile(statePath: string): Promise<StateLock> {
  // Taken at once; a refusal comes back as the promise's rejection.
  return new Promise((done) => done(lockNow(statePath)));
}

function lockNow(statePath: string): StateLock {
  const state = resolve(statePath);
  const path = `${state}.lock`;
  const file = `${state}.lock.db`;
  try {
    mkdirSync(dirname(path), { recursive: true });
  } catch (err) {
    throw new StateError('STATE_IO', `cannot create the folder of ${path}: ${(err as Error).message}`, { cause: err, details: { path } });
  }
  let db: Db;
  try {
    db = new Database(file, { timeout: 0 });
  } catch (err) {
    throw new StateError('STATE_IO', `cannot lock ${file}: ${(err as Error).message}`, { cause: err, details: { path: file } });
  }
  try {
    // No journal and no sync: the file only carries the lock. A write in
    // exclusive mode takes SQLite's exclusive lock and keeps it until close.
    db.pragma('locking_mode = EXCLUSIVE');
    db.pragma('journal_mode = OFF');
    db.pragma('synchronous = OFF');
    db.exec('CREATE TABLE IF NOT EXISTS held (at TEXT); DELETE FROM held; INSERT INTO held VALUES (datetime())');
  } catch (err) {
    db.close();
    const code = (err as { code?: unknown }).code;
    if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') {
      const holder = holderOf(path);
      const who = holder.pid === null ? 'another process' : `pid ${holder.pid} on ${holder.host ?? 'an unknown host'}`;
      throw new StateError('STATE_LOCKED', `state file ${state} is in use by ${who} (lock ${file}); stop that daemon or point daemon.state elsewhere`, {
        details: { path: state, lock: file, pid: holder.pid, host: holder.host, since: holder.since },
      });
    }
    throw new StateError('STATE_IO', `cannot lock ${file}: ${(err as Error).message}`, { cause: err, details: { path: file } });
  }
  try {
    writeFileSync(path, JSON.stringify({ pid: process.pid, host: hostname(), since: new Date().toISOString() }));
  } catch (err) {
    db.close();
    throw new StateError('STATE_IO', `cannot write ${path}: ${(err as Error).message}`, { cause: err, details: { path } });
  }
  let released = false;
  return {
    path,
    networkFilesystem: networkFilesystemOf(dirname(state)),
    release: () => {
      if (!released) {
        released = true;
        db.close();
      }
      return Promise.resolve();
    },
  };
}

/** What the holder wrote; nulls when the file is missing or not what a holder writes. */
function holderOf(path: string): StateLockHolder {
  let raw: unknown = null;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    // no holder named: "another process"
  }
  const o = raw !== null && typeof raw === 'object' ? (raw as Record<string, unknown>) : {};
  return {
    pid: typeof o['pid'] === 'number' ? o['pid'] : null,
    host: typeof o['host'] === 'string' ? o['host'] : null,
    since: typeof o['since'] === 'string' ? o['since'] : null,
  };
}

// statfs(2) f_type magic numbers of filesystems whose locks and fsyncs cross a network.
const NETWORK_FILESYSTEMS: ReadonlyMap<number, string> = new Map([
  [0x6969, 'nfs'],
  [0x517b, 'smb'],
  [0xff534d42, 'cifs'],
  [0xfe534d42, 'smb2'],
  [0x00c36400, 'ceph'],
  [0x5346414f, 'afs'],
  [0x01021997, '9p'],
  [0x0bd00bd0, 'lustre'],
  [0x47504653, 'gpfs'],
  [0x01161970, 'gfs2'],
  [0x7461636f, 'ocfs2'],
  [0x73757245, 'coda'],
  [0x564c, 'ncp'],
]);

/** The name of the network filesystem `type` (statfs f_type) stands for, or null for a local one. */
export function networkFilesystemName(type: number): string | null {
  return NETWORK_FILESYSTEMS.get(type >>> 0) ?? null;
}

function networkFilesystemOf(dir: string): string | null {
  try {
    return networkFilesystemName(statfsSync(dir).type);
  } catch {
    // statfs is not available everywhere (nor meaningful): no warning then.
    return null;
  }
}
