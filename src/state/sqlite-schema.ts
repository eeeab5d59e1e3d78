import type { Database } from 'better-sqlite3';

/** 'SGEV' in the SQLite header's application_id: tells our state files from any other SQLite file. */
export const APPLICATION_ID = 0x53474556;

/**
 * Schema migrations: entry N brings a file from user_version N to N+1. Never
 * edit a released entry; append a new one.
 */
export const MIGRATIONS: ReadonlyArray<(db: Database) => void> = [
  (db) => {
    db.exec(`
      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
      CREATE TABLE plugins (
        id TEXT PRIMARY KEY,
        folder TEXT NOT NULL,
        name TEXT NOT NULL,
        last_event_id INTEGER,
        active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
        last_error TEXT,
        updated_at INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE TABLE backlog (
        plugin_id TEXT NOT NULL REFERENCES plugins(id) ON DELETE CASCADE,
        event_id INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        PRIMARY KEY (plugin_id, event_id)
      ) WITHOUT ROWID;
      CREATE TABLE counters (
        plugin_id TEXT NOT NULL,
        callback TEXT NOT NULL,
        processed INTEGER NOT NULL DEFAULT 0,
        failed INTEGER NOT NULL DEFAULT 0,
        total_ms REAL NOT NULL DEFAULT 0,
        last_event_id INTEGER,
        last_error TEXT,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (plugin_id, callback)
      ) WITHOUT ROWID;
      CREATE TABLE dead_letters (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        plugin_id TEXT NOT NULL,
        callback TEXT NOT NULL,
        event_id INTEGER NOT NULL,
        event TEXT NOT NULL,
        error TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('dead', 'retry')),
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      );
      CREATE INDEX dead_letters_by_plugin ON dead_letters (plugin_id, status, id);
    `);
    db.prepare(`INSERT INTO meta (key, value) VALUES ('created_at', ?)`).run(String(Date.now()));
  },
  // 1 → 2: `sgeventd plugin disable` pauses a plugin until `enable`, across restarts; batches never write it.
  (db) => {
    db.exec('ALTER TABLE plugins ADD COLUMN paused INTEGER NOT NULL DEFAULT 0 CHECK (paused IN (0, 1))');
  },
  // 2 → 3: a concurrent plugin's cursor keeps the events handed out and not
  // finished ('pending', no expiry) beside the gaps waiting for late ids ('gap').
  (db) => {
    db.exec(`ALTER TABLE backlog ADD COLUMN kind TEXT NOT NULL DEFAULT 'gap' CHECK (kind IN ('gap', 'pending'))`);
  },
];

export const SCHEMA_VERSION = MIGRATIONS.length;
