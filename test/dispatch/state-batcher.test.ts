// The StateBatcher against the real SQLite state store: when it flushes, what
// a batch carries, and what happens to a batch the store refused.
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { StateBatcher, type StateBatcherOptions } from '../../src/dispatch/index.ts';
import { openSqliteState, type PluginRow, type SqliteStateStore, type StateBatch } from '../../src/state/index.ts';
import { makeEvent, memoryLogger, waitFor, type LogRecord } from '../support/memory-source.ts';

const HOUR = 3_600_000;

interface Bed {
  store: SqliteStateStore;
  batcher: StateBatcher;
  records: LogRecord[];
  path: string;
}

async function bed(t: TestContext, opts: Partial<Omit<StateBatcherOptions, 'logger'>> & { busyTimeoutMs?: number } = {}): Promise<Bed> {
  const dir = await mkdtemp(join(tmpdir(), 'sgeventd-batcher-'));
  const path = join(dir, 'state.db');
  const { logger, records } = memoryLogger();
  const store = await openSqliteState(path, { synchronous: 'normal', busyTimeoutMs: opts.busyTimeoutMs ?? 5000 });
  const batcher = new StateBatcher(store, { flushMs: opts.flushMs ?? HOUR, flushEvents: opts.flushEvents ?? 1_000_000, logger });
  t.after(async () => {
    await batcher.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  return { store, batcher, records, path };
}

function row(id: string, lastEventId: number, extra: Partial<PluginRow> = {}): PluginRow {
  return { id, folder: '/plugins', name: id, lastEventId, active: true, lastError: null, ...extra };
}

/** A promise the test resolves by hand. */
function gate(): { wait: Promise<void>; open: () => void } {
  let open = (): void => undefined;
  const wait = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { wait, open };
}

/** Another connection holding the state file's write lock until release(). */
function writeLock(t: TestContext, path: string): { release: () => void } {
  const db = new Database(path);
  db.exec('BEGIN IMMEDIATE');
  let held = true;
  const release = (): void => {
    if (!held) return;
    held = false;
    db.exec('ROLLBACK');
    db.close();
  };
  t.after(release);
  return { release };
}

describe('StateBatcher', () => {
  it('flushes when flushEvents events are done, not before', async (t) => {
    const c = await bed(t, { flushEvents: 3 });
    for (let id = 1; id <= 2; id++) {
      c.batcher.plugin(row('p', id));
      c.batcher.eventDone();
    }
    assert.equal(c.batcher.stats.flushes, 0);
    assert.equal(await c.store.getPlugin('p'), undefined, 'nothing written after 2 of 3 events');
    c.batcher.plugin(row('p', 3));
    c.batcher.eventDone();
    await waitFor(() => c.batcher.stats.flushes === 1, 'the flush after the third event');
    assert.equal((await c.store.getPlugin('p'))?.lastEventId, 3);
    // The count starts again after a flush.
    c.batcher.plugin(row('p', 4));
    c.batcher.eventDone();
    c.batcher.eventDone();
    assert.equal((await c.store.getPlugin('p'))?.lastEventId, 3, 'two more events are not a batch');
    c.batcher.eventDone();
    await waitFor(async () => (await c.store.getPlugin('p'))?.lastEventId === 4, 'the second batch');
    assert.equal(c.batcher.stats.flushes, 2);
  });

  it('flushes flushMs after the first change even without events done', async (t) => {
    const flushMs = 60;
    const b = await bed(t, { flushMs });
    const from = Date.now();
    b.batcher.plugin(row('p', 7));
    assert.equal(await b.store.getPlugin('p'), undefined);
    await waitFor(async () => (await b.store.getPlugin('p'))?.lastEventId === 7, 'the timed flush');
    assert.ok(Date.now() - from >= flushMs - 1, 'not before flushMs');
    assert.equal(b.batcher.stats.flushes, 1);
  });

  it('concurrent flushes share one commit; with nothing pending there is no commit', async (t) => {
    const b = await bed(t);
    await b.batcher.flush();
    assert.equal(b.batcher.stats.flushes, 0, 'nothing to write');
    b.batcher.plugin(row('p', 1));
    await Promise.all([b.batcher.flush(), b.batcher.flush(), b.batcher.flush()]);
    assert.equal(b.batcher.stats.flushes, 1);
    assert.equal((await b.store.getPlugin('p'))?.lastEventId, 1);
  });

  it('counters add up per callback, dead letters and the backlog land, the newest plugin row wins', async (t) => {
    const b = await bed(t);
    b.batcher.plugin(row('p', 1));
    b.batcher.plugin(row('q', 10));
    b.batcher.plugin(row('p', 3, { lastError: 'cb: boom' }));
    b.batcher.counter({ pluginId: 'p', callback: 'a', processed: 1, failed: 0, totalMs: 5, lastEventId: 1 });
    b.batcher.counter({ pluginId: 'p', callback: 'a', processed: 1, failed: 1, totalMs: 7, lastEventId: 2, lastError: 'boom' });
    b.batcher.counter({ pluginId: 'p', callback: 'b', processed: 1, failed: 0, totalMs: 1, lastEventId: 2 });
    b.batcher.backlogAdd('p', 100, Date.now() + HOUR);
    b.batcher.backlogAdd('p', 101, Date.now() + HOUR);
    b.batcher.backlogRemove('p', 100);
    b.batcher.deadLetter({ pluginId: 'p', callback: 'a', eventId: 2, event: makeEvent(2), error: 'boom', attempts: 1 });
    await b.batcher.flush();
    // A second batch adds to the stored counters.
    b.batcher.counter({ pluginId: 'p', callback: 'a', processed: 2, failed: 0, totalMs: 3, lastEventId: 3 });
    b.batcher.backlogRemove('p', 101);
    await b.batcher.flush();

    const p = await b.store.getPlugin('p');
    assert.equal(p?.lastEventId, 3);
    assert.equal(p?.lastError, 'cb: boom');
    assert.deepEqual(p?.backlog, []);
    assert.equal((await b.store.getPlugin('q'))?.lastEventId, 10);
    const counters = await b.store.counters('p');
    assert.deepEqual(
      counters.map((c) => [c.callback, c.processed, c.failed, c.totalMs, c.lastEventId, c.lastError]),
      [['a', 4, 1, 15, 3, 'boom'], ['b', 1, 0, 1, 2, null]],
    );
    const dead = await b.store.deadLetters.list();
    assert.deepEqual(dead.map((d) => [d.pluginId, d.callback, d.eventId, d.attempts]), [['p', 'a', 2, 1]]);
    assert.equal((dead[0]?.event as { id?: unknown }).id, 2);
    assert.equal(b.batcher.stats.flushes, 2);
  });

  it('a commit the store refuses is kept, merged under newer changes and written by a later flush: nothing lost', async (t) => {
    const flushMs = 30;
    const b = await bed(t, { flushMs, busyTimeoutMs: 0 });
    // Something to commit first, so the plugin rows exist.
    b.batcher.plugin(row('p', 0));
    b.batcher.plugin(row('q', 0));
    await b.batcher.flush();
    const lock = writeLock(t, b.path);

    b.batcher.plugin(row('p', 5));
    b.batcher.plugin(row('q', 50));
    b.batcher.counter({ pluginId: 'p', callback: 'a', processed: 5, failed: 1, totalMs: 10 });
    b.batcher.backlogAdd('p', 3, Date.now() + HOUR);
    b.batcher.backlogAdd('p', 4, Date.now() + HOUR);
    b.batcher.backlogRemove('q', 40);
    b.batcher.deadLetter({ pluginId: 'p', callback: 'a', eventId: 2, event: makeEvent(2), error: 'first', attempts: 1 });
    await b.batcher.flush();
    assert.equal(b.batcher.stats.failures, 1, 'the locked store refused the commit');
    assert.ok(b.records.some((r) => r.level === 50 && (r['err'] as { code?: unknown } | undefined)?.code === 'STATE_IO'), 'the failure is logged with its code');

    // Newer changes arrive while the store is locked (the timer keeps trying).
    b.batcher.plugin(row('p', 9));
    b.batcher.counter({ pluginId: 'p', callback: 'a', processed: 4, failed: 0, totalMs: 6 });
    b.batcher.backlogRemove('p', 4);
    b.batcher.backlogAdd('q', 40, Date.now() + HOUR);
    b.batcher.deadLetter({ pluginId: 'p', callback: 'a', eventId: 6, event: makeEvent(6), error: 'second', attempts: 1 });
    await waitFor(() => b.batcher.stats.failures >= 2, 'the timer to try again while the store is locked');
    assert.equal((await b.store.getPlugin('p'))?.lastEventId, 0, 'nothing of it was written yet');

    lock.release();
    await waitFor(() => b.batcher.stats.flushes === 2, 'the timer to write the kept changes');
    const p = await b.store.getPlugin('p');
    assert.equal(p?.lastEventId, 9, 'the newer row, not the refused one');
    assert.deepEqual(p?.backlog.map((e) => e.eventId), [3], 'backlog: 3 added, 4 added then removed');
    const q = await b.store.getPlugin('q');
    assert.equal(q?.lastEventId, 50, 'a row with no newer change is kept from the refused batch');
    assert.deepEqual(q?.backlog.map((e) => e.eventId), [40], 'the newer add wins over the refused remove');
    const [counter] = await b.store.counters('p');
    assert.deepEqual([counter?.processed, counter?.failed, counter?.totalMs], [9, 1, 16], 'counter increments of both batches');
    const dead = await b.store.deadLetters.list();
    assert.deepEqual(dead.map((d) => [d.eventId, d.error]), [[2, 'first'], [6, 'second']], 'both dead letters, in order');
  });

  it(
    'a counter change made while a commit is under way keeps its lastEventId and lastError when that commit is refused',
    async (t) => {
      const b = await bed(t, { busyTimeoutMs: 0 });
      b.batcher.plugin(row('p', 0));
      await b.batcher.flush();
      // The same store, but a commit first waits for the test: changes can arrive meanwhile.
      const pending = gate();
      const slow = new Proxy(b.store, {
        get(target, key): unknown {
          if (key === 'commit') return async (batch: StateBatch) => {
            await pending.wait;
            return target.commit(batch);
          };
          const v: unknown = Reflect.get(target, key, target);
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
        },
      });
      const { logger } = memoryLogger();
      const batcher = new StateBatcher(slow, { flushMs: HOUR, flushEvents: 1_000_000, logger });
      t.after(() => batcher.close());
      const lock = writeLock(t, b.path);
      batcher.counter({ pluginId: 'p', callback: 'a', processed: 1, failed: 1, totalMs: 1, lastEventId: 5, lastError: 'older' });
      const refused = batcher.flush();
      batcher.counter({ pluginId: 'p', callback: 'a', processed: 1, failed: 1, totalMs: 1, lastEventId: 9, lastError: 'newer' });
      pending.open();
      await refused;
      assert.equal(batcher.stats.failures, 1);
      lock.release();
      await batcher.flush();
      const [counter] = await b.store.counters('p');
      assert.deepEqual([counter?.processed, counter?.failed, counter?.lastEventId, counter?.lastError], [2, 2, 9, 'newer']);
    },
  );

  it('close() writes what is pending and stops the timer', async (t) => {
    const b = await bed(t);
    b.batcher.plugin(row('p', 4));
    b.batcher.counter({ pluginId: 'p', callback: 'a', processed: 1, failed: 0, totalMs: 2, lastEventId: 4 });
    b.batcher.deadLetter({ pluginId: 'p', callback: 'a', eventId: 4, event: makeEvent(4), error: 'x', attempts: 2 });
    b.batcher.eventDone();
    await b.batcher.close();
    assert.equal((await b.store.getPlugin('p'))?.lastEventId, 4);
    assert.equal((await b.store.counters('p'))[0]?.processed, 1);
    assert.deepEqual((await b.store.deadLetters.list()).map((d) => [d.eventId, d.attempts]), [[4, 2]]);
    assert.equal(b.batcher.stats.flushes, 1);
    await b.batcher.close();
    assert.equal(b.batcher.stats.flushes, 1, 'a second close has nothing to write');
  });
});
