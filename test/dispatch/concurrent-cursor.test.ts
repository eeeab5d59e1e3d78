import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { CursorHandler } from '../../src/dispatch/index.ts';
import { laneKey, NO_PROJECT_KEY } from '../../src/dispatch/index.ts';
import type { ProcessResult } from '../../src/hosts/index.ts';
import type { EventLogEntry } from '../../src/shared/index.ts';
import { waitFor } from '../support/memory-source.ts';
import { concurrentBed, restartState, result } from '../support/scripted-cursor.ts';

/** A plugin that records (key, id) as events start and finish, and holds the events a test asks it to. */
class LanePlugin {
  readonly started: Array<{ key: string; id: number; attempt: number }> = [];
  readonly finished: number[] = [];
  inFlight = 0;
  maxInFlight = 0;
  readonly #holds = new Map<number, { wait: Promise<void>; open: () => void }>();
  readonly handler: CursorHandler;

  constructor(outcome: (id: number, attempt: number) => 'ok' | 'fail' | 'deactivate' = () => 'ok') {
    this.handler = {
      matches: () => true,
      process: async (event: EventLogEntry, o): Promise<ProcessResult> => {
        this.started.push({ key: laneKey(event, 'project'), id: event.id, attempt: o.attempt });
        this.inFlight++;
        this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
        // Yield so other lanes get a turn; held events wait for the test.
        await new Promise<void>((resolve) => setImmediate(resolve));
        await this.#holds.get(event.id)?.wait;
        this.inFlight--;
        const r = result(outcome(event.id, o.attempt));
        if (r.outcome === 'ok' && r.failures.length === 0) this.finished.push(event.id);
        return r;
      },
    };
  }

  hold(id: number): () => void {
    let open = (): void => undefined;
    const wait = new Promise<void>((resolve) => {
      open = resolve;
    });
    this.#holds.set(id, { wait, open });
    return open;
  }

  /** Ids in the order they started, by key. */
  byKey(): Map<string, number[]> {
    const out = new Map<string, number[]>();
    for (const s of this.started) out.set(s.key, [...(out.get(s.key) ?? []), s.id]);
    return out;
  }
}

const project5 = (id: number): number | null => (id % 6 === 0 ? null : id % 5);

describe('key lanes', () => {
  it('keys: project id, a lane of its own without a project, entity type:id then meta then project', () => {
    const base: EventLogEntry = {
      type: 'EventLogEntry', id: 1, event_type: 'Shotgun_Shot_Change', attribute_name: null, meta: null,
      entity: { type: 'Shot', id: 9 }, user: null, project: { type: 'Project', id: 4 }, session_uuid: null, created_at: null,
    } as unknown as EventLogEntry;
    assert.equal(laneKey(base, 'project'), 'project:4');
    assert.equal(laneKey({ ...base, project: null }, 'project'), NO_PROJECT_KEY);
    assert.equal(laneKey(base, 'entity'), 'Shot:9');
    assert.equal(laneKey({ ...base, entity: null, meta: { entity_type: 'Shot', entity_id: 9 } }, 'entity'), 'Shot:9');
    assert.equal(laneKey({ ...base, entity: null }, 'entity'), 'project:4');
  });
});

