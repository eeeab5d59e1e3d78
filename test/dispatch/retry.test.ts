// Per-plugin retries with backoff: a failed callback runs again after growing
// pauses before the cursor deactivates the plugin or dead-letters the event.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from '../support/memory-source.ts';
import { ScriptedPlugin, cursorBed as bed, restartState } from '../support/scripted-cursor.ts';

describe('plugin cursor: retries with backoff', () => {
  const backoff = 40;

  for (const batch of [false, true]) {
    it(`retries: 2 runs a failing event 3 times, attempts 1, 2, 3, with growing pauses, then dead-letters it${batch ? ' (batches)' : ''}`, async (t) => {
      const b = await bed(t, { events: 3 });
      const plugin = new ScriptedPlugin({ batch, outcome: (id) => (id === 2 ? 'fail' : 'ok') });
      const cursor = b.cursor(plugin, { retries: 2, retryBackoffMs: backoff });
      await waitFor(() => cursor.lastEventId === 3, 'the event after the failing one');
      assert.deepEqual(plugin.deliveries.map((d) => [d.id, d.attempt]), [[1, 1], [2, 1], [2, 2], [2, 3], [3, 1]]);
      const runs = plugin.deliveries.filter((d) => d.id === 2).map((d) => d.at);
      const [first, second, third] = runs as [number, number, number];
      // Lower bounds only (timers may fire late on a busy machine, never early;
      // 1 ms for the rounding between the timer clock and performance.now()).
      assert.ok(second - first >= backoff - 1, `first pause ${second - first} ms >= ${backoff} ms`);
      assert.ok(third - second >= 2 * backoff - 1, `second pause ${third - second} ms >= ${2 * backoff} ms`);
      const retryLogs = b.records.filter((r) => r['eventId'] === 2 && typeof r['retryInMs'] === 'number');
      assert.deepEqual(retryLogs.map((r) => [r['attempt'], r['retryInMs']]), [[1, backoff], [2, 2 * backoff]], 'each retry logged with its pause');
      assert.deepEqual(b.failures.map((f) => [f.eventId, f.action]), [[2, 'skipped']], 'one failure reported, after the last attempt');
      await b.batcher.flush();
      const dead = await b.store.deadLetters.list();
      assert.deepEqual(dead.map((d) => [d.eventId, d.attempts]), [[2, 3]]);
      assert.equal(cursor.counters.failed, 1);
    });
  }

  for (const batch of [false, true]) {
    it(`success on attempt 2 moves on without a dead letter or a failure${batch ? ' (batches)' : ''}`, async (t) => {
      const b = await bed(t, { events: 4 });
      const plugin = new ScriptedPlugin({ batch, outcome: (id, attempt) => (id === 2 && attempt === 1 ? 'fail' : 'ok') });
      const cursor = b.cursor(plugin, { retries: 2, retryBackoffMs: backoff });
      await waitFor(() => cursor.lastEventId === 4, 'the last event');
      assert.deepEqual(plugin.deliveries.map((d) => [d.id, d.attempt]), [[1, 1], [2, 1], [2, 2], [3, 1], [4, 1]]);
      const [first, second] = plugin.deliveries.filter((d) => d.id === 2).map((d) => d.at) as [number, number];
      assert.ok(second - first >= backoff - 1, `pause ${second - first} ms >= ${backoff} ms`);
      assert.deepEqual(b.failures, []);
      assert.equal(cursor.counters.failed, 0);
      assert.equal(cursor.counters.processed, 4);
      assert.equal(cursor.lastError, null);
      await b.batcher.flush();
      assert.deepEqual(await b.store.deadLetters.list(), []);
    });
  }

  it('a stopOnError failure is retried too, and deactivates the plugin only after the last attempt', async (t) => {
    const b = await bed(t, { events: 3 });
    const plugin = new ScriptedPlugin({ outcome: (id) => (id === 2 ? 'deactivate' : 'ok') });
    const cursor = b.cursor(plugin, { retries: 1, retryBackoffMs: backoff });
    await b.running(cursor);
    assert.equal(cursor.status, 'deactivated');
    assert.equal(cursor.lastEventId, 1);
    assert.deepEqual(plugin.deliveries.map((d) => [d.id, d.attempt]), [[1, 1], [2, 1], [2, 2]]);
    assert.deepEqual(b.failures.map((f) => [f.eventId, f.action]), [[2, 'deactivated']]);
  });

  it('stop() during a backoff pause ends the retries at once; a restarted cursor runs the event again from attempt 1', async (t) => {
    const b = await bed(t, { events: 3 });
    let failing = true;
    const plugin = new ScriptedPlugin({ outcome: (id) => (id === 2 && failing ? 'fail' : 'ok') });
    // A pause far longer than the test: stop() must not wait for it.
    const cursor = b.cursor(plugin, { retries: 3, retryBackoffMs: 600_000 });
    await waitFor(() => b.records.some((r) => r['eventId'] === 2 && r['attempt'] === 1 && typeof r['retryInMs'] === 'number'), 'the first retry to be scheduled');
    await cursor.stop();
    assert.equal(cursor.status, 'stopped');
    assert.equal(cursor.lastEventId, 1, 'the cursor stays before the event that was being retried');
    assert.deepEqual(b.failures, [], 'an interrupted retry is no failure');
    await b.batcher.flush();
    assert.deepEqual(await b.store.deadLetters.list(), [], 'nor a dead letter');

    failing = false;
    const again = new ScriptedPlugin();
    const next = b.cursor(again, { state: restartState(await b.stored()) });
    await waitFor(() => next.lastEventId === 3, 'the restarted cursor to finish');
    assert.deepEqual(again.deliveries.map((d) => [d.id, d.attempt]), [[2, 1], [3, 1]]);
  });
});

