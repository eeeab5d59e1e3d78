// The plugin cursor (PluginCursor) on its own: the real EventLog over an
// in-memory source, the real SQLite state store behind a StateBatcher, and a
// scripted plugin standing in for a host.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { EventScope } from '../../src/dispatch/index.ts';
import { waitFor } from '../support/memory-source.ts';
import { CALLBACK, PLUGIN_ID, ScriptedPlugin, errCode, gate, holdAt, cursorBed as bed, range, restartState } from '../support/scripted-cursor.ts';

describe('plugin cursor: order and gaps', () => {
  it('delivers events in id order, from a catch-up read and then live, and moves the cursor to the last', async (t) => {
    const b = await bed(t, { events: 25 });
    const plugin = new ScriptedPlugin();
    const cursor = b.cursor(plugin);
    await waitFor(() => cursor.lastEventId === 25, 'the backlog of 25 events');
    b.source.append(7);
    await waitFor(() => cursor.lastEventId === 32, 'the 7 live events');
    assert.deepEqual(plugin.ids, range(1, 32));
    assert.ok(plugin.deliveries.every((d) => d.attempt === 1 && !d.replay));
    assert.equal(cursor.counters.processed, 32);
    assert.equal((await b.stored())?.lastEventId, 32, 'the stored cursor follows');
  });

  it('a late id is held in the backlog, delivered after higher ids when it shows up, then leaves the backlog', async (t) => {
    const b = await bed(t);
    const plugin = new ScriptedPlugin();
    const cursor = b.cursor(plugin);
    b.source.append(2);
    const late = b.source.appendHeld();
    b.source.append(2);
    await waitFor(() => cursor.lastEventId === 5, 'the visible events');
    assert.deepEqual(plugin.ids, [1, 2, 4, 5]);
    assert.deepEqual(cursor.backlogIds, [late]);
    assert.deepEqual((await b.stored())?.backlog.map((e) => e.eventId), [late], 'the backlog is stored');

    b.source.release(late);
    await waitFor(() => plugin.saw(late), 'the late id');
    await waitFor(() => cursor.backlogSize === 0, 'the backlog to empty');
    assert.deepEqual(plugin.ids, [1, 2, 4, 5, 3], 'the late id came after the higher ones, once');
    assert.equal(cursor.lastEventId, 5, 'a late id never moves the cursor back');
    assert.deepEqual((await b.stored())?.backlog, [], 'the stored backlog is empty');
    b.source.append(1);
    await waitFor(() => cursor.lastEventId === 6, 'the next event');
    assert.deepEqual(plugin.ids, [1, 2, 4, 5, 3, 6]);
  });

  it('a restarted cursor takes the stored backlog over: a late id that shows up after the restart is delivered once', async (t) => {
    const b = await bed(t);
    const plugin = new ScriptedPlugin();
    const cursor = b.cursor(plugin);
    b.source.append(1);
    const late = b.source.appendHeld();
    b.source.append(1);
    await waitFor(() => cursor.lastEventId === 3, 'the visible events');
    await cursor.stop();
    const state = restartState(await b.stored());
    assert.deepEqual(state.backlog.map((e) => e.eventId), [late], 'the backlog was stored with the cursor');

    const again = new ScriptedPlugin();
    const next = b.cursor(again, { state });
    assert.deepEqual(next.backlogIds, [late]);
    b.source.release(late);
    await waitFor(() => again.saw(late), 'the late id after the restart');
    await waitFor(() => next.backlogSize === 0, 'the backlog to empty');
    assert.deepEqual(again.ids, [late]);
    assert.deepEqual(plugin.ids, [1, 3]);
    assert.equal(next.lastEventId, 3);
  });

  it('a late id still arrives when looking it up failed once', async (t) => {
    const b = await bed(t);
    const plugin = new ScriptedPlugin();
    const cursor = b.cursor(plugin);
    b.source.append(1);
    const late = b.source.appendHeld();
    b.source.append(1);
    await waitFor(() => cursor.lastEventId === 3, 'the visible events');
    b.source.failNext(1, 'readIds');
    b.source.release(late);
    await waitFor(() => plugin.saw(late), 'the late id');
    assert.equal(b.source.pendingFailures, 0, 'the lookup did fail once');
    assert.ok(b.records.some((r) => r.level === 40 && errCode(r) === 'MEMORY_SOURCE_READ_FAILED'), 'the failed lookup is logged');
    assert.deepEqual(plugin.ids, [1, 3, 2]);
  });

  it('a burnt id expires after backlogTimeoutMs and the cursor goes on', async (t) => {
    const timeout = 300;
    const b = await bed(t);
    const plugin = new ScriptedPlugin();
    const cursor = b.cursor(plugin, { backlogTimeoutMs: timeout });
    b.source.append(1);
    await waitFor(() => cursor.lastEventId === 1, 'the first event');
    const gapFrom = Date.now();
    const burnt = b.source.burn();
    b.source.append(1);
    await waitFor(() => cursor.lastEventId === 3, 'the event after the gap');
    assert.deepEqual(cursor.backlogIds, [burnt]);
    await waitFor(() => cursor.backlogSize === 0, 'the burnt id to expire');
    assert.ok(Date.now() - gapFrom >= timeout, 'not given up before backlogTimeoutMs');
    assert.ok(b.records.some((r) => r['eventId'] === burnt && r.level === 30), 'giving up is logged with the id');
    b.source.append(2);
    await waitFor(() => cursor.lastEventId === 5, 'the events after it');
    assert.deepEqual(plugin.ids, [1, 3, 4, 5], 'the burnt id never reached the plugin');
    assert.deepEqual((await b.stored())?.backlog, []);
  });

  it('does not wait for a gap whose later event is already older than backlogTimeoutMs', async (t) => {
    const timeout = 60_000;
    const b = await bed(t);
    const plugin = new ScriptedPlugin();
    const cursor = b.cursor(plugin, { backlogTimeoutMs: timeout });
    b.source.append(1);
    const burnt = b.source.burn();
    b.source.append(1, { createdAt: new Date(Date.now() - 2 * timeout) });
    await waitFor(() => cursor.lastEventId === 3, 'the old event after the gap');
    assert.deepEqual(cursor.backlogIds, [], 'the old gap is not waited for');
    assert.ok(b.records.some((r) => r['from'] === burnt && r['to'] === burnt && typeof r['ageMs'] === 'number'), 'the skipped gap is logged with its span');
    assert.deepEqual((await b.stored())?.backlog, [], 'nothing stored for it');
    assert.deepEqual(plugin.ids, [1, 3]);
  });
});

