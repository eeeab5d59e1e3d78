import { describe, it, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { openSqliteState, pluginId, normalizeSiteUrl, StateError, SCHEMA_VERSION } from '../../src/state/index.ts';
import { MIGRATIONS } from '../../src/state/sqlite-schema.ts';
import type { SqliteStateStore, PluginRow } from '../../src/state/index.ts';

const isCode = (code: string) => (e: unknown): boolean => e instanceof StateError && e.code === code;

function row(folder: string, name: string, lastEventId: number | null, extra: Partial<PluginRow> = {}): PluginRow {
  return { id: pluginId({ folder, name }), folder, name, lastEventId, active: true, lastError: null, ...extra };
}

describe('SQLite state store', () => {
  let dir: string;
  let store: SqliteStateStore | undefined;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sgeventd-state-'));
  });
  afterEach(async () => {
    await store?.close();
    store = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  it('creates a missing file (and its folders) with the schema, and round-trips plugins and backlog', async () => {
    const path = join(dir, 'a', 'b', 'state.db');
    store = await openSqliteState(path);
    assert.ok((await stat(path)).size > 0);
    assert.deepEqual(await store.loadPlugins(), []);
    const a = row('/srv/plugins', 'alpha', 41);
    const b = row('/srv/plugins', 'beta', null, { active: false, lastError: 'TypeError: x' });
    await store.commit({
      plugins: [a, b],
      backlogAdd: [{ pluginId: a.id, eventId: 40, expiresAt: 1000 }, { pluginId: a.id, eventId: 38, expiresAt: 900 }],
    });
    await store.close();
    store = await openSqliteState(path);
    const plugins = await store.loadPlugins();
    assert.deepEqual(plugins.map((p) => ({ ...p, updatedAt: 0 })), [
      { ...a, paused: false, backlog: [{ eventId: 38, expiresAt: 900 }, { eventId: 40, expiresAt: 1000 }], updatedAt: 0 },
      { ...b, paused: false, backlog: [], updatedAt: 0 },
    ]);
    await store.commit({ backlogRemove: [{ pluginId: a.id, eventId: 38 }], plugins: [{ ...a, lastEventId: 45 }] });
    const again = await store.getPlugin(a.id);
    assert.equal(again?.lastEventId, 45);
    assert.deepEqual(again?.backlog, [{ eventId: 40, expiresAt: 1000 }]);
    assert.equal(await store.getPlugin('/nope/x'), undefined);
    const db = new Database(path, { readonly: true });
    try {
      assert.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
      assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    } finally {
      db.close();
    }
  });

  it('refuses to create a file when told it must exist', async () => {
    const path = join(dir, 'x', 'state.db');
    await assert.rejects(openSqliteState(path, { mustExist: true }), isCode('STATE_MISSING'));
    await assert.rejects(stat(join(dir, 'x')), { code: 'ENOENT' });
  });

  it('gives plugins a stable id from folder and name', () => {
    assert.equal(pluginId({ folder: '/srv/plugins/', name: 'notify' }), '/srv/plugins/notify');
    assert.equal(pluginId({ folder: '/srv/./plugins', name: 'notify' }), pluginId({ folder: '/srv/plugins', name: 'notify' }));
    assert.notEqual(pluginId({ folder: '/srv/a', name: 'n' }), pluginId({ folder: '/srv/b', name: 'n' }));
  });

  it('applies a batch all or nothing', async () => {
    store = await openSqliteState(join(dir, 's.db'));
    const a = row('/p', 'a', 10);
    await store.commit({ plugins: [a], backlogAdd: [{ pluginId: a.id, eventId: 9, expiresAt: 1 }], counters: [{ pluginId: a.id, callback: 'cb', processed: 3, failed: 0, totalMs: 5 }] });
    // The backlog entry names a plugin that does not exist: the batch fails on its third part.
    await assert.rejects(store.commit({
      plugins: [{ ...a, lastEventId: 20 }],
      backlogRemove: [{ pluginId: a.id, eventId: 9 }],
      counters: [{ pluginId: a.id, callback: 'cb', processed: 7, failed: 1, totalMs: 1 }],
      backlogAdd: [{ pluginId: '/p/ghost', eventId: 1, expiresAt: 1 }],
      deadLetters: [{ pluginId: a.id, callback: 'cb', eventId: 11, event: {}, error: 'x', attempts: 1 }],
    }), isCode('STATE_IO'));
    const p = await store.getPlugin(a.id);
    assert.equal(p?.lastEventId, 10);
    assert.deepEqual(p?.backlog, [{ eventId: 9, expiresAt: 1 }]);
    assert.deepEqual((await store.counters()).map((c) => [c.processed, c.failed]), [[3, 0]]);
    assert.deepEqual(await store.deadLetters.list(), []);
  });

  it('adds counter increments and keeps the last error unless told otherwise', async () => {
    store = await openSqliteState(join(dir, 's.db'));
    const a = row('/p', 'a', 1);
    await store.commit({ plugins: [a], counters: [{ pluginId: a.id, callback: 'cb', processed: 2, failed: 1, totalMs: 1.5, lastEventId: 1, lastError: 'boom' }] });
    await store.commit({ counters: [{ pluginId: a.id, callback: 'cb', processed: 3, failed: 0, totalMs: 2, lastEventId: 4 }, { pluginId: a.id, callback: 'other', processed: 1, failed: 0, totalMs: 0 }] });
    const [cb, other] = await store.counters(a.id);
    assert.deepEqual({ ...cb, updatedAt: 0 }, { pluginId: a.id, callback: 'cb', processed: 5, failed: 1, totalMs: 3.5, lastEventId: 4, lastError: 'boom', updatedAt: 0 });
    assert.equal(other?.processed, 1);
    await store.commit({ counters: [{ pluginId: a.id, callback: 'cb', processed: 0, failed: 0, totalMs: 0, lastError: null }] });
    assert.equal((await store.counters(a.id))[0]?.lastError, null);
    assert.deepEqual(await store.counters('/p/none'), []);
  });

  it('records the site once and refuses another one, comparing normalised URLs', async () => {
    const path = join(dir, 's.db');
    store = await openSqliteState(path);
    assert.equal(await store.boundSite(), undefined);
    await store.bindSite('https://Studio.ShotGrid.Autodesk.com/');
    await store.bindSite('https://studio.shotgrid.autodesk.com:443');
    await store.close();
    store = await openSqliteState(path);
    await assert.rejects(store.bindSite('https://other.shotgrid.autodesk.com'), (e: unknown) => {
      assert.ok(isCode('STATE_SITE_MISMATCH')(e));
      assert.deepEqual((e as StateError).details, { path, recorded: 'https://studio.shotgrid.autodesk.com', requested: 'https://other.shotgrid.autodesk.com' });
      return true;
    });
    assert.equal(normalizeSiteUrl('HTTP://127.0.0.1:80//'), 'http://127.0.0.1');
  });

  it('runs dead letters through ls, retry, take, fail, resolve and drop', async () => {
    store = await openSqliteState(join(dir, 's.db'));
    const a = row('/p', 'a', 5);
    const b = row('/p', 'b', 5);
    const dl = (p: PluginRow, eventId: number) => ({ pluginId: p.id, callback: 'cb', eventId, event: { id: eventId, meta: { x: [1] } }, error: 'Error: boom', attempts: 1 });
    await store.commit({ plugins: [a, b], deadLetters: [dl(a, 1), dl(a, 2), dl(b, 3), dl(a, 4)] });
    const all = await store.deadLetters.list();
    assert.deepEqual(all.map((d) => [d.pluginId, d.eventId, d.status]), [[a.id, 1, 'dead'], [a.id, 2, 'dead'], [b.id, 3, 'dead'], [a.id, 4, 'dead']]);
    assert.deepEqual(all[0]?.event, { id: 1, meta: { x: [1] } });
    const [d1, d2, d3, d4] = all.map((d) => d.id) as [number, number, number, number];

    assert.equal(await store.deadLetters.requestRetry([d1, d3, 9999]), 2);
    assert.equal(await store.deadLetters.requestRetry([d1]), 0);
    assert.deepEqual((await store.deadLetters.list({ status: 'retry' })).map((d) => d.id), [d1, d3]);
    assert.equal(await store.deadLetters.requestRetry('all', a.id), 2);
    assert.deepEqual((await store.deadLetters.list({ pluginId: a.id, status: 'retry' })).map((d) => d.id), [d1, d2, d4]);

    const first = await store.deadLetters.takeRetries(a.id, 2);
    assert.deepEqual(first.map((d) => d.id), [d1, d2]);
    assert.deepEqual((await store.deadLetters.takeRetries(a.id, 5)).map((d) => d.id), [d4]);
    assert.deepEqual(await store.deadLetters.takeRetries(a.id, 5), []);

    await store.deadLetters.resolve(d1);
    await store.deadLetters.fail(d2, 'Error: again');
    const d2row = (await store.deadLetters.list()).find((d) => d.id === d2);
    assert.deepEqual([d2row?.status, d2row?.attempts, d2row?.error], ['dead', 2, 'Error: again']);

    // Taken but neither resolved nor failed: a new process (after a crash) hands it out again.
    const path = store.path;
    await store.close();
    store = await openSqliteState(path);
    assert.deepEqual((await store.deadLetters.takeRetries(a.id, 5)).map((d) => d.id), [d4]);

    assert.equal(await store.deadLetters.drop([d4]), 1);
    assert.equal(await store.deadLetters.drop('all', b.id), 1);
    assert.deepEqual((await store.deadLetters.list()).map((d) => d.id), [d2]);
    assert.equal(await store.deadLetters.drop('all'), 1);
    assert.deepEqual(await store.deadLetters.list(), []);
  });

  it('enables and disables a plugin, refusing an unknown one', async () => {
    store = await openSqliteState(join(dir, 's.db'));
    const a = row('/p', 'a', 5, { active: false, lastError: 'boom' });
    await store.commit({ plugins: [a] });
    await store.setPluginActive(a.id, true);
    assert.equal((await store.getPlugin(a.id))?.active, true);
    await assert.rejects(store.setPluginActive('/p/zz', true), isCode('STATE_UNKNOWN_PLUGIN'));
  });

  it('pauses a plugin until told otherwise: batches never clear it, reopening keeps it', async () => {
    const path = join(dir, 's.db');
    store = await openSqliteState(path);
    const a = row('/p', 'a', 5);
    await store.commit({ plugins: [a] });
    assert.equal((await store.getPlugin(a.id))?.paused, false, 'a new plugin is not paused');
    await store.setPluginPaused(a.id, true);
    await store.commit({ plugins: [{ ...a, lastEventId: 9 }] });
    const after = await store.getPlugin(a.id);
    assert.deepEqual([after?.paused, after?.lastEventId], [true, 9], 'a cursor batch leaves the pause alone');
    await store.close();
    store = await openSqliteState(path);
    assert.equal((await store.loadPlugins())[0]?.paused, true);
    await store.setPluginPaused(a.id, false);
    assert.equal((await store.getPlugin(a.id))?.paused, false);
    await assert.rejects(store.setPluginPaused('/p/zz', true), isCode('STATE_UNKNOWN_PLUGIN'));
  });

  it('migrates a schema-1 file in place, keeping its cursors', async () => {
    const path = join(dir, 'v1.db');
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.pragma(`application_id = ${0x53474556}`);
    MIGRATIONS[0]?.(db);
    db.pragma('user_version = 1');
    db.prepare('INSERT INTO plugins (id, folder, name, last_event_id, active, last_error, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)').run('/p/a', '/p', 'a', 41, 0, 'boom', 1);
    db.close();
    store = await openSqliteState(path);
    const a = await store.getPlugin('/p/a');
    assert.deepEqual([a?.lastEventId, a?.active, a?.paused, a?.lastError], [41, false, false, 'boom']);
    await store.close();
    store = undefined;
    const check = new Database(path, { readonly: true });
    assert.equal(check.pragma('user_version', { simple: true }), SCHEMA_VERSION);
    check.close();
  });

  it('refuses empty, non-SQLite, foreign and too-new files, and leaves them untouched', async () => {
    const empty = join(dir, 'empty.db');
    await writeFile(empty, '');
    await assert.rejects(openSqliteState(empty), (e: unknown) => isCode('STATE_CORRUPT')(e) && (e as StateError).details.reason === 'empty');
    assert.equal((await stat(empty)).size, 0);

    const garbage = join(dir, 'garbage.db');
    await writeFile(garbage, 'this is a pickle, not a database'.repeat(200));
    await assert.rejects(openSqliteState(garbage), isCode('STATE_CORRUPT'));

    const foreign = join(dir, 'foreign.db');
    const f = new Database(foreign);
    f.exec('CREATE TABLE shots (id INTEGER)');
    f.close();
    await assert.rejects(openSqliteState(foreign), isCode('STATE_FOREIGN'));

    const newer = join(dir, 'newer.db');
    await (await openSqliteState(newer)).close();
    const n = new Database(newer);
    n.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    n.close();
    await assert.rejects(openSqliteState(newer), isCode('STATE_TOO_NEW'));

    const truncated = join(dir, 'truncated.db');
    const t = await openSqliteState(truncated);
    await t.commit({ plugins: Array.from({ length: 300 }, (_, i) => row('/p', `plugin-with-a-long-name-${i}`, i)) });
    await t.close();
    const bytes = (await import('node:fs')).readFileSync(truncated);
    await writeFile(truncated, bytes.subarray(0, Math.floor(bytes.length / 2)));
    await assert.rejects(openSqliteState(truncated), (e: unknown) => isCode('STATE_CORRUPT')(e));
  });

  it('fails with STATE_CLOSED after close, and close is idempotent', async () => {
    store = await openSqliteState(join(dir, 's.db'));
    await store.close();
    await store.close();
    await assert.rejects(store.loadPlugins(), isCode('STATE_CLOSED'));
  });
});