describe('dead letters marked for retry (`sgeventd dlq retry`)', () => {
  it('the cursor runs a dead letter marked for retry again; when it goes through the entry is deleted and the cursor stays', async (t) => {
    const b = await bed(t, { events: 3 });
    let failing = true;
    const plugin = new ScriptedPlugin({ outcome: (id) => (id === 2 && failing ? 'fail' : 'ok') });
    const cursor = b.cursor(plugin, { dlqRetries: true });
    await waitFor(() => cursor.lastEventId === 3, 'the live events');
    await b.batcher.flush();
    assert.deepEqual((await b.store.deadLetters.list()).map((d) => [d.eventId, d.status]), [[2, 'dead']]);

    failing = false;
    assert.equal(await b.store.deadLetters.requestRetry('all'), 1);
    await waitFor(async () => (await b.store.deadLetters.list()).length === 0, 'the retried entry to be deleted');
    assert.deepEqual(plugin.ids, [1, 2, 3, 2], 'event 2 ran once more, after the live ones');
    assert.equal(plugin.deliveries.at(-1)?.replay, false);
    assert.equal(plugin.deliveries.at(-1)?.via, 'process');
    assert.equal(cursor.lastEventId, 3, 'a retried dead letter never moves the cursor');
    assert.deepEqual(b.failures.map((f) => [f.eventId, f.action]), [[2, 'skipped']], 'only the first failure was reported');
  });

  it('a dead letter that fails again goes back to dead with one more attempt, and no second entry', async (t) => {
    const b = await bed(t, { events: 2 });
    const plugin = new ScriptedPlugin({ outcome: (id) => (id === 2 ? 'fail' : 'ok') });
    const cursor = b.cursor(plugin, { dlqRetries: true, retries: 1, retryBackoffMs: 10 });
    await waitFor(() => cursor.lastEventId === 2, 'the live events');
    await b.batcher.flush();
    const [first] = await b.store.deadLetters.list();
    assert.equal(first?.attempts, 2, 'live: the first try and one retry');

    assert.equal(await b.store.deadLetters.requestRetry('all'), 1);
    await waitFor(async () => (await b.store.deadLetters.list())[0]?.status === 'dead', 'the retry to fail');
    await b.batcher.flush();
    const dead = await b.store.deadLetters.list();
    assert.deepEqual(dead.map((d) => [d.id, d.eventId, d.status, d.attempts]), [[first?.id, 2, 'dead', 3]], 'the same entry, one attempt more');
    // The retry run had its own backoff retries too: attempts 1 and 2 again.
    assert.deepEqual(plugin.deliveries.filter((d) => d.id === 2).map((d) => d.attempt), [1, 2, 1, 2]);
    assert.deepEqual(b.failures.map((f) => [f.eventId, f.action]), [[2, 'skipped'], [2, 'skipped']]);
    assert.equal(cursor.lastEventId, 2);
  });

  it(
    'a dead letter whose retry was cut short by stop() is retried by the next cursor over the same store',
    async (t) => {
      const b = await bed(t, { events: 2 });
      let failing = true;
      const plugin = new ScriptedPlugin({ outcome: (id) => (id === 2 && failing ? 'fail' : 'ok') });
      const first = b.cursor(plugin, { dlqRetries: true });
      await waitFor(() => first.lastEventId === 2, 'the live events');
      await first.stop();
      const state = restartState(await b.stored());
      assert.equal((await b.store.deadLetters.list()).length, 1);

      // The retry fails and waits out a long backoff pause, which stop() cuts short.
      const second = b.cursor(plugin, { dlqRetries: true, retries: 1, retryBackoffMs: 600_000, state });
      assert.equal(await b.store.deadLetters.requestRetry('all'), 1);
      await waitFor(() => plugin.deliveries.filter((d) => d.id === 2).length === 2, 'the retry to run and fail');
      await second.stop();
      assert.deepEqual((await b.store.deadLetters.list()).map((d) => d.status), ['retry'], 'neither resolved nor failed');

      failing = false;
      const again = new ScriptedPlugin();
      b.cursor(again, { dlqRetries: true, state });
      await waitFor(() => again.saw(2), 'the next cursor to retry the entry', 3000);
      await waitFor(async () => (await b.store.deadLetters.list()).length === 0, 'the entry to be resolved');
    },
  );
});