describe('concurrent plugin cursor', () => {
  it('keeps each key in id order, runs up to max keys at once and never more, delivers every event once', async (t) => {
    const bed = await concurrentBed(t, project5);
    bed.source.inner.append(300);
    const plugin = new LanePlugin();
    const cursor = bed.cursor(plugin.handler, { max: 4 });
    await waitFor(() => plugin.finished.length === 300, 'all 300 events');
    for (const [key, ids] of plugin.byKey()) assert.deepEqual(ids, [...ids].sort((a, b) => a - b), `order of ${key}`);
    assert.equal(plugin.started.length, 300);
    assert.equal(plugin.maxInFlight, 4, 'lanes overlapped up to max');
    await waitFor(async () => (await bed.stored())?.lastEventId === 300 && (await bed.stored())?.backlog.length === 0, 'cursor stored at 300, nothing pending');
    assert.deepEqual(cursor.pendingIds, []);
  });

  it('a late id from the gap backlog runs after higher ids of its key, and leaves the backlog only when finished', async (t) => {
    const bed = await concurrentBed(t, () => 1);
    bed.source.inner.append(2);
    const late = bed.source.inner.appendHeld();
    bed.source.inner.append(3);
    const plugin = new LanePlugin();
    const release = plugin.hold(late);
    bed.cursor(plugin.handler, { max: 4 });
    await waitFor(() => plugin.finished.length === 5, 'the events around the gap');
    assert.deepEqual((await bed.stored())?.backlog.map((b) => [b.eventId, b.kind ?? 'gap']), [[late, 'gap']]);
    bed.source.inner.release(late);
    await waitFor(() => plugin.started.some((s) => s.id === late), 'the late id');
    await waitFor(async () => (await bed.stored())?.backlog.some((b) => b.eventId === late && b.kind === 'pending'), 'the late id stored as pending while it runs');
    release();
    await waitFor(() => plugin.finished.includes(late), 'the late id finished');
    assert.deepEqual(plugin.byKey().get('project:1'), [1, 2, 4, 5, 6, late]);
    await waitFor(async () => (await bed.stored())?.backlog.length === 0, 'the late id left the backlog');
  });

  it('a hanging key does not hold the other keys', async (t) => {
    const bed = await concurrentBed(t, (id) => (id === 1 ? 1 : 2 + (id % 3)));
    bed.source.inner.append(60);
    const plugin = new LanePlugin();
    const release = plugin.hold(1);
    bed.cursor(plugin.handler, { max: 4 });
    await waitFor(() => plugin.finished.length === 59, 'every other key');
    assert.ok(!plugin.finished.includes(1));
    release();
    await waitFor(() => plugin.finished.length === 60, 'the hung event');
  });

  it('a full window parks the hanging lane: other keys go on, the parked events run later in order, each once', async (t) => {
    // Project 1 hangs on its first event and has 100 more queued; the window holds 20.
    const bed = await concurrentBed(t, (id) => (id <= 101 ? 1 : 2 + (id % 3)), { batchSize: 10 });
    bed.source.inner.append(160);
    const plugin = new LanePlugin();
    const release = plugin.hold(1);
    const cursor = bed.cursor(plugin.handler, { max: 4, window: 20 });
    await waitFor(() => plugin.finished.filter((id) => id > 101).length === 59, 'the other keys past the full window');
    assert.ok(bed.records.some((r) => r.msg?.startsWith('event window full') === true), 'the park is logged');
    assert.equal(cursor.pendingIds.length, 101, 'the parked events are still pending');
    release();
    await waitFor(() => plugin.finished.length === 160, 'the parked lane');
    assert.deepEqual(plugin.byKey().get('project:1'), Array.from({ length: 101 }, (_, i) => i + 1));
    assert.equal(plugin.started.length, 160, 'each event once');
  });

  it('a restart with more pending events than the window reads them again within the window, each key in order', async (t) => {
    const bed = await concurrentBed(t, (id) => (id <= 101 ? 1 : 2 + (id % 3)), { batchSize: 10 });
    bed.source.inner.append(160);
    const first = new LanePlugin();
    const open = first.hold(1);
    const cursor = bed.cursor(first.handler, { max: 4, window: 20 });
    await waitFor(() => first.finished.filter((id) => id > 101).length === 59, 'the other keys');
    // stop() waits for the callback in flight: let it end.
    const stopping = cursor.stop();
    open();
    await stopping;
    const row = await bed.stored();
    assert.equal(row?.backlog.filter((b) => b.kind === 'pending').length, 100, 'the parked events are stored as pending');
    const second = new LanePlugin();
    const again = bed.cursor(second.handler, { max: 4, window: 20, state: restartState(row) });
    await waitFor(() => second.finished.length === 100, 'the pending events after the restart');
    assert.deepEqual(second.byKey().get('project:1'), Array.from({ length: 100 }, (_, i) => i + 2));
    assert.deepEqual(again.pendingIds, []);
  });

  it('retries run in their lane while other lanes go on; then stopOnError stops every lane with 8 in flight and a restart runs only what did not finish', async (t) => {
    const bed = await concurrentBed(t, (id) => 1 + (id % 10));
    bed.source.inner.append(100);
    const FAILING = 25;
    const plugin = new LanePlugin((id) => (id === FAILING ? 'deactivate' : 'ok'));
    // Hold eight other keys' events so eight are in flight when the failure is final.
    const holds = [30, 31, 32, 33, 34, 36, 37, 38].map((id) => plugin.hold(id));
    const cursor = bed.cursor(plugin.handler, { max: 9, retries: 2 });
    await waitFor(() => plugin.started.filter((s) => s.id === FAILING).length === 3, 'three attempts of the failing event');
    await waitFor(() => plugin.inFlight === 8, 'eight in flight');
    assert.equal(cursor.status, 'running', 'in-flight callbacks still finishing');
    for (const open of holds) open();
    await bed.running(cursor);
    assert.equal(cursor.status, 'deactivated');
    assert.equal(bed.failures.at(-1)?.action, 'deactivated');
    assert.equal(bed.failures.at(-1)?.eventId, FAILING);
    const row = await bed.stored();
    assert.equal(row?.active, false);
    const pending = (row?.backlog ?? []).filter((b) => b.kind === 'pending').map((b) => b.eventId);
    assert.ok(pending.includes(FAILING));
    const finishedBefore = new Set(plugin.finished);
    for (const id of pending) assert.ok(!finishedBefore.has(id), `pending ${id} had not finished`);
    // Back again (fixed): only the pending events and the rest of the log run.
    const again = new LanePlugin();
    bed.cursor(again.handler, { max: 9, state: restartState(row) });
    await waitFor(() => again.finished.length + finishedBefore.size === 100, 'the rest');
    for (const id of again.finished) assert.ok(!finishedBefore.has(id), `event ${id} ran twice`);
  });

  it('stopOnError false sends only the failed event to the dead letters; its lane goes on', async (t) => {
    const bed = await concurrentBed(t, (id) => 1 + (id % 3));
    bed.source.inner.append(30);
    const plugin = new LanePlugin((id) => (id === 7 ? 'fail' : 'ok'));
    bed.cursor(plugin.handler, { max: 3 });
    await waitFor(() => plugin.started.length === 30, 'every event');
    await waitFor(async () => (await bed.stored())?.backlog.length === 0, 'nothing pending');
    const letters = await bed.store.deadLetters.list();
    assert.deepEqual(letters.map((l) => l.eventId), [7]);
  });

  it('a stop mid-run and a restart from the stored state: nothing skipped, duplicates only what was in flight or unflushed', async (t) => {
    const bed = await concurrentBed(t, project5);
    bed.source.inner.append(2000);
    const first = new LanePlugin();
    const cursor = bed.cursor(first.handler, { max: 8 });
    await waitFor(() => first.finished.length >= 700, 'a third of the backlog');
    await cursor.stop();
    const row = await bed.stored();
    const second = new LanePlugin();
    bed.cursor(second.handler, { max: 8, state: restartState(row) });
    await waitFor(() => new Set([...first.finished, ...second.finished]).size === 2000, 'every event finished');
    const once = new Set(first.finished);
    const dupes = second.finished.filter((id) => once.has(id));
    assert.deepEqual(dupes, [], 'a clean stop flushes: nothing runs twice');
  });
});
