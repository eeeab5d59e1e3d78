import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { openSqliteState, SCHEMA_VERSION } from '../../src/state/index.ts';

// The previous release's schema (version 2), as its migrations wrote it.
const SCHEMA_2 = `
  CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
  CREATE TABLE plugins (id TEXT PRIMARY KEY, folder TEXT NOT NULL, name TEXT NOT NULL, last_event_id INTEGER,
    active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)), last_error TEXT, updated_at INTEGER NOT NULL,
    paused INTEGER NOT NULL DEFAULT 0 CHECK (paused IN (0, 1))) WITHOUT ROWID;
  CREATE TABLE backlog (plugin_id TEXT NOT NULL REFERENCES plugins(id) ON DELETE CASCADE, event_id INTEGER NOT NULL,
    expires_at INTEGER NOT NULL, PRIMARY KEY (plugin_id, event_id)) WITHOUT ROWID;
  CREATE TABLE counters (plugin_id TEXT NOT NULL, callback TEXT NOT NULL, processed INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0, total_ms REAL NOT NULL DEFAULT 0, last_event_id INTEGER, last_error TEXT,
    updated_at INTEGER NOT NULL, PRIMARY KEY (plugin_id, callback)) WITHOUT ROWID;
  CREATE TABLE dead_letters (id INTEGER PRIMARY KEY AUTOINCREMENT, plugin_id TEXT NOT NULL, callback TEXT NOT NULL,
    event_id INTEGER NOT NULL, event TEXT NOT NULL, error TEXT NOT NULL, attempts INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('dead', 'retry')), created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
  CREATE INDEX dead_letters_by_plugin ON dead_letters (plugin_id, status, id);
`;

describe('state schema 3: pending events beside gaps', () => {
  it('migrates a schema-2 file: its backlog rows become gaps; pending rows round-trip and leave when removed', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'sgeventd-schema3-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const path = join(dir, 'v2.db');
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.pragma(`application_id = ${0x53474556}`);
    db.exec(SCHEMA_2);
    db.pragma('user_version = 2');
    db.prepare('INSERT INTO plugins (id, folder, name, last_event_id, active, last_error, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)').run('/p/a', '/p', 'a', 50, 1, null, 1);
    db.prepare('INSERT INTO backlog (plugin_id, event_id, expires_at) VALUES (?, ?, ?)').run('/p/a', 47, 9_999_999_999_999);
    db.close();

    const store = await openSqliteState(path);
    t.after(() => store.close());
    const before = await store.getPlugin('/p/a');
    assert.equal(before?.lastEventId, 50);
    assert.deepEqual(before?.backlog, [{ eventId: 47, expiresAt: 9_999_999_999_999 }]);
    await store.commit({
      plugins: [{ id: '/p/a', folder: '/p', name: 'a', lastEventId: 60, active: true, lastError: null }],
      backlogAdd: [{ pluginId: '/p/a', eventId: 55, expiresAt: 0, kind: 'pending' }, { pluginId: '/p/a', eventId: 47, expiresAt: 0, kind: 'pending' }],
    });
    const after = await store.getPlugin('/p/a');
    assert.deepEqual(after?.backlog, [{ eventId: 47, expiresAt: 0, kind: 'pending' }, { eventId: 55, expiresAt: 0, kind: 'pending' }]);
    await store.commit({ backlogRemove: [{ pluginId: '/p/a', eventId: 55 }] });
    assert.deepEqual((await store.loadPlugins())[0]?.backlog.map((b) => b.eventId), [47]);
    const check = new Database(path, { readonly: true });
    assert.equal(check.pragma('user_version', { simple: true }), SCHEMA_VERSION);
    check.close();
  });
});