describe('plugin cursor: scope', () => {
  for (const batch of [false, true]) {
    it(`events out of scope (no match, or the scope says no) are counted skipped and the cursor moves over them${batch ? ' (batches)' : ''}`, async (t) => {
      const b = await bed(t, { events: 12 });
      const plugin = new ScriptedPlugin({ batch, matches: (e) => e.id % 3 !== 0 });
      // The scope answers some events at once and looks others up (a promise).
      const scope: EventScope = (e) => (e.id % 2 === 0 ? Promise.resolve(false) : true);
      const cursor = b.cursor(plugin, { scope });
      await waitFor(() => cursor.lastEventId === 12, 'the 12 events');
      const wanted = range(1, 12).filter((id) => id % 3 !== 0 && id % 2 !== 0);
      assert.deepEqual(plugin.ids, wanted);
      assert.equal(cursor.counters.skipped, 12 - wanted.length);
      assert.equal(cursor.counters.processed, wanted.length);
      assert.equal((await b.stored())?.lastEventId, 12);
    });
  }
});

describe('plugin cursor: failures', () => {
  for (const batch of [false, true]) {
    it(`stopOnError: the plugin is deactivated with its cursor on the event before the failed one${batch ? ' (batches)' : ''}`, async (t) => {
      const b = await bed(t, { events: 6 });
      const plugin = new ScriptedPlugin({ batch, outcome: (id) => (id === 4 ? 'deactivate' : 'ok') });
      const cursor = b.cursor(plugin);
      await b.running(cursor);
      assert.equal(cursor.status, 'deactivated');
      assert.equal(cursor.lastEventId, 3);
      assert.ok(cursor.lastError?.includes(CALLBACK), 'lastError names the callback');
      assert.deepEqual(plugin.ids, [1, 2, 3, 4], 'nothing after the failed event ran');
      assert.equal(b.failures.length, 1);
      assert.deepEqual(
        b.failures.map((f) => ({ plugin: f.plugin, callback: f.callback, eventId: f.eventId, code: f.error.code, action: f.action })),
        [{ plugin: 'scripted', callback: CALLBACK, eventId: 4, code: 'PLUGIN_CALLBACK_ERROR', action: 'deactivated' }],
      );
      const row = await b.stored();
      assert.equal(row?.active, false);
      assert.equal(row?.lastEventId, 3);
      assert.equal(row?.lastError, cursor.lastError);
      assert.deepEqual(await b.store.deadLetters.list(), [], 'a deactivation writes no dead letter');
    });
  }

  for (const batch of [false, true]) {
    it(`stopOnError false: the event is skipped, dead-lettered, and the cursor goes on${batch ? ' (batches)' : ''}`, async (t) => {
      const b = await bed(t, { events: 6 });
      const plugin = new ScriptedPlugin({ batch, outcome: (id) => (id === 4 ? 'fail' : 'ok') });
      const cursor = b.cursor(plugin);
      await waitFor(() => cursor.lastEventId === 6, 'the events after the failure');
      assert.equal(cursor.status, 'running');
      assert.deepEqual(plugin.ids, range(1, 6), 'each event once');
      assert.equal(cursor.counters.failed, 1);
      assert.ok(cursor.lastError?.includes(CALLBACK));
      assert.deepEqual(b.failures.map((f) => [f.eventId, f.callback, f.action, f.error.code]), [[4, CALLBACK, 'skipped', 'PLUGIN_CALLBACK_ERROR']]);
      const row = await b.stored();
      assert.equal(row?.active, true);
      assert.equal(row?.lastEventId, 6);
      const dead = await b.store.deadLetters.list();
      assert.deepEqual(dead.map((d) => [d.pluginId, d.callback, d.eventId, d.attempts, d.status]), [[PLUGIN_ID, CALLBACK, 4, 1, 'dead']]);
      assert.equal((dead[0]?.event as { id?: unknown }).id, 4, 'the dead letter holds the event');
      const [counter] = await b.store.counters(PLUGIN_ID);
      assert.equal(counter?.processed, 6);
      assert.equal(counter?.failed, 1);
    });
  }

  it('with deadLetter off a skipped event leaves no dead letter', async (t) => {
    const b = await bed(t, { events: 3 });
    const plugin = new ScriptedPlugin({ outcome: (id) => (id === 2 ? 'fail' : 'ok') });
    const cursor = b.cursor(plugin, { deadLetter: false });
    await waitFor(() => cursor.lastEventId === 3, 'the three events');
    await b.batcher.flush();
    assert.deepEqual(await b.store.deadLetters.list(), []);
    assert.deepEqual(b.failures.map((f) => f.action), ['skipped']);
  });
});

describe('plugin cursor: stopping and batches', () => {
  it('stop() lets the event in flight finish, keeps the cursor on it, and a restarted cursor delivers the rest and nothing else', async (t) => {
    const b = await bed(t, { events: 10 });
    const held = gate();
    const plugin = new ScriptedPlugin({ outcome: holdAt(4, held) });
    const cursor = b.cursor(plugin);
    await waitFor(() => plugin.saw(4), 'event 4 to reach the plugin');
    const stopping = cursor.stop();
    assert.equal(cursor.status, 'stopping');
    held.open();
    await stopping;
    assert.equal(cursor.status, 'stopped');
    assert.equal(cursor.lastEventId, 4, 'the event in flight finished and counts');
    assert.deepEqual(plugin.ids, [1, 2, 3, 4]);

    const again = new ScriptedPlugin();
    const next = b.cursor(again, { state: restartState(await b.stored()) });
    await waitFor(() => next.lastEventId === 10, 'the restarted cursor to catch up');
    b.source.append(1);
    await waitFor(() => next.lastEventId === 11, 'a live event after the restart');
    assert.deepEqual(again.ids, range(5, 11), 'the rest, each once, nothing before the cursor');
    assert.deepEqual(plugin.ids, [1, 2, 3, 4], 'the stopped cursor took nothing more');
  });

  it('a stopped cursor started again resumes where it stopped', async (t) => {
    const b = await bed(t, { events: 6 });
    const held = gate();
    const plugin = new ScriptedPlugin({ outcome: holdAt(3, held) });
    const cursor = b.cursor(plugin);
    await waitFor(() => plugin.saw(3), 'event 3 to reach the plugin');
    const stopping = cursor.stop();
    held.open();
    await stopping;
    assert.equal(cursor.lastEventId, 3);
    const resumed = cursor.start();
    await waitFor(() => cursor.lastEventId === 6, 'the resumed cursor');
    await cursor.stop();
    await resumed;
    assert.deepEqual(plugin.ids, range(1, 6), 'each event once');
  });

  it('a batch that stops early: the rest is sent again, each event handled once', async (t) => {
    const b = await bed(t, { events: 5 });
    const plugin = new ScriptedPlugin({ batch: true, batchLimit: 2 });
    const cursor = b.cursor(plugin);
    await waitFor(() => cursor.lastEventId === 5, 'the five events');
    assert.deepEqual(plugin.batches, [[1, 2, 3, 4, 5], [3, 4, 5], [5]]);
    assert.deepEqual(plugin.ids, range(1, 5));
    assert.ok(plugin.deliveries.every((d) => d.via === 'batch'));
    assert.equal(cursor.counters.processed, 5);
  });

  it('a batch that returns nothing: the first event goes alone, then the rest as a batch', async (t) => {
    const b = await bed(t, { events: 4 });
    let calls = 0;
    const plugin = new ScriptedPlugin({ batch: true });
    const take = plugin.handler.processBatch?.bind(plugin.handler);
    assert.ok(take);
    plugin.handler.processBatch = (events, o) => (calls++ === 0 ? Promise.resolve([]) : take(events, o));
    const cursor = b.cursor(plugin);
    await waitFor(() => cursor.lastEventId === 4, 'the four events');
    assert.deepEqual(plugin.deliveries.map((d) => [d.id, d.via]), [[1, 'process'], [2, 'batch'], [3, 'batch'], [4, 'batch']]);
  });

  it(
    'stop() during a batch keeps the results the plugin already returned: a restarted cursor runs none of them again',
    async (t) => {
      const b = await bed(t, { events: 8 });
      const held = gate();
      const plugin = new ScriptedPlugin({ batch: true, outcome: holdAt(3, held) });
      const cursor = b.cursor(plugin);
      await waitFor(() => plugin.saw(3), 'event 3 to reach the plugin');
      const stopping = cursor.stop();
      held.open();
      await stopping;
      assert.equal(cursor.lastEventId, 8, 'every event of the returned batch counts');
      assert.deepEqual(plugin.batches, [range(1, 8)]);

      const again = new ScriptedPlugin({ batch: true });
      const next = b.cursor(again, { state: restartState(await b.stored()) });
      b.source.append(1);
      await waitFor(() => next.lastEventId === 9, 'a live event after the restart');
      assert.deepEqual(again.ids, [9], 'nothing of the finished batch again');
    },
  );
});

describe('plugin cursor: read failures and replay', () => {
  it('a failed read is logged and read again: nothing is skipped, catching up or live', async (t) => {
    const b = await bed(t, { events: 5 });
    b.source.failNext(2, 'readAfter');
    const plugin = new ScriptedPlugin();
    const cursor = b.cursor(plugin);
    await waitFor(() => cursor.lastEventId === 5, 'the catch-up after two failed reads');
    assert.equal(b.source.pendingFailures, 0);
    const laneErrors = b.records.filter((r) => r.level === 50 && errCode(r) === 'MEMORY_SOURCE_READ_FAILED' && r['pos'] === 0);
    assert.equal(laneErrors.length, 2, 'each failed catch-up read is logged by the cursor with its position');

    b.source.failNext(2, 'readAfter');
    b.source.append(3);
    await waitFor(() => cursor.lastEventId === 8, 'the live events after two failed polls');
    assert.equal(b.source.pendingFailures, 0);
    assert.deepEqual(plugin.ids, range(1, 8), 'each event once, in order');
    assert.equal(cursor.status, 'running');
  });

  it('replayRange runs (from, to] with replay: true and never moves the cursor or writes state', async (t) => {
    const b = await bed(t, { events: 8 });
    const plugin = new ScriptedPlugin({ outcome: (id) => (id === 4 ? 'fail' : 'ok') });
    const cursor = b.cursor(plugin, { replay: true, state: { lastEventId: 2, backlog: [], lastError: null }, start: false });
    const progress: number[] = [];
    const handled = await cursor.replayRange(2, 6, (pos) => progress.push(pos));
    assert.equal(handled, 4);
    assert.deepEqual(progress, [3, 4, 5, 6]);
    assert.deepEqual(plugin.deliveries.map((d) => [d.id, d.replay]), [[3, true], [4, true], [5, true], [6, true]]);
    assert.equal(cursor.lastEventId, 2, 'the cursor did not move');
    await b.batcher.flush();
    assert.deepEqual(await b.store.loadPlugins(), [], 'no plugin row');
    assert.deepEqual(await b.store.counters(), [], 'no counters');
    assert.deepEqual(await b.store.deadLetters.list(), [], 'no dead letter for the failed event');
  });

  it(
    'replayRange on a cursor that is not a replay cursor writes no counters either',
    async (t) => {
      const b = await bed(t, { events: 3 });
      const plugin = new ScriptedPlugin();
      const cursor = b.cursor(plugin, { start: false });
      assert.equal(await cursor.replayRange(0, 3), 3);
      assert.equal(cursor.lastEventId, 0);
      await b.batcher.flush();
      assert.deepEqual(await b.store.loadPlugins(), []);
      assert.deepEqual(await b.store.counters(), []);
    },
  );
});
